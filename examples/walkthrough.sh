#!/usr/bin/env bash
# The README walk-through as a script: against a running Tessera (default http://127.0.0.1:8080) and the platform
# admin's key, creates an ISP with an admin and a key, enables the reseller plugin, creates a franchisee, tops up its
# wallet and lists it. Needs curl and python3.
#   ADMIN_KEY=tsk_… examples/walkthrough.sh [BASE_URL]
set -euo pipefail
B=${1:-http://127.0.0.1:8080}
: "${ADMIN_KEY:?set ADMIN_KEY to the API key of the platform admin}"
J='content-type: application/json'
field() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
slug="demo-$(date +%s)"

isp=$(curl -sf -X POST "$B/core/v1/tenants" -H "Authorization: Bearer $ADMIN_KEY" -H "$J" \
  -d "{\"parent_id\":1,\"kind\":\"isp\",\"name\":\"Demo ISP\",\"slug\":\"$slug\"}" | field id)
user=$(curl -sf -X POST "$B/core/v1/tenants/$isp/users" -H "Authorization: Bearer $ADMIN_KEY" -H "$J" \
  -d '{"email":"ops@demo.example","password":"a long passphrase","name":"Demo Ops","roles":["tenant_admin"]}' | field id)
key=$(curl -sf -X POST "$B/core/v1/users/$user/api-keys" -H "Authorization: Bearer $ADMIN_KEY" -H "$J" \
  -d '{"name":"crm"}' | field key)
curl -sf -X PUT "$B/core/v1/tenants/$isp/plugins/reseller" -H "Authorization: Bearer $ADMIN_KEY" -H "$J" \
  -d '{"enabled":true}' >/dev/null
echo "ISP $isp, admin user $user"

reseller=$(curl -sf -X POST "$B/reseller/api/reseller/create" -d userid="$user" -d api_key="$key" -d name="Reseller4" \
  -d code="R2" -d mobile="12344444" -d email="contact@reseller4.com" -d invoice_by="ISP" -d payment_by="ISP" \
  -d type="Franchisee" -d commission_percent=50 -d credit_limit=0 | field result)
echo "franchisee $reseller"
curl -sf -X POST "$B/reseller/api/reseller/wallet_update" -d userid="$user" -d api_key="$key" -d resellerid="$reseller" \
  -d action="TopUp" -d amt=10
echo
curl -sf -X POST "$B/reseller/api/reseller/list" -d userid="$user" -d api_key="$key"
echo
