//! The reseller plugin through HTTP: the seed's curl examples, every operation with good and bad input, isolation
//! between ISPs, the wallet under concurrency, and idempotent retries.

use futures::future::join_all;
use serde_json::{json, Value};

use crate::both;
use crate::support::{Backend, Resp, Server, Tenancy};

const P: &str = "/reseller/api/reseller";

/// An ISP with the reseller plugin enabled.
async fn isp(srv: &Server, slug: &str) -> Tenancy {
    let t = srv.isp(slug).await;
    srv.enable(&srv.admin_key, t.tenant, "reseller", true).await;
    t
}

async fn call(srv: &Server, op: &str, who: &Tenancy, fields: &[(&str, &str)]) -> Resp {
    let user = who.user.to_string();
    let mut all: Vec<(&str, &str)> = vec![("userid", &user), ("api_key", &who.key)];
    all.extend_from_slice(fields);
    srv.form(&format!("{P}/{op}"), &all).await
}

fn ok(r: &Resp) -> &Value {
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["error"], Value::Null, "{}", r.text);
    &r.body["result"]
}

/// Asserts the failure envelope, the status and that the message names `field`.
fn refused(r: &Resp, status: u16, mentions: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["result"], Value::Null, "{}", r.text);
    let msg = r.body["error"].as_str().unwrap_or_else(|| panic!("no error message: {}", r.text));
    assert!(msg.contains(mentions), "`{msg}` should mention `{mentions}`");
}

async fn franchisee(srv: &Server, who: &Tenancy, code: &str, credit_limit: &str) -> i64 {
    let r = call(
        srv,
        "create",
        who,
        &[
            ("name", &format!("Franchisee {code}")),
            ("code", code),
            ("mobile", "12344444"),
            ("email", "contact@reseller4.com"),
            ("invoice_by", "ISP"),
            ("payment_by", "ISP"),
            ("type", "Franchisee"),
            ("commission_percent", "12.5"),
            ("credit_limit", credit_limit),
        ],
    )
    .await;
    ok(&r).as_i64().expect("new id")
}

async fn wallet(srv: &Server, who: &Tenancy, id: i64) -> String {
    let r = call(srv, "list", who, &[("resellerid", &id.to_string())]).await;
    ok(&r)[0]["wallet"].as_str().expect("wallet").to_string()
}

/// Every ledger row of a reseller, through the paged API.
async fn ledger(srv: &Server, who: &Tenancy, id: i64) -> Vec<Value> {
    let mut rows = Vec::new();
    loop {
        let offset = rows.len().to_string();
        let r = call(
            srv,
            "wallet_txn",
            who,
            &[("resellerid", &id.to_string()), ("rows_limit", "100"), ("rows_offset", &offset)],
        )
        .await;
        let page = ok(&r).as_array().expect("rows").clone();
        if page.is_empty() {
            return rows;
        }
        rows.extend(page);
    }
}

fn cents(s: &str) -> i64 {
    let (whole, frac) = s.split_once('.').expect("two decimals");
    let sign = if whole.starts_with('-') { -1 } else { 1 };
    sign * (whole.trim_start_matches('-').parse::<i64>().unwrap() * 100 + frac.parse::<i64>().unwrap())
}

async fn seed_examples_work_as_written(b: Backend) {
    let srv = Server::start(b).await;
    let acme = isp(&srv, "acme").await;
    let user = acme.user.to_string();
    // The create example exactly as the seed shows it, extra `country` field included.
    let r = srv
        .form(
            &format!("{P}/create"),
            &[
                ("userid", &user),
                ("api_key", &acme.key),
                ("name", "Reseller4"),
                ("code", "R2"),
                ("mobile", "12344444"),
                ("email", "contact@reseller4.com"),
                ("country", "India"),
                ("invoice_by", "ISP"),
                ("payment_by", "ISP"),
                ("type", "Franchisee"),
                ("commission_percent", "50"),
                ("credit_limit", "0"),
            ],
        )
        .await;
    let id = ok(&r).as_i64().expect("id");
    let rid = id.to_string();
    assert_eq!(ok(&call(&srv, "update", &acme, &[("resellerid", &rid), ("payment_by", "Reseller")]).await), "done");
    let topup = call(&srv, "wallet_update", &acme, &[("resellerid", &rid), ("action", "TopUp"), ("amt", "10")]).await;
    assert_eq!(ok(&topup), "done");

    let list = call(&srv, "list", &acme, &[]).await;
    let row = &ok(&list)[0];
    assert_eq!(row["id"], id);
    assert_eq!(row["ispid"], acme.tenant);
    assert_eq!(row["payment_by"], "Reseller");
    assert_eq!(row["invoice_by"], "ISP");
    assert_eq!(row["type"], "Franchisee");
    assert_eq!(row["commission_percent"], 50.0);
    assert_eq!(row["wallet"], "10.00");

    // The seed's ledger example uses the path credits_usage.
    let usage = call(&srv, "credits_usage", &acme, &[("resellerid", &rid)]).await;
    let rows = ok(&usage).as_array().expect("rows").clone();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["txn_code"], "Topup");
    assert_eq!(rows[0]["amount"], "10.00");
    assert_eq!(rows[0]["balance_after"], "10.00");
    assert_eq!(rows[0]["created_by"], acme.user);

    // Delete is refused until the wallet is settled, then done; the ledger stays.
    refused(&call(&srv, "delete", &acme, &[("resellerid", &rid)]).await, 409, "settle");
    let settle = [("resellerid", rid.as_str()), ("action", "Settlement"), ("amt", "10")];
    assert_eq!(ok(&call(&srv, "wallet_update", &acme, &settle).await), "done");
    assert_eq!(ok(&call(&srv, "delete", &acme, &[("resellerid", &rid)]).await), "done");
    assert_eq!(ok(&call(&srv, "list", &acme, &[("show_count", "1")]).await), 0);
    assert_eq!(ok(&call(&srv, "wallet_txn", &acme, &[("show_count", "1")]).await), 2);
    refused(&call(&srv, "update", &acme, &[("resellerid", &rid), ("name", "x")]).await, 404, "resellerid");
    let log = srv.log();
    assert!(log.contains("served"), "the log is captured");
    assert!(!log.contains(&acme.key) && !log.contains(&srv.admin_key), "no API key reaches the log");
}

async fn json_bodies_are_accepted(b: Backend) {
    let srv = Server::start(b).await;
    let acme = isp(&srv, "acme").await;
    let r = srv
        .post_json(
            &format!("{P}/create"),
            json!({"userid": acme.user, "api_key": acme.key, "name": "Json Co", "code": "J1", "mobile": "+4412345678",
                   "email": "j@example.com", "invoice_by": "Reseller", "payment_by": "ISP+Reseller",
                   "type": "Reseller", "state": "Kerala"}),
        )
        .await;
    let id = ok(&r).as_i64().unwrap();
    let r = srv
        .post_json(
            &format!("{P}/wallet_update"),
            json!({"userid": acme.user, "api_key": acme.key, "resellerid": id, "action": "Adj", "amt": -2.5}),
        )
        .await;
    refused(&r, 409, "credit limit");
    let r = srv
        .post_json(
            &format!("{P}/wallet_update"),
            json!({"userid": acme.user, "api_key": acme.key, "resellerid": id, "action": "Adj", "amt": 2.5}),
        )
        .await;
    assert_eq!(ok(&r), "done");
    assert_eq!(wallet(&srv, &acme, id).await, "2.50");
    let r =
        srv.post_json(&format!("{P}/list"), json!({"userid": acme.user, "api_key": acme.key, "state": "Kerala"})).await;
    assert_eq!(ok(&r)[0]["payment_by"], "ISP+Reseller");
}

async fn bad_input_is_named(b: Backend) {
    let srv = Server::start(b).await;
    let acme = isp(&srv, "acme").await;
    let id = franchisee(&srv, &acme, "F1", "100").await.to_string();
    let base = [
        ("name", "N"),
        ("code", "C9"),
        ("mobile", "12344444"),
        ("email", "a@b.com"),
        ("invoice_by", "ISP"),
        ("payment_by", "ISP"),
        ("type", "Reseller"),
    ];
    let with = |k: &'static str, v: &'static str| -> Vec<(&'static str, &'static str)> {
        let mut f: Vec<_> = base.iter().copied().filter(|(n, _)| *n != k).collect();
        if !v.is_empty() {
            f.push((k, v));
        }
        f
    };
    let cases: Vec<(&str, Vec<(&str, &str)>, u16, &str)> = vec![
        ("create", with("type", "Partner"), 400, "type: must be one of: Reseller, Franchisee"),
        ("create", with("invoice_by", "Nobody"), 400, "invoice_by"),
        ("create", with("payment_by", "ISP + Reseller"), 400, "payment_by"),
        ("create", with("name", ""), 400, "name"),
        ("create", with("mobile", "call me"), 400, "mobile"),
        ("create", with("email", "not-an-email"), 400, "email"),
        ("create", with("type", "Franchisee"), 400, "commission_percent: is required for a Franchisee"),
        ("create", [with("commission_percent", "150"), vec![]].concat(), 400, "commission_percent"),
        ("create", with("credit_limit", "-5"), 400, "credit_limit"),
        ("create", with("credit_limit", "ten"), 400, "credit_limit"),
        ("create", with("code", "F1"), 409, "code"),
        ("list", vec![("rows_limit", "101")], 400, "rows_limit"),
        ("list", vec![("rows_limit", "x")], 400, "rows_limit"),
        ("list", vec![("rows_offset", "-1")], 400, "rows_offset"),
        ("list", vec![("created_from", "2024-02-30")], 400, "created_from"),
        ("list", vec![("created_upto", "24-01-01")], 400, "created_upto"),
        ("list", vec![("sort_field", "balance")], 400, "sort_field"),
        ("list", vec![("sort_order", "up")], 400, "sort_order"),
        ("list", vec![("show_count", "2")], 400, "show_count"),
        ("list", vec![("ispid", "999999")], 404, "ispid"),
        ("wallet_update", vec![("resellerid", &id), ("action", "TopUp"), ("amt", "abc")], 400, "amt"),
        ("wallet_update", vec![("resellerid", &id), ("action", "TopUp"), ("amt", "-1")], 400, "amt"),
        ("wallet_update", vec![("resellerid", &id), ("action", "TopUp"), ("amt", "1.005")], 400, "amt"),
        ("wallet_update", vec![("resellerid", &id), ("action", "TopUp"), ("amt", "1e309")], 400, "amt"),
        ("wallet_update", vec![("resellerid", &id), ("action", "Adj"), ("amt", "0")], 400, "amt"),
        ("wallet_update", vec![("resellerid", &id), ("action", "Refund"), ("amt", "1")], 400, "action"),
        ("wallet_update", vec![("resellerid", &id), ("amt", "1")], 400, "action: is required"),
        ("wallet_update", vec![("resellerid", "99999"), ("action", "TopUp"), ("amt", "1")], 404, "resellerid"),
        ("wallet_update", vec![("resellerid", &id), ("action", "Settlement"), ("amt", "100.01")], 409, "credit limit"),
        ("wallet_txn", vec![("txn_code", "Gift")], 400, "txn_code"),
        ("update", vec![("resellerid", &id), ("commission_percent", "-1")], 400, "commission_percent"),
        ("update", vec![("resellerid", "abc")], 400, "resellerid"),
        ("update", vec![("name", "x")], 400, "resellerid: is required"),
        ("delete", vec![("resellerid", "424242")], 404, "resellerid"),
    ];
    for (op, fields, status, mentions) in cases {
        let r = call(&srv, op, &acme, &fields).await;
        assert!(r.status == status, "{op} {fields:?}: expected {status}, got {} {}", r.status, r.text);
        refused(&r, status, mentions);
    }
    // Nothing of the refused calls moved money.
    assert_eq!(wallet(&srv, &acme, id.parse().unwrap()).await, "0.00");

    // Credentials.
    let user = acme.user.to_string();
    refused(&srv.form(&format!("{P}/list"), &[("userid", &user)]).await, 400, "api_key: is required");
    refused(&srv.form(&format!("{P}/list"), &[("userid", &user), ("api_key", "wrong")]).await, 401, "invalid API key");
    refused(&srv.form(&format!("{P}/list"), &[("userid", "1"), ("api_key", &acme.key)]).await, 401, "userid");
    let r = srv
        .send(srv.client.post(format!("{}{P}/list", srv.base)).header("content-type", "application/json").body("[1"))
        .await;
    refused(&r, 400, "JSON");
    // The platform admin is outside every ISP: ispid is required.
    srv.enable(&srv.admin_key, 1, "reseller", true).await;
    let admin = Tenancy { tenant: 1, user: 1, key: srv.admin_key.clone() };
    refused(&call(&srv, "list", &admin, &[]).await, 400, "ispid: is required");
    let r = call(&srv, "list", &admin, &[("ispid", &acme.tenant.to_string()), ("show_count", "1")]).await;
    assert_eq!(ok(&r), 1);
}

async fn disabled_plugin_is_refused(b: Backend) {
    let srv = Server::start(b).await;
    let acme = srv.isp("acme").await;
    refused(&call(&srv, "list", &acme, &[]).await, 403, "not available");
    srv.enable(&srv.admin_key, acme.tenant, "reseller", true).await;
    assert_eq!(ok(&call(&srv, "list", &acme, &[("show_count", "1")]).await), 0);
    srv.enable(&srv.admin_key, acme.tenant, "reseller", false).await;
    refused(&call(&srv, "list", &acme, &[]).await, 403, "not available");
}

async fn isps_are_isolated(b: Backend) {
    let srv = Server::start(b).await;
    let a = isp(&srv, "isp-a").await;
    let z = isp(&srv, "isp-z").await;
    let theirs = franchisee(&srv, &z, "Z1", "50").await;
    let t = theirs.to_string();
    ok(&call(&srv, "wallet_update", &z, &[("resellerid", &t), ("action", "TopUp"), ("amt", "20")]).await);

    let zid = z.tenant.to_string();
    // Naming the other ISP, or its reseller, finds nothing.
    refused(&call(&srv, "list", &a, &[("ispid", &zid)]).await, 404, "ispid");
    refused(&call(&srv, "wallet_txn", &a, &[("ispid", &zid)]).await, 404, "ispid");
    assert_eq!(ok(&call(&srv, "list", &a, &[("resellerid", &t), ("show_count", "1")]).await), 0);
    assert_eq!(ok(&call(&srv, "wallet_txn", &a, &[("resellerid", &t), ("show_count", "1")]).await), 0);
    refused(&call(&srv, "update", &a, &[("resellerid", &t), ("name", "Hijacked")]).await, 404, "resellerid");
    let steal = [("resellerid", t.as_str()), ("action", "Settlement"), ("amt", "20")];
    refused(&call(&srv, "wallet_update", &a, &steal).await, 404, "resellerid");
    refused(
        &call(&srv, "wallet_update", &a, &[("ispid", &zid), ("resellerid", &t), ("action", "TopUp"), ("amt", "1")])
            .await,
        404,
        "ispid",
    );
    refused(&call(&srv, "delete", &a, &[("resellerid", &t)]).await, 404, "resellerid");

    // Nothing changed for Z.
    let r = call(&srv, "list", &z, &[]).await;
    assert_eq!(ok(&r)[0]["name"], "Franchisee Z1");
    assert_eq!(ok(&r)[0]["wallet"], "20.00");
    assert_eq!(ledger(&srv, &z, theirs).await.len(), 1);
}

async fn concurrent_settlements_never_overdraw(b: Backend) {
    let srv = Server::start(b).await;
    let acme = isp(&srv, "acme").await;
    let id = franchisee(&srv, &acme, "HOT", "50").await;
    let rid = id.to_string();
    ok(&call(&srv, "wallet_update", &acme, &[("resellerid", &rid), ("action", "TopUp"), ("amt", "100")]).await);
    // 150.00 of room (100 balance + 50 credit), 200 debits of 1.00 at once.
    let debit = [("resellerid", rid.as_str()), ("action", "Settlement"), ("amt", "1")];
    let results = join_all((0..200).map(|_| call(&srv, "wallet_update", &acme, &debit))).await;
    let done = results.iter().filter(|r| r.status == 200).count();
    let refused_n = results.iter().filter(|r| r.status == 409).count();
    assert_eq!((done, refused_n), (150, 50), "{:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
    assert_eq!(wallet(&srv, &acme, id).await, "-50.00");
    let rows = ledger(&srv, &acme, id).await;
    assert_eq!(rows.len(), 151);
    let sum: i64 = rows.iter().map(|r| cents(r["amount"].as_str().unwrap())).sum();
    assert_eq!(sum, -5000, "the ledger sums to the balance");
    assert!(rows.iter().all(|r| cents(r["balance_after"].as_str().unwrap()) >= -5000));
    // The credit limit cannot drop below the debt it covers; it can drop to exactly that.
    let lower = |limit: &'static str| {
        let rid = rid.clone();
        let (srv, acme) = (&srv, &acme);
        async move { call(srv, "update", acme, &[("resellerid", &rid), ("credit_limit", limit)]).await }
    };
    refused(&lower("49.99").await, 409, "credit_limit");
    assert_eq!(ok(&lower("50").await), "done");

    // The largest amount per operation is 10^13, and no balance passes 10^15: top-ups stop there with 409, never
    // an overflow.
    let big = [("resellerid", rid.as_str()), ("action", "TopUp"), ("amt", "10000000000000")];
    refused(
        &call(&srv, "wallet_update", &acme, &[("resellerid", &rid), ("action", "TopUp"), ("amt", "10000000000000.01")])
            .await,
        400,
        "amt",
    );
    let mut refused_at = None;
    for i in 0..101 {
        let r = call(&srv, "wallet_update", &acme, &big).await;
        if r.status != 200 {
            refused(&r, 409, "largest balance");
            refused_at = Some(i);
            break;
        }
    }
    assert_eq!(refused_at, Some(100), "100 top-ups fit on top of -50.00, the 101st would pass the cap");
    assert_eq!(wallet(&srv, &acme, id).await, "999999999999950.00");
}

async fn txn_key_moves_money_once(b: Backend) {
    let srv = Server::start(b).await;
    let acme = isp(&srv, "acme").await;
    let id = franchisee(&srv, &acme, "K1", "0").await;
    let rid = id.to_string();
    let topup = [("resellerid", rid.as_str()), ("action", "TopUp"), ("amt", "7.25"), ("txn_key", "order-77")];
    assert_eq!(ok(&call(&srv, "wallet_update", &acme, &topup).await), "done");
    assert_eq!(ok(&call(&srv, "wallet_update", &acme, &topup).await), "done");
    let retries = join_all((0..20).map(|_| call(&srv, "wallet_update", &acme, &topup))).await;
    assert!(retries.iter().all(|r| r.status == 200), "{:?}", retries.iter().map(|r| &r.text).collect::<Vec<_>>());
    assert_eq!(wallet(&srv, &acme, id).await, "7.25");
    // The same key with another amount or action is not a retry: refused, nothing moves.
    let other_amount = [("resellerid", rid.as_str()), ("action", "TopUp"), ("amt", "70.25"), ("txn_key", "order-77")];
    let r = call(&srv, "wallet_update", &acme, &other_amount).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.body["error"].as_str().unwrap().starts_with("txn_key:"), "{}", r.text);
    let other_action = [("resellerid", rid.as_str()), ("action", "Adj"), ("amt", "7.25"), ("txn_key", "order-77")];
    assert_eq!(call(&srv, "wallet_update", &acme, &other_action).await.status, 409);
    assert_eq!(wallet(&srv, &acme, id).await, "7.25");
    // A new key is a new movement; concurrent first uses of one key still move once.
    let fresh = [("resellerid", rid.as_str()), ("action", "TopUp"), ("amt", "1"), ("txn_key", "order-78")];
    let first = join_all((0..20).map(|_| call(&srv, "wallet_update", &acme, &fresh))).await;
    assert!(first.iter().all(|r| r.status == 200), "{:?}", first.iter().map(|r| &r.text).collect::<Vec<_>>());
    assert_eq!(wallet(&srv, &acme, id).await, "8.25");
    assert_eq!(ledger(&srv, &acme, id).await.len(), 2);
}

async fn list_filters_sort_and_page(b: Backend) {
    let srv = Server::start(b).await;
    let acme = isp(&srv, "acme").await;
    let mut ids = Vec::new();
    for (code, amt) in [("ALPHA", "5"), ("BETA", "30"), ("GAMMA", "10")] {
        let id = franchisee(&srv, &acme, code, "0").await;
        ok(&call(&srv, "wallet_update", &acme, &[("resellerid", &id.to_string()), ("action", "TopUp"), ("amt", amt)])
            .await);
        ids.push(id);
    }
    let r = call(
        &srv,
        "create",
        &acme,
        &[
            ("name", "Plain Reseller"),
            ("code", "PLAIN"),
            ("mobile", "12344444"),
            ("email", "p@x.com"),
            ("invoice_by", "Reseller"),
            ("payment_by", "Reseller"),
            ("type", "Reseller"),
            ("state", "Goa"),
        ],
    )
    .await;
    ok(&r);

    let names = |r: &Resp| -> Vec<String> {
        ok(r).as_array().unwrap().iter().map(|x| x["code"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(names(&call(&srv, "list", &acme, &[("code", "amm")]).await), ["GAMMA"]);
    assert!(names(&call(&srv, "list", &acme, &[("name", "%")]).await).is_empty(), "% is a character, not a wildcard");
    assert_eq!(names(&call(&srv, "list", &acme, &[("name", "franchisee b")]).await), ["BETA"]);
    assert_eq!(names(&call(&srv, "list", &acme, &[("type", "Reseller")]).await), ["PLAIN"]);
    assert_eq!(names(&call(&srv, "list", &acme, &[("state", "Goa")]).await), ["PLAIN"]);
    assert_eq!(names(&call(&srv, "list", &acme, &[("invoice_by", "Reseller")]).await), ["PLAIN"]);
    let by_wallet =
        call(&srv, "list", &acme, &[("type", "Franchisee"), ("sort_field", "wallet"), ("sort_order", "desc")]).await;
    assert_eq!(names(&by_wallet), ["BETA", "GAMMA", "ALPHA"]);
    let page = call(&srv, "list", &acme, &[("sort_field", "code"), ("rows_limit", "2"), ("rows_offset", "1")]).await;
    assert_eq!(names(&page), ["BETA", "GAMMA"]);
    assert_eq!(ok(&call(&srv, "list", &acme, &[("show_count", "1"), ("rows_limit", "1")]).await), 4);
    let today = call(&srv, "list", &acme, &[]).await;
    let today = ok(&today)[0]["created_at"].as_str().unwrap()[..10].to_string();
    assert_eq!(
        ok(&call(&srv, "list", &acme, &[("created_from", &today), ("created_upto", &today), ("show_count", "1")])
            .await),
        4
    );
    assert_eq!(ok(&call(&srv, "list", &acme, &[("created_upto", "2000-01-01"), ("show_count", "1")]).await), 0);
    // Ledger filters.
    let topups = call(&srv, "wallet_txn", &acme, &[("txn_code", "Topup"), ("show_count", "1")]).await;
    assert_eq!(ok(&topups), 3);
    assert_eq!(ok(&call(&srv, "wallet_txn", &acme, &[("txn_code", "Settlement"), ("show_count", "1")]).await), 0);
    let one = call(&srv, "wallet_txn", &acme, &[("resellerid", &ids[1].to_string())]).await;
    assert_eq!(ok(&one)[0]["amount"], "30.00");
}

async fn resellers_see_their_subtree_only(b: Backend) {
    let srv = Server::start(b).await;
    let acme = isp(&srv, "acme").await;
    let parent = franchisee(&srv, &acme, "P1", "0").await;
    let sibling = franchisee(&srv, &acme, "S1", "0").await;
    // The franchisee's own admin, with the plugin enabled for the franchisee by the ISP's admin.
    srv.enable(&acme.key, parent, "reseller", true).await;
    let user = srv.user(&acme.key, parent, "boss@p1.example", &["tenant_admin"]).await;
    let (_, key) = srv.api_key(&acme.key, user).await;
    let me = Tenancy { tenant: parent, user, key };
    // It creates a sub-reseller under itself and sees itself and that one, not its sibling.
    let r = call(
        &srv,
        "create",
        &me,
        &[
            ("name", "Sub"),
            ("code", "SUB1"),
            ("mobile", "12344444"),
            ("email", "s@x.com"),
            ("invoice_by", "Reseller"),
            ("payment_by", "Reseller"),
            ("type", "Reseller"),
        ],
    )
    .await;
    let sub = ok(&r).as_i64().unwrap();
    // Codes are unique among one parent's resellers: the sibling's code is free here (a conflict would tell the
    // franchisee that a reseller outside its subtree uses it), its own sub-reseller's is not.
    let sub_fields = |code: &'static str| {
        vec![
            ("name", "Other"),
            ("code", code),
            ("mobile", "12344444"),
            ("email", "o@x.com"),
            ("invoice_by", "Reseller"),
            ("payment_by", "Reseller"),
            ("type", "Reseller"),
        ]
    };
    let reused = ok(&call(&srv, "create", &me, &sub_fields("S1")).await).as_i64().unwrap();
    refused(&call(&srv, "create", &me, &sub_fields("SUB1")).await, 409, "code");
    let mut seen: Vec<i64> =
        ok(&call(&srv, "list", &me, &[]).await).as_array().unwrap().iter().map(|x| x["id"].as_i64().unwrap()).collect();
    seen.sort();
    assert_eq!(seen, vec![parent, sub, reused]);
    let s = sibling.to_string();
    refused(
        &call(&srv, "wallet_update", &me, &[("resellerid", &s), ("action", "TopUp"), ("amt", "1")]).await,
        404,
        "resellerid",
    );
    // It cannot fill its own wallet; it can fill its sub-reseller's.
    let own = parent.to_string();
    refused(
        &call(&srv, "wallet_update", &me, &[("resellerid", &own), ("action", "TopUp"), ("amt", "1000")]).await,
        403,
        "managed by its ISP",
    );
    ok(&call(&srv, "wallet_update", &me, &[("resellerid", &sub.to_string()), ("action", "TopUp"), ("amt", "3")]).await);
    assert_eq!(wallet(&srv, &acme, parent).await, "0.00");
    assert_eq!(wallet(&srv, &acme, sub).await, "3.00");
}

async fn reseller_roles_limit_actions(b: Backend) {
    let srv = Server::start(b).await;
    let acme = isp(&srv, "acme").await;
    let id = franchisee(&srv, &acme, "F1", "0").await.to_string();
    let viewer = srv.user(&acme.key, acme.tenant, "viewer@acme.example", &["reseller_viewer"]).await;
    let (_, key) = srv.api_key(&acme.key, viewer).await;
    let viewer = Tenancy { tenant: acme.tenant, user: viewer, key };
    assert_eq!(ok(&call(&srv, "list", &viewer, &[("show_count", "1")]).await), 1);
    refused(
        &call(&srv, "wallet_update", &viewer, &[("resellerid", &id), ("action", "TopUp"), ("amt", "5")]).await,
        403,
        "not allowed",
    );
    refused(&call(&srv, "update", &viewer, &[("resellerid", &id), ("name", "X")]).await, 403, "not allowed");
    assert_eq!(wallet(&srv, &acme, id.parse().unwrap()).await, "0.00");

    // Writes are audited with the request id of the answer.
    let r = call(&srv, "wallet_update", &acme, &[("resellerid", &id), ("action", "TopUp"), ("amt", "5")]).await;
    ok(&r);
    let request_id = r.header("x-request-id").unwrap().to_string();
    let audit = srv.get(&format!("/core/v1/audit?tenant_id={}", acme.tenant), &acme.key).await;
    let entry =
        audit.body["items"].as_array().unwrap().iter().find(|e| e["action"] == "reseller.wallet_update").cloned();
    let entry = entry.unwrap_or_else(|| panic!("no audit row: {}", audit.text));
    assert_eq!(entry["request_id"], request_id.as_str());
    assert_eq!(entry["principal_id"], acme.user);
}

both!(
    seed_examples_work_as_written,
    json_bodies_are_accepted,
    bad_input_is_named,
    disabled_plugin_is_refused,
    isps_are_isolated,
    concurrent_settlements_never_overdraw,
    txn_key_moves_money_once,
    list_filters_sort_and_page,
    resellers_see_their_subtree_only,
    reseller_roles_limit_actions,
);
