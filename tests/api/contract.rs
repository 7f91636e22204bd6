//! The plugin contract as a user meets it: typed plugin settings (unknown keys reported, bad values refused at
//! start-up), failures the core answers for a plugin written in that plugin's envelope, and a plugin's own tokens
//! going through the same rate limits as API keys.

use std::path::PathBuf;

use futures::future::join_all;
use serde_json::{json, Value};

use crate::both;
use crate::support::{Backend, Server};

pub const PASSWORD: &str = "correct horse battery";

fn settings_file(text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-settings-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("tessera.toml");
    std::fs::write(&path, text).expect("write settings");
    path
}

/// An organisation (`shop.example`, under the ISP `isp-shop`) with chat on, its owner, an addon, and a token pair
/// for it (the `data` of the answer).
pub async fn chat_token(srv: &Server) -> Value {
    let isp = srv.isp("isp-shop").await;
    srv.enable(&srv.admin_key, isp.tenant, "chat", true).await;
    let org = srv.tenant(&isp.key, isp.tenant, "organisation", "shop.example").await;
    srv.enable(&isp.key, org, "chat", true).await;
    srv.user(&isp.key, org, "owner@shop.example", &["chat_admin"]).await;
    let r = srv
        .json(
            "POST",
            "/chat/addons",
            &isp.key,
            json!({"organisation_id": org, "addon_unique_name": "support", "kind": "live_chat"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = srv
        .post_json(
            "/chat/admin/access-token",
            json!({"email": "owner@shop.example", "password": PASSWORD, "organisation_domain": "shop.example",
                   "addon_unique_name": "support"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["data"].clone()
}

async fn plugin_settings_are_typed_and_unknown_keys_reported(b: Backend) {
    let file = settings_file("[plugins.chat]\ntoken_ttl_seconds = 60\ncolour = \"blue\"\n");
    let srv = Server::start_program(
        b,
        std::path::Path::new(env!("CARGO_BIN_EXE_tessera")),
        &["--config", file.to_str().unwrap()],
    )
    .await;
    assert!(srv.log().contains("plugins.chat.colour: unknown setting"), "{}", srv.log());
    let token = chat_token(&srv).await;
    assert_eq!(token["expire_in"], 60, "the setting is applied: {token}");

    // A value of the wrong type stops the start, naming the setting.
    let bad = settings_file("[plugins.chat]\ntoken_ttl_seconds = \"soon\"\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["--config", bad.to_str().unwrap(), "openapi"])
        .output()
        .expect("run tessera");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a bad setting must stop the start");
    assert!(text.contains("plugin chat") && text.contains("plugins.chat"), "{text}");
}

async fn failures_before_an_operation_answer_in_the_plugin_envelope(b: Backend) {
    let srv = Server::start(b).await;
    let isp = srv.isp("acme").await;
    srv.enable(&srv.admin_key, isp.tenant, "reseller", true).await;
    let form = ("content-type", "application/x-www-form-urlencoded");
    let too_large = (1 << 20) + 1;

    // A declared length over the limit is refused before the body is read, in each plugin's own envelope.
    let (status, text) = srv.declare_body("/reseller/api/reseller/list", &[form], too_large).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("\"result\":null") && text.contains("larger than 1048576 bytes"), "{text}");
    let (status, text) = srv.declare_body("/chat/admin/operator/create", &[form], too_large).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("\"status\":0") && text.contains("larger than"), "{text}");
    let (status, text) = srv.declare_body("/registrar/api/customers/signup.json", &[form], too_large).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("\"status\":\"ERROR\"") && text.contains("larger than"), "{text}");
    let (status, text) = srv.declare_body("/core/v1/tenants", &[("content-type", "application/json")], too_large).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("application/problem+json"), "{text}");

    // The same body sent without a declared length (chunked) gets the same answer once the limit is crossed.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(format!("userid={}&api_key={}&name=", isp.user, isp.key).into_bytes()), Ok(vec![b'x'; too_large])];
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let url = format!("{}/reseller/api/reseller/list", srv.base);
    let r = srv.send(srv.client.post(&url).header(form.0, form.1).body(body)).await;
    assert_eq!(r.status, 413, "{}", r.text);
    assert_eq!(r.body["result"], Value::Null, "{}", r.text);
    assert!(r.body["error"].as_str().unwrap().contains("larger than 1048576 bytes"), "{}", r.text);

    // A path under a plugin's mount that no operation serves.
    let r = srv.form("/reseller/api/reseller/nothing", &[]).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.body["result"], Value::Null, "{}", r.text);
    assert!(r.body["error"].as_str().unwrap().contains("/reseller/api/reseller/nothing"), "{}", r.text);
    let r = srv.get_anon("/chat/admin/nothing/at/all").await;
    assert_eq!(
        (r.status, r.body["status"].clone(), r.body["error"]["code"].clone()),
        (404, json!(0), json!("not_found"))
    );
    let r = srv.get_anon("/registrar/api/nothing.json").await;
    assert_eq!((r.status, r.body["status"].clone()), (404, json!("ERROR")), "{}", r.text);
}

async fn plugin_tokens_are_rate_limited(b: Backend) {
    let srv =
        Server::start_with(b, &[("TESSERA_RATE_LIMIT_PER_KEY", "5"), ("TESSERA_RATE_LIMIT_PER_TENANT", "0")]).await;
    let token = chat_token(&srv).await["access_token"].as_str().unwrap().to_string();
    let url = format!("{}/chat/admin/domain/www.shop.example", srv.base);
    let answers = join_all((0..30).map(|_| srv.send(srv.client.get(&url).header("access_token", &token)))).await;
    let refused: Vec<_> = answers.iter().filter(|r| r.status == 429).collect();
    assert!(!refused.is_empty(), "a token is limited like a key");
    assert_eq!(refused[0].body["error"]["code"], "rate_limited", "{}", refused[0].text);
    assert!(refused[0].header("retry-after").is_some_and(|s| s.parse::<u64>().is_ok()), "{}", refused[0].text);
}

both!(
    plugin_settings_are_typed_and_unknown_keys_reported,
    failures_before_an_operation_answer_in_the_plugin_envelope,
    plugin_tokens_are_rate_limited
);
