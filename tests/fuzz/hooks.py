"""Schemathesis hooks for Tessera: every generated request carries valid credentials.

The core API takes the bearer key from the command line (-H). Plugin operations carry their credentials in the body
(reseller: userid + api_key, and ispid for the platform admin); chat admin operations take the access_token
header of an organisation's addon (and access-token, its alias, the same); registrar operations take auth-userid + api-key;
mlm member operations take the api_key and access_token headers of a business and its top member, mlm admin operations
the business's id; the values come from the environment set by run.sh.
"""
import os

import schemathesis

USER = int(os.environ["FUZZ_USER_ID"])
KEY = os.environ["FUZZ_API_KEY"]
ISP = int(os.environ["FUZZ_ISP_ID"])
CHAT_TOKEN = os.environ["FUZZ_CHAT_TOKEN"]
REG_ID = int(os.environ["FUZZ_REGISTRAR_ID"])
REG_KEY = os.environ["FUZZ_REGISTRAR_KEY"]
MLM_ID = int(os.environ["FUZZ_MLM_ID"])
MLM_KEY = os.environ["FUZZ_MLM_KEY"]
MLM_TOKEN = os.environ["FUZZ_MLM_TOKEN"]


@schemathesis.hook
def map_query(ctx, query):
    if ctx.operation.path.startswith("/registrar/"):
        query = dict(query or {})
        query["auth-userid"] = REG_ID
        query["api-key"] = REG_KEY
    if ctx.operation.path.startswith("/mlm/admin/"):
        query = dict(query or {})
        query["business_id"] = MLM_ID
    return query


@schemathesis.hook
def map_headers(ctx, headers):
    path = ctx.operation.path
    if path.startswith("/chat/admin/") and not path.startswith("/chat/admin/access-token"):
        headers = dict(headers or {})
        headers["access_token"] = CHAT_TOKEN
        # The hyphenated name is an alternative scheme of the same credential: when the fuzzer sends it, it carries
        # the same token (two different values are refused with 400 before the operation runs).
        if "access-token" in headers:
            headers["access-token"] = CHAT_TOKEN
    if path.startswith("/mlm/") and not path.startswith("/mlm/admin/"):
        headers = dict(headers or {})
        headers["api_key"] = MLM_KEY
        if "api-key" in headers:
            headers["api-key"] = MLM_KEY
        headers["access_token"] = MLM_TOKEN
        if "access-token" in headers:
            headers["access-token"] = MLM_TOKEN
    return headers


@schemathesis.hook
def map_body(ctx, body):
    op = ctx.operation
    if op.path.startswith("/reseller/") and isinstance(body, dict):
        body["userid"] = USER
        body["api_key"] = KEY
        body["ispid"] = ISP
    if op.path.startswith("/registrar/") and isinstance(body, dict):
        body["auth-userid"] = REG_ID
        body["api-key"] = REG_KEY
    return body
