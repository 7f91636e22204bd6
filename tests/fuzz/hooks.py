"""Schemathesis hooks for Tessera: every generated request carries valid credentials.

The core API takes the bearer key from the command line (-H). Plugin operations carry their credentials in the body
(reseller: userid + api_key, and ispid for the platform admin); chat admin operations take the access_token
header of an organisation's addon (and access-token, its alias, the same); registrar operations take auth-userid + api-key;
mlm member operations take the api_key and access_token headers of a business and its top member, mlm admin operations
the business's id; billing operations the api_key of a business's staff member with admin_pass (admin modules) or of
a client with client_pass (client modules), in headers for the typed operations and in the body for the entry point;
the values come from the environment set by run.sh.
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
BILLING_ID = int(os.environ["FUZZ_BILLING_ID"])
BILLING_KEY = os.environ["FUZZ_BILLING_KEY"]
BILLING_CLIENT_KEY = os.environ["FUZZ_BILLING_CLIENT_KEY"]
PASS = "correct horse battery"


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
    for side, key, pass_name in (("admin", BILLING_KEY, "admin_pass"), ("client", BILLING_CLIENT_KEY, "client_pass")):
        if path.startswith(f"/billing/{side}/"):
            headers = dict(headers or {})
            for name, value in (("api_key", key), (pass_name, PASS)):
                headers[name] = value
                hyphenated = name.replace("_", "-")
                if hyphenated in headers:
                    headers[hyphenated] = value
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
    if op.path == "/billing/api/index.php" and isinstance(body, dict):
        body["api_key"] = BILLING_KEY
        if "client_pass" not in body:
            body["admin_pass"] = PASS
        else:
            body["api_key"] = BILLING_CLIENT_KEY
            body["client_pass"] = PASS
    if op.path == "/billing/setup" and isinstance(body, dict):
        body["business_id"] = BILLING_ID
    return body
