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

/// An id the registrar spells as a string of digits.
fn id(v: &Value) -> i64 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("`{v}` is not an id string"))
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
    id(&a["entityid"])
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
    assert_eq!((d["customerid"].as_str(), d["resellerid"].as_str()), (Some(&*c.to_string()), Some(&*r.id.to_string())));
    assert_eq!(d["useremail"], "ann@lee.example");
    assert_eq!(d["customerstatus"], "Active");
    assert_eq!(d["country"], "IN");
    for field in [
        "username",
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
        "salescontactid",
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
    assert_eq!((page["recsonpage"].as_str(), page["recsindb"].as_str()), (Some("2"), Some("4")));
    let found = ok(&call(
        &srv,
        "GET",
        "customers/search.json",
        &format!("{}&no-of-records=10&page-no=1&username=C1@X", auth(&r)),
    )
    .await)
    .clone();
    assert_eq!(found["recsindb"], "1");

    // Login tokens: once, for 120 seconds, never for a suspended customer.
    let token_q = format!("{}&customer-id={c}&ip=203.0.113.7", auth(&r));
    let token =
        ok(&call(&srv, "GET", "customers/generate-login-token.json", &token_q).await).as_str().unwrap().to_string();
    let check = format!("{}&token={token}", auth(&r));
    assert_eq!(
        ok(&call(&srv, "GET", "customers/authenticate-token-without-history.json", &check).await)["customerid"],
        c.to_string()
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
    assert_eq!(ok(&call(&srv, "POST", "customers/suspend.json", &suspend).await), &Value::Bool(true));
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
    // The registrar's unsuspension takes an optional reason; a suspension needs one.
    assert_eq!(
        ok(&call(&srv, "POST", "customers/unsuspend.json", &format!("{}&customer-id={c}", auth(&r))).await),
        &Value::Bool(true)
    );
    refused(
        &call(&srv, "POST", "customers/suspend.json", &format!("{}&customer-id={c}&reason=%20", auth(&r))).await,
        400,
        "reason: must not be empty",
    );
    refused(
        &call(&srv, "POST", "customers/suspend.json", &format!("{}&customer-id={c}", auth(&r))).await,
        400,
        "reason: is required",
    );
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
        (a["actionstatus"].as_str(), a["actiontype"].as_str(), a["entityid"].as_str()),
        (Some("Success"), Some("Mod"), Some(&*o1.to_string()))
    );
    assert!(a.get("invoiceid").is_none() && a.get("sellingamount").is_none() && a.get("customerid").is_none(), "{a}");
    assert_eq!(plan_of(o1).await["planid"], pro.to_string());
    // PayInvoice without enough funds (48.00 due, 30.00 there): unpaid, pending, plan unchanged.
    let o2 = order(&srv, &r, "codeguard", c, basic).await;
    let a = modify(o2, "PayInvoice").await;
    assert_eq!(a["actionstatus"], "Pending");
    assert_eq!((a["sellingamount"].as_str(), a["unutilisedsellingamount"].as_str()), (Some("48.00"), Some("30.00")));
    assert_eq!(a["customerid"], c.to_string());
    assert!(a["actionstatusdesc"].as_str().unwrap().contains("Insufficient funds"));
    let d = plan_of(o2).await;
    assert_eq!(
        (d["planid"].as_str(), d["pendingplanid"].as_str()),
        (Some(&*basic.to_string()), Some(&*pro.to_string()))
    );
    refused(
        &call(&srv, "GET", "codeguard/validate-modify.json", &format!("{}&order-id={o2}&new-planid={pro}", auth(&r)))
            .await,
        400,
        "waiting for payment",
    );
    // KeepInvoice: changed at once, invoice left unpaid, funds untouched.
    let o3 = order(&srv, &r, "codeguard", c, basic).await;
    let a = modify(o3, "KeepInvoice").await;
    assert_eq!((a["actionstatus"].as_str(), a["unutilisedsellingamount"].as_str()), (Some("Success"), Some("30.00")));
    assert_eq!(plan_of(o3).await["planid"], pro.to_string());
    // OnlyAdd: invoice added, change waits.
    let o4 = order(&srv, &r, "codeguard", c, basic).await;
    let a = modify(o4, "OnlyAdd").await;
    assert_eq!(a["actionstatus"], "Pending");
    id(&a["invoiceid"]);
    assert_eq!(plan_of(o4).await["pendingplanid"], pro.to_string());
    // PayInvoice with enough funds: paid from the funds, changed.
    ok(&call(&srv, "POST", "customers/add-funds.json", &format!("{}&customer-id={c}&amount=100", auth(&r))).await);
    let o5 = order(&srv, &r, "codeguard", c, basic).await;
    let a = modify(o5, "PayInvoice").await;
    assert_eq!((a["actionstatus"].as_str(), a["unutilisedsellingamount"].as_str()), (Some("Success"), Some("82.00")));
    assert_eq!(plan_of(o5).await["planid"], pro.to_string());
    let d =
        ok(&call(&srv, "GET", "customers/details-by-id.json", &format!("{}&customer-id={c}", auth(&r))).await).clone();
    assert_eq!(d["totalreceipts"], "130.00");
    // A purchase with PayInvoice and no funds left for it stays pending.
    let q = format!(
        "{}&customer-id={c}&domain-name=b.example.com&plan-id={pro}&months=12&invoice-option=PayInvoice",
        auth(&r)
    );
    let a = ok(&call(&srv, "POST", "codeguard/add.json", &q).await).clone();
    assert_eq!((a["actionstatus"].as_str(), a["sellingamount"].as_str()), (Some("Pending"), Some("144.00")));
    assert_eq!(plan_of(id(&a["entityid"])).await["currentstatus"], "InActive");
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
    assert_eq!(found["recsindb"], "0");
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
        zb.to_string()
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
            ["resellerid"],
        sub.to_string()
    );
    // The parent authenticates a login token of its sub-reseller's customer: the answer names both resellers.
    let token = ok(&call(
        &srv,
        "GET",
        "customers/generate-login-token.json",
        &format!("{}&customer-id={subs}&ip=10.0.0.1", auth(&s)),
    )
    .await)
    .as_str()
    .unwrap()
    .to_string();
    let who = ok(&call(
        &srv,
        "GET",
        "customers/authenticate-token-without-history.json",
        &format!("{}&token={token}", auth(&a)),
    )
    .await)
    .clone();
    assert_eq!(
        (who["resellerid"].as_str(), who["parentid"].as_str()),
        (Some(&*sub.to_string()), Some(&*a.id.to_string()))
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

// ---- wire fidelity: the registrar's own shapes, field by field ----

/// What a value must be, in the terms the registrar's documentation and answers use.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// A string of digits: ids, counts, UNIX seconds.
    Digits,
    /// A string holding a decimal amount.
    Decimal,
    /// Any string.
    Text,
    /// The string "true" or "false".
    Flag,
    /// A JSON integer.
    Int,
    /// A JSON number written with a fraction (`0.0`).
    Num,
}
use Kind::*;

fn kind_fits(kind: Kind, v: &Value) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match (kind, v) {
        (Digits, Value::String(s)) => digits(s),
        (Decimal, Value::String(s)) => {
            let (whole, frac) = s.trim_start_matches('-').split_once('.').unwrap_or((s, ""));
            digits(whole) && frac.bytes().all(|b| b.is_ascii_digit())
        }
        (Text, Value::String(_)) => true,
        (Flag, Value::String(s)) => s == "true" || s == "false",
        (Int, Value::Number(n)) => n.is_i64(),
        (Num, Value::Number(n)) => n.is_f64(),
        _ => false,
    }
}

/// `v` is an object with exactly these keys, each value of its kind.
fn assert_shape(what: &str, v: &Value, shape: &[(&str, Kind)]) {
    let obj = v.as_object().unwrap_or_else(|| panic!("{what}: not an object: {v}"));
    let mut expected: Vec<&str> = shape.iter().map(|(k, _)| *k).collect();
    let mut got: Vec<&str> = obj.keys().map(String::as_str).collect();
    expected.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, expected, "{what}: keys of {v}");
    for (key, kind) in shape {
        assert!(kind_fits(*kind, &obj[*key]), "{what}: `{key}` should be {kind:?}, is {}", obj[*key]);
    }
}

/// customers/details-by-id.json, as the registrar's documentation lists it (no parentid; salescontactid).
const CUSTOMER_DETAILS: &[(&str, Kind)] = &[
    ("customerid", Digits),
    ("username", Text),
    ("resellerid", Digits),
    ("name", Text),
    ("company", Text),
    ("useremail", Text),
    ("telnocc", Digits),
    ("telno", Digits),
    ("address1", Text),
    ("address2", Text),
    ("address3", Text),
    ("city", Text),
    ("state", Text),
    ("country", Text),
    ("zip", Text),
    ("pin", Digits),
    ("creationdt", Digits),
    ("customerstatus", Text),
    ("salescontactid", Text),
    ("langpref", Text),
    ("totalreceipts", Decimal),
];

/// customers/authenticate-token-without-history.json, as the seed lists it.
const TOKEN_CUSTOMER: &[(&str, Kind)] = &[
    ("customerid", Digits),
    ("username", Text),
    ("resellerid", Digits),
    ("parentid", Digits),
    ("name", Text),
    ("company", Text),
    ("useremail", Text),
    ("telnocc", Digits),
    ("telno", Digits),
    ("address1", Text),
    ("address2", Text),
    ("address3", Text),
    ("city", Text),
    ("state", Text),
    ("country", Text),
    ("zip", Text),
    ("pin", Digits),
    ("creationdt", Digits),
    ("customerstatus", Text),
    ("salesrepresentative", Text),
    ("langpref", Text),
    ("totalreceipts", Decimal),
];

/// One customer of customers/search.json, with the documentation's dotted keys.
const SEARCH_ENTRY: &[(&str, Kind)] = &[
    ("customer.customerid", Digits),
    ("customer.username", Text),
    ("customer.resellerid", Digits),
    ("customer.name", Text),
    ("customer.company", Text),
    ("customer.city", Text),
    ("customer.state", Text),
    ("customer.country", Text),
    ("customer.customerstatus", Text),
    ("customer.totalreceipts", Decimal),
    ("customer.websitecount", Digits),
];

/// codeguard|sitelock/modify-pricing.json, as the seed's example gives it.
const MODIFY_PRICING: &[(&str, Kind)] = &[
    ("upgradecost", Num),
    ("modifiedOrderPrice", Num),
    ("endtime", Digits),
    ("remainingmonths", Int),
    ("currentOrderPrice", Num),
];

/// The action hash map of add.json and modify.json (the seed's sitelock/modify.json) without an invoice.
const ACTION: &[(&str, Kind)] = &[
    ("description", Text),
    ("entityid", Digits),
    ("actiontype", Text),
    ("actiontypedesc", Text),
    ("eaqid", Digits),
    ("actionstatus", Text),
    ("actionstatusdesc", Text),
];

/// The invoice fields the action map adds unless the invoice option is NoInvoice.
const ACTION_INVOICE: &[(&str, Kind)] = &[
    ("invoiceid", Digits),
    ("sellingcurrencysymbol", Text),
    ("sellingamount", Decimal),
    ("unutilisedsellingamount", Decimal),
    ("customerid", Digits),
];

/// codeguard|sitelock/details.json: the documentation's keys Tessera keeps, and its own `months`.
const ORDER_DETAILS: &[(&str, Kind)] = &[
    ("entityid", Digits),
    ("orderid", Digits),
    ("description", Text),
    ("domainname", Text),
    ("currentstatus", Text),
    ("productkey", Text),
    ("planid", Digits),
    ("paused", Flag),
    ("creationtime", Digits),
    ("endtime", Digits),
    ("isImmediateReseller", Flag),
    ("parentkey", Text),
    ("customerid", Digits),
    ("isOrderSuspendedUponExpiry", Flag),
    ("orderSuspendedByParent", Flag),
    ("allowdeletion", Flag),
    ("recurring", Flag),
    ("months", Digits),
];

/// Every failure: the status key "ERROR" and a message, with a 4xx status.
fn assert_error_shape(r: &Resp) {
    assert!((400..500).contains(&r.status), "{} {}", r.status, r.text);
    assert_shape("error", &r.body, &[("status", Text), ("message", Text)]);
    assert_eq!(r.body["status"], "ERROR");
}

/// A search page: exactly `recsonpage`, `recsindb` and the entries "1".."recsonpage", each an entry of the documented
/// shape; the entries' customer ids, in order.
fn search_page(v: &Value, on_page: usize, in_db: usize) -> Vec<i64> {
    let obj = v.as_object().unwrap_or_else(|| panic!("search page: not an object: {v}"));
    assert_eq!(
        (obj.get("recsonpage"), obj.get("recsindb")),
        (Some(&Value::String(on_page.to_string())), Some(&Value::String(in_db.to_string()))),
        "{v}"
    );
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).filter(|k| !k.starts_with("recs")).collect();
    keys.sort_by_key(|k| k.parse::<usize>().unwrap_or(usize::MAX));
    let numbers: Vec<String> = (1..=on_page).map(|n| n.to_string()).collect();
    assert_eq!(keys, numbers.iter().map(String::as_str).collect::<Vec<_>>(), "entries numbered from 1: {v}");
    numbers
        .iter()
        .map(|n| {
            assert_shape(&format!("search entry {n}"), &obj[n], SEARCH_ENTRY);
            id(&obj[n]["customer.customerid"])
        })
        .collect()
}

/// Every registrar call the registrar's own API also has, answered in that API's shape: keys, value types,
/// numbering. The shapes above are the documented ones (the README's "Registrar wire shapes" table).
async fn answers_in_the_registrars_shapes(b: Backend) {
    let srv = Server::start(b).await;
    let r = reseller(&srv, "acme").await;

    // signup.json: a bare integer, the customer id.
    let q = format!(
        "{}&username=ann@lee.example&passwd=s3cret-pass&name=Ann%20Lee&company=Lee%20Ltd&address-line-1=1%20Main\
         &city=Pune&state=MH&country=IN&zipcode=411001&phone-cc=91&phone=9876543210&lang-pref=en",
        auth(&r)
    );
    let signed = call(&srv, "POST", "customers/signup.json", &q).await;
    assert!(kind_fits(Int, ok(&signed)), "signup answers a bare integer: {}", signed.text);
    let c = signed.body.as_i64().unwrap();
    ok(&call(&srv, "POST", "customers/add-funds.json", &format!("{}&customer-id={c}&amount=12.5", auth(&r))).await);

    let d =
        ok(&call(&srv, "GET", "customers/details-by-id.json", &format!("{}&customer-id={c}", auth(&r))).await).clone();
    assert_shape("details-by-id", &d, CUSTOMER_DETAILS);
    assert_eq!((d["customerid"].as_str(), d["totalreceipts"].as_str()), (Some(&*c.to_string()), Some("12.50")));

    // search.json: string counts and numbered entries, on every page.
    let mut ids = vec![c];
    for i in 0..4 {
        ids.push(signup(&srv, &r, &format!("c{i}@x.example")).await);
    }
    let page = |n: u32| {
        let q = format!("{}&no-of-records=2&page-no={n}", auth(&r));
        let srv = &srv;
        async move { ok(&call(srv, "GET", "customers/search.json", &q).await).clone() }
    };
    assert_eq!(search_page(&page(1).await, 2, 5), ids[..2]);
    assert_eq!(search_page(&page(2).await, 2, 5), ids[2..4], "each page numbers from 1");
    assert_eq!(search_page(&page(3).await, 1, 5), ids[4..]);
    assert_eq!(search_page(&page(4).await, 0, 5), Vec::<i64>::new());

    // generate-login-token.json: a bare string; authenticate-token: the seed's map.
    let token = ok(&call(
        &srv,
        "GET",
        "customers/generate-login-token.json",
        &format!("{}&customer-id={c}&ip=203.0.113.7", auth(&r)),
    )
    .await)
    .clone();
    assert!(kind_fits(Text, &token), "a bare string: {token}");
    let who = ok(&call(
        &srv,
        "GET",
        "customers/authenticate-token-without-history.json",
        &format!("{}&token={}", auth(&r), token.as_str().unwrap()),
    )
    .await)
    .clone();
    assert_shape("authenticate-token", &who, TOKEN_CUSTOMER);

    // suspend.json and unsuspend.json: true.
    let suspend =
        call(&srv, "POST", "customers/suspend.json", &format!("{}&customer-id={c}&reason=late", auth(&r))).await;
    assert_eq!(ok(&suspend), &Value::Bool(true));
    let unsuspend = call(&srv, "POST", "customers/unsuspend.json", &format!("{}&customer-id={c}", auth(&r))).await;
    assert_eq!(ok(&unsuspend), &Value::Bool(true));

    // CodeGuard and SiteLock: add, details, validate-modify, modify-pricing, modify.
    for product in ["codeguard", "sitelock"] {
        let (basic, pro) = plans(&srv, &r, product).await;
        let add = |option: &str| {
            let q = format!(
                "{}&customer-id={c}&domain-name=shop.example.com&plan-id={basic}&months=12&invoice-option={option}",
                auth(&r)
            );
            let srv = &srv;
            async move { ok(&call(srv, "POST", &format!("{product}/add.json"), &q).await).clone() }
        };
        let plain = add("NoInvoice").await;
        assert_shape(&format!("{product}/add NoInvoice"), &plain, ACTION);
        let invoiced = add("KeepInvoice").await;
        assert_shape(&format!("{product}/add KeepInvoice"), &invoiced, &[ACTION, ACTION_INVOICE].concat());
        let o = id(&plain["entityid"]);

        let details =
            ok(&call(&srv, "GET", &format!("{product}/details.json"), &format!("{}&order-id={o}", auth(&r))).await)
                .clone();
        assert_shape(&format!("{product}/details"), &details, ORDER_DETAILS);
        assert_eq!(
            (
                details["productkey"].as_str(),
                details["isImmediateReseller"].as_str(),
                details["currentstatus"].as_str()
            ),
            (Some(product), Some("true"), Some("Active"))
        );

        let v = format!("{}&order-id={o}&new-planid={pro}", auth(&r));
        let valid = ok(&call(&srv, "GET", &format!("{product}/validate-modify.json"), &v).await).clone();
        assert_eq!(valid, Value::String("true".into()), "the seed: true (String)");

        let q = format!("{}&order-id={o}&new-plan-id={pro}&months=12", auth(&r));
        let price = ok(&call(&srv, "GET", &format!("{product}/modify-pricing.json"), &q).await).clone();
        assert_shape(&format!("{product}/modify-pricing"), &price, MODIFY_PRICING);

        let q = format!("{}&order-id={o}&new-plan-id={pro}&invoice-option=NoInvoice", auth(&r));
        let changed = ok(&call(&srv, "POST", &format!("{product}/modify.json"), &q).await).clone();
        assert_shape(&format!("{product}/modify NoInvoice"), &changed, ACTION);
        let o2 = id(&invoiced["entityid"]);
        let q = format!("{}&order-id={o2}&new-plan-id={pro}&invoice-option=OnlyAdd", auth(&r));
        let waiting = ok(&call(&srv, "POST", &format!("{product}/modify.json"), &q).await).clone();
        assert_shape(&format!("{product}/modify OnlyAdd"), &waiting, &[ACTION, ACTION_INVOICE].concat());
        let details =
            ok(&call(&srv, "GET", &format!("{product}/details.json"), &format!("{}&order-id={o2}", auth(&r))).await)
                .clone();
        assert_shape(
            &format!("{product}/details with a change waiting"),
            &details,
            &[ORDER_DETAILS, &[("pendingplanid", Digits)]].concat(),
        );
    }

    // Failures, whatever the call: {"status": "ERROR", "message": …} with a 4xx.
    for (method, path, query) in [
        ("POST", "customers/signup.json", format!("{}&username=nobody", auth(&r))),
        ("GET", "customers/details-by-id.json", format!("{}&customer-id=999999", auth(&r))),
        ("GET", "customers/search.json", format!("{}&no-of-records=10", auth(&r))),
        ("POST", "customers/suspend.json", format!("{}&customer-id=999999&reason=x", auth(&r))),
        ("POST", "customers/unsuspend.json", format!("{}&customer-id={c}", auth(&r))),
        ("GET", "customers/generate-login-token.json", format!("{}&customer-id={c}", auth(&r))),
        ("GET", "customers/authenticate-token-without-history.json", format!("{}&token=nope", auth(&r))),
        ("GET", "codeguard/details.json", format!("{}&order-id=999999", auth(&r))),
        ("GET", "codeguard/validate-modify.json", format!("{}&order-id=1", auth(&r))),
        ("GET", "sitelock/modify-pricing.json", format!("{}&order-id=999999&new-plan-id=1", auth(&r))),
        ("POST", "sitelock/modify.json", format!("{}&order-id=1&new-plan-id=1&invoice-option=Never", auth(&r))),
        ("POST", "codeguard/add.json", format!("auth-userid={}&api-key=wrong", r.id)),
    ] {
        assert_error_shape(&call(&srv, method, path, &query).await);
    }
}

/// The search's parameters as the registrar defines them: ids (repeatable), parts of text fields, the statuses it
/// accepts, exclusive creation-date and receipt bounds; always inside the caller's subtree.
async fn search_filters(b: Backend) {
    let srv = Server::start_with(b, &[("TESSERA_TEST_CLOCK", "1")]).await;
    let r = reseller(&srv, "acme").await;
    let other = reseller(&srv, "other").await;
    let sub = srv.tenant(&r.key, r.id, "reseller", "acme-sub").await;
    srv.enable(&r.key, sub, "registrar", true).await;
    let su = srv.user(&r.key, sub, "admin@acme-sub.example", &["tenant_admin"]).await;
    let s = Reseller { id: sub, key: srv.api_key(&r.key, su).await.1, isp_key: r.isp_key.clone() };

    let add = |who: &Reseller, username: &str, name: &str, company: &str, city: &str, state: &str| {
        let q = format!(
            "{}&username={username}&name={name}&company={company}&address-line-1=1%20Main&city={city}&state={state}\
             &country=IN&zipcode=411001&phone-cc=91&phone=9876543210",
            auth(who)
        );
        let srv = &srv;
        async move { ok(&call(srv, "POST", "customers/signup.json", &q).await).as_i64().unwrap() }
    };
    let ann = add(&r, "ann@lee.example", "Ann%20Lee", "Lee%20Ltd", "Pune", "MH").await;
    advance(&srv, 10).await;
    let bob = add(&r, "bob@kay.example", "Bob%20Kay", "Kay%20Works", "Mumbai", "MH").await;
    advance(&srv, 10).await;
    let cat = add(&s, "cat@sub.example", "Cat%20Sub", "100%25%20Sub", "Chennai", "TN").await;
    let theirs = add(&other, "zed@other.example", "Zed", "Other", "Pune", "MH").await;
    for (who, c, amount) in [(&r, ann, "10.10"), (&r, bob, "20"), (&s, cat, "5")] {
        let q = format!("{}&customer-id={c}&amount={amount}", auth(who));
        ok(&call(&srv, "POST", "customers/add-funds.json", &q).await);
    }
    let created = |c: i64| {
        let q = format!("{}&customer-id={c}", auth(&r));
        let srv = &srv;
        async move { id(&ok(&call(srv, "GET", "customers/details-by-id.json", &q).await)["creationdt"]) }
    };
    let (ann_at, bob_at) = (created(ann).await, created(bob).await);

    let search = |filters: String| {
        let q = format!("{}&no-of-records=500&page-no=1{filters}", auth(&r));
        let srv = &srv;
        async move {
            let page = ok(&call(srv, "GET", "customers/search.json", &q).await).clone();
            let n = page["recsindb"].as_str().and_then(|n| n.parse().ok()).unwrap_or(usize::MAX);
            search_page(&page, n, n)
        }
    };
    assert_eq!(search(String::new()).await, vec![ann, bob, cat], "the caller's subtree, never another tree");
    assert_eq!(search(format!("&customer-id={cat}&customer-id={ann}")).await, vec![ann, cat]);
    assert_eq!(search(format!("&customer-id={theirs}")).await, Vec::<i64>::new(), "another tree's customer");
    assert_eq!(search(format!("&reseller-id={sub}")).await, vec![cat]);
    assert_eq!(search(format!("&reseller-id={}&reseller-id={sub}", r.id)).await, vec![ann, bob, cat]);
    assert_eq!(search(format!("&reseller-id={}", other.id)).await, Vec::<i64>::new(), "another tree's reseller");
    assert_eq!(search("&username=LEE.EX".into()).await, vec![ann]);
    assert_eq!(search("&name=kay".into()).await, vec![bob]);
    assert_eq!(search("&company=100%25".into()).await, vec![cat], "a % is a character, not a wildcard");
    assert_eq!(search("&company=%25".into()).await, vec![cat]);
    assert_eq!(search("&city=pun".into()).await, vec![ann]);
    assert_eq!(search("&state=mh".into()).await, vec![ann, bob]);
    assert_eq!(search("&state=mh&name=ann".into()).await, vec![ann], "filters combine");
    assert_eq!(search("&name=".into()).await, vec![ann, bob, cat], "an empty text filter filters nothing");

    // Statuses: the three the registrar accepts; Deleted is an empty page.
    let q = format!("{}&customer-id={bob}&reason=late", auth(&r));
    ok(&call(&srv, "POST", "customers/suspend.json", &q).await);
    assert_eq!(search("&status=Active".into()).await, vec![ann, cat]);
    assert_eq!(search("&status=Suspended".into()).await, vec![bob]);
    let q = format!("{}&no-of-records=10&page-no=1&status=Deleted", auth(&r));
    let deleted = call(&srv, "GET", "customers/search.json", &q).await;
    assert_eq!(ok(&deleted), &serde_json::json!({"recsonpage": "0", "recsindb": "0"}));

    // Bounds are exclusive: created after / before a second, receipts greater / less than an amount.
    assert_eq!(search(format!("&creation-date-start={ann_at}")).await, vec![bob, cat]);
    assert_eq!(search(format!("&creation-date-start={}", ann_at - 1)).await, vec![ann, bob, cat]);
    assert_eq!(search(format!("&creation-date-end={bob_at}")).await, vec![ann]);
    assert_eq!(search(format!("&creation-date-start={ann_at}&creation-date-end={}", bob_at + 1)).await, vec![bob]);
    assert_eq!(search("&total-receipt-start=10.1".into()).await, vec![bob]);
    assert_eq!(search("&total-receipt-start=10.09".into()).await, vec![ann, bob]);
    assert_eq!(search("&total-receipt-end=20".into()).await, vec![ann, cat]);
    assert_eq!(search("&total-receipt-end=20.001".into()).await, vec![ann, bob, cat]);
    assert_eq!(search("&total-receipt-start=5&total-receipt-end=20".into()).await, vec![ann]);

    // Bad input: 400 in the envelope, naming the parameter.
    for (query, field) in [
        ("&status=Gone", "status"),
        ("&status=active", "status"),
        ("&customer-id=abc", "customer-id"),
        ("&customer-id=1&customer-id=x", "customer-id"),
        ("&reseller-id=1.5", "reseller-id"),
        ("&creation-date-start=yesterday", "creation-date-start"),
        ("&creation-date-end=", "creation-date-end"),
        ("&total-receipt-start=ten", "total-receipt-start"),
        ("&total-receipt-end=NaN", "total-receipt-end"),
        ("&total-receipt-end=inf", "total-receipt-end"),
    ] {
        let q = format!("{}&no-of-records=10&page-no=1{query}", auth(&r));
        let r2 = call(&srv, "GET", "customers/search.json", &q).await;
        refused(&r2, 400, field);
        assert_error_shape(&r2);
    }
    let many: String = (0..501).map(|i| format!("&customer-id={i}")).collect();
    refused(
        &call(&srv, "GET", "customers/search.json", &format!("{}&no-of-records=10&page-no=1{many}", auth(&r))).await,
        400,
        "customer-id",
    );
    for (query, field) in [
        ("&page-no=1", "no-of-records"),
        ("&no-of-records=10", "page-no"),
        ("&no-of-records=501&page-no=1", "no-of-records"),
        ("&no-of-records=0&page-no=1", "no-of-records"),
        ("&no-of-records=10&page-no=0", "page-no"),
    ] {
        refused(&call(&srv, "GET", "customers/search.json", &format!("{}{query}", auth(&r))).await, 400, field);
    }
}

/// Authentication fields (and the rest) in the query string, in a form body, in a JSON body, or split between the
/// query string and the body, as clients of the registrar send them.
async fn credentials_in_query_or_body(b: Backend) {
    let srv = Server::start(b).await;
    let r = reseller(&srv, "acme").await;
    let rid = r.id.to_string();
    let url = |path: &str| format!("{}/registrar/api/{path}", srv.base);
    let c = signup(&srv, &r, "ann@lee.example").await;

    // Everything in a form body.
    let form = srv.client.post(url("customers/suspend.json")).form(&[
        ("auth-userid", rid.as_str()),
        ("api-key", r.key.as_str()),
        ("customer-id", &c.to_string()),
        ("reason", "late"),
    ]);
    assert_eq!(ok(&srv.send(form).await), &Value::Bool(true));
    // Credentials in the query string, the rest in a form body.
    let split = srv
        .client
        .post(format!("{}?{}", url("customers/unsuspend.json"), auth(&r)))
        .form(&[("customer-id", c.to_string()), ("reason", "paid".into())]);
    assert_eq!(ok(&srv.send(split).await), &Value::Bool(true));
    // A signup in a form body: the registrar's extra fields (passwd, lang-pref…) are accepted.
    let signup_form = srv.client.post(url("customers/signup.json")).form(&[
        ("auth-userid", rid.as_str()),
        ("api-key", r.key.as_str()),
        ("username", "bob@kay.example"),
        ("passwd", "s3cret-pass"),
        ("name", "Bob"),
        ("company", "Kay"),
        ("address-line-1", "2 Main"),
        ("city", "Pune"),
        ("state", "MH"),
        ("country", "IN"),
        ("zipcode", "411001"),
        ("phone-cc", "91"),
        ("phone", "9876543210"),
        ("lang-pref", "en"),
        ("mobile-cc", "91"),
    ]);
    let bob = ok(&srv.send(signup_form).await).as_i64().expect("a bare customer id");
    // A JSON body.
    let json = srv
        .client
        .post(url("customers/suspend.json"))
        .json(&serde_json::json!({"auth-userid": r.id, "api-key": r.key, "customer-id": bob, "reason": "late"}));
    assert_eq!(ok(&srv.send(json).await), &Value::Bool(true));
    // Wrong credentials in a form body are refused in the envelope.
    let wrong = srv.client.post(url("customers/unsuspend.json")).form(&[
        ("auth-userid", rid.as_str()),
        ("api-key", "wrong"),
        ("customer-id", &bob.to_string()),
    ]);
    let wrong = srv.send(wrong).await;
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    assert_error_shape(&wrong);
    // A missing credential is named.
    let missing = srv.client.post(url("customers/unsuspend.json")).form(&[("customer-id", bob.to_string())]);
    refused(&srv.send(missing).await, 400, "auth-userid");
}

both!(
    answers_in_the_registrars_shapes,
    search_filters,
    credentials_in_query_or_body,
    funds_stop_at_the_largest_balance,
    customers_and_login_tokens,
    pricing_by_hand,
    invoice_options,
    resellers_are_isolated
);
