//! What the HTTP layer refuses before an operation runs, under every mount, answered in that mount's own envelope:
//! a path no operation serves (404), a method the path does not serve (405 with Allow), a body that is neither JSON
//! nor a form (415), a body too large, declared or streamed (413), and one that cannot be read (400). And credential
//! headers whose seed names have an underscore, which reverse proxies drop, taken under their hyphenated names too.

use serde_json::{json, Value};

use crate::both;
use crate::support::{Backend, Server};

/// One mount: where its requests go, and how its envelope reads.
struct Mount {
    name: &'static str,
    /// A path under the mount that no operation serves.
    unknown: &'static str,
    /// A path, a method it does not serve, and the methods it does.
    wrong_method: (&'static str, &'static str, &'static str),
    /// An operation that takes a body, and the headers it needs before it reads one.
    body_path: &'static str,
    headers: &'static [(&'static str, &'static str)],
}

const MOUNTS: [Mount; 4] = [
    Mount {
        name: "reseller",
        unknown: "/reseller/api/reseller/nothing",
        wrong_method: ("GET", "/reseller/api/reseller/list", "POST"),
        body_path: "/reseller/api/reseller/list",
        headers: &[],
    },
    Mount {
        name: "chat",
        unknown: "/chat/admin/nothing/at/all",
        wrong_method: ("DELETE", "/chat/admin/access-token", "GET, HEAD, POST"),
        body_path: "/chat/admin/access-token",
        headers: &[],
    },
    Mount {
        name: "registrar",
        unknown: "/registrar/api/customers/nothing.json",
        wrong_method: ("POST", "/registrar/api/customers/search.json", "GET, HEAD"),
        body_path: "/registrar/api/customers/signup.json",
        headers: &[],
    },
    Mount {
        name: "core",
        unknown: "/core/v1/nothing",
        wrong_method: ("PUT", "/core/v1/tenants/1", "GET, HEAD, PATCH"),
        body_path: "/core/v1/tenants",
        headers: &[("authorization", "Bearer tsk_not_checked_before_the_body")],
    },
];

/// What was refused, as each envelope names it: (HTTP status, chat's code, the core's problem type).
#[derive(Clone, Copy)]
enum Refusal {
    NotFound,
    MethodNotAllowed,
    UnsupportedMediaType,
    PayloadTooLarge,
    Unreadable,
}

impl Refusal {
    fn expected(self) -> (u16, &'static str, &'static str) {
        match self {
            Refusal::NotFound => (404, "not_found", "not-found"),
            Refusal::MethodNotAllowed => (405, "method_not_allowed", "method-not-allowed"),
            Refusal::UnsupportedMediaType => (415, "unsupported_media_type", "unsupported-media-type"),
            Refusal::PayloadTooLarge => (413, "invalid_input", "payload-too-large"),
            Refusal::Unreadable => (400, "invalid_input", "invalid-input"),
        }
    }
}

/// An answer as read off the wire: status, headers (names in lower case) and body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
    text: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn from_reqwest(r: crate::support::Resp) -> Answer {
        let headers = r
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        Answer { status: r.status, headers, body: r.body, text: r.text }
    }

    /// A whole HTTP/1.1 response as text (the server closes the connection after it).
    fn parse(raw: &str) -> Answer {
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
        let mut lines = head.split("\r\n");
        let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
        let text = if chunked { dechunk(body) } else { body.to_string() };
        Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::Null), headers, text }
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Sends `head` (and `body`) as written, over a connection of its own, and reads the answer to its end.
async fn raw(srv: &Server, head: String, body: &[u8]) -> Answer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = srv.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(body).await.expect("write body");
    let mut out = Vec::new();
    let read = stream.read_to_end(&mut out);
    tokio::time::timeout(std::time::Duration::from_secs(10), read).await.expect("answer in time").expect("read");
    Answer::parse(&String::from_utf8_lossy(&out))
}

fn head(srv: &Server, m: &Mount, extra: &[(&str, &str)]) -> String {
    let addr = srv.base.trim_start_matches("http://");
    let mut head = format!("POST {} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n", m.body_path);
    for (name, value) in m.headers.iter().chain(extra) {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head + "\r\n"
}

/// Asserts the answer is `refusal` in the mount's envelope, and returns its message.
fn refused(m: &Mount, a: &Answer, refusal: Refusal) -> String {
    let (status, code, problem) = refusal.expected();
    let context = format!("{}: {}", m.name, a.text);
    assert_eq!(a.status, status, "{context}");
    let object = a.body.as_object().unwrap_or_else(|| panic!("a JSON object: {context}"));
    let message = match m.name {
        "reseller" => {
            assert_eq!(object.len(), 2, "{context}");
            assert_eq!(a.body["result"], Value::Null, "{context}");
            a.body["error"].as_str()
        }
        "chat" => {
            assert_eq!(object.len(), 2, "{context}");
            assert_eq!(a.body["status"], 0, "{context}");
            assert_eq!(a.body["error"]["code"], code, "{context}");
            a.body["error"]["message"].as_str()
        }
        "registrar" => {
            assert_eq!(object.len(), 2, "{context}");
            assert_eq!(a.body["status"], "ERROR", "{context}");
            a.body["message"].as_str()
        }
        _ => {
            assert_eq!(a.header("content-type"), Some("application/problem+json"), "{context}");
            assert_eq!(a.body["type"], format!("https://tessera.dev/problems/{problem}"), "{context}");
            assert_eq!(a.body["status"], status, "{context}");
            assert_eq!(a.body["request_id"].as_str(), a.header("x-request-id"), "{context}");
            a.body["detail"].as_str()
        }
    };
    let message = message.unwrap_or_else(|| panic!("a message: {context}")).to_string();
    assert!(!message.is_empty(), "{context}");
    message
}

async fn unknown_paths_and_methods_answer_in_the_envelope(b: Backend) {
    let srv = Server::start(b).await;
    for m in &MOUNTS {
        // A path no operation serves, with each method.
        for method in ["GET", "POST", "DELETE"] {
            let url = format!("{}{}", srv.base, m.unknown);
            let req = srv.client.request(method.parse().unwrap(), &url).header("content-type", "application/json");
            let a = Answer::from_reqwest(srv.send(req.body("{}")).await);
            let message = refused(m, &a, Refusal::NotFound);
            assert_eq!(message, format!("no operation at {method} {}", m.unknown), "{}", a.text);
            assert_eq!(a.header("allow"), None, "{}", a.text);
        }

        // A path that exists, with a method it does not serve: the methods it does serve are in Allow.
        let (method, path, allow) = m.wrong_method;
        let url = format!("{}{path}", srv.base);
        let a = Answer::from_reqwest(srv.send(srv.client.request(method.parse().unwrap(), &url)).await);
        let message = refused(m, &a, Refusal::MethodNotAllowed);
        assert_eq!(a.header("allow"), Some(allow), "{}: {}", m.name, a.text);
        assert_eq!(message, format!("{method} is not served at this path; it serves {allow}"));
        // OPTIONS is no operation of any path either.
        let a = Answer::from_reqwest(srv.send(srv.client.request(reqwest::Method::OPTIONS, &url)).await);
        refused(m, &a, Refusal::MethodNotAllowed);
        assert_eq!(a.header("allow"), Some(allow), "{}: {}", m.name, a.text);
    }
}

async fn bodies_that_are_refused_answer_in_the_envelope(b: Backend) {
    let srv = Server::start(b).await;
    let json = ("content-type", "application/json");
    let too_large = (1 << 20) + 1;
    for m in &MOUNTS {
        let url = format!("{}{}", srv.base, m.body_path);
        let post = || m.headers.iter().fold(srv.client.post(&url), |req, (n, v)| req.header(*n, *v));

        // Neither JSON nor a form.
        for (content_type, named) in [
            ("text/plain", "text/plain"),
            ("multipart/form-data; boundary=x", "multipart/form-data"),
            ("application/xml", "application/xml"),
            ("application/jsonp", "application/jsonp"),
        ] {
            let r = srv.send(post().header("content-type", content_type).body("name=x")).await;
            let a = Answer::from_reqwest(r);
            let message = refused(m, &a, Refusal::UnsupportedMediaType);
            assert_eq!(
                message,
                format!(
                    "content-type: {named} is not accepted; send application/json or application/x-www-form-urlencoded"
                ),
                "{}",
                a.text
            );
        }
        // JSON with a charset, or of a +json type, is JSON: the refusal is then about its fields, not its type.
        for content_type in ["application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"] {
            let a = Answer::from_reqwest(srv.send(post().header("content-type", content_type).body("[]")).await);
            let message = refused(m, &a, Refusal::Unreadable);
            assert_eq!(message, "body: must be a JSON object", "{content_type}: {}", a.text);
        }

        // Declared too large: refused before the body is read.
        let a = raw(&srv, head(&srv, m, &[json, ("content-length", &too_large.to_string())]), b"").await;
        let message = refused(m, &a, Refusal::PayloadTooLarge);
        assert_eq!(message, "the request body is larger than 1048576 bytes", "{}", a.text);

        // Streamed without a declared length: refused once it crosses the limit.
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            vec![Ok(b"{\"name\": \"".to_vec()), Ok(vec![b'x'; too_large])];
        let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
        let a = Answer::from_reqwest(srv.send(post().header(json.0, json.1).body(body)).await);
        let message = refused(m, &a, Refusal::PayloadTooLarge);
        assert_eq!(message, "the request body is larger than 1048576 bytes", "{}", a.text);

        // A chunked body whose framing breaks off cannot be read.
        let a = raw(&srv, head(&srv, m, &[json, ("transfer-encoding", "chunked")]), b"5\r\n{\"a\":\r\nzz\r\n").await;
        let message = refused(m, &a, Refusal::Unreadable);
        assert!(message.starts_with("body: could not be read"), "{}", a.text);
    }
    // The server is still well: nothing above was a 500 or a panic.
    assert_eq!(srv.get_anon("/healthz").await.status, 200);
    let log = srv.log();
    assert!(!log.contains("panicked") && !log.contains("internal error"), "{log}");
}

/// The chat token through proxies that drop `access_token`: `access-token` works the same, both names with one value
/// work, different values are refused naming the header, and the document declares both names.
async fn chat_takes_the_hyphenated_access_token(b: Backend) {
    let srv = Server::start(b).await;
    let token = crate::contract::chat_token(&srv).await["access_token"].as_str().unwrap().to_string();
    let url = |path: &str| format!("{}/chat/admin/{path}", srv.base);
    let with = |req: reqwest::RequestBuilder, headers: &[(&str, &str)]| {
        headers.iter().fold(req, |req, (name, value)| req.header(*name, *value))
    };

    // A write and a read with the hyphenated header alone.
    let create = srv
        .client
        .post(url("domain/create"))
        .form(&[("domain_name", "www.shop.example"), ("email", "web@shop.example")]);
    let r = srv.send(with(create, &[("access-token", &token)])).await;
    assert_eq!((r.status, r.body["status"].clone()), (200, json!(1)), "{}", r.text);
    let read = |headers: &[(&str, &str)]| srv.send(with(srv.client.get(url("domain/www.shop.example")), headers));
    for headers in [
        vec![("access-token", token.as_str())],
        vec![("access_token", token.as_str())],
        vec![("access_token", token.as_str()), ("access-token", token.as_str())],
    ] {
        let r = read(&headers).await;
        assert_eq!(r.status, 200, "{headers:?}: {}", r.text);
        assert_eq!(r.body["data"]["name"], "www.shop.example", "{}", r.text);
    }

    // Two different values, under both names or twice under one, are refused: neither is guessed at.
    let other = format!("{token}x");
    for headers in [
        vec![("access_token", token.as_str()), ("access-token", other.as_str())],
        vec![("access-token", other.as_str()), ("access_token", token.as_str())],
        vec![("access-token", token.as_str()), ("access-token", other.as_str())],
    ] {
        let r = read(&headers).await;
        assert_eq!((r.status, r.body["status"].clone()), (400, json!(0)), "{headers:?}: {}", r.text);
        assert_eq!(r.body["error"]["code"], "invalid_input", "{}", r.text);
        assert_eq!(
            r.body["error"]["message"],
            "access_token: is given more than once with different values (as access_token or access-token); send it once"
        );
    }

    // A wrong token under the alias is refused like one under the seed's name; none at all names both headers.
    let r = read(&[("access-token", "cat_forged")]).await;
    assert_eq!((r.status, r.body["error"]["code"].clone()), (401, json!("unauthenticated")), "{}", r.text);
    assert_eq!(r.body["error"]["message"], "access_token: unknown or revoked token", "{}", r.text);
    let r = read(&[]).await;
    assert_eq!((r.status, r.body["error"]["code"].clone()), (401, json!("unauthenticated")), "{}", r.text);
    assert_eq!(
        r.body["error"]["message"], "access_token: missing credentials; send the access_token (or access-token) header",
        "{}",
        r.text
    );
    assert!(!srv.log().contains(&token), "the token never reaches the log");

    // The document offers either name, as alternative schemes.
    let doc = srv.get_anon("/openapi.json").await.body;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["ChatAccessToken"]["name"], "access_token");
    assert_eq!(schemes["ChatAccessTokenHyphenated"]["name"], "access-token");
    for scheme in ["ChatAccessToken", "ChatAccessTokenHyphenated"] {
        assert_eq!(
            (schemes[scheme]["type"].clone(), schemes[scheme]["in"].clone()),
            (json!("apiKey"), json!("header"))
        );
    }
    let security = &doc["paths"]["/chat/admin/domain/{domain_name}"]["get"]["security"];
    assert_eq!(*security, json!([{"ChatAccessToken": []}, {"ChatAccessTokenHyphenated": []}]));
}

both!(
    unknown_paths_and_methods_answer_in_the_envelope,
    bodies_that_are_refused_answer_in_the_envelope,
    chat_takes_the_hyphenated_access_token
);
