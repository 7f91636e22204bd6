//! The core admin API through HTTP: bootstrap and restart, the tenant tree and subtree rights, suspension, API keys,
//! plugins per tenant, the audit log, users, operations endpoints and the committed OpenAPI document.

use serde_json::{json, Value};

use crate::both;
use crate::support::{Backend, Resp, Server};

fn problem(r: &Resp, status: u16, kind: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/problem+json"), "{}", r.text);
    assert_eq!(r.body["status"], status);
    assert!(r.body["type"].as_str().unwrap_or("").ends_with(kind), "{}", r.text);
    assert!(r.body["request_id"].as_str().is_some_and(|id| Some(id) == r.header("x-request-id")), "{}", r.text);
}

fn invalid(r: &Resp, field: &str) {
    problem(r, 400, "invalid-input");
    assert_eq!(r.body["field"], field, "{}", r.text);
}

async fn bootstrap_once_and_restart(b: Backend) {
    let mut srv = Server::start(b).await;
    assert_eq!(srv.printed_key.as_deref(), Some(srv.admin_key.as_str()), "first start prints the key once");
    let me = srv.get("/core/v1/me", &srv.admin_key).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["tenant"]["kind"], "platform");
    assert_eq!(me.body["tenant"]["path"], "/1/");
    assert_eq!(me.body["roles"][0]["role"], "platform_admin");
    srv.restart();
    assert_eq!(srv.printed_key, None, "a restart prints no key");
    assert_eq!(srv.get("/core/v1/me", &srv.admin_key).await.status, 200);
    let users = srv.get("/core/v1/tenants/1/users", &srv.admin_key).await;
    assert_eq!(users.body["total"], 1, "{}", users.text);
    assert!(!srv.log().contains(&srv.admin_key), "the key never reaches the log");
}

async fn tenant_tree_and_subtree_rights(b: Backend) {
    let srv = Server::start(b).await;
    let a = srv.isp("isp-a").await;
    let z = srv.isp("isp-z").await;
    let r = srv
        .json(
            "POST",
            "/core/v1/tenants",
            &a.key,
            json!({"parent_id": a.tenant, "kind": "reseller", "name": "R", "slug": "r1"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let child = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["path"], format!("/1/{}/{child}/", a.tenant));
    assert_eq!(r.body["parent_id"], a.tenant);
    assert_eq!(r.body["status"], "active");

    // The other tree does not exist for A.
    problem(&srv.get(&format!("/core/v1/tenants/{}", z.tenant), &a.key).await, 404, "not-found");
    problem(&srv.get(&format!("/core/v1/tenants/{}/children", z.tenant), &a.key).await, 404, "not-found");
    problem(&srv.get("/core/v1/tenants/1", &a.key).await, 404, "not-found");
    let r = srv
        .json(
            "POST",
            "/core/v1/tenants",
            &a.key,
            json!({"parent_id": z.tenant, "kind": "reseller", "name": "X", "slug": "x1"}),
        )
        .await;
    invalid(&r, "parent_id");
    let r = srv.json("PATCH", &format!("/core/v1/tenants/{}", z.tenant), &a.key, json!({"name": "Mine"})).await;
    problem(&r, 404, "not-found");
    assert_eq!(srv.get(&format!("/core/v1/tenants/{}", z.tenant), &z.key).await.body["name"], "isp-z");

    // Kind rules, slugs, paging.
    let r = srv
        .json("POST", "/core/v1/tenants", &a.key, json!({"parent_id": child, "kind": "isp", "name": "I", "slug": "i1"}))
        .await;
    invalid(&r, "kind");
    let r = srv
        .json(
            "POST",
            "/core/v1/tenants",
            &a.key,
            json!({"parent_id": a.tenant, "kind": "reseller", "name": "R", "slug": "r1"}),
        )
        .await;
    problem(&r, 409, "conflict");
    let r = srv
        .json(
            "POST",
            "/core/v1/tenants",
            &a.key,
            json!({"parent_id": a.tenant, "kind": "reseller", "name": "R", "slug": "Bad Slug"}),
        )
        .await;
    invalid(&r, "slug");
    let r = srv
        .json("POST", "/core/v1/tenants", &a.key, json!({"parent_id": a.tenant, "kind": "reseller", "name": "R"}))
        .await;
    invalid(&r, "slug");
    for i in 2..=4 {
        srv.tenant(&a.key, a.tenant, "organisation", &format!("org{i}")).await;
    }
    let page = srv.get(&format!("/core/v1/tenants/{}/children?limit=2&offset=1", a.tenant), &a.key).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.body["total"], 4);
    let slugs: Vec<&str> = page.body["items"].as_array().unwrap().iter().map(|t| t["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["org2", "org3"]);
    invalid(&srv.get(&format!("/core/v1/tenants/{}/children?limit=101", a.tenant), &a.key).await, "limit");
    invalid(&srv.get(&format!("/core/v1/tenants/{}/children?limit=abc", a.tenant), &a.key).await, "limit");
    problem(&srv.get("/core/v1/tenants/1", "tsk_nonsense").await, 401, "unauthenticated");
    problem(&srv.get_anon("/core/v1/tenants/1").await, 401, "unauthenticated");
}

async fn suspension_refuses_the_subtree(b: Backend) {
    let srv = Server::start(b).await;
    let a = srv.isp("isp-a").await;
    let child = srv.tenant(&a.key, a.tenant, "reseller", "child").await;
    let child_user = srv.user(&a.key, child, "c@child.example", &["tenant_admin"]).await;
    let (_, child_key) = srv.api_key(&a.key, child_user).await;

    let own =
        srv.json("PATCH", &format!("/core/v1/tenants/{}", a.tenant), &a.key, json!({"status": "suspended"})).await;
    problem(&own, 403, "forbidden");
    let r = srv
        .json("PATCH", &format!("/core/v1/tenants/{}", a.tenant), &srv.admin_key, json!({"status": "suspended"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "suspended");
    problem(&srv.get("/core/v1/me", &a.key).await, 403, "tenant-suspended");
    problem(&srv.get("/core/v1/me", &child_key).await, 403, "tenant-suspended");
    let r =
        srv.json("PATCH", &format!("/core/v1/tenants/{}", a.tenant), &srv.admin_key, json!({"status": "active"})).await;
    assert_eq!(r.body["status"], "active");
    assert_eq!(srv.get("/core/v1/me", &a.key).await.status, 200);
    assert_eq!(srv.get("/core/v1/me", &child_key).await.status, 200);
    let r =
        srv.json("PATCH", &format!("/core/v1/tenants/{}", a.tenant), &srv.admin_key, json!({"status": "closed"})).await;
    invalid(&r, "status");
}

async fn api_keys_show_once_and_revoke_at_once(b: Backend) {
    let srv = Server::start(b).await;
    let a = srv.isp("isp-a").await;
    let z = srv.isp("isp-z").await;
    let r = srv
        .json(
            "POST",
            &format!("/core/v1/users/{}/api-keys", a.user),
            &a.key,
            json!({"name": "ci", "expires_at": "2999-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (id, key) = (r.body["id"].as_i64().unwrap(), r.body["key"].as_str().unwrap().to_string());
    assert_eq!(r.body["expires_at"], "2999-01-01T00:00:00Z");
    assert_eq!(srv.get("/core/v1/me", &key).await.status, 200);

    let list = srv.get(&format!("/core/v1/users/{}/api-keys", a.user), &a.key).await;
    assert_eq!(list.status, 200);
    assert!(!list.text.contains(&key) && !list.text.contains(&a.key), "keys are never listed");
    let listed = list.body["items"].as_array().unwrap().iter().find(|k| k["id"] == id).cloned().unwrap();
    assert_eq!(listed["prefix"], &key[..8]);

    // Another tree cannot touch it; the owner's admin can.
    problem(&srv.delete(&format!("/core/v1/api-keys/{id}"), &z.key).await, 404, "not-found");
    problem(&srv.get(&format!("/core/v1/users/{}/api-keys", a.user), &z.key).await, 404, "not-found");
    assert_eq!(srv.get("/core/v1/me", &key).await.status, 200);
    assert_eq!(srv.delete(&format!("/core/v1/api-keys/{id}"), &a.key).await.status, 204);
    problem(&srv.get("/core/v1/me", &key).await, 401, "unauthenticated");
    let list = srv.get(&format!("/core/v1/users/{}/api-keys", a.user), &a.key).await;
    let listed = list.body["items"].as_array().unwrap().iter().find(|k| k["id"] == id).cloned().unwrap();
    assert!(listed["revoked_at"].is_string());

    let r = srv
        .json(
            "POST",
            &format!("/core/v1/users/{}/api-keys", a.user),
            &a.key,
            json!({"name": "old", "expires_at": "2001-01-01T00:00:00Z"}),
        )
        .await;
    invalid(&r, "expires_at");
    let r = srv
        .json(
            "POST",
            &format!("/core/v1/users/{}/api-keys", a.user),
            &a.key,
            json!({"name": "x", "expires_at": "tomorrow"}),
        )
        .await;
    invalid(&r, "expires_at");
}

async fn keys_expire_on_the_clock(b: Backend) {
    let srv = Server::start_with(b, &[("TESSERA_TEST_CLOCK", "1")]).await;
    let a = srv.isp("isp-a").await;
    let soon = time_in(3600);
    let r = srv
        .json(
            "POST",
            &format!("/core/v1/users/{}/api-keys", a.user),
            &a.key,
            json!({"name": "short", "expires_at": soon}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let key = r.body["key"].as_str().unwrap().to_string();
    assert_eq!(srv.get("/core/v1/me", &key).await.status, 200);
    // An expiring key cannot mint a key that outlives it: without a date the new key takes the creator's expiry,
    // and a later date is refused.
    let keys_path = format!("/core/v1/users/{}/api-keys", a.user);
    let mint = |body: serde_json::Value| srv.json("POST", &keys_path, &key, body);
    let minted = mint(json!({"name": "forever"})).await;
    assert_eq!(minted.status, 201, "{}", minted.text);
    assert_eq!(minted.body["expires_at"], r.body["expires_at"], "{}", minted.text);
    let minted_key = minted.body["key"].as_str().unwrap().to_string();
    invalid(&mint(json!({"name": "later", "expires_at": time_in(7200)})).await, "expires_at");
    let moved = srv
        .send(srv.client.post(format!("{}/_test/clock/advance?seconds=3601", srv.base)).bearer_auth(&srv.admin_key))
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    let r = srv.get("/core/v1/me", &key).await;
    problem(&r, 401, "unauthenticated");
    assert!(r.body["detail"].as_str().unwrap().contains("expired"));
    problem(&srv.get("/core/v1/me", &minted_key).await, 401, "unauthenticated");
    assert_eq!(srv.get("/core/v1/me", &a.key).await.status, 200);
}

/// An RFC 3339 time `secs` from the real now.
/// Now plus `secs`, as RFC 3339 (UTC, whole seconds).
pub fn time_in(secs: u64) -> String {
    let t = std::time::SystemTime::now() + std::time::Duration::from_secs(secs);
    let s = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let (days, rem) = (s.div_euclid(86_400), s.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

async fn the_test_clock_is_off_by_default(b: Backend) {
    let srv = Server::start(b).await;
    let r = srv
        .send(srv.client.post(format!("{}/_test/clock/advance?seconds=10", srv.base)).bearer_auth(&srv.admin_key))
        .await;
    assert_eq!(r.status, 404);
}

async fn plugins_are_enabled_from_above(b: Backend) {
    let srv = Server::start(b).await;
    let a = srv.isp("isp-a").await;
    let child = srv.tenant(&a.key, a.tenant, "reseller", "child").await;
    let plugins = srv.get("/core/v1/plugins", &a.key).await;
    assert_eq!(plugins.status, 200);
    let reseller = plugins.body["items"].as_array().unwrap().iter().find(|p| p["name"] == "reseller").cloned().unwrap();
    assert_eq!(reseller["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(reseller["mount"], "/reseller");

    // Not enabled for A itself: A cannot hand it down; it cannot enable it for itself either.
    let put = |tenant: i64, enabled: bool| {
        let path = format!("/core/v1/tenants/{tenant}/plugins/reseller");
        let key = a.key.clone();
        let srv = &srv;
        async move { srv.json("PUT", &path, &key, json!({"enabled": enabled})).await }
    };
    problem(&put(child, true).await, 403, "forbidden");
    problem(&put(a.tenant, true).await, 403, "forbidden");
    srv.enable(&srv.admin_key, a.tenant, "reseller", true).await;
    let state = srv.get(&format!("/core/v1/tenants/{}/plugins", a.tenant), &a.key).await;
    let entry = state.body["items"].as_array().unwrap().iter().find(|p| p["plugin"] == "reseller").cloned().unwrap();
    assert_eq!(entry["enabled"], true);
    let r = put(child, true).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["enabled"], true);
    let r =
        srv.json("PUT", &format!("/core/v1/tenants/{child}/plugins/nosuch"), &a.key, json!({"enabled": true})).await;
    problem(&r, 404, "not-found");
    let z = srv.isp("isp-z").await;
    let r = srv
        .json("PUT", &format!("/core/v1/tenants/{}/plugins/reseller", z.tenant), &a.key, json!({"enabled": true}))
        .await;
    problem(&r, 404, "not-found");
    let r =
        srv.json("PUT", &format!("/core/v1/tenants/{child}/plugins/reseller"), &a.key, json!({"enabled": "yes"})).await;
    invalid(&r, "enabled");
}

async fn audit_shows_the_own_subtree(b: Backend) {
    let srv = Server::start(b).await;
    let a = srv.isp("isp-a").await;
    let z = srv.isp("isp-z").await;
    let r = srv
        .json(
            "POST",
            "/core/v1/tenants",
            &a.key,
            json!({"parent_id": a.tenant, "kind": "organisation", "name": "O", "slug": "org-a"}),
        )
        .await;
    let request_id = r.header("x-request-id").unwrap().to_string();
    let org = r.body["id"].as_i64().unwrap();
    srv.tenant(&z.key, z.tenant, "organisation", "org-z").await;

    let mine = srv.get("/core/v1/audit?limit=100", &a.key).await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    let items = mine.body["items"].as_array().unwrap();
    assert!(!items.is_empty());
    let a_prefix_ids = [a.tenant, org];
    assert!(items.iter().all(|e| a_prefix_ids.contains(&e["tenant_id"].as_i64().unwrap())), "{}", mine.text);
    let created =
        items.iter().find(|e| e["action"] == "core.tenant.create" && e["object"] == format!("tenant:{org}")).unwrap();
    assert_eq!(created["request_id"], request_id.as_str());
    assert_eq!(created["principal_id"], a.user);
    problem(&srv.get(&format!("/core/v1/audit?tenant_id={}", z.tenant), &a.key).await, 404, "not-found");

    let all = srv.get("/core/v1/audit?limit=100", &srv.admin_key).await;
    let tenants: Vec<i64> =
        all.body["items"].as_array().unwrap().iter().map(|e| e["tenant_id"].as_i64().unwrap()).collect();
    assert!(tenants.contains(&a.tenant) && tenants.contains(&z.tenant) && tenants.contains(&1));
    invalid(&srv.get("/core/v1/audit?limit=0", &a.key).await, "limit");
}

async fn users_are_validated_and_never_leak_secrets(b: Backend) {
    let srv = Server::start(b).await;
    let a = srv.isp("isp-a").await;
    let path = format!("/core/v1/tenants/{}/users", a.tenant);
    let user = |email: &str, password: &str, roles: Value| json!({"email": email, "password": password, "name": "N", "roles": roles});
    invalid(&srv.json("POST", &path, &a.key, user("nope", "long enough pw", json!([]))).await, "email");
    invalid(&srv.json("POST", &path, &a.key, user("a@b.example", "short", json!([]))).await, "password");
    invalid(&srv.json("POST", &path, &a.key, user("a@b.example", "long enough pw", json!(["wizard"]))).await, "roles");
    invalid(
        &srv.json("POST", &path, &a.key, user("a@b.example", "long enough pw", json!(["platform_admin"]))).await,
        "roles",
    );
    let secret = "my very secret passphrase";
    let r = srv.json("POST", &path, &a.key, user("Sam@B.example", secret, json!(["reseller_viewer"]))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["email"], "sam@b.example");
    assert_eq!(r.body["roles"][0]["role"], "reseller_viewer");
    assert_eq!(r.body["roles"][0]["scope"], format!("/1/{}/*", a.tenant));
    problem(&srv.json("POST", &path, &a.key, user("sam@b.example", secret, json!([]))).await, 409, "conflict");
    let list = srv.get(&path, &a.key).await;
    for text in [&r.text, &list.text] {
        assert!(!text.contains(secret) && !text.contains("$argon2"), "{text}");
    }
    assert!(!srv.log().contains(secret), "the password never reaches the log");
    // A viewer cannot create users.
    let (_, viewer_key) = srv.api_key(&a.key, r.body["id"].as_i64().unwrap()).await;
    problem(&srv.json("POST", &path, &viewer_key, user("x@b.example", secret, json!([]))).await, 403, "forbidden");
    // Malformed and oversized bodies.
    let r = srv
        .send(
            srv.client
                .post(format!("{}{path}", srv.base))
                .bearer_auth(&a.key)
                .header("content-type", "application/json")
                .body("{"),
        )
        .await;
    invalid(&r, "body");
    let auth = format!("Bearer {}", a.key);
    let (status, text) =
        srv.declare_body(&path, &[("authorization", &auth), ("content-type", "application/json")], 2 << 20).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("application/problem+json") && text.contains("larger than 1048576 bytes"), "{text}");
}

async fn operations_endpoints(b: Backend) {
    let srv = Server::start(b).await;
    let h = srv.get_anon("/healthz").await;
    assert_eq!(h.status, 200);
    assert!(h.header("x-request-id").is_some());
    assert_eq!(srv.get_anon("/readyz").await.status, 200);
    let doc = srv.get_anon("/openapi.json").await;
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.0"));
    assert!(doc.body["paths"]["/reseller/api/reseller/list"]["post"].is_object());
    let docs = srv.get_anon("/docs").await;
    assert_eq!(docs.status, 200);
    assert!(docs.text.contains("SwaggerUIBundle") && docs.text.contains("/reseller/api/reseller/list"));
    let metrics = srv.get_anon("/metrics").await;
    assert!(metrics.text.contains("tessera_http_requests_total{class=\"2xx\"}"));
}

/// The server gives every request its own id; a client's well-formed `x-request-id` is kept beside it in the audit
/// row, never in its place (a client could reuse another request's id), and a malformed one is dropped.
async fn client_request_ids_are_kept_beside_the_servers(b: Backend) {
    let srv = Server::start(b).await;
    let body = json!({"parent_id": 1, "kind": "isp", "name": "Traced", "slug": "traced"});
    let r = srv
        .send(
            srv.client
                .post(format!("{}/core/v1/tenants", srv.base))
                .bearer_auth(&srv.admin_key)
                .header("x-request-id", "trace-42")
                .json(&body),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let server_id = r.header("x-request-id").unwrap().to_string();
    assert_ne!(server_id, "trace-42", "the client's id does not replace the server's");
    assert!(server_id.len() == 32 && server_id.bytes().all(|b| b.is_ascii_hexdigit()), "{server_id}");
    let tenant = r.body["id"].as_i64().unwrap();
    let odd = srv
        .send(
            srv.client
                .put(format!("{}/core/v1/tenants/{tenant}/plugins/chat", srv.base))
                .bearer_auth(&srv.admin_key)
                .header("x-request-id", "has spaces; and more")
                .json(&json!({"enabled": true})),
        )
        .await;
    assert_eq!(odd.status, 200, "{}", odd.text);

    let audit = srv.get("/core/v1/audit?limit=100", &srv.admin_key).await;
    let items = audit.body["items"].as_array().unwrap();
    let created = items.iter().find(|e| e["object"] == format!("tenant:{tenant}")).unwrap();
    assert_eq!(created["request_id"], server_id.as_str(), "{created}");
    assert_eq!(created["client_request_id"], "trace-42", "{created}");
    let enabled = items
        .iter()
        .find(|e| e["request_id"] == odd.header("x-request-id").unwrap())
        .unwrap_or_else(|| panic!("{}", audit.text));
    assert!(enabled["client_request_id"].is_null(), "a malformed client id is not kept: {enabled}");
}

both!(
    bootstrap_once_and_restart,
    client_request_ids_are_kept_beside_the_servers,
    tenant_tree_and_subtree_rights,
    suspension_refuses_the_subtree,
    api_keys_show_once_and_revoke_at_once,
    keys_expire_on_the_clock,
    the_test_clock_is_off_by_default,
    plugins_are_enabled_from_above,
    audit_shows_the_own_subtree,
    users_are_validated_and_never_leak_secrets,
    operations_endpoints,
);

/// The committed document is what the binary serves; a change to the API shows up as a diff of that file.
#[test]
fn committed_openapi_document_is_fresh() {
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_tessera")).arg("openapi").output().expect("tessera openapi");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let fresh: Value = serde_json::from_slice(&out.stdout).expect("JSON document");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/tessera.openapi.json");
    let pretty = serde_json::to_string_pretty(&fresh).unwrap() + "\n";
    if std::env::var("TESSERA_UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(path, &pretty).expect("write document");
        return;
    }
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_default()).unwrap_or(Value::Null);
    if committed != fresh {
        let ops = |d: &Value| -> std::collections::BTreeSet<String> {
            let mut s = std::collections::BTreeSet::new();
            for (p, item) in d["paths"].as_object().into_iter().flatten() {
                for (m, op) in item.as_object().into_iter().flatten() {
                    s.insert(format!("{} {p} ({})", m.to_uppercase(), op["operationId"].as_str().unwrap_or("")));
                }
            }
            for (name, schema) in d["components"]["schemas"].as_object().into_iter().flatten() {
                s.insert(format!("schema {name}"));
                for field in schema["properties"].as_object().into_iter().flatten().map(|(k, _)| k) {
                    s.insert(format!("field {name}.{field}"));
                }
            }
            s
        };
        let (old, new) = (ops(&committed), ops(&fresh));
        let removed: Vec<_> = old.difference(&new).collect();
        let added: Vec<_> = new.difference(&old).collect();
        panic!(
            "openapi/tessera.openapi.json is stale.\nremoved: {removed:#?}\nadded: {added:#?}\n(other changes are inside \
             operations or fields: `git diff` after regenerating shows them)\nregenerate with: \
             TESSERA_UPDATE_OPENAPI=1 cargo test --test api committed_openapi_document_is_fresh"
        );
    }
}
