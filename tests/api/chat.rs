//! The chat plugin through HTTP: tokens (issue, validate, regenerate, expiry, reuse detection), operators, domains,
//! assignments, the seed's rules, isolation between organisations and addons, and the plugin switch.

use serde_json::{json, Value};

use crate::both;
use crate::support::{Backend, Resp, Server, Tenancy};

const PASSWORD: &str = "correct horse battery";

struct Org {
    isp: Tenancy,
    id: i64,
    slug: String,
    owner: String,
}

/// An ISP with chat enabled, an organisation under it with chat enabled, its owner (chat_admin), and addons.
async fn org(srv: &Server, slug: &str, addons: &[(&str, &str)]) -> Org {
    let isp = srv.isp(&format!("isp-{}", slug.replace('.', "-"))).await;
    srv.enable(&srv.admin_key, isp.tenant, "chat", true).await;
    let id = srv.tenant(&isp.key, isp.tenant, "organisation", slug).await;
    srv.enable(&isp.key, id, "chat", true).await;
    let owner = format!("owner@{slug}");
    srv.user(&isp.key, id, &owner, &["chat_admin"]).await;
    for (name, kind) in addons {
        let r = srv
            .json(
                "POST",
                "/chat/addons",
                &isp.key,
                json!({"organisation_id": id, "addon_unique_name": name, "kind": kind}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["data"]["active"], true);
    }
    Org { isp, id, slug: slug.to_string(), owner }
}

fn data(r: &Resp) -> &Value {
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], 1, "{}", r.text);
    &r.body["data"]
}

fn refused(r: &Resp, status: u16, code: &str, mentions: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["status"], 0, "{}", r.text);
    assert_eq!(r.body["error"]["code"], code, "{}", r.text);
    let msg = r.body["error"]["message"].as_str().unwrap_or("");
    assert!(msg.contains(mentions), "`{msg}` should mention `{mentions}`");
}

async fn token(srv: &Server, o: &Org, addon: &str) -> (String, String) {
    let r = srv
        .post_json(
            "/chat/admin/access-token",
            json!({"email": o.owner, "password": PASSWORD, "organisation_domain": o.slug, "addon_unique_name": addon}),
        )
        .await;
    let d = data(&r);
    assert_eq!(d["organisation_domain"], o.slug.as_str());
    assert_eq!(d["expire_in"], 3600);
    (d["access_token"].as_str().unwrap().to_string(), d["refresh_token"].as_str().unwrap().to_string())
}

async fn with_token(srv: &Server, method: &str, path: &str, token: &str, body: Option<Value>) -> Resp {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = srv.client.request(m, format!("{}/chat/admin/{path}", srv.base)).header("access_token", token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    srv.send(req).await
}

async fn seed_operations_work(b: Backend) {
    let srv = Server::start(b).await;
    let o = org(&srv, "shop.example", &[("livechat", "live_chat")]).await;
    // The seed's GET with the credentials in the query string still works.
    let q = [
        ("email", o.owner.as_str()),
        ("password", PASSWORD),
        ("organisation_domain", "shop.example"),
        ("addon_unique_name", "livechat"),
    ];
    let r = srv.send(srv.client.get(format!("{}/chat/admin/access-token", srv.base)).query(&q)).await;
    assert!(data(&r)["access_token"].as_str().unwrap().starts_with("cat_"));
    let (t, refresh) = token(&srv, &o, "livechat").await;

    // Operators: create by email (form body, as a plain HTML form would), read, deactivate.
    let r = srv
        .send(srv.client.post(format!("{}/chat/admin/operator/create", srv.base)).header("access_token", &t).form(&[
            ("email", "Ann@Shop.Example"),
            ("first_name", "Ann"),
            ("last_name", "Lee"),
        ]))
        .await;
    let op = data(&r).clone();
    assert_eq!(op["name"], "Ann Lee");
    assert_eq!(op["email"], "ann@shop.example");
    assert_eq!(op["addon_unique_name"], "livechat");
    let id = op["id"].as_i64().unwrap();
    let r = with_token(&srv, "GET", &format!("operator/{id}"), &t, None).await;
    assert_eq!(data(&r)["_id"], id);
    assert_eq!(data(&r)["status"], 0);
    assert_eq!(data(&r)["operator"], true);
    let r = with_token(&srv, "PUT", &format!("operator/update/{id}"), &t, Some(json!({"status": 0}))).await;
    assert_eq!(data(&r), "Status Changes Successfully");
    assert_eq!(data(&with_token(&srv, "GET", &format!("operator/{id}"), &t, None).await)["operator"], false);
    // The operator is a person of the organisation now.
    let users = srv.get(&format!("/core/v1/tenants/{}/users", o.id), &o.isp.key).await;
    assert!(users.text.contains("ann@shop.example"));

    // Domains.
    let r = with_token(
        &srv,
        "POST",
        "domain/create",
        &t,
        Some(json!({"domain_name": "WWW.Shop.Example", "email": "web@shop.example"})),
    )
    .await;
    let d = data(&r);
    assert_eq!((d["name"].as_str(), d["status"].as_bool()), (Some("www.shop.example"), Some(true)));
    assert!(d.get("link").is_none(), "live_chat domains have no embed link");
    let r = with_token(
        &srv,
        "PUT",
        "domain/update/www.shop.example",
        &t,
        Some(json!({"status": false, "email": "ops@shop.example"})),
    )
    .await;
    assert_eq!(data(&r), &json!({"name": "www.shop.example", "email": "ops@shop.example", "status": false}));
    let r = with_token(&srv, "GET", "domain/www.shop.example", &t, None).await;
    assert_eq!(data(&r), &json!({"name": "www.shop.example", "email": "ops@shop.example", "status": false}));

    // Assignments.
    let r = with_token(
        &srv,
        "POST",
        "operator/assign",
        &t,
        Some(json!({"domain_name": "www.shop.example", "operator_id": id, "is_admin": true})),
    )
    .await;
    assert_eq!(
        data(&r)["operators"],
        json!({"name": "Ann Lee", "email": "ann@shop.example", "userId": id, "is_admin": true})
    );
    let r = with_token(
        &srv,
        "PUT",
        &format!("operator/assign/{id}"),
        &t,
        Some(json!({"domain_name": "www.shop.example", "online_status": "true"})),
    )
    .await;
    assert_eq!(data(&r)["addon_unique_name"], "livechat");
    assert_eq!(data(&r)["operators"]["online_status"], true);
    assert_eq!(data(&r)["operators"]["is_admin"], true);

    // Validate answers the time left.
    let r = srv
        .post_json(
            "/chat/admin/access-token/validate",
            json!({"access_token": t, "refresh_token": refresh, "addon_unique_name": "livechat"}),
        )
        .await;
    assert!(data(&r)["expire_in"].as_i64().unwrap() > 3500);
    let r = srv
        .post_json(
            "/chat/admin/access-token/validate",
            json!({"access_token": t, "refresh_token": refresh, "addon_unique_name": "other"}),
        )
        .await;
    refused(&r, 401, "unauthenticated", "addon_unique_name");
    // Writes are audited; no token or password reaches the log.
    let audit = srv.get(&format!("/core/v1/audit?tenant_id={}&limit=100", o.id), &o.isp.key).await;
    assert!(audit.text.contains("chat.assignment.update") && audit.text.contains("chat.token.issue"));
    let log = srv.log();
    assert!(!log.contains(&t) && !log.contains(&refresh) && !log.contains(PASSWORD));
}

async fn bad_input_is_refused_clearly(b: Backend) {
    let srv = Server::start(b).await;
    let o = org(&srv, "shop.example", &[("livechat", "live_chat")]).await;
    let (t, _) = token(&srv, &o, "livechat").await;
    let op = data(&with_token(&srv, "POST", "operator/create", &t, Some(json!({"email": "bo@shop.example"}))).await)
        ["id"]
        .as_i64()
        .unwrap();
    data(
        &with_token(
            &srv,
            "POST",
            "domain/create",
            &t,
            Some(json!({"domain_name": "a.shop.example", "email": "a@shop.example"})),
        )
        .await,
    );
    let cases: Vec<(&str, String, Value, u16, &str, &str)> = vec![
        ("POST", "operator/create".into(), json!({}), 400, "invalid_input", "email: is required"),
        ("POST", "operator/create".into(), json!({"email": "nope"}), 400, "invalid_input", "email"),
        ("POST", "operator/create".into(), json!({"email": "bo@shop.example"}), 409, "conflict", "email"),
        ("GET", "operator/999999".into(), Value::Null, 404, "not_found", "operatorId"),
        ("GET", "operator/abc".into(), Value::Null, 400, "invalid_input", "operatorId"),
        ("PUT", format!("operator/update/{op}"), json!({"status": 2}), 400, "invalid_input", "status"),
        ("PUT", format!("operator/update/{op}"), json!({}), 400, "invalid_input", "status: is required"),
        (
            "POST",
            "domain/create".into(),
            json!({"domain_name": "https://b.shop.example", "email": "a@shop.example"}),
            400,
            "invalid_input",
            "domain_name",
        ),
        (
            "POST",
            "domain/create".into(),
            json!({"domain_name": "not a host", "email": "a@shop.example"}),
            400,
            "invalid_input",
            "domain_name",
        ),
        (
            "POST",
            "domain/create".into(),
            json!({"domain_name": "a.shop.example", "email": "a@shop.example"}),
            409,
            "conflict",
            "domain_name",
        ),
        ("PUT", "domain/update/a.shop.example".into(), json!({}), 400, "invalid_input", "name, status, email"),
        ("PUT", "domain/update/zz.shop.example".into(), json!({"status": true}), 404, "not_found", "domain_name"),
        ("PUT", "domain/update/a.shop.example".into(), json!({"status": "maybe"}), 400, "invalid_input", "status"),
        (
            "POST",
            "operator/assign".into(),
            json!({"domain_name": "a.shop.example", "operator_id": op, "unique_id": "p1"}),
            400,
            "invalid_input",
            "unique_id: is only for seller_buyer",
        ),
        (
            "POST",
            "operator/assign".into(),
            json!({"domain_name": "a.shop.example", "operator_id": 424242}),
            404,
            "not_found",
            "operator_id",
        ),
        (
            "PUT",
            format!("operator/assign/{op}"),
            json!({"domain_name": "a.shop.example"}),
            400,
            "invalid_input",
            "unique_id, is_admin, online_status, status",
        ),
        (
            "PUT",
            format!("operator/assign/{op}"),
            json!({"domain_name": "a.shop.example", "is_admin": true}),
            404,
            "not_found",
            "not assigned",
        ),
        (
            "PUT",
            format!("operator/assign/{op}"),
            json!({"domain_name": "a.shop.example", "status": true}),
            400,
            "invalid_input",
            "status: is only for seller_buyer",
        ),
    ];
    for (method, path, body, status, code, mentions) in cases {
        let r = with_token(&srv, method, &path, &t, (!body.is_null()).then_some(body.clone())).await;
        assert!(r.status == status, "{method} {path} {body}: expected {status}, got {} {}", r.status, r.text);
        refused(&r, status, code, mentions);
    }
    // Credentials.
    let login = |email: &str, password: &str, org: &str, addon: &str| json!({"email": email, "password": password, "organisation_domain": org, "addon_unique_name": addon});
    refused(
        &srv.post_json("/chat/admin/access-token", login(&o.owner, "wrong", "shop.example", "livechat")).await,
        401,
        "unauthenticated",
        "wrong email",
    );
    refused(
        &srv.post_json("/chat/admin/access-token", login(&o.owner, PASSWORD, "nowhere.example", "livechat")).await,
        401,
        "unauthenticated",
        "wrong email",
    );
    refused(
        &srv.post_json("/chat/admin/access-token", login(&o.owner, PASSWORD, "shop.example", "nosuch")).await,
        404,
        "not_found",
        "addon_unique_name",
    );
    refused(
        &srv.post_json("/chat/admin/access-token", json!({"email": o.owner})).await,
        400,
        "invalid_input",
        "is required",
    );
    refused(
        &with_token(&srv, "GET", &format!("operator/{op}"), "cat_forged", None).await,
        401,
        "unauthenticated",
        "access_token",
    );
    let r = srv.send(srv.client.get(format!("{}/chat/admin/operator/{op}", srv.base))).await;
    refused(&r, 401, "unauthenticated", "credentials");
}

async fn tokens_expire_rotate_and_detect_reuse(b: Backend) {
    let srv = Server::start_with(b, &[("TESSERA_TEST_CLOCK", "1")]).await;
    let o = org(&srv, "shop.example", &[("livechat", "live_chat")]).await;
    let (t1, r1) = token(&srv, &o, "livechat").await;
    assert_eq!(with_token(&srv, "GET", "domain/x.shop.example", &t1, None).await.status, 404, "token works");
    let advance = |s: u64| {
        srv.send(srv.client.post(format!("{}/_test/clock/advance?seconds={s}", srv.base)).bearer_auth(&srv.admin_key))
    };
    assert_eq!(advance(3601).await.status, 200);
    refused(&with_token(&srv, "GET", "domain/x.shop.example", &t1, None).await, 401, "unauthenticated", "expired");
    // Regenerate rotates: the new pair works, the old access token does not.
    let r =
        srv.post_json("/chat/admin/access-token/regenerate", json!({"access_token": t1, "refresh_token": r1})).await;
    let (t2, r2) = (
        data(&r)["access_token"].as_str().unwrap().to_string(),
        data(&r)["refresh_token"].as_str().unwrap().to_string(),
    );
    assert_eq!(with_token(&srv, "GET", "domain/x.shop.example", &t2, None).await.status, 404);
    // Presenting the spent refresh token again revokes the whole family, the new pair included.
    let r =
        srv.post_json("/chat/admin/access-token/regenerate", json!({"access_token": t1, "refresh_token": r1})).await;
    refused(&r, 401, "unauthenticated", "already used");
    refused(&with_token(&srv, "GET", "domain/x.shop.example", &t2, None).await, 401, "unauthenticated", "revoked");
    let r =
        srv.post_json("/chat/admin/access-token/regenerate", json!({"access_token": t2, "refresh_token": r2})).await;
    refused(&r, 401, "unauthenticated", "revoked");
    // A pair must match.
    let (t3, _) = token(&srv, &o, "livechat").await;
    let r =
        srv.post_json("/chat/admin/access-token/regenerate", json!({"access_token": t3, "refresh_token": r2})).await;
    refused(&r, 401, "unauthenticated", "not the pair");
}

async fn organisations_and_addons_are_isolated(b: Backend) {
    let srv = Server::start(b).await;
    let a = org(&srv, "a.example", &[("x", "live_chat"), ("y", "live_chat")]).await;
    let z = org(&srv, "z.example", &[("x", "live_chat")]).await;
    let (ta, _) = token(&srv, &a, "x").await;
    let (ty, _) = token(&srv, &a, "y").await;
    let (tz, _) = token(&srv, &z, "x").await;
    let op = data(&with_token(&srv, "POST", "operator/create", &ta, Some(json!({"email": "op@a.example"}))).await)
        ["id"]
        .as_i64()
        .unwrap();
    data(
        &with_token(
            &srv,
            "POST",
            "domain/create",
            &ta,
            Some(json!({"domain_name": "site.a.example", "email": "w@a.example"})),
        )
        .await,
    );
    for t in [&ty, &tz] {
        refused(&with_token(&srv, "GET", &format!("operator/{op}"), t, None).await, 404, "not_found", "operatorId");
        refused(
            &with_token(&srv, "PUT", &format!("operator/update/{op}"), t, Some(json!({"status": 0}))).await,
            404,
            "not_found",
            "operatorId",
        );
        refused(&with_token(&srv, "GET", "domain/site.a.example", t, None).await, 404, "not_found", "domain_name");
        refused(
            &with_token(&srv, "PUT", "domain/update/site.a.example", t, Some(json!({"status": false}))).await,
            404,
            "not_found",
            "domain_name",
        );
        let assign = json!({"domain_name": "site.a.example", "operator_id": op});
        refused(&with_token(&srv, "POST", "operator/assign", t, Some(assign)).await, 404, "not_found", "domain_name");
    }
    // The same domain name may exist in another addon; nothing of A changed.
    data(
        &with_token(
            &srv,
            "POST",
            "domain/create",
            &tz,
            Some(json!({"domain_name": "site.a.example", "email": "w@z.example"})),
        )
        .await,
    );
    assert_eq!(
        data(&with_token(&srv, "GET", "domain/site.a.example", &ta, None).await),
        &json!({"name": "site.a.example", "email": "w@a.example", "status": true})
    );
    assert_eq!(data(&with_token(&srv, "GET", &format!("operator/{op}"), &ta, None).await)["operator"], true);
    // Addon management: another ISP's admin cannot see or disable A's addons.
    let r = srv.get(&format!("/chat/addons?organisation_id={}", a.id), &z.isp.key).await;
    refused(&r, 404, "not_found", "organisation");
    let r = srv.json("POST", &format!("/chat/addons/x/disable?organisation_id={}", a.id), &z.isp.key, json!({})).await;
    refused(&r, 404, "not_found", "organisation");
    let r = srv.get(&format!("/chat/addons?organisation_id={}", a.id), &a.isp.key).await;
    assert_eq!(data(&r)["items"].as_array().unwrap().len(), 2);
}

async fn seller_buyer_addons(b: Backend) {
    let srv = Server::start(b).await;
    let o = org(&srv, "market.example", &[("mkt", "seller_buyer")]).await;
    let (t, _) = token(&srv, &o, "mkt").await;
    let r = with_token(
        &srv,
        "POST",
        "domain/create",
        &t,
        Some(json!({"domain_name": "seller.market.example", "email": "s@market.example"})),
    )
    .await;
    let link = data(&r)["link"].as_str().unwrap().to_string();
    assert!(
        link.contains("market.example") && link.contains("mkt") && link.contains("seller.market.example"),
        "{link}"
    );
    let op = data(&with_token(&srv, "POST", "operator/create", &t, Some(json!({"email": "s1@market.example"}))).await)
        ["id"]
        .as_i64()
        .unwrap();
    let r = with_token(
        &srv,
        "POST",
        "operator/assign",
        &t,
        Some(json!({"domain_name": "seller.market.example", "operator_id": op, "unique_id": "product-42"})),
    )
    .await;
    assert_eq!(data(&r)["operators"]["unique_id"], "product-42");
    assert_eq!(data(&r)["operators"]["is_admin"], false);
    let r = with_token(
        &srv,
        "PUT",
        &format!("operator/assign/{op}"),
        &t,
        Some(json!({"domain_name": "seller.market.example", "status": false, "unique_id": "product-43"})),
    )
    .await;
    assert_eq!(
        data(&r)["operators"],
        json!({"online_status": false, "unique_id": "product-43", "is_admin": false, "status": false})
    );
}

async fn switches_refuse_at_once(b: Backend) {
    let srv = Server::start(b).await;
    let o = org(&srv, "shop.example", &[("livechat", "live_chat")]).await;
    let (t, _) = token(&srv, &o, "livechat").await;
    // Chat disabled for the organisation: refused on use and on login.
    srv.enable(&o.isp.key, o.id, "chat", false).await;
    refused(
        &with_token(&srv, "GET", "domain/x.shop.example", &t, None).await,
        403,
        "service_not_enabled",
        "not available",
    );
    let login =
        json!({"email": o.owner, "password": PASSWORD, "organisation_domain": o.slug, "addon_unique_name": "livechat"});
    refused(
        &srv.post_json("/chat/admin/access-token", login.clone()).await,
        403,
        "service_not_enabled",
        "not available",
    );
    srv.enable(&o.isp.key, o.id, "chat", true).await;
    assert_eq!(with_token(&srv, "GET", "domain/x.shop.example", &t, None).await.status, 404);
    // The addon disabled: its tokens stop at once.
    let r = srv
        .json("POST", &format!("/chat/addons/livechat/disable?organisation_id={}", o.id), &o.isp.key, json!({}))
        .await;
    assert_eq!(data(&r)["active"], false);
    refused(&with_token(&srv, "GET", "domain/x.shop.example", &t, None).await, 401, "unauthenticated", "revoked");
    refused(&srv.post_json("/chat/admin/access-token", login).await, 404, "not_found", "addon_unique_name");
    // A user without a chat role cannot get a token.
    srv.user(&o.isp.key, o.id, "clerk@shop.example", &[]).await;
    let clerk = json!({"email": "clerk@shop.example", "password": PASSWORD, "organisation_domain": o.slug, "addon_unique_name": "livechat"});
    refused(&srv.post_json("/chat/admin/access-token", clerk).await, 403, "forbidden", "not allowed");
}

async fn failed_logins_block_one_account(b: Backend) {
    let srv = Server::start(b).await;
    let o = org(&srv, "shop.example", &[("livechat", "live_chat")]).await;
    srv.user(&o.isp.key, o.id, "second@shop.example", &["chat_admin"]).await;
    let login = |email: &str, password: &str| json!({"email": email, "password": password, "organisation_domain": "shop.example", "addon_unique_name": "livechat"});
    for _ in 0..5 {
        refused(
            &srv.post_json("/chat/admin/access-token", login(&o.owner, "guess")).await,
            401,
            "unauthenticated",
            "wrong",
        );
    }
    let r = srv.post_json("/chat/admin/access-token", login(&o.owner, PASSWORD)).await;
    refused(&r, 429, "login_blocked", "login blocked");
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() > 800);
    data(&srv.post_json("/chat/admin/access-token", login("second@shop.example", PASSWORD)).await);
}

both!(
    seed_operations_work,
    bad_input_is_refused_clearly,
    tokens_expire_rotate_and_detect_reuse,
    organisations_and_addons_are_isolated,
    seller_buyer_addons,
    switches_refuse_at_once,
    failed_logins_block_one_account,
);
