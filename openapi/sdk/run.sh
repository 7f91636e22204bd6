#!/usr/bin/env bash
# Generates the three SDKs from the committed document (openapi/tessera.openapi.json) and drives the same flow with
# each against a fresh server on an embedded SQLite database. Fails on a generator warning or a failed step.
# Generated code lands in git-ignored directories: python/generated, typescript/generated, and the Rust example's
# build output.
set -euo pipefail
cd "$(dirname "$0")"
SDK=$PWD
ROOT=$(cd ../.. && pwd)
WORK=$(mktemp -d)
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT

# Python: openapi-python-client (its ruff post-hook formats the code) in a virtualenv of its own.
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet --disable-pip-version-check openapi-python-client==0.29.1 ruff==0.14.6
python3 json-bodies.py ../tessera.openapi.json "$WORK/json-bodies.json"
rm -rf python/generated
PATH="$WORK/venv/bin:$PATH" openapi-python-client generate --path "$WORK/json-bodies.json" \
  --output-path python/generated 2>&1 | tee "$WORK/python.log"
if grep -qi "warning" "$WORK/python.log"; then echo "openapi-python-client warned" >&2; exit 1; fi

# TypeScript: openapi-typescript types, compiled with the flow by tsc (strict) against openapi-fetch.
(cd typescript && npm ci --silent --no-audit --no-fund && rm -rf generated && npm run --silent generate \
  && npm run --silent build)

# Rust: progenitor generates the client in the example crate's build script.
(cd "$ROOT/examples/sdk-rust" && cargo build --quiet)

# A fresh server.
(cd "$ROOT" && cargo build --quiet -p tessera)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT" KEY="tsk_sdk_$RANDOM$RANDOM$RANDOM"
TESSERA_LISTEN="127.0.0.1:$PORT" TESSERA_DATABASE_URL="sqlite://$WORK/sdk.db" TESSERA_ADMIN_API_KEY="$KEY" \
  "$ROOT/target/debug/tessera" serve >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER=$!
for _ in $(seq 1 100); do curl -sf "$URL/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "$URL/readyz" >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }

# The same flow in each language: python needs httpx and attrs, which the generator's own install brought.
export TESSERA_URL="$URL" TESSERA_ADMIN_KEY="$KEY"
"$WORK/venv/bin/python" python/flow.py
node typescript/generated/flow.js
"$ROOT/examples/sdk-rust/target/debug/tessera-sdk-example"
