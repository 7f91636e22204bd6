//! The job runner and the outbox through HTTP, with real receivers in the test process (`sinks.rs`): signed webhook
//! deliveries to a tenant and its ancestors only, retries after a 500, recorded attempts, replays, a delivery that
//! survives the server being killed mid-request, a silent receiver that slows nothing, emails through SMTP or kept
//! for admins, and job runs executed once across instances and retried after a crash or an error.
//!
//! Events come from the core's own tenant suspension (`tenant.suspended`); emails and queued runs from the probe
//! jobs that `TESSERA_TEST_JOBS` registers.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::both;
use crate::sinks::{Answer, Receiver, SmtpSink};
use crate::support::{Backend, Server};

const WITHIN: Duration = Duration::from_secs(15);

/// HMAC-SHA256 written here from RFC 2104, independently of the server's.
fn hmac(key: &[u8], message: &[u8]) -> String {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner: Vec<u8> = block.iter().map(|b| b ^ 0x36).chain(message.iter().copied()).collect();
    let inner = Sha256::digest(&inner);
    let outer: Vec<u8> = block.iter().map(|b| b ^ 0x5c).chain(inner.iter().copied()).collect();
    hex::encode(Sha256::digest(&outer))
}

/// Checks `Tessera-Signature: t=<unix>,v1=<hex>` against the body, as a receiver would.
fn verify(secret: &str, signature: &str, body: &str) -> bool {
    let parts: HashMap<&str, &str> = signature.split(',').filter_map(|p| p.split_once('=')).collect();
    let (Some(t), Some(v1)) = (parts.get("t"), parts.get("v1")) else { return false };
    let fresh = t.parse::<i64>().is_ok_and(|t| (t - unix_now()).abs() < 3600 * 24);
    fresh && hmac(secret.as_bytes(), format!("{t}.{body}").as_bytes()) == *v1
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

async fn advance(srv: &Server, seconds: i64) {
    let url = format!("{}/_test/clock/advance?seconds={seconds}", srv.base);
    let r = srv.send(srv.client.post(url).bearer_auth(&srv.admin_key)).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn webhook(srv: &Server, key: &str, tenant: i64, url: &str) -> (i64, String) {
    let body = json!({"tenant_id": tenant, "url": url, "event_types": ["tenant.suspended"], "description": "ops"});
    let r = srv.json("POST", "/core/v1/webhooks", key, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    (r.body["id"].as_i64().unwrap(), r.body["secret"].as_str().unwrap().to_string())
}

async fn suspend(srv: &Server, key: &str, tenant: i64) {
    let r = srv.json("PATCH", &format!("/core/v1/tenants/{tenant}"), key, json!({"status": "suspended"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn deliveries(srv: &Server, key: &str, hook: i64) -> Vec<Value> {
    let r = srv.get(&format!("/core/v1/webhooks/{hook}/deliveries"), key).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

/// Polls the deliveries of `hook` until `done` holds for the newest one.
async fn delivery_when(srv: &Server, key: &str, hook: i64, done: impl Fn(&Value) -> bool) -> Value {
    let started = std::time::Instant::now();
    loop {
        let items = deliveries(srv, key, hook).await;
        if let Some(d) = items.first().filter(|d| done(d)) {
            return d.clone();
        }
        assert!(started.elapsed() < WITHIN, "delivery never reached the state: {items:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn webhooks_are_signed_retried_and_replayed(b: Backend) {
    let srv = Server::start_with(b, &[("TESSERA_TEST_CLOCK", "1")]).await;
    let a = srv.isp("acme").await;
    let z = srv.isp("zeta").await;
    let shop = srv.tenant(&a.key, a.tenant, "organisation", "shop").await;
    let other = srv.tenant(&z.key, z.tenant, "organisation", "other").await;
    let receiver = Receiver::start().await;
    let stranger = Receiver::start().await;

    let types = srv.get("/core/v1/webhooks/event-types", &a.key).await;
    assert_eq!(types.status, 200, "{}", types.text);
    let names: Vec<&str> =
        types.body["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    for name in ["tenant.suspended", "reseller.wallet.moved", "chat.addon.disabled", "registrar.order.created"] {
        assert!(names.contains(&name), "{names:?}");
    }
    // Bad input names its field; the other tree's tenant does not exist for A.
    let bad = |body: Value| srv.json("POST", "/core/v1/webhooks", &a.key, body);
    let r = bad(json!({"url": receiver.url, "event_types": ["tenant.exploded"]})).await;
    assert_eq!((r.status, r.body["field"].as_str()), (400, Some("event_types")), "{}", r.text);
    assert!(r.body["detail"].as_str().unwrap().contains("tenant.exploded"), "{}", r.text);
    let r = bad(json!({"url": "ftp://example.com/x", "event_types": ["tenant.suspended"]})).await;
    assert_eq!((r.status, r.body["field"].as_str()), (400, Some("url")), "{}", r.text);
    let r = bad(json!({"url": "not a url", "event_types": ["tenant.suspended"]})).await;
    assert_eq!((r.status, r.body["field"].as_str()), (400, Some("url")), "{}", r.text);
    let r = bad(json!({"url": receiver.url, "event_types": []})).await;
    assert_eq!((r.status, r.body["field"].as_str()), (400, Some("event_types")), "{}", r.text);
    let r = bad(json!({"tenant_id": z.tenant, "url": receiver.url, "event_types": ["tenant.suspended"]})).await;
    assert_eq!(r.status, 404, "{}", r.text);

    // A's endpoint on its ISP receives the events of the ISP's subtree; Z's never does.
    let (hook, secret) = webhook(&srv, &a.key, a.tenant, &format!("{}/hooks/tessera", receiver.url)).await;
    assert!(secret.starts_with("whsec_") && secret.len() > 40);
    let (z_hook, _) = webhook(&srv, &z.key, z.tenant, &stranger.url).await;
    let listed = srv.get(&format!("/core/v1/webhooks?tenant_id={}", a.tenant), &a.key).await;
    assert_eq!(listed.body["items"][0]["url"], format!("{}/hooks/tessera", receiver.url));
    assert!(!listed.text.contains(&secret), "the secret is shown once");

    receiver.answer(&[Answer::Status(500)]);
    suspend(&srv, &a.key, shop).await;
    let got = receiver.wait_for(1, WITHIN).await;
    let first = &got[0];
    assert_eq!(first.path, "/hooks/tessera");
    assert_eq!(first.header("tessera-event"), "tenant.suspended");
    assert_eq!(first.header("content-type"), "application/json");
    let delivery_id = first.header("tessera-delivery").to_string();
    assert_eq!(delivery_id.len(), 36, "a UUID: {delivery_id}");
    assert!(verify(&secret, first.header("tessera-signature"), &first.body), "{first:#?}");
    assert!(!verify("whsec_wrong", first.header("tessera-signature"), &first.body));
    let body: Value = serde_json::from_str(&first.body).unwrap();
    assert_eq!(body["type"], "tenant.suspended");
    assert_eq!(body["tenant_id"], shop);
    assert_eq!(body["data"]["tenant_id"], shop);
    assert_eq!(body["data"]["slug"], "shop");

    // The 500 is recorded and retried 30 s later with the same delivery id.
    let d = delivery_when(&srv, &a.key, hook, |d| d["attempts"].as_array().unwrap().len() == 1).await;
    assert_eq!(d["status"], "pending", "{d:#}");
    assert_eq!(d["delivery_id"], delivery_id.as_str());
    assert_eq!(d["attempts"][0]["http_status"], 500, "{d:#}");
    assert!(d["attempts"][0]["error"].as_str().unwrap().contains("500"), "{d:#}");
    assert!(d["next_attempt_at"].is_string());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 1, "no retry before the backoff");
    advance(&srv, 31).await;
    let got = receiver.wait_for(2, WITHIN).await;
    assert_eq!(got[1].header("tessera-delivery"), delivery_id);
    assert_eq!(got[1].body, first.body, "the same body on every attempt");
    assert!(verify(&secret, got[1].header("tessera-signature"), &got[1].body));
    let d = delivery_when(&srv, &a.key, hook, |d| d["status"] == "delivered").await;
    let attempts = d["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{d:#}");
    assert_eq!(attempts[1]["http_status"], 200);
    assert!(attempts[1]["error"].is_null());
    assert!(attempts.iter().all(|a| a["latency_ms"].as_i64().unwrap() >= 0 && a["at"].is_string()));
    assert!(d["delivered_at"].is_string());

    // Replay: sent again, same id; Z can neither replay nor read it.
    let id = d["id"].as_i64().unwrap();
    let r = srv.json("POST", &format!("/core/v1/webhooks/deliveries/{id}/replay"), &z.key, json!({})).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(srv.get(&format!("/core/v1/webhooks/{hook}/deliveries"), &z.key).await.status, 404);
    let r = srv.json("POST", &format!("/core/v1/webhooks/deliveries/{id}/replay"), &a.key, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "pending");
    let got = receiver.wait_for(3, WITHIN).await;
    assert_eq!(got[2].header("tessera-delivery"), delivery_id);
    delivery_when(&srv, &a.key, hook, |d| d["attempts"].as_array().unwrap().len() == 3 && d["status"] == "delivered")
        .await;

    // Z's suspension reaches Z's endpoint only.
    suspend(&srv, &z.key, other).await;
    stranger.wait_for(1, WITHIN).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 3, "A never receives Z's events");
    assert!(stranger.received().iter().all(|r| r.body.contains(&format!("\"tenant_id\":{other}"))));
    assert_eq!(deliveries(&srv, &z.key, z_hook).await.len(), 1);

    // Deleted: gone from the list, nothing more is delivered to it.
    assert_eq!(srv.delete(&format!("/core/v1/webhooks/{hook}"), &z.key).await.status, 404);
    assert_eq!(srv.delete(&format!("/core/v1/webhooks/{hook}"), &a.key).await.status, 204);
    let listed = srv.get(&format!("/core/v1/webhooks?tenant_id={}", a.tenant), &a.key).await;
    assert_eq!(listed.body["items"], json!([]));
    let shop2 = srv.tenant(&a.key, a.tenant, "organisation", "shop2").await;
    suspend(&srv, &a.key, shop2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 3);
    let audit = srv.get(&format!("/core/v1/audit?tenant_id={}&limit=100", a.tenant), &a.key).await.text;
    for action in ["core.webhook.create", "core.webhook.replay", "core.webhook.delete"] {
        assert!(audit.contains(action), "{action}");
    }
}

async fn a_delivery_survives_a_crash_mid_request(b: Backend) {
    let mut srv = Server::start_with(b, &[("TESSERA_TEST_CLOCK", "1")]).await;
    let a = srv.isp("acme").await;
    let shop = srv.tenant(&a.key, a.tenant, "organisation", "shop").await;
    let receiver = Receiver::start().await;
    let (hook, secret) = webhook(&srv, &a.key, a.tenant, &receiver.url).await;
    receiver.answer(&[Answer::Hold]);
    suspend(&srv, &a.key, shop).await;
    let got = receiver.wait_for(1, WITHIN).await;
    let delivery_id = got[0].header("tessera-delivery").to_string();

    // Killed while the receiver holds the request: the restarted server sends it again once the lease is over.
    srv.crash_and_restart();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 1, "the lease of the dead attempt still holds");
    advance(&srv, 61).await;
    let got = receiver.wait_for(2, WITHIN).await;
    assert_eq!(got[1].header("tessera-delivery"), delivery_id, "the same delivery, at least once");
    assert_eq!(got[1].body, got[0].body);
    assert!(verify(&secret, got[1].header("tessera-signature"), &got[1].body));
    let d = delivery_when(&srv, &a.key, hook, |d| d["status"] == "delivered").await;
    assert_eq!(d["delivery_id"], delivery_id.as_str());
}

async fn a_silent_receiver_does_not_slow_requests(b: Backend) {
    let srv = Server::start(b).await;
    let a = srv.isp("acme").await;
    let silent = Receiver::start().await;
    silent.answer(&[Answer::Hold; 20]);
    let (hook, _) = webhook(&srv, &a.key, a.tenant, &silent.url).await;
    let mut children = Vec::new();
    for i in 0..4 {
        children.push(srv.tenant(&a.key, a.tenant, "organisation", &format!("org{i}")).await);
    }
    for child in &children {
        suspend(&srv, &a.key, *child).await;
    }
    silent.wait_for(1, WITHIN).await;
    // Every request is answered while deliveries hang.
    let answers = futures::future::join_all((0..20).map(|_| srv.get("/core/v1/me", &a.key))).await;
    assert!(answers.iter().all(|r| r.status == 200));
    assert_eq!(srv.get("/healthz", &a.key).await.status, 200);
    let more = srv.tenant(&a.key, a.tenant, "organisation", "later").await;
    suspend(&srv, &a.key, more).await;
    // The hanging attempts end at the timeout and are recorded as such.
    let d = delivery_when(&srv, &a.key, hook, |_| true).await;
    assert_eq!(d["status"], "pending");
    let started = std::time::Instant::now();
    let timed_out = loop {
        let items = deliveries(&srv, &a.key, hook).await;
        let timed_out: Vec<Value> = items
            .iter()
            .flat_map(|d| d["attempts"].as_array().unwrap().clone())
            .filter(|a| a["http_status"].is_null())
            .collect();
        if !timed_out.is_empty() {
            break timed_out;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no attempt ended: {items:#?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(timed_out[0]["error"].as_str().unwrap().contains("timed out"), "{timed_out:#?}");
    assert!(timed_out[0]["latency_ms"].as_i64().unwrap() >= 9_000, "{timed_out:#?}");
}

async fn emails_go_out_through_smtp(b: Backend) {
    let sink = SmtpSink::start().await;
    let port = sink.port.to_string();
    let env = [
        ("TESSERA_TEST_JOBS", "1"),
        ("TESSERA_SMTP_HOST", "127.0.0.1"),
        ("TESSERA_SMTP_PORT", port.as_str()),
        ("TESSERA_SMTP_FROM", "Tessera <noreply@tessera.test>"),
        ("TESSERA_SMTP_TLS", "none"),
    ];
    let srv = Server::start_with(b, &env).await;
    let a = srv.isp("acme").await;
    let mail = json!({"tenant_id": a.tenant, "to": "ann@shop.example", "vars": {"name": "Ann", "code": 4711}});
    enqueue(&srv, 1, json!({"n": 1, "email": mail})).await;
    let mails = sink.wait_for(1, WITHIN).await;
    let m = &mails[0];
    assert_eq!(m.from, "noreply@tessera.test");
    assert_eq!(m.to, vec!["ann@shop.example".to_string()]);
    assert!(m.data.contains("Subject: Hello Ann\r\n"), "{}", m.data);
    assert!(m.data.contains("Dear Ann,") && m.data.contains("your code is 4711."), "{}", m.data);
    assert!(m.data.contains("Message-ID: <tessera-email-"), "{}", m.data);
    let email = emails_when(&srv, &a.key, |e| e["status"] == "sent").await;
    assert_eq!(email["subject"], "Hello Ann");
    assert_eq!(email["to"], "ann@shop.example");
    assert_eq!(email["attempts"], 1);
    assert!(email["sent_at"].is_string());
    assert_eq!(sink.mails().len(), 1, "sent once");
}

async fn emails_are_kept_without_smtp(b: Backend) {
    let srv = Server::start_with(b, &[("TESSERA_TEST_JOBS", "1")]).await;
    let a = srv.isp("acme").await;
    let z = srv.isp("zeta").await;
    let shop = srv.tenant(&a.key, a.tenant, "organisation", "shop").await;
    let mail = json!({"tenant_id": shop, "to": "bob@shop.example", "vars": {"name": "Bob", "code": "x-1"}});
    enqueue(&srv, 1, json!({"n": 1, "email": mail})).await;
    let email = emails_when(&srv, &a.key, |e| e["status"] == "kept").await;
    assert_eq!(email["tenant_id"], shop);
    assert_eq!(email["plugin"], "core");
    assert_eq!(email["template"], "core.test");
    assert_eq!(email["subject"], "Hello Bob");
    assert_eq!(email["text"], "Dear Bob,\n\nyour code is x-1.\n");
    assert!(email["sent_at"].is_null());
    // The subtree only; paging and the status filter.
    let r = srv.get("/core/v1/emails", &z.key).await;
    assert_eq!((r.status, r.body["total"].as_i64()), (200, Some(0)), "{}", r.text);
    assert_eq!(srv.get(&format!("/core/v1/emails?tenant_id={}", a.tenant), &z.key).await.status, 404);
    let r = srv.get(&format!("/core/v1/emails?tenant_id={shop}&status=kept&limit=1"), &a.key).await;
    assert_eq!((r.body["total"].as_i64(), r.body["limit"].as_i64()), (Some(1), Some(1)), "{}", r.text);
    assert_eq!(srv.get("/core/v1/emails?status=sent", &a.key).await.body["total"], 0);
    assert_eq!(srv.get("/core/v1/emails?limit=0", &a.key).await.body["field"], "limit");
    assert_eq!(srv.get("/core/v1/emails", "tsk_nonsense").await.status, 401);
}

/// Polls the caller's emails until `done` holds for the newest.
async fn emails_when(srv: &Server, key: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = std::time::Instant::now();
    loop {
        let r = srv.get("/core/v1/emails", key).await;
        assert_eq!(r.status, 200, "{}", r.text);
        if let Some(e) = r.body["items"].as_array().unwrap().first().filter(|e| done(e)) {
            return e.clone();
        }
        assert!(started.elapsed() < WITHIN, "{}", r.text);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Queues `count` probe runs numbered from payload.n.
async fn enqueue(srv: &Server, count: i64, payload: Value) {
    let r = srv.json("POST", "/_test/jobs/enqueue", &srv.admin_key, json!({"count": count, "payload": payload})).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Every audit row of the platform as (action, object), oldest first. Rows are keyed by id: one written while the
/// pages are read shifts them, and a row seen twice counts once.
async fn audit(srv: &Server) -> Vec<(String, String)> {
    let mut out = std::collections::BTreeMap::new();
    for page in 0.. {
        let r = srv.get(&format!("/core/v1/audit?limit=100&offset={}", page * 100), &srv.admin_key).await;
        let items = r.body["items"].as_array().unwrap().clone();
        if items.is_empty() {
            break;
        }
        for i in items {
            let row = (i["action"].as_str().unwrap().to_string(), i["object"].as_str().unwrap().to_string());
            out.insert(i["id"].as_i64().unwrap(), row);
        }
    }
    out.into_values().collect()
}

async fn audit_until(srv: &Server, what: &str, done: impl Fn(&[(String, String)]) -> bool) -> Vec<(String, String)> {
    let started = std::time::Instant::now();
    loop {
        let rows = audit(srv).await;
        if done(&rows) {
            return rows;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{what}: {rows:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn has(rows: &[(String, String)], action: &str, object: &str) -> bool {
    rows.iter().any(|(a, o)| a == action && o == object)
}

async fn jobs(srv: &Server) -> HashMap<String, Value> {
    let r = srv.get("/core/v1/jobs", &srv.admin_key).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().unwrap().iter().map(|j| (j["name"].as_str().unwrap().to_string(), j.clone())).collect()
}

/// Waits until the probe job has failed `n` times (the failure is recorded, so its retry time is set).
async fn failures_reach(srv: &Server, n: i64) {
    let started = std::time::Instant::now();
    loop {
        let probe = jobs(srv).await["core.test.probe"].clone();
        if probe["failures"].as_i64() >= Some(n) {
            return;
        }
        assert!(started.elapsed() < WITHIN, "{n} failures: {probe:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn failed_runs_are_retried_with_backoff(b: Backend) {
    let srv = Server::start_with(b, &[("TESSERA_TEST_JOBS", "1"), ("TESSERA_TEST_CLOCK", "1")]).await;
    let a = srv.isp("acme").await;
    assert_eq!(srv.get("/core/v1/jobs", &a.key).await.status, 403);
    assert_eq!(srv.get_anon("/core/v1/jobs").await.status, 401);
    let listed = jobs(&srv).await;
    assert_eq!(listed["core.outbox.deliver"]["schedule_seconds"], 1.0);
    assert!(listed["core.test.probe"]["schedule_seconds"].is_null());

    // Fails twice, then succeeds: 10 s, then 20 s later.
    enqueue(&srv, 1, json!({"n": 1, "fail_first": 2})).await;
    failures_reach(&srv, 1).await;
    let probe = jobs(&srv).await["core.test.probe"].clone();
    assert_eq!(probe["queued"], 1, "{probe:#}");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(!has(&audit(&srv).await, "core.test.probe.start", "probe:1:attempt:2"), "no retry before the backoff");
    advance(&srv, 11).await;
    audit_until(&srv, "second attempt", |r| has(r, "core.test.probe.start", "probe:1:attempt:2")).await;
    failures_reach(&srv, 2).await;
    advance(&srv, 21).await;
    let rows = audit_until(&srv, "success", |r| has(r, "core.test.probe", "probe:1:attempt:3")).await;
    assert!(!has(&rows, "core.test.probe", "probe:1:attempt:2"));
    let probe = jobs(&srv).await["core.test.probe"].clone();
    assert_eq!((probe["runs"].as_i64(), probe["failures"].as_i64()), (Some(3), Some(2)), "{probe:#}");
    assert_eq!(probe["queued"], 0);
    assert_eq!(probe["last_outcome"], "ok");

    // Always failing: given up after 5 attempts.
    enqueue(&srv, 1, json!({"n": 2, "fail_first": 99})).await;
    for attempt in 1..=5 {
        failures_reach(&srv, 2 + attempt).await;
        advance(&srv, 3600).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let probe = jobs(&srv).await["core.test.probe"].clone();
    assert_eq!((probe["queued"].as_i64(), probe["failures"].as_i64()), (Some(0), Some(7)), "{probe:#}");
    assert_eq!(probe["last_outcome"], "error");
    assert!(probe["last_error"].as_str().unwrap().contains("planned failure of probe 2 attempt 5"), "{probe:#}");
    assert!(!has(&audit(&srv).await, "core.test.probe.start", "probe:2:attempt:6"));
    let metrics = srv.get_anon("/metrics").await.text;
    assert!(metrics.contains("tessera_job_runs_total{job=\"core.test.probe\",outcome=\"error\"} 7"), "{metrics}");
    assert!(metrics.contains("tessera_job_runs_total{job=\"core.test.probe\",outcome=\"ok\"} 1"), "{metrics}");
    assert!(metrics.contains("tessera_job_last_duration_seconds{job=\"core.outbox.deliver\"}"), "{metrics}");
    // Errors are logged once per failed run, with their cause.
    let log = srv.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("planned failure of probe 1 attempt 1")).collect();
    assert_eq!(lines.len(), 1, "{lines:#?}");
}

async fn a_crashed_run_is_retried(b: Backend) {
    let mut srv = Server::start_with(b, &[("TESSERA_TEST_JOBS", "1"), ("TESSERA_TEST_CLOCK", "1")]).await;
    enqueue(&srv, 1, json!({"n": 7, "hang_first": true})).await;
    audit_until(&srv, "first attempt", |r| has(r, "core.test.probe.start", "probe:7:attempt:1")).await;
    srv.crash_and_restart();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!has(&audit(&srv).await, "core.test.probe.start", "probe:7:attempt:2"), "the lease still holds");
    advance(&srv, 61).await;
    let rows = audit_until(&srv, "retried", |r| has(r, "core.test.probe", "probe:7:attempt:2")).await;
    assert!(!has(&rows, "core.test.probe", "probe:7:attempt:1"));
}

async fn two_instances_run_each_run_once(b: Backend) {
    let env = [("TESSERA_TEST_JOBS", "1")];
    // PostgreSQL: started at the same moment. SQLite (two processes on one file): one after the other, as SQLite
    // migrations take no lock.
    let all = match b {
        Backend::Postgres => Server::start_together_with(b, 2, &env).await,
        Backend::Sqlite => {
            let first = Server::start_with(b, &env).await;
            let second = first.join();
            vec![first, second]
        }
    };
    let (one, two) = (&all[0], &all[1]);
    // Runs that take a while, so both instances look for due runs while others are running.
    enqueue(one, 30, json!({"n": 1, "sleep_ms": 300})).await;
    enqueue(two, 30, json!({"n": 31, "sleep_ms": 300})).await;
    let done = |r: &[(String, String)]| r.iter().filter(|(a, _)| a == "core.test.probe").count() >= 60;
    audit_until(one, "60 runs", done).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rows = audit(two).await;
    let mut runs: Vec<&str> = rows.iter().filter(|(a, _)| a == "core.test.probe").map(|(_, o)| o.as_str()).collect();
    runs.sort();
    let expected: Vec<String> = (1..=60).map(|n| format!("probe:{n}:attempt:1")).collect();
    let mut expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(runs, expected, "every queued run ran exactly once");
    // The periodic job: each schedule slot ran on one instance only.
    let slots: Vec<&str> = rows.iter().filter(|(a, _)| a == "core.test.tick").map(|(_, o)| o.as_str()).collect();
    let unique: std::collections::HashSet<&&str> = slots.iter().collect();
    assert!(slots.len() >= 2, "{slots:?}");
    assert_eq!(unique.len(), slots.len(), "a slot ran twice: {slots:?}");
    for srv in &all {
        assert!(!srv.log().contains("ERROR"), "{}", srv.log());
    }
}

/// A call of the CRM reseller API as the ISP's admin.
pub async fn crm(
    srv: &Server,
    isp: &crate::support::Tenancy,
    op: &str,
    extra: &[(&str, &str)],
) -> crate::support::Resp {
    let user = isp.user.to_string();
    let mut fields = vec![("userid", user.as_str()), ("api_key", isp.key.as_str())];
    fields.extend_from_slice(extra);
    srv.form(&format!("/reseller/api/reseller/{op}"), &fields).await
}

/// Creates the reseller "North" under the ISP; its id.
async fn north(srv: &Server, isp: &crate::support::Tenancy) -> i64 {
    let created = crm(
        srv,
        isp,
        "create",
        &[
            ("name", "North"),
            ("code", "N1"),
            ("mobile", "12345678"),
            ("email", "north@acme.example"),
            ("invoice_by", "ISP"),
            ("payment_by", "ISP"),
            ("type", "Reseller"),
        ],
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text);
    created.body["result"].as_i64().unwrap()
}

/// Events plugins emit through their context reach the webhooks above the tenant, signed, written in the same
/// transaction as the change: a reseller's wallet move, the reseller's deletion (its tenant is suspended), and a
/// chat addon disabled.
async fn plugin_events_reach_webhooks(b: Backend) {
    let srv = Server::start(b).await;
    let isp = srv.isp("acme").await;
    srv.enable(&srv.admin_key, isp.tenant, "reseller", true).await;
    srv.enable(&srv.admin_key, isp.tenant, "chat", true).await;
    let receiver = Receiver::start().await;
    let events = ["reseller.wallet.moved", "tenant.suspended", "chat.addon.disabled"];
    let body = json!({"tenant_id": isp.tenant, "url": receiver.url, "event_types": events});
    let r = srv.json("POST", "/core/v1/webhooks", &isp.key, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = r.body["secret"].as_str().unwrap().to_string();

    let reseller = north(&srv, &isp).await;
    let id = reseller.to_string();
    let wallet = |action: &'static str, amt: &'static str| {
        let (srv, isp, id) = (&srv, &isp, id.clone());
        async move { crm(srv, isp, "wallet_update", &[("resellerid", &id), ("action", action), ("amt", amt)]).await }
    };
    assert_eq!(wallet("TopUp", "12.50").await.status, 200);
    let got = receiver.wait_for(1, WITHIN).await;
    assert_eq!(got[0].header("tessera-event"), "reseller.wallet.moved");
    assert!(verify(&secret, got[0].header("tessera-signature"), &got[0].body), "{:#?}", got[0]);
    let event: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(event["tenant_id"], reseller);
    assert_eq!(event["data"]["resellerid"], reseller);
    assert_eq!(event["data"]["txn_code"], "Topup", "the ledger's code, as wallet_txn shows it");
    assert_eq!(event["data"]["amount"], "12.50");
    assert_eq!(event["data"]["balance_after"], "12.50");

    // A refused move emits nothing: the event is written in the move's transaction.
    assert_eq!(wallet("Settlement", "99").await.status, 409);
    assert_eq!(wallet("Settlement", "12.50").await.status, 200);
    assert_eq!(crm(&srv, &isp, "delete", &[("resellerid", &id)]).await.status, 200);
    let got = receiver.wait_for(3, WITHIN).await;
    let mut types: Vec<&str> = got.iter().map(|r| r.header("tessera-event")).collect();
    types.sort();
    assert_eq!(types, ["reseller.wallet.moved", "reseller.wallet.moved", "tenant.suspended"], "{got:#?}");

    // Chat: an addon disabled by the ISP admin.
    let org = srv.tenant(&isp.key, isp.tenant, "organisation", "shop.example").await;
    srv.enable(&isp.key, org, "chat", true).await;
    let r = srv
        .json(
            "POST",
            "/chat/addons",
            &isp.key,
            json!({"organisation_id": org, "addon_unique_name": "s", "kind": "live_chat"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = srv.json("POST", &format!("/chat/addons/s/disable?organisation_id={org}"), &isp.key, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let got = receiver.wait_for(4, WITHIN).await;
    let disabled = got.iter().find(|r| r.header("tessera-event") == "chat.addon.disabled").expect("chat event");
    let event: Value = serde_json::from_str(&disabled.body).unwrap();
    assert_eq!((event["tenant_id"].as_i64(), event["data"]["addon_unique_name"].as_str()), (Some(org), Some("s")));
}

/// Two instances fan the same outbox out: every event reaches the endpoint exactly once, whichever instance's pass
/// took it, while wallet moves keep adding events on both.
async fn two_instances_deliver_each_event_once(b: Backend) {
    let one = Server::start(b).await;
    let isp = one.isp("acme").await;
    one.enable(&one.admin_key, isp.tenant, "reseller", true).await;
    let receiver = Receiver::start().await;
    let body = json!({"tenant_id": isp.tenant, "url": receiver.url, "event_types": ["reseller.wallet.moved"]});
    assert_eq!(one.json("POST", "/core/v1/webhooks", &isp.key, body).await.status, 201);
    let id = north(&one, &isp).await.to_string();
    // Started after the set-up: SQLite instances do not tell each other about new grants.
    let two = one.join();
    let moves = (0..40).map(|n| {
        let (srv, isp, id) = (if n % 2 == 0 { &one } else { &two }, &isp, id.clone());
        async move { crm(srv, isp, "wallet_update", &[("resellerid", &id), ("action", "TopUp"), ("amt", "1")]).await }
    });
    for r in futures::future::join_all(moves).await {
        assert_eq!(r.status, 200, "{}", r.text);
    }
    receiver.wait_for(40, WITHIN).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut ids: Vec<i64> = receiver
        .received()
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.body).unwrap()["event_id"].as_i64().unwrap())
        .collect();
    ids.sort();
    let total = ids.len();
    ids.dedup();
    assert_eq!((total, ids.len()), (40, 40), "every event once: {ids:?}");
    for srv in [&one, &two] {
        assert!(!srv.log().contains("ERROR"), "{}", srv.log());
    }
}

both!(
    two_instances_deliver_each_event_once,
    plugin_events_reach_webhooks,
    webhooks_are_signed_retried_and_replayed,
    a_delivery_survives_a_crash_mid_request,
    a_silent_receiver_does_not_slow_requests,
    emails_go_out_through_smtp,
    emails_are_kept_without_smtp,
    failed_runs_are_retried_with_backoff,
    a_crashed_run_is_retried,
    two_instances_run_each_run_once,
);
