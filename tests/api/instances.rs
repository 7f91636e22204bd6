//! Several instances on one PostgreSQL: a change made through one is honoured by the other within a second, a lost
//! listener connection drops every cache, and instances started together migrate once. (With SQLite there is one
//! process; the rest of the suite covers it.)

use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::Connection;

use crate::support::{Backend, Resp, Server};

const WITHIN: Duration = Duration::from_secs(1);

/// Polls `probe` until it answers `status`, for at most one second; the answer must change within that time.
async fn becomes<F, Fut>(what: &str, status: u16, probe: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Resp>,
{
    let started = Instant::now();
    loop {
        let r = probe().await;
        if r.status == status {
            return;
        }
        assert!(started.elapsed() < WITHIN, "{what}: still {} after {WITHIN:?}: {}", r.status, r.text);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn list(srv: &Server, user: i64, key: &str) -> Resp {
    let user = user.to_string();
    srv.form("/reseller/api/reseller/list", &[("userid", &user), ("api_key", key), ("show_count", "1")]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(tessera_sqlite_only, ignore = "TESSERA_TEST_BACKENDS=sqlite: PostgreSQL is not tested")]
async fn changes_reach_the_other_instance_within_a_second() {
    let a = Server::start(Backend::Postgres).await;
    let b = a.join();
    let isp = a.isp("acme").await;
    // B has the key cached and the plugin state cached as disabled.
    assert_eq!(b.get("/core/v1/me", &isp.key).await.status, 200);
    assert_eq!(list(&b, isp.user, &isp.key).await.status, 403);

    a.enable(&a.admin_key, isp.tenant, "reseller", true).await;
    becomes("plugin enabled", 200, || list(&b, isp.user, &isp.key)).await;
    a.enable(&a.admin_key, isp.tenant, "reseller", false).await;
    becomes("plugin disabled", 403, || list(&b, isp.user, &isp.key)).await;
    a.enable(&a.admin_key, isp.tenant, "reseller", true).await;
    becomes("plugin enabled again", 200, || list(&b, isp.user, &isp.key)).await;

    // Tenant suspended and reactivated.
    let path = format!("/core/v1/tenants/{}", isp.tenant);
    assert_eq!(a.json("PATCH", &path, &a.admin_key, json!({"status": "suspended"})).await.status, 200);
    becomes("tenant suspended", 403, || b.get("/core/v1/me", &isp.key)).await;
    assert_eq!(a.json("PATCH", &path, &a.admin_key, json!({"status": "active"})).await.status, 200);
    becomes("tenant reactivated", 200, || b.get("/core/v1/me", &isp.key)).await;

    // A role removed and granted again.
    let viewer = a.user(&isp.key, isp.tenant, "viewer@acme.example", &["reseller_viewer"]).await;
    let (_, viewer_key) = a.api_key(&isp.key, viewer).await;
    assert_eq!(list(&b, viewer, &viewer_key).await.status, 200);
    let role = format!("/core/v1/users/{viewer}/roles/reseller_viewer");
    assert_eq!(a.delete(&role, &isp.key).await.status, 200);
    becomes("role removed", 403, || list(&b, viewer, &viewer_key)).await;
    assert_eq!(a.json("PUT", &role, &isp.key, json!({})).await.status, 200);
    becomes("role granted", 200, || list(&b, viewer, &viewer_key)).await;

    // A chat token revoked (its addon disabled) through A.
    a.enable(&a.admin_key, isp.tenant, "chat", true).await;
    let org = a.tenant(&isp.key, isp.tenant, "organisation", "shop.example").await;
    a.enable(&isp.key, org, "chat", true).await;
    a.user(&isp.key, org, "owner@shop.example", &["chat_admin"]).await;
    let addon = json!({"organisation_id": org, "addon_unique_name": "support", "kind": "live_chat"});
    assert_eq!(a.json("POST", "/chat/addons", &isp.key, addon).await.status, 200);
    let login = json!({"email": "owner@shop.example", "password": "correct horse battery",
                       "organisation_domain": "shop.example", "addon_unique_name": "support"});
    let token =
        a.post_json("/chat/admin/access-token", login).await.body["data"]["access_token"].as_str().unwrap().to_string();
    let probe = || {
        b.send(b.client.get(format!("{}/chat/admin/domain/www.shop.example", b.base)).header("access_token", &token))
    };
    assert_eq!(probe().await.status, 404, "B has the token cached (no such domain yet)");
    let disable = format!("/chat/addons/support/disable?organisation_id={org}");
    assert_eq!(a.json("POST", &disable, &isp.key, json!({})).await.status, 200);
    becomes("chat token revoked", 401, probe).await;

    // An API key revoked.
    let (key_id, key) = a.api_key(&isp.key, isp.user).await;
    assert_eq!(b.get("/core/v1/me", &key).await.status, 200);
    assert_eq!(a.delete(&format!("/core/v1/api-keys/{key_id}"), &isp.key).await.status, 204);
    becomes("key revoked", 401, || b.get("/core/v1/me", &key)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(tessera_sqlite_only, ignore = "TESSERA_TEST_BACKENDS=sqlite: PostgreSQL is not tested")]
async fn a_lost_listener_drops_every_cache() {
    let a = Server::start(Backend::Postgres).await;
    let isp = a.isp("acme").await;
    let (key_id, key) = a.api_key(&isp.key, isp.user).await;
    assert_eq!(a.get("/core/v1/me", &key).await.status, 200, "the key is cached now");

    // A change nobody announced (written behind the server's back), then the listener's connection is killed.
    let mut db = sqlx::PgConnection::connect(&a.db_url).await.expect("connect");
    sqlx::query("UPDATE api_keys SET revoked_at = 1 WHERE id = $1").bind(key_id).execute(&mut db).await.unwrap();
    assert_eq!(a.get("/core/v1/me", &key).await.status, 200, "still served from the cache");
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'tessera-listener' AND datname = current_database()",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(killed, vec![true], "one listener connection");
    // After reconnecting, the instance drops its caches and reads the revocation.
    becomes("cache dropped after reconnect", 401, || a.get("/core/v1/me", &key)).await;
    // And it listens again: an announced change still arrives.
    let b = a.join();
    let path = format!("/core/v1/tenants/{}", isp.tenant);
    assert_eq!(a.get("/core/v1/me", &isp.key).await.status, 200);
    assert_eq!(b.json("PATCH", &path, &b.admin_key, json!({"status": "suspended"})).await.status, 200);
    becomes("change after reconnect", 403, || a.get("/core/v1/me", &isp.key)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(tessera_sqlite_only, ignore = "TESSERA_TEST_BACKENDS=sqlite: PostgreSQL is not tested")]
async fn instances_started_together_migrate_once() {
    let all = Server::start_together(Backend::Postgres, 3).await;
    let printed = all.iter().filter(|s| s.printed_key.is_some()).count();
    assert_eq!(printed, 1, "exactly one start bootstraps");
    for srv in &all {
        assert_eq!(srv.get_anon("/readyz").await.status, 200);
        let users = srv.get("/core/v1/tenants/1/users", &srv.admin_key).await;
        assert_eq!(users.body["total"], 1, "{}", users.text);
        assert!(!srv.log().contains("ERROR"), "{}", srv.log());
    }
}
