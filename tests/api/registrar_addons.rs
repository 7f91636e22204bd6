//! The registrar plugin through HTTP: customers and login tokens, plan pricing checked by hand, what each invoice
//! option does, isolation between resellers and the parent/sub-reseller rule.

use serde_json::Value;

use crate::both;
use crate::support::{Backend, Resp, Server};

/// A reseller tenant (under an ISP) with the registrar plugin on, its admin's key.
struct Reseller {
    id: i64,
    key: String,
    isp_key: String,
}

async fn reseller(srv: &Server, slug: &str) -> Reseller {
    let isp = srv.isp(&format!("isp-{slug}")).await;
    srv.enable(&srv.admin_key, isp.tenant, "registrar", true).await;
    let id = srv.tenant(&isp.key, isp.tenant, "reseller", slug).await;
    srv.enable(&isp.key, id, "registrar", true).await;
    let user = srv.user(&isp.key, id, &format!("admin@{slug}.example"), &["tenant_admin"]).await;
    let (_, key) = srv.api_key(&isp.key, user).await;
    Reseller { id, key, isp_key: isp.key }
}

fn auth(r: &Reseller) -> String {
    format!("auth-userid={}&api-key={}", r.id, r.key)
}

/// GET or POST with every parameter in the query string, as the seed's examples do.
async fn call(srv: &Server, method: &str, path: &str, query: &str) -> Resp {
    let url = format!("{}/registrar/api/{path}?{query}", srv.base);
    let req = if method == "GET" { srv.client.get(url) } else { srv.client.post(url) };
    srv.send(req).await
}

fn ok(r: &Resp) -> &Value {
    assert_eq!(r.status, 200, "{}", r.text);
    &r.body
}

fn refused(r: &Resp, status: u16, mentions: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["status"], "ERROR", "{}", r.text);
    let msg = r.body["message"].as_str().unwrap_or("");
    assert!(msg.contains(mentions), "`{msg}` should mention `{mentions}`");
}

async fn signup(srv: &Server, r: &Reseller, username: &str) -> i64 {
    let q = format!(
        "{}&username={username}&name=Ann%20Lee&company=Lee%20Ltd&address-line-1=1%20Main%20St&city=Pune&state=MH\
         &country=IN&zipcode=411001&phone-cc=91&phone=9876543210",
        auth(r)
    );
    ok(&call(srv, "POST", "customers/signup.json", &q).await).as_i64().expect("customer id")
}

/// Plans Basic (tier 1) and Pro (tier 2) of a product: 1 month at 10.00/15.00, 12 months at 8.00/12.00 a month.
async fn plans(srv: &Server, r: &Reseller, product: &str) -> (i64, i64) {
    let add = |name: &str, tier: i64, pricing: &str| {
        let q = format!("{}&name={name}&tier={tier}&pricing={pricing}", auth(r));
        async move { ok(&call(srv, "POST", &format!("{product}/add-plan.json"), &q).await).as_i64().unwrap() }
    };
    (add("Basic", 1, "1:10.00,12:8.00").await, add("Pro", 2, "1:15.00,12:12.00").await)
}

async fn order(srv: &Server, r: &Reseller, product: &str, customer: i64, plan: i64) -> i64 {
    let q = format!(
        "{}&customer-id={customer}&domain-name=shop.example.com&plan-id={plan}&months=12&invoice-option=NoInvoice",
        auth(r)
    );
    let a = ok(&call(srv, "POST", &format!("{product}/add.json"), &q).await).clone();
    assert_eq!(a["actionstatus"], "Success");
    a["entityid"].as_i64().unwrap()
}

async fn advance(srv: &Server, seconds: i64) {
    let r = srv
        .send(
            srv.client.post(format!("{}/_test/clock/advance?seconds={seconds}", srv.base)).bearer_auth(&srv.admin_key),
        )
        .await;
    assert_eq!(r.status, 200);
}

async fn customers_and_login_tokens(b: Backend) {
    let srv = Server::start_with(b, &[("TESSERA_TEST_CLOCK", "1")]).await;
    let r = reseller(&srv, "acme").await;
    let c = signup(&srv, &r, "ann@lee.example").await;
    let d =
        ok(&call(&srv, "GET", "customers/details-by-id.json", &format!("{}&customer-id={c}", auth(&r))).await).clone();
    assert_eq!((d["customerid"].as_i64(), d["resellerid"].as_i64()), (Some(c), Some(r.id)));
    assert_eq!(d["useremail"], "ann@lee.example");
    assert_eq!(d["customerstatus"], "Active");
    assert_eq!(d["country"], "IN");
    for field in [
        "username",
        "parentid",
        "name",
        "company",
        "telnocc",
        "telno",
        "address1",
        "address2",
        "address3",
        "city",
        "state",
        "zip",
        "pin",
        "creationdt",
        "salesrepresentative",
        "langpref",
        "totalreceipts",
    ] {
        assert!(d.get(field).is_some(), "{field} missing: {d}");
    }
    refused(&call(&srv, "POST", "customers/signup.json", &format!("{}&username=ann@lee.example&name=A&company=B&address-line-1=C&city=D&state=E&country=IN&zipcode=1&phone-cc=91&phone=1", auth(&r))).await, 409, "username");
    for i in 0..3 {
        signup(&srv, &r, &format!("c{i}@x.example")).await;
    }
    let page =
        ok(&call(&srv, "GET", "customers/search.json", &format!("{}&no-of-records=2&page-no=2", auth(&r))).await)
            .clone();
    assert_eq!((page["recsonpage"].as_i64(), page["recsindb"].as_i64()), (Some(2), Some(4)));
    let found =
        ok(&call(&srv, "GET", "customers/search.json", &format!("{}&no-of-records=10&page-no=1&name=C1@X", auth(&r)))
            .await)
        .clone();
    assert_eq!(found["recsindb"], 1);

    // Login tokens: once, for 120 seconds, never for a suspended customer.
    let token_q = format!("{}&customer-id={c}&ip=203.0.113.7", auth(&r));
    let token =
        ok(&call(&srv, "GET", "customers/generate-login-token.json", &token_q).await).as_str().unwrap().to_string();
    let check = format!("{}&token={token}", auth(&r));
    assert_eq!(
        ok(&call(&srv, "GET", "customers/authenticate-token-without-history.json", &check).await)["customerid"],
        c
    );
    refused(&call(&srv, "GET", "customers/authenticate-token-without-history.json", &check).await, 401, "already used");
    let late =
        ok(&call(&srv, "GET", "customers/generate-login-token.json", &token_q).await).as_str().unwrap().to_string();
    advance(&srv, 121).await;
    refused(
        &call(&srv, "GET", "customers/authenticate-token-without-history.json", &format!("{}&token={late}", auth(&r)))
            .await,
        401,
        "expired",
    );

    let suspend = format!("{}&customer-id={c}&reason=unpaid%20invoices", auth(&r));
    let before =
        ok(&call(&srv, "GET", "customers/generate-login-token.json", &token_q).await).as_str().unwrap().to_string();
    let a = ok(&call(&srv, "POST", "customers/suspend.json", &suspend).await).clone();
    assert_eq!((a["actiontype"].as_str(), a["description"].as_str()), (Some("Suspend"), Some("unpaid invoices")));
    // A token issued before the suspension no longer opens the panel.
    refused(
        &call(
            &srv,
            "GET",
            "customers/authenticate-token-without-history.json",
            &format!("{}&token={before}", auth(&r)),
        )
        .await,
        401,
        "Suspended",
    );
    refused(&call(&srv, "GET", "customers/generate-login-token.json", &token_q).await, 409, "Suspended");
    refused(&call(&srv, "POST", "customers/suspend.json", &suspend).await, 409, "Suspended");
    refused(
        &call(&srv, "POST", "customers/unsuspend.json", &format!("{}&customer-id={c}", auth(&r))).await,
        400,
        "reason: is required",
    );
    ok(&call(&srv, "POST", "customers/unsuspend.json", &format!("{}&customer-id={c}&reason=paid", auth(&r))).await);
    assert_eq!(
        ok(&call(&srv, "GET", "customers/details-by-id.json", &format!("{}&customer-id={c}", auth(&r))).await)
            ["customerstatus"],
        "Active"
    );

    // Bad input and credentials.
    refused(
        &call(&srv, "GET", "customers/details-by-id.json", &format!("{}&customer-id=abc", auth(&r))).await,
        400,
        "customer-id",
    );
    refused(
        &call(&srv, "GET", "customers/details-by-id.json", &format!("{}&customer-id=999999", auth(&r))).await,
        404,
        "customer-id",
    );
    refused(
        &call(
            &srv,
            "GET",
            "customers/details-by-id.json",
            &format!("auth-userid={}&api-key=wrong&customer-id={c}", r.id),
        )
        .await,
        401,
        "invalid API key",
    );
    refused(
        &call(&srv, "GET", "customers/details-by-id.json", &format!("auth-userid=1&api-key={}&customer-id={c}", r.key))
            .await,
        401,
        "auth-userid",
    );
    refused(
        &call(&srv, "GET", "customers/search.json", &format!("{}&no-of-records=0&page-no=1", auth(&r))).await,
        400,
        "no-of-records",
    );
    refused(
        &call(&srv, "GET", "customers/generate-login-token.json", &format!("{}&customer-id={c}&ip=nowhere", auth(&r)))
            .await,
        400,
        "ip",
    );
}

async fn pricing_by_hand(b: Backend) {
    let srv = Server::start_with(b, &[("TESSERA_TEST_CLOCK", "1")]).await;
    let r = reseller(&srv, "acme").await;
    let c = signup(&srv, &r, "ann@lee.example").await;
    let (basic, pro) = plans(&srv, &r, "codeguard").await;
    let details = ok(&call(&srv, "GET", "codeguard/plan-details.json", &auth(&r)).await).clone();
    assert_eq!(details["plans"][1]["pricing"][1]["monthlyprice"], "12.00");
    let o = order(&srv, &r, "codeguard", c, basic).await;
    let pricing = |plan: i64, months: i64| {
        let q = format!("{}&order-id={o}&new-plan-id={plan}&months={months}", auth(&r));
        let srv = &srv;
        async move { ok(&call(srv, "GET", "codeguard/modify-pricing.json", &q).await).clone() }
    };
    // Full term: 12 months × 8.00 now, 12 × 12.00 on Pro.
    let p = pricing(pro, 12).await;
    assert_eq!(
        (
            p["remainingmonths"].as_i64(),
            p["currentOrderPrice"].as_f64(),
            p["modifiedOrderPrice"].as_f64(),
            p["upgradecost"].as_f64()
        ),
        (Some(12), Some(96.0), Some(144.0), Some(48.0))
    );
    // Mid-term: after 151 days, 209 days are left: 7 started months.
    advance(&srv, 151 * 86_400).await;
    let p = pricing(pro, 12).await;
    assert_eq!(
        (
            p["remainingmonths"].as_i64(),
            p["currentOrderPrice"].as_f64(),
            p["modifiedOrderPrice"].as_f64(),
            p["upgradecost"].as_f64()
        ),
        (Some(7), Some(56.0), Some(84.0), Some(28.0))
    );
    // Pro for 1 month costs 15.00 a month: 7 × 15.00.
    assert_eq!(pricing(pro, 1).await["modifiedOrderPrice"].as_f64(), Some(105.0));
    // The last month.
    advance(&srv, 195 * 86_400).await;
    let p = pricing(pro, 12).await;
    assert_eq!((p["remainingmonths"].as_i64(), p["upgradecost"].as_f64()), (Some(1), Some(4.0)));
    // CodeGuard may go down: the cost is negative. SiteLock may not.
    let (sl_basic, sl_pro) = plans(&srv, &r, "sitelock").await;
    let sl = order(&srv, &r, "sitelock", c, sl_pro).await;
    let v = format!("{}&order-id={sl}&new-planid={sl_basic}", auth(&r));
    refused(&call(&srv, "GET", "sitelock/validate-modify.json", &v).await, 400, "only be upgraded");
    let up = format!("{}&order-id={sl}&new-planid={sl_pro}", auth(&r));
    refused(&call(&srv, "GET", "sitelock/validate-modify.json", &up).await, 400, "current plan");
    let sl2 = order(&srv, &r, "sitelock", c, sl_basic).await;
    assert_eq!(
        ok(&call(
            &srv,
            "GET",
            "sitelock/validate-modify.json",
            &format!("{}&order-id={sl2}&new-planid={sl_pro}", auth(&r))
        )
        .await),
        "true"
    );
    let o2 = order(&srv, &r, "codeguard", c, pro).await;
    let down = ok(&call(
        &srv,
        "GET",
        "codeguard/modify-pricing.json",
        &format!("{}&order-id={o2}&new-plan-id={basic}&months=12", auth(&r)),
    )
    .await)
    .clone();
    assert_eq!(down["upgradecost"].as_f64(), Some(-48.0));
    assert_eq!(
        ok(&call(
            &srv,
            "GET",
            "codeguard/validate-modify.json",
            &format!("{}&order-id={o2}&new-planid={basic}", auth(&r))
        )
        .await),
        "true"
    );
    // Unknown plans and orders, and a plan of the other product.
    refused(
        &call(&srv, "GET", "codeguard/validate-modify.json", &format!("{}&order-id={o2}&new-planid=999999", auth(&r)))
            .await,
        404,
        "new-planid",
    );
    refused(
        &call(
            &srv,
            "GET",
            "codeguard/validate-modify.json",
            &format!("{}&order-id={o2}&new-planid={sl_pro}", auth(&r)),
        )
        .await,
        404,
        "new-planid",
    );
    refused(
        &call(&srv, "GET", "codeguard/validate-modify.json", &format!("{}&order-id={sl}&new-planid={pro}", auth(&r)))
            .await,
        404,
        "order-id",
    );
    refused(
        &call(
            &srv,
            "GET",
            "codeguard/modify-pricing.json",
            &format!("{}&order-id={o2}&new-plan-id={basic}&months=5", auth(&r)),
        )
        .await,
        400,
        "months",
    );
    // CodeGuard's quote needs the tenure; SiteLock's keeps the order's.
    refused(
        &call(&srv, "GET", "codeguard/modify-pricing.json", &format!("{}&order-id={o2}&new-plan-id={basic}", auth(&r)))
            .await,
        400,
        "months",
    );
    let p = ok(&call(
        &srv,
        "GET",
        "sitelock/modify-pricing.json",
        &format!("{}&order-id={sl2}&new-plan-id={sl_pro}", auth(&r)),
    )
    .await)
    .clone();
    assert_eq!(p["remainingmonths"].as_i64(), Some(12));
    // A product segment that names no product is a path that does not exist, answered in the envelope.
    refused(&call(&srv, "GET", "domains/details.json", &format!("{}&order-id={o2}", auth(&r))).await, 404, "product");
    let plan = format!("{}&name=Basic&tier=1&pricing=1:1.00", auth(&r));
    refused(&call(&srv, "POST", "CodeGuard/add-plan.json", &plan).await, 404, "product");
}

/// Receipts stop at the largest balance kept with 409: the running total once overflowed (SQLite stored a REAL and
/// every later call on the customer answered 500; PostgreSQL answered 500 "bigint out of range").
async fn funds_stop_at_the_largest_balance(b: Backend) {
    let srv = Server::start(b).await;
    let r = reseller(&srv, "acme").await;
    let c = signup(&srv, &r, "ann@lee.example").await;
    let add = format!("{}&customer-id={c}&amount=10000000000000", auth(&r));
    for _ in 0..100 {
        ok(&call(&srv, "POST", "customers/add-funds.json", &add).await);
    }
    refused(&call(&srv, "POST", "customers/add-funds.json", &add).await, 409, "largest balance");
    let details = call(&srv, "GET", "customers/details-by-id.json", &format!("{}&customer-id={c}", auth(&r))).await;
    ok(&details);
    let search = call(&srv, "GET", "customers/search.json", &format!("{}&no-of-records=10&page-no=1", auth(&r))).await;
    ok(&search);
}

async fn invoice_options(b: Backend) {
    let srv = Server::start(b).await;
    let r = reseller(&srv, "acme").await;
    let c = signup(&srv, &r, "ann@lee.example").await;
    let (basic, pro) = plans(&srv, &r, "codeguard").await;
    let funds =
        ok(&call(&srv, "POST", "customers/add-funds.json", &format!("{}&customer-id={c}&amount=30", auth(&r))).await)
            .clone();
    assert_eq!(funds["funds"], "30.00");
    let modify = |o: i64, option: &str| {
        let q = format!("{}&order-id={o}&new-plan-id={pro}&invoice-option={option}", auth(&r));
        let srv = &srv;
        async move { ok(&call(srv, "POST", "codeguard/modify.json", &q).await).clone() }
    };
    let plan_of = |o: i64| {
        let q = format!("{}&order-id={o}", auth(&r));
        let srv = &srv;
        async move { ok(&call(srv, "GET", "codeguard/details.json", &q).await).clone() }
    };
    // NoInvoice: changed at once, no invoice fields.
    let o1 = order(&srv, &r, "codeguard", c, basic).await;
    let a = modify(o1, "NoInvoice").await;
    assert_eq!(
        (a["actionstatus"].as_str(), a["actiontype"].as_str(), a["entityid"].as_i64()),
        (Some("Success"), Some("Mod"), Some(o1))
    );
    assert!(a.get("invoiceid").is_none() && a.get("sellingamount").is_none() && a.get("customerid").is_none(), "{a}");
    assert_eq!(plan_of(o1).await["planid"], pro);
    // PayInvoice without enough funds (48.00 due, 30.00 there): unpaid, pending, plan unchanged.
    let o2 = order(&srv, &r, "codeguard", c, basic).await;
    let a = modify(o2, "PayInvoice").await;
    assert_eq!(a["actionstatus"], "Pending");
    assert_eq!((a["sellingamount"].as_f64(), a["unutilisedsellingamount"].as_f64()), (Some(48.0), Some(30.0)));
    assert_eq!(a["customerid"], c);
    assert!(a["actionstatusdesc"].as_str().unwrap().contains("Insufficient funds"));
    let d = plan_of(o2).await;
    assert_eq!((d["planid"].as_i64(), d["pendingplanid"].as_i64()), (Some(basic), Some(pro)));
    refused(
        &call(&srv, "GET", "codeguard/validate-modify.json", &format!("{}&order-id={o2}&new-planid={pro}", auth(&r)))
            .await,
        400,
        "waiting for payment",
    );
    // KeepInvoice: changed at once, invoice left unpaid, funds untouched.
    let o3 = order(&srv, &r, "codeguard", c, basic).await;
    let a = modify(o3, "KeepInvoice").await;
    assert_eq!((a["actionstatus"].as_str(), a["unutilisedsellingamount"].as_f64()), (Some("Success"), Some(30.0)));
    assert_eq!(plan_of(o3).await["planid"], pro);
    // OnlyAdd: invoice added, change waits.
    let o4 = order(&srv, &r, "codeguard", c, basic).await;
    let a = modify(o4, "OnlyAdd").await;
    assert_eq!(a["actionstatus"], "Pending");
    assert!(a["invoiceid"].as_i64().is_some());
    assert_eq!(plan_of(o4).await["pendingplanid"], pro);
    // PayInvoice with enough funds: paid from the funds, changed.
    ok(&call(&srv, "POST", "customers/add-funds.json", &format!("{}&customer-id={c}&amount=100", auth(&r))).await);
    let o5 = order(&srv, &r, "codeguard", c, basic).await;
    let a = modify(o5, "PayInvoice").await;
    assert_eq!((a["actionstatus"].as_str(), a["unutilisedsellingamount"].as_f64()), (Some("Success"), Some(82.0)));
    assert_eq!(plan_of(o5).await["planid"], pro);
    let d =
        ok(&call(&srv, "GET", "customers/details-by-id.json", &format!("{}&customer-id={c}", auth(&r))).await).clone();
    assert_eq!(d["totalreceipts"], "130.00");
    // A purchase with PayInvoice and no funds left for it stays pending.
    let q = format!(
        "{}&customer-id={c}&domain-name=b.example.com&plan-id={pro}&months=12&invoice-option=PayInvoice",
        auth(&r)
    );
    let a = ok(&call(&srv, "POST", "codeguard/add.json", &q).await).clone();
    assert_eq!((a["actionstatus"].as_str(), a["sellingamount"].as_f64()), (Some("Pending"), Some(144.0)));
    assert_eq!(plan_of(a["entityid"].as_i64().unwrap()).await["currentstatus"], "Pending");
    refused(
        &call(
            &srv,
            "POST",
            "codeguard/modify.json",
            &format!("{}&order-id={o1}&new-plan-id={basic}&invoice-option=Later", auth(&r)),
        )
        .await,
        400,
        "invoice-option",
    );
}

async fn resellers_are_isolated(b: Backend) {
    let srv = Server::start(b).await;
    let a = reseller(&srv, "alpha").await;
    let z = reseller(&srv, "zulu").await;
    let theirs = signup(&srv, &z, "z@z.example").await;
    let (zb, zp) = plans(&srv, &z, "codeguard").await;
    let zo = order(&srv, &z, "codeguard", theirs, zb).await;
    refused(
        &call(&srv, "GET", "customers/details-by-id.json", &format!("{}&customer-id={theirs}", auth(&a))).await,
        404,
        "customer-id",
    );
    refused(
        &call(&srv, "POST", "customers/suspend.json", &format!("{}&customer-id={theirs}&reason=x", auth(&a))).await,
        404,
        "customer-id",
    );
    refused(
        &call(
            &srv,
            "GET",
            "customers/generate-login-token.json",
            &format!("{}&customer-id={theirs}&ip=10.0.0.1", auth(&a)),
        )
        .await,
        404,
        "customer-id",
    );
    refused(
        &call(&srv, "GET", "codeguard/details.json", &format!("{}&order-id={zo}", auth(&a))).await,
        404,
        "order-id",
    );
    refused(
        &call(
            &srv,
            "POST",
            "codeguard/modify.json",
            &format!("{}&order-id={zo}&new-plan-id={zp}&invoice-option=NoInvoice", auth(&a)),
        )
        .await,
        404,
        "order-id",
    );
    let found =
        ok(&call(&srv, "GET", "customers/search.json", &format!("{}&no-of-records=10&page-no=1", auth(&a))).await)
            .clone();
    assert_eq!(found["recsindb"], 0);
    // Z's login token is no good to A.
    let token = ok(&call(
        &srv,
        "GET",
        "customers/generate-login-token.json",
        &format!("{}&customer-id={theirs}&ip=10.0.0.1", auth(&z)),
    )
    .await)
    .as_str()
    .unwrap()
    .to_string();
    refused(
        &call(&srv, "GET", "customers/authenticate-token-without-history.json", &format!("{}&token={token}", auth(&a)))
            .await,
        401,
        "token",
    );
    assert_eq!(
        ok(&call(&srv, "GET", "codeguard/details.json", &format!("{}&order-id={zo}", auth(&z))).await)["planid"],
        zb
    );

    // A sub-reseller sees its own customers; its parent sees them too, not the other way round.
    let sub = srv.tenant(&a.key, a.id, "reseller", "alpha-sub").await;
    srv.enable(&a.key, sub, "registrar", true).await;
    let su = srv.user(&a.key, sub, "admin@alpha-sub.example", &["tenant_admin"]).await;
    let (_, sk) = srv.api_key(&a.key, su).await;
    let s = Reseller { id: sub, key: sk, isp_key: a.isp_key.clone() };
    let subs = signup(&srv, &s, "s@sub.example").await;
    let own = signup(&srv, &a, "own@alpha.example").await;
    assert_eq!(
        ok(&call(&srv, "GET", "customers/details-by-id.json", &format!("{}&customer-id={subs}", auth(&a))).await)
            ["parentid"],
        a.id
    );
    refused(
        &call(&srv, "GET", "customers/details-by-id.json", &format!("{}&customer-id={own}", auth(&s))).await,
        404,
        "customer-id",
    );
    // A plugin switched off for the reseller refuses its key.
    srv.enable(&s.isp_key, a.id, "registrar", false).await;
    refused(
        &call(&srv, "GET", "customers/details-by-id.json", &format!("{}&customer-id={own}", auth(&a))).await,
        403,
        "not available",
    );
}

both!(
    funds_stop_at_the_largest_balance,
    customers_and_login_tokens,
    pricing_by_hand,
    invoice_options,
    resellers_are_isolated
);
