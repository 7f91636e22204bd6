"""Writes the document with JSON as the only media type of request bodies that also offer a form.

Tessera accepts each such body as JSON or as application/x-www-form-urlencoded with one schema; SDKs send JSON.
Some generators take one media type per body (progenitor), or generate broken code for two (openapi-python-client
0.28+ leaves `Unset` unimported), so they are given this view. Nothing else changes.

    python3 json-bodies.py IN OUT
"""
import json
import sys

with open(sys.argv[1]) as f:
    doc = json.load(f)
for item in doc["paths"].values():
    for op in item.values():
        content = op.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            for media in [m for m in content if m != "application/json"]:
                del content[media]
with open(sys.argv[2], "w") as f:
    json.dump(doc, f, indent=2)
