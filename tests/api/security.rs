//! Attacks that once worked, each reproduced as it was found: concurrent password guesses outrunning the lock-out,
//! and a plugin disabled above a tenant still serving it.

use futures::future::join_all;
use serde_json::{json, Value};

use crate::both;
use crate::contract::{chat_token, PASSWORD};
use crate::outbox::crm;
use crate::support::{Backend, Server};

fn login(password: &str) -> Value {
    json!({"email": "owner@shop.example", "password": password, "organisation_domain": "shop.example",
           "addon_unique_name": "support"})
}

/// 30 guesses sent at once: at most the lock-out's 5 are checked (401), the rest wait their turn or meet the block
/// (429); the right password afterwards meets the block too.
async fn concurrent_guesses_cannot_outrun_the_lockout(b: Backend) {
    let srv = Server::start(b).await;
    chat_token(&srv).await;
    let guesses =
        join_all((0..30).map(|i| srv.post_json("/chat/admin/access-token", login(&format!("guess {i}"))))).await;
    let checked = guesses.iter().filter(|r| r.status == 401).count();
    let refused = guesses.iter().filter(|r| r.status == 429).count();
    assert!(checked <= 5, "{checked} guesses were checked; the lock-out allows 5");
    assert_eq!(checked + refused, 30, "{:?}", guesses.iter().map(|r| r.status).collect::<Vec<_>>());
    for r in guesses.iter().filter(|r| r.status == 429) {
        assert_eq!(r.body["status"], 0, "{}", r.text);
        assert!(r.header("retry-after").is_some(), "{}", r.text);
    }
    // Whatever the timing, five guesses in all block the account.
    for i in 0..5 {
        let r = srv.post_json("/chat/admin/access-token", login(&format!("late {i}"))).await;
        if r.status == 429 {
            break;
        }
        assert_eq!(r.status, 401, "{}", r.text);
    }
    let r = srv.post_json("/chat/admin/access-token", login(PASSWORD)).await;
    assert_eq!(r.status, 429, "the right password is blocked too: {}", r.text);
    assert_eq!(r.body["error"]["code"], "login_blocked", "{}", r.text);
}

/// The platform disables chat for an ISP: an organisation below it keeps its own switch on, but its tokens stop,
/// no new ones are issued, and the organisation's plugin list says which tenant above disabled it.
async fn a_plugin_disabled_above_stops_below(b: Backend) {
    let srv = Server::start(b).await;
    let token = chat_token(&srv).await["access_token"].as_str().unwrap().to_string();
    let operator = format!("{}/chat/admin/operator/999", srv.base);
    let r = srv.send(srv.client.get(&operator).header("access_token", &token)).await;
    assert_eq!(r.status, 404, "the token works: {}", r.text);

    let isp_id = find_tenant(&srv, "isp-shop").await;
    let org_id = find_tenant(&srv, "shop.example").await;
    srv.enable(&srv.admin_key, isp_id, "chat", false).await;

    let r = srv.send(srv.client.get(&operator).header("access_token", &token)).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (403, Some("service_not_enabled")), "{}", r.text);
    let r = srv.post_json("/chat/admin/access-token", login(PASSWORD)).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (403, Some("service_not_enabled")), "{}", r.text);
    let listed = srv.get(&format!("/core/v1/tenants/{org_id}/plugins"), &srv.admin_key).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let chat = listed.body["items"].as_array().unwrap().iter().find(|p| p["plugin"] == "chat").unwrap().clone();
    assert_eq!((chat["enabled"].clone(), chat["available"].clone()), (json!(true), json!(false)), "{chat}");
    assert_eq!(chat["disabled_by"], isp_id, "{chat}");

    // Switched back on above, it serves again.
    srv.enable(&srv.admin_key, isp_id, "chat", true).await;
    let r = srv.send(srv.client.get(&operator).header("access_token", &token)).await;
    assert_eq!(r.status, 404, "{}", r.text);
}

/// A tenant's id by its slug, read from the database the server uses.
async fn find_tenant(srv: &Server, slug: &str) -> i64 {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&srv.db_url).await.expect("connect");
    sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1").bind(slug).fetch_one(&mut conn).await.expect("tenant")
}

/// A NUL byte (or any control character but tab and line breaks) in a text field is refused naming the field, in
/// the plugin's envelope, whether it comes in a form, in JSON or in the query string: PostgreSQL refused it with a
/// 500, and SQLite cut a LIKE pattern at it so that it matched every row.
async fn control_characters_are_refused_naming_the_field(b: Backend) {
    let srv = Server::start(b).await;
    let isp = srv.isp("acme").await;
    srv.enable(&srv.admin_key, isp.tenant, "reseller", true).await;
    let user = isp.user.to_string();
    let r =
        srv.form("/reseller/api/reseller/list", &[("userid", &user), ("api_key", &isp.key), ("name", "a\u{0}b")]).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["result"], Value::Null);
    assert!(r.body["error"].as_str().unwrap().starts_with("name: must not contain control characters"), "{}", r.text);

    chat_token(&srv).await;
    let r = srv
        .post_json(
            "/chat/admin/access-token",
            json!({"email": "owner@shop.example\u{0}", "password": "x",
        "organisation_domain": "shop.example", "addon_unique_name": "support"}),
        )
        .await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (400, Some("invalid_input")), "{}", r.text);
    assert!(r.body["error"]["message"].as_str().unwrap().starts_with("email:"), "{}", r.text);

    let r = srv
        .get_anon("/registrar/api/customers/search.json?auth-userid=1&api-key=x&no-of-records=10&page-no=1&name=a%00")
        .await;
    assert_eq!((r.status, r.body["status"].as_str()), (400, Some("ERROR")), "{}", r.text);
    assert!(r.body["message"].as_str().unwrap().starts_with("name: must not contain control characters"), "{}", r.text);
}

/// A token pair stops validating when its organisation is suspended or chat is switched off for it, and stops
/// regenerating when its owner lost the chat_admin role.
async fn chat_tokens_follow_their_organisation_and_owner(b: Backend) {
    let srv = Server::start(b).await;
    let pair = chat_token(&srv).await;
    let (access, refresh) = (pair["access_token"].as_str().unwrap(), pair["refresh_token"].as_str().unwrap());
    let validate = || {
        srv.post_json(
            "/chat/admin/access-token/validate",
            json!({"access_token": access, "refresh_token": refresh, "addon_unique_name": "support"}),
        )
    };
    assert_eq!(validate().await.status, 200);
    let org = find_tenant(&srv, "shop.example").await;
    srv.enable(&srv.admin_key, org, "chat", false).await;
    let r = validate().await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (403, Some("service_not_enabled")), "{}", r.text);
    srv.enable(&srv.admin_key, org, "chat", true).await;
    assert_eq!(validate().await.status, 200);
    let r = srv.json("PATCH", &format!("/core/v1/tenants/{org}"), &srv.admin_key, json!({"status": "suspended"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = validate().await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (403, Some("organisation_suspended")), "{}", r.text);
    let r = srv.json("PATCH", &format!("/core/v1/tenants/{org}"), &srv.admin_key, json!({"status": "active"})).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let owner: i64 = {
        use sqlx::Connection;
        let mut conn = sqlx::AnyConnection::connect(&srv.db_url).await.expect("connect");
        sqlx::query_scalar("SELECT id FROM principals WHERE email = 'owner@shop.example'")
            .fetch_one(&mut conn)
            .await
            .expect("owner")
    };
    let r = srv.delete(&format!("/core/v1/users/{owner}/roles/chat_admin"), &srv.admin_key).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = srv
        .post_json("/chat/admin/access-token/regenerate", json!({"access_token": access, "refresh_token": refresh}))
        .await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (403, Some("forbidden")), "{}", r.text);
}

/// A reseller `East` created by the ISP's admin through the CRM API; its id.
async fn east(srv: &Server, isp: &crate::support::Tenancy) -> i64 {
    let fields = [
        ("name", "East"),
        ("code", "E1"),
        ("mobile", "12345678"),
        ("email", "east@acme.example"),
        ("invoice_by", "ISP"),
        ("payment_by", "ISP"),
        ("type", "Reseller"),
    ];
    let r = crm(srv, isp, "create", &fields).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["result"].as_i64().unwrap()
}

/// Sets a tenant's status through the admin API.
async fn status(srv: &Server, key: &str, id: i64, status: &str) -> crate::support::Resp {
    srv.json("PATCH", &format!("/core/v1/tenants/{id}"), key, json!({ "status": status })).await
}

/// A suspension is undone only from its level or above: the ISP suspends a sub-reseller, the sub-reseller's parent
/// cannot reactivate it (its key stays refused), the ISP can. A reseller deleted through the CRM API stays closed.
async fn suspensions_are_undone_only_from_above(b: Backend) {
    let srv = Server::start(b).await;
    let isp = srv.isp("acme").await;
    let parent = srv.tenant(&isp.key, isp.tenant, "reseller", "north").await;
    let parent_admin = srv.user(&isp.key, parent, "admin@north.example", &["tenant_admin"]).await;
    let (_, parent_key) = srv.api_key(&isp.key, parent_admin).await;
    let sub = srv.tenant(&parent_key, parent, "reseller", "north-sub").await;
    let sub_admin = srv.user(&parent_key, sub, "admin@sub.example", &["tenant_admin"]).await;
    let (_, sub_key) = srv.api_key(&parent_key, sub_admin).await;
    assert_eq!(status(&srv, &isp.key, sub, "suspended").await.status, 200);
    assert_eq!(srv.get("/core/v1/me", &sub_key).await.status, 403);
    let r = status(&srv, &parent_key, sub, "active").await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.body["detail"].as_str().unwrap().contains("suspended above you"), "{}", r.text);
    assert_eq!(srv.get("/core/v1/me", &sub_key).await.status, 403, "still suspended");
    // The parent suspending it again does not take the suspension over.
    assert_eq!(status(&srv, &parent_key, sub, "suspended").await.status, 200);
    assert_eq!(status(&srv, &parent_key, sub, "active").await.status, 403);
    assert_eq!(status(&srv, &isp.key, sub, "active").await.status, 200);
    assert_eq!(srv.get("/core/v1/me", &sub_key).await.status, 200);
    // A suspension by the parent is the parent's to undo.
    assert_eq!(status(&srv, &parent_key, sub, "suspended").await.status, 200);
    assert_eq!(status(&srv, &parent_key, sub, "active").await.status, 200);

    // A reseller deleted through the CRM API is closed: no one reactivates it.
    srv.enable(&srv.admin_key, isp.tenant, "reseller", true).await;
    let east = east(&srv, &isp).await;
    assert_eq!(crm(&srv, &isp, "delete", &[("resellerid", &east.to_string())]).await.status, 200);
    let r = status(&srv, &srv.admin_key, east, "active").await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.body["detail"].as_str().unwrap().contains("closed"), "{}", r.text);
}

/// Opens a connection and sends the start of a request header, never its end.
async fn unfinished(srv: &Server) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(srv.base.trim_start_matches("http://")).await.expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n").await.expect("write");
    s
}

/// True when the server closed the connection within `within` (a read answers end-of-stream or an error).
async fn closed_within(s: &mut tokio::net::TcpStream, within: std::time::Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(within, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// Slow clients: a header trickled a line at a time is cut off at the header-read timeout, and a flood of
/// unfinished requests at the connection limit closes the oldest of them instead of locking out real ones.
async fn slow_clients_cannot_hold_the_server(b: Backend) {
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;
    let srv =
        Server::start_with(b, &[("TESSERA_HEADER_READ_TIMEOUT_SECONDS", "1"), ("TESSERA_CONNECTION_LIMIT", "20")])
            .await;
    // A header trickled a line every 200 ms for ever: closed after about a second, whatever it sends.
    let mut trickle = unfinished(&srv).await;
    let started = std::time::Instant::now();
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(8) {
        if trickle.write_all(b"x-slow: 1\r\n").await.is_err()
            || closed_within(&mut trickle, Duration::from_millis(200)).await
        {
            closed = true;
            break;
        }
    }
    assert!(closed, "a trickled header kept its connection open");

    // Twice the limit of unfinished requests: /healthz still answers, and the oldest of them were closed.
    let mut held = Vec::new();
    for _ in 0..40 {
        held.push(unfinished(&srv).await);
    }
    assert!(fresh_healthz(&srv).await.starts_with("HTTP/1.1 200"), "a new connection is served at the limit");
    assert!(closed_within(&mut held[0], Duration::from_secs(5)).await, "the oldest unfinished request was not closed");
    assert!(fresh_healthz(&srv).await.starts_with("HTTP/1.1 200"));

    // Idle keep-alive connections (a request answered, then silence) make room the same way.
    let mut idle = Vec::new();
    for _ in 0..40 {
        use tokio::io::AsyncReadExt;
        let mut s = tokio::net::TcpStream::connect(srv.base.trim_start_matches("http://")).await.expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await.expect("write");
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).await.expect("answer");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        idle.push(s);
    }
    assert!(fresh_healthz(&srv).await.starts_with("HTTP/1.1 200"), "idle connections locked out a new one");

    // The start of an HTTP/2 preface trickled a byte at a time gets no more time than a header.
    let mut h2 = tokio::net::TcpStream::connect(srv.base.trim_start_matches("http://")).await.expect("connect");
    h2.write_all(b"PRI ").await.expect("write");
    let mut closed = false;
    for byte in b"* HTTP/2.0".iter().cycle().take(40) {
        if h2.write_all(&[*byte]).await.is_err() || closed_within(&mut h2, Duration::from_millis(200)).await {
            closed = true;
            break;
        }
    }
    assert!(closed, "a trickled HTTP/2 preface kept its connection open");
}

/// GET /healthz on a new connection (not the client's pool), answered as text.
async fn fresh_healthz(srv: &Server) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(srv.base.trim_start_matches("http://")).await.expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The SQL text with `$n` replaced by quoted values (to show its plan).
fn literal(sql: &str, values: &[&str]) -> String {
    values
        .iter()
        .enumerate()
        .rev()
        .fold(sql.to_string(), |s, (i, v)| s.replace(&format!("${}", i + 1), &format!("'{v}'")))
}

/// A subtree's rows are found through an index range, not by reading every tenant's rows: the plan of the audit
/// page (the query that took 132 ms instead of 2.4 ms with another ISP's million rows), of a tenant subtree and of
/// the email listing names their indexes, on both backends.
async fn subtree_filters_walk_an_index(b: Backend) {
    use sqlx::Connection;
    let srv = Server::start(b).await;
    let isp = srv.isp("acme").await;
    let (start, end) = tessera_core::tenancy::subtree(&format!("/1/{}/", isp.tenant));
    let audit = literal(tessera_core::store::AUDIT_UNDER, &[&start, &end, "20", "0"]);
    let tenants = literal("SELECT id FROM tenants WHERE path >= $1 AND path < $2", &[&start, &end]);
    let paging = tessera_core::Paging { limit: 20, offset: 0 };
    let (emails, _) = tessera_core::outbox::email_listing(&format!("/1/{}/", isp.tenant), None, paging);
    let emails = literal(emails.text(), &[&start, &end, "20", "0"]);
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&srv.db_url).await.expect("connect");
    let statements = [
        (audit, "audit_log_path", "tenant_path"),
        (tenants, "tenants_path", "path"),
        (emails, "core_outbox_emails", "tenant_path"),
    ];
    for (sql, index, column) in statements {
        let plan: Vec<String> = match b {
            Backend::Sqlite => {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                    .fetch_all(&mut conn)
                    .await
                    .expect("plan");
                rows.iter().map(|r| sqlx::Row::get::<String, _>(r, 3)).collect()
            }
            Backend::Postgres => {
                // Tiny tables make any plan cheap: forbid the full scan to see whether the index can serve.
                sqlx::query("SET enable_seqscan = off").execute(&mut conn).await.expect("set");
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
                    .fetch_all(&mut conn)
                    .await
                    .expect("plan");
                rows.iter().map(|r| sqlx::Row::get::<String, _>(r, 0)).collect()
            }
        };
        // The index is searched with the path range itself, not scanned whole (nor searched on another column with
        // the range left as a filter).
        let ranged = plan.iter().any(|line| match b {
            Backend::Sqlite => {
                line.starts_with("SEARCH") && line.contains(index) && line.contains(&format!("{column}>?"))
            }
            Backend::Postgres => line.contains("Index Cond") && line.contains(&format!("{column} >= ")),
        });
        let plan = plan.join("\n");
        assert!(plan.contains(index) && !plan.contains("Seq Scan") && ranged, "{sql}\n{plan}");
    }
}

/// Smaller holes: the test clock is the platform admin's alone (not any user of the platform tenant), and a
/// reseller renamed through the core's admin API shows the new name in the CRM API.
async fn the_clock_is_the_platform_admins_and_names_are_one(b: Backend) {
    let srv = Server::start_with(b, &[("TESSERA_TEST_CLOCK", "1")]).await;
    let ops = srv.user(&srv.admin_key, 1, "ops@platform.example", &["tenant_admin"]).await;
    let (_, ops_key) = srv.api_key(&srv.admin_key, ops).await;
    let advance = |key: &str| {
        srv.send(srv.client.post(format!("{}/_test/clock/advance?seconds=1", srv.base)).bearer_auth(key.to_string()))
    };
    assert_eq!(advance(&ops_key).await.status, 403);
    assert_eq!(advance(&srv.admin_key).await.status, 200);

    let isp = srv.isp("acme").await;
    srv.enable(&srv.admin_key, isp.tenant, "reseller", true).await;
    let east = east(&srv, &isp).await;
    let r = srv.json("PATCH", &format!("/core/v1/tenants/{east}"), &isp.key, json!({"name": "East Coast"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = crm(&srv, &isp, "list", &[]).await;
    assert_eq!(r.body["result"][0]["name"], "East Coast", "{}", r.text);
}

both!(
    concurrent_guesses_cannot_outrun_the_lockout,
    a_plugin_disabled_above_stops_below,
    control_characters_are_refused_naming_the_field,
    chat_tokens_follow_their_organisation_and_owner,
    suspensions_are_undone_only_from_above,
    slow_clients_cannot_hold_the_server,
    subtree_filters_walk_an_index,
    the_clock_is_the_platform_admins_and_names_are_one
);
