//! Reliability under abuse and crashes: rate limits answer 429 with Retry-After, and wallet writes acknowledged before
//! a SIGKILL are all there after the restart, with every ledger summing to its balance.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use serde_json::Value;

use crate::both;
use crate::support::{Backend, Server};

async fn rate_limits_answer_429_with_retry_after(b: Backend) {
    let srv =
        Server::start_with(b, &[("TESSERA_RATE_LIMIT_PER_KEY", "5"), ("TESSERA_RATE_LIMIT_PER_TENANT", "0")]).await;
    let isp = srv.isp("acme").await;
    srv.enable(&srv.admin_key, isp.tenant, "reseller", true).await;
    let user = isp.user.to_string();
    let fields = [("userid", user.as_str()), ("api_key", isp.key.as_str()), ("show_count", "1")];
    // A burst of twice the rate passes, then the key is refused for a while.
    let answers = join_all((0..30).map(|_| srv.form("/reseller/api/reseller/list", &fields))).await;
    let refused: Vec<_> = answers.iter().filter(|r| r.status == 429).collect();
    assert!(answers.iter().filter(|r| r.status == 200).count() >= 10, "the burst passes");
    assert!(!refused.is_empty(), "the key is limited");
    let r = refused[0];
    assert_eq!(r.body["result"], Value::Null);
    assert!(r.body["error"].as_str().unwrap().contains("too many requests"), "{}", r.text);
    let wait: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    // Another key of the same tenant is not affected; the core API answers problem+json with the same header.
    let (_, other) = srv.api_key(&srv.admin_key, isp.user).await;
    assert_eq!(srv.get("/core/v1/me", &other).await.status, 200);
    let mut last = None;
    for _ in 0..30 {
        let r = srv.get("/core/v1/me", &other).await;
        if r.status == 429 {
            last = Some(r);
            break;
        }
    }
    let r = last.expect("the second key is limited too");
    assert!(r.body["type"].as_str().unwrap().ends_with("rate-limited"));
    assert!(r.header("retry-after").is_some());
    // After the wait, the first key works again.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(srv.form("/reseller/api/reseller/list", &fields).await.status, 200);
}

async fn acknowledged_wallet_writes_survive_sigkill(b: Backend) {
    let mut srv = Server::start(b).await;
    let isp = srv.isp("acme").await;
    srv.enable(&srv.admin_key, isp.tenant, "reseller", true).await;
    let user = isp.user.to_string();
    let mut resellers = Vec::new();
    for i in 0..8 {
        let r = srv
            .form(
                "/reseller/api/reseller/create",
                &[
                    ("userid", &user),
                    ("api_key", &isp.key),
                    ("name", &format!("R{i}")),
                    ("code", &format!("R{i}")),
                    ("mobile", "12344444"),
                    ("email", "r@x.com"),
                    ("invoice_by", "ISP"),
                    ("payment_by", "ISP"),
                    ("type", "Franchisee"),
                    ("commission_percent", "1"),
                    ("credit_limit", "100"),
                ],
            )
            .await;
        resellers.push(r.body["result"].as_i64().expect("created").to_string());
    }
    // Writes with distinct keys keep coming while the server is killed.
    let client = srv.client.clone();
    let (w_client, w_user, w_key, w_resellers) = (client.clone(), user.clone(), isp.key.clone(), resellers.clone());
    let write = move |n: usize, base: String| {
        let (client, user, key) = (w_client.clone(), w_user.clone(), w_key.clone());
        let reseller = w_resellers[n % w_resellers.len()].clone();
        let action = if n % 3 == 0 { "Settlement" } else { "TopUp" };
        async move {
            let txn = format!("crash-{n}");
            let fields = [
                ("userid", user.as_str()),
                ("api_key", key.as_str()),
                ("resellerid", reseller.as_str()),
                ("action", action),
                ("amt", "1.25"),
                ("txn_key", txn.as_str()),
            ];
            let ok = match client.post(format!("{base}/reseller/api/reseller/wallet_update")).form(&fields).send().await
            {
                Ok(r) => r.status().as_u16() == 200 && r.text().await.is_ok_and(|t| t.contains("\"done\"")),
                Err(_) => false,
            };
            (n, ok, reseller, action)
        }
    };
    // 16 writers, each sending one write after another until the server is gone.
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let (write, base) = (write.clone(), srv.base.clone());
            tokio::spawn(async move {
                let mut done = Vec::new();
                for i in 0.. {
                    let (n, ok, reseller, action) = write(w + 16 * i, base.clone()).await;
                    done.push((n, ok, reseller, action));
                    if !ok {
                        return done;
                    }
                }
                done
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    srv.crash_and_restart();
    let results: Vec<_> = join_all(writers).await.into_iter().flat_map(|r| r.unwrap()).collect();
    let acked: Vec<_> = results.iter().filter(|(_, ok, _, _)| *ok).collect();
    assert!(!acked.is_empty(), "some writes were acknowledged before the kill");
    assert!(acked.len() < results.len(), "the kill happened while writes were in flight");
    eprintln!("{b:?}: {} of {} writes acknowledged before SIGKILL", acked.len(), results.len());

    let balances = |srv: Arc<String>| {
        let (client, user, key) = (client.clone(), user.clone(), isp.key.clone());
        async move {
            let r: Value = client
                .post(format!("{srv}/reseller/api/reseller/list"))
                .form(&[("userid", user.as_str()), ("api_key", key.as_str()), ("rows_limit", "100")])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            r["result"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| (x["id"].as_i64().unwrap().to_string(), x["wallet"].as_str().unwrap().to_string()))
                .collect::<HashMap<_, _>>()
        }
    };
    let base = Arc::new(srv.base.clone());
    let before = balances(base.clone()).await;
    // Every ledger sums to its balance (nothing half-applied).
    for reseller in &resellers {
        let mut sum = 0i64;
        let mut offset = 0;
        loop {
            let page = srv
                .form(
                    "/reseller/api/reseller/wallet_txn",
                    &[
                        ("userid", &user),
                        ("api_key", &isp.key),
                        ("resellerid", reseller),
                        ("rows_limit", "100"),
                        ("rows_offset", &offset.to_string()),
                    ],
                )
                .await;
            let rows = page.body["result"].as_array().unwrap().clone();
            if rows.is_empty() {
                break;
            }
            offset += rows.len();
            sum += rows.iter().map(|r| cents(r["amount"].as_str().unwrap())).sum::<i64>();
        }
        assert_eq!(sum, cents(&before[reseller]), "ledger of {reseller} sums to its balance");
    }
    // Every acknowledged write is there: replaying it (same txn_key) moves nothing.
    let replays = join_all(acked.iter().map(|(n, _, _, _)| write(*n, srv.base.clone()))).await;
    assert!(replays.iter().all(|(_, ok, _, _)| *ok));
    let after = balances(base).await;
    assert_eq!(before, after, "{} acknowledged writes were all present after the crash", acked.len());
}

fn cents(s: &str) -> i64 {
    let (whole, frac) = s.split_once('.').unwrap();
    let sign = if whole.starts_with('-') { -1 } else { 1 };
    sign * (whole.trim_start_matches('-').parse::<i64>().unwrap() * 100 + frac.parse::<i64>().unwrap())
}

async fn hostile_bodies_get_named_4xx(b: Backend) {
    let srv = Server::start(b).await;
    let isp = srv.isp("acme").await;
    srv.enable(&srv.admin_key, isp.tenant, "reseller", true).await;
    let url = format!("{}/reseller/api/reseller/list", srv.base);
    let post = |body: Vec<u8>, ct: &'static str| srv.send(srv.client.post(&url).header("content-type", ct).body(body));
    let form = "application/x-www-form-urlencoded";
    let auth = format!("userid={}&api_key={}", isp.user, isp.key);
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        ([auth.as_bytes(), b"&name=\xff\xfe"].concat(), form, "UTF-8"),
        (format!("{auth}&name=%FF%FE").into_bytes(), form, "name: is not valid UTF-8"),
        (format!("{auth}&name={}", "x".repeat(5000)).into_bytes(), form, "name: must be at most 200 characters"),
        (format!("{auth}&rows_limit=99999999999999999999999").into_bytes(), form, "rows_limit: must be a whole number"),
        (format!("{auth}&rows_offset=-5").into_bytes(), form, "rows_offset: must not be negative"),
        (format!("{auth}&userid=1e400").into_bytes(), form, "userid: must be a whole number"),
        (b"{\"userid\": \"x\"}".to_vec(), "application/json", "userid: must be a whole number"),
        (b"[]".to_vec(), "application/json", "body: must be a JSON object"),
        (b"{\"userid\": 1, \"api_key\": 5e500}".to_vec(), "application/json", "body"),
    ];
    for (body, ct, mentions) in cases {
        let r = post(body.clone(), ct).await;
        assert_eq!(r.status, 400, "{}: {}", String::from_utf8_lossy(&body[..body.len().min(80)]), r.text);
        assert!(r.body["error"].as_str().unwrap_or("").contains(mentions), "`{}` should mention `{mentions}`", r.text);
    }
    let path = "/reseller/api/reseller/list";
    let (status, text) = srv.declare_body(path, &[("content-type", form)], (1 << 20) + 1).await;
    assert_eq!(status, 413, "{text}");
}

both!(
    rate_limits_answer_429_with_retry_after,
    acknowledged_wallet_writes_survive_sigkill,
    hostile_bodies_get_named_4xx
);
