#!/usr/bin/env bash
# Spec fuzzing: schemathesis runs every operation of /openapi.json against a live server with valid credentials and
# checks that no answer is a 5xx and every answer conforms to the documented statuses, content types and schemas.
# Repeatable (fixed seed) and bounded: FUZZ_MAX_EXAMPLES per operation (default 25). A longer run:
#   FUZZ_MAX_EXAMPLES=500 tests/fuzz/run.sh
# Needs: cargo build (target/debug/tessera), python3 with schemathesis (pip install schemathesis), curl.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${TESSERA_BIN:-target/debug/tessera}
DB_URL=${FUZZ_DATABASE_URL:-sqlite://$(mktemp -d)/fuzz.db}
EXAMPLES=${FUZZ_MAX_EXAMPLES:-25}
KEY="tsk_fuzz_$(date +%s%N)"
OUT=$(mktemp)
# Webhooks the fuzzer registers may only reach this machine.
TESSERA_ADMIN_API_KEY=$KEY TESSERA_RATE_LIMIT_PER_KEY=0 TESSERA_RATE_LIMIT_PER_TENANT=0 TESSERA_WEBHOOK_TARGETS=loopback \
  "$BIN" serve --listen 127.0.0.1:0 --database-url "$DB_URL" >"$OUT" 2>"$OUT.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q '^listening on' "$OUT" && break; sleep 0.1; done
BASE=$(sed -n 's/^listening on //p' "$OUT")
J='content-type: application/json'
A="Authorization: Bearer $KEY"
# Data for the fuzzer to find: an ISP with the plugins enabled, a reseller in it.
ISP=$(curl -sf -X POST "$BASE/core/v1/tenants" -H "$A" -H "$J" -d '{"parent_id":1,"kind":"isp","name":"Fuzz","slug":"fuzz"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
for t in 1 "$ISP"; do
  for p in $(curl -sf "$BASE/core/v1/plugins" -H "$A" | python3 -c 'import json,sys; print(" ".join(p["name"] for p in json.load(sys.stdin)["items"]))'); do
    curl -sf -X PUT "$BASE/core/v1/tenants/$t/plugins/$p" -H "$A" -H "$J" -d '{"enabled":true}' >/dev/null
  done
done
curl -sf -X POST "$BASE/reseller/api/reseller/create" -d userid=1 -d api_key="$KEY" -d ispid="$ISP" -d name=R -d code=R1 \
  -d mobile=12344444 -d email=r@x.example -d invoice_by=ISP -d payment_by=ISP -d type=Reseller >/dev/null

ORG=$(curl -sf -X POST "$BASE/core/v1/tenants" -H "$A" -H "$J" -d '{"parent_id":1,"kind":"organisation","name":"Shop","slug":"shop.example"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -sf -X PUT "$BASE/core/v1/tenants/$ORG/plugins/chat" -H "$A" -H "$J" -d '{"enabled":true}' >/dev/null
curl -sf -X POST "$BASE/core/v1/tenants/$ORG/users" -H "$A" -H "$J" \
  -d '{"email":"owner@shop.example","password":"correct horse battery","name":"Owner","roles":["chat_admin"]}' >/dev/null
curl -sf -X POST "$BASE/chat/addons" -H "$A" -H "$J" -d "{\"organisation_id\":$ORG,\"addon_unique_name\":\"support\",\"kind\":\"seller_buyer\"}" >/dev/null
CHAT_TOKEN=$(curl -sf -X POST "$BASE/chat/admin/access-token" -H "$J" \
  -d '{"email":"owner@shop.example","password":"correct horse battery","organisation_domain":"shop.example","addon_unique_name":"support"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["access_token"])')

REG=$(curl -sf -X POST "$BASE/core/v1/tenants" -H "$A" -H "$J" -d "{\"parent_id\":$ISP,\"kind\":\"reseller\",\"name\":\"Reg\",\"slug\":\"reg\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -sf -X PUT "$BASE/core/v1/tenants/$REG/plugins/registrar" -H "$A" -H "$J" -d '{"enabled":true}' >/dev/null
REG_USER=$(curl -sf -X POST "$BASE/core/v1/tenants/$REG/users" -H "$A" -H "$J" \
  -d '{"email":"reg@reg.example","password":"correct horse battery","name":"Reg","roles":["tenant_admin"]}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
REG_KEY=$(curl -sf -X POST "$BASE/core/v1/users/$REG_USER/api-keys" -H "$A" -H "$J" -d '{"name":"fuzz"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
R="auth-userid=$REG&api-key=$REG_KEY"
curl -sf -X POST "$BASE/registrar/api/customers/signup.json?$R&username=c@c.example&name=C&company=C&address-line-1=C&city=C&state=C&country=IN&zipcode=1&phone-cc=91&phone=1" >/dev/null
for p in codeguard sitelock; do
  curl -sf -X POST "$BASE/registrar/api/$p/add-plan.json?$R&name=Basic&tier=1&pricing=1:1.00,12:1.00" >/dev/null
done

# An MLM business under the ISP: its app's key (api_key), its top member and that member's access_token.
MLM=$(curl -sf -X POST "$BASE/core/v1/tenants" -H "$A" -H "$J" -d "{\"parent_id\":$ISP,\"kind\":\"organisation\",\"name\":\"Grow\",\"slug\":\"grow\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -sf -X PUT "$BASE/core/v1/tenants/$MLM/plugins/mlm" -H "$A" -H "$J" -d '{"enabled":true}' >/dev/null
MLM_USER=$(curl -sf -X POST "$BASE/core/v1/tenants/$MLM/users" -H "$A" -H "$J" \
  -d '{"email":"app@grow.example","password":"correct horse battery","name":"App","roles":["mlm_app"]}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
MLM_KEY=$(curl -sf -X POST "$BASE/core/v1/users/$MLM_USER/api-keys" -H "$A" -H "$J" -d '{"name":"fuzz"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
curl -sf -X POST "$BASE/mlm/admin/packages?business_id=$MLM" -H "$A" -H "$J" \
  -d '{"kind":"membership","package_id":"GOLD","name":"Gold","amount":100,"pv":50}' >/dev/null
curl -sf -X POST "$BASE/mlm/admin/members/top?business_id=$MLM" -H "$A" -H "$J" \
  -d '{"username":"company","password":"correct horse battery","firstname":"T","lastname":"T","email":"top@grow.example","mobile":"1"}' >/dev/null
MLM_TOKEN=$(curl -sf -X POST "$BASE/mlm/auth/access/" -H "api_key: $MLM_KEY" -d username=company -d 'password=correct horse battery' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["access_token"])')

# A billing business under the ISP: its first staff member's key (admin_pass is the password below) and a client's.
BILL=$(curl -sf -X POST "$BASE/core/v1/tenants" -H "$A" -H "$J" -d "{\"parent_id\":$ISP,\"kind\":\"organisation\",\"name\":\"Host\",\"slug\":\"host\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -sf -X PUT "$BASE/core/v1/tenants/$BILL/plugins/billing" -H "$A" -H "$J" -d '{"enabled":true}' >/dev/null
BILL_KEY=$(curl -sf -X POST "$BASE/billing/setup" -H "$A" -H "$J" \
  -d "{\"business_id\":$BILL,\"name\":\"Owner\",\"email\":\"owner@host.example\",\"pass\":\"correct horse battery\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["api_key"])')
BILL_CLIENT_KEY=$(curl -sf -X POST "$BASE/billing/admin/client/add" -H "api_key: $BILL_KEY" -H 'admin_pass: correct horse battery' -H "$J" \
  -d '{"first_name":"C","last_name":"C","email":"c@host.example","country":"IN","state":"D","currency_code":"INR","password":"correct horse battery","confirm_password":"correct horse battery"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["api_key"])')

export FUZZ_BILLING_ID=$BILL FUZZ_BILLING_KEY=$BILL_KEY FUZZ_BILLING_CLIENT_KEY=$BILL_CLIENT_KEY
export FUZZ_MLM_ID=$MLM FUZZ_MLM_KEY=$MLM_KEY FUZZ_MLM_TOKEN=$MLM_TOKEN
export FUZZ_REGISTRAR_ID=$REG FUZZ_REGISTRAR_KEY=$REG_KEY
export FUZZ_CHAT_TOKEN=$CHAT_TOKEN FUZZ_USER_ID=1 FUZZ_API_KEY=$KEY FUZZ_ISP_ID=$ISP SCHEMATHESIS_HOOKS=tests.fuzz.hooks
export PYTHONPATH=$PWD
schemathesis run "$BASE/openapi.json" \
  -H "$A" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing \
--seed 1 --generation-deterministic --max-examples "$EXAMPLES" \
  --workers 2 --suppress-health-check all --no-color "$@"
