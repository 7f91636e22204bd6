// The SDK flow in TypeScript, on types openapi-typescript generates from the committed document and openapi-fetch
// (see ../run.sh): bootstrap key → ISP tenant → ISP admin and key → reseller plugin on → franchisee → wallet top-up →
// list, then one bad input read back as the reseller API's typed error. Exits non-zero on anything unexpected.
//
//   TESSERA_URL=http://127.0.0.1:8080 TESSERA_ADMIN_KEY=tsk_… npm run flow

import createClient from "openapi-fetch";
import type { paths } from "./generated/tessera.js";


function check(ok: boolean, what: string): void {
  if (!ok) {
    console.error(`typescript sdk: ${what}`);
    process.exit(1);
  }
}

function must<T>(data: T | undefined, error: unknown, what: string): T {
  check(data !== undefined, `${what} failed: ${JSON.stringify(error)}`);
  return data as T;
}

const baseUrl = process.env.TESSERA_URL ?? "http://127.0.0.1:8080";
const adminKey = process.env.TESSERA_ADMIN_KEY ?? "";
check(adminKey !== "", "set TESSERA_ADMIN_KEY");

const admin = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${adminKey}` } });
const slug = `sdk-typescript-${process.pid}`;

const isp = await admin.POST("/core/v1/tenants", {
  body: { kind: "isp", name: "TypeScript SDK ISP", parent_id: 1, slug },
});
const tenant = must(isp.data, isp.error, "creating the ISP");
const user = await admin.POST("/core/v1/tenants/{id}/users", {
  params: { path: { id: tenant.id } },
  body: { email: `ops@${slug}.example`, name: "SDK Ops", password: "a long passphrase", roles: ["tenant_admin"] },
});
const ops = must(user.data, user.error, "creating its admin");
const created = await admin.POST("/core/v1/users/{id}/api-keys", {
  params: { path: { id: ops.id } },
  body: { name: "crm" },
});
const key = must(created.data, created.error, "creating a key").key;
const enabled = await admin.PUT("/core/v1/tenants/{id}/plugins/{plugin}", {
  params: { path: { id: tenant.id, plugin: "reseller" } },
  body: { enabled: true },
});
must(enabled.data, enabled.error, "enabling the reseller plugin");

// The reseller API authenticates with userid + api_key in the body.
const crm = createClient<paths>({ baseUrl });
const auth = { userid: ops.id, api_key: key };
const reseller = await crm.POST("/reseller/api/reseller/create", {
  body: {
    ...auth,
    name: "Reseller4",
    code: "R2",
    mobile: "12344444",
    email: "contact@reseller4.com",
    invoice_by: "ISP",
    payment_by: "ISP",
    type: "Franchisee",
    commission_percent: 50,
    credit_limit: "0",
  },
});
const resellerId = must(reseller.data, reseller.error, "creating the franchisee").result;
const topUp = await crm.POST("/reseller/api/reseller/wallet_update", {
  body: { ...auth, resellerid: resellerId, action: "TopUp", amt: "10" },
});
check(must(topUp.data, topUp.error, "topping up").result === "done", "the top-up is done");

const listed = await crm.POST("/reseller/api/reseller/list", { body: auth });
const rows = must(listed.data, listed.error, "listing").result;
check(Array.isArray(rows), "the list is an array");
const row = (rows as Exclude<typeof rows, number>).find((r) => r.id === resellerId);
check(row?.name === "Reseller4" && row?.wallet === "10.00", `listed as ${JSON.stringify(row)}`);

const bad = await crm.POST("/reseller/api/reseller/wallet_update", {
  body: { ...auth, resellerid: resellerId, action: "TopUp", amt: "ten" },
});
check(bad.response.status === 400 && bad.error !== undefined, `bad input answered ${bad.response.status}`);
const message: string = bad.error!.error;
check(message.startsWith("amt:"), `the error names the field: ${message}`);
console.log(`typescript sdk: ISP ${tenant.id} → franchisee ${resellerId} with wallet ${row!.wallet}; bad input: ${message}`);
