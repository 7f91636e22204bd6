//! Test support: the real `tessera` binary started on port 0 with a fresh database (a temp SQLite file, or a fresh
//! PostgreSQL database), an HTTP client, and a macro that runs each test on both backends.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use sqlx::Connection;

/// Runs `async fn name(backend: Backend)` as `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(tessera_sqlite_only, ignore = "TESSERA_TEST_BACKENDS=sqlite: PostgreSQL is not tested")]
            async fn postgres() {
                super::$name($crate::support::Backend::Postgres).await
            }
        }
    )*};
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

fn pg_admin_url() -> String {
    std::env::var("TESSERA_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

enum Store {
    Sqlite,
    Postgres {
        name: String,
    },
    /// Another instance's database: not this server's to drop.
    Shared,
}

/// A response as a user sees it.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub struct Server {
    pub base: String,
    /// The platform admin's key (given through TESSERA_ADMIN_API_KEY).
    pub admin_key: String,
    /// The key line the last start printed, if it printed one.
    pub printed_key: Option<String>,
    pub db_url: String,
    pub dir: PathBuf,
    pub client: reqwest::Client,
    extra_env: Vec<(String, String)>,
    /// The server program and arguments after `serve …` (the tessera binary of this build unless told otherwise).
    program: PathBuf,
    extra_args: Vec<String>,
    child: Option<Child>,
    store: Store,
    starts: usize,
}

impl Server {
    pub async fn start(backend: Backend) -> Server {
        Server::start_with(backend, &[]).await
    }

    /// Starts with extra environment variables for the server process.
    pub async fn start_with(backend: Backend, env: &[(&str, &str)]) -> Server {
        let mut server = Server::unstarted(backend, env).await;
        server.launch();
        server
    }

    /// Starts another build of the server (`program`) with extra arguments for `serve`.
    pub async fn start_program(backend: Backend, program: &std::path::Path, args: &[&str]) -> Server {
        let mut server = Server::unstarted(backend, &[]).await;
        server.program = program.to_path_buf();
        server.extra_args = args.iter().map(|a| a.to_string()).collect();
        server.launch();
        server
    }

    /// `n` instances on one fresh database, started at the same moment. The first one owns the database.
    pub async fn start_together(backend: Backend, n: usize) -> Vec<Server> {
        Server::start_together_with(backend, n, &[]).await
    }

    /// `start_together` with extra environment variables for every instance.
    pub async fn start_together_with(backend: Backend, n: usize, env: &[(&str, &str)]) -> Vec<Server> {
        let first = Server::unstarted(backend, env).await;
        let mut all: Vec<Server> = (1..n).map(|_| first.sibling()).collect();
        all.insert(0, first);
        std::thread::scope(|s| {
            for server in all.iter_mut() {
                s.spawn(move || server.launch());
            }
        });
        all
    }

    /// Another instance on this server's database (started by `join` or `start_together`).
    fn sibling(&self) -> Server {
        let dir = std::env::temp_dir().join(format!("tessera-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Server {
            base: String::new(),
            admin_key: self.admin_key.clone(),
            printed_key: None,
            db_url: self.db_url.clone(),
            dir,
            client: self.client.clone(),
            extra_env: self.extra_env.clone(),
            program: self.program.clone(),
            extra_args: self.extra_args.clone(),
            child: None,
            store: Store::Shared,
            starts: 0,
        }
    }

    /// Starts a second instance on this server's database.
    pub fn join(&self) -> Server {
        let mut other = self.sibling();
        other.launch();
        other
    }

    async fn unstarted(backend: Backend, env: &[(&str, &str)]) -> Server {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("tessera-test-{id}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (db_url, store) = match backend {
            Backend::Sqlite => (format!("sqlite://{}/t.db", dir.display()), Store::Sqlite),
            Backend::Postgres => {
                let admin = pg_admin_url();
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL at {admin} is not reachable ({e}). Set TESSERA_TEST_DATABASE_URL, or run \
                         TESSERA_TEST_BACKENDS=sqlite cargo test to run the SQLite half only."
                    )
                });
                let name = format!("tessera_t_{}", &id[..16]);
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin.clone());
                (format!("{base}/{name}"), Store::Postgres { name })
            }
        };
        Server {
            base: String::new(),
            admin_key: format!("tsk_test_{id}"),
            printed_key: None,
            db_url,
            dir,
            client: reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client"),
            extra_env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            program: PathBuf::from(env!("CARGO_BIN_EXE_tessera")),
            extra_args: Vec::new(),
            child: None,
            store,
            starts: 0,
        }
    }

    /// The server's log (stderr) so far, across restarts.
    pub fn log(&self) -> String {
        (0..self.starts)
            .map(|i| std::fs::read_to_string(self.dir.join(format!("server-{i}.log"))).unwrap_or_default())
            .collect()
    }

    fn launch(&mut self) {
        let log = std::fs::File::create(self.dir.join(format!("server-{}.log", self.starts))).expect("log file");
        self.starts += 1;
        let mut child = Command::new(&self.program)
            .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &self.db_url])
            .args(&self.extra_args)
            .env("TESSERA_ADMIN_API_KEY", &self.admin_key)
            .env("TESSERA_LOG", "info,sqlx=warn")
            .env("NO_COLOR", "1")
            // Webhook deliveries of test servers never leave this machine.
            .env("TESSERA_WEBHOOK_TARGETS", "loopback")
            // `cargo test` points this at target/debug, whose libtessera_core.so is not the one a dynamic server
            // (`start_program`) was built with; each server finds its own libraries through its rpath.
            .env_remove("LD_LIBRARY_PATH")
            .envs(self.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&self.dir)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start tessera");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        self.printed_key = None;
        loop {
            let line = match lines.next() {
                Some(Ok(line)) => line,
                _ => panic!("tessera exited before listening; log:\n{}", self.log()),
            };
            if let Some(key) = line.strip_prefix("platform admin API key (shown once): ") {
                self.printed_key = Some(key.to_string());
            }
            if let Some(addr) = line.strip_prefix("listening on ") {
                self.base = addr.to_string();
                break;
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        self.child = Some(child);
    }

    /// Stops the server with SIGTERM (graceful shutdown) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let _ = child.wait();
        }
    }

    /// Kills the server with SIGKILL (no shutdown at all), then starts it again on the same database.
    pub fn crash_and_restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-KILL", &child.id().to_string()]).status();
            let _ = child.wait();
        }
        self.launch();
    }

    /// Stops and starts again on the same database.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, body, text, headers }
    }

    /// Sends only the head of a POST that declares a `declared`-byte body and returns the status line's code and
    /// the response text. A server that refuses an oversized body from its declared length answers without reading
    /// it; a client that wrote the whole body first could instead see the connection closed under it.
    pub async fn declare_body(&self, path: &str, headers: &[(&str, &str)], declared: usize) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut head = format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {declared}\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.expect("write head");
        let mut out = Vec::new();
        let read = stream.read_to_end(&mut out);
        tokio::time::timeout(Duration::from_secs(10), read).await.expect("answer in time").expect("read");
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        (status, text)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str, key: &str) -> Resp {
        self.send(self.client.get(self.url(path)).bearer_auth(key)).await
    }

    pub async fn get_anon(&self, path: &str) -> Resp {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn json(&self, method: &str, path: &str, key: &str, body: Value) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        self.send(self.client.request(method, self.url(path)).bearer_auth(key).json(&body)).await
    }

    pub async fn delete(&self, path: &str, key: &str) -> Resp {
        self.send(self.client.delete(self.url(path)).bearer_auth(key)).await
    }

    /// POST an application/x-www-form-urlencoded body, as the seed's curl examples do.
    pub async fn form(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        self.send(self.client.post(self.url(path)).form(fields)).await
    }

    /// POST a JSON body without a bearer key (plugins with their own credentials).
    pub async fn post_json(&self, path: &str, body: Value) -> Resp {
        self.send(self.client.post(self.url(path)).json(&body)).await
    }

    // ---- building a tenant tree through the API ----

    /// Creates a tenant as `key` and returns its id.
    pub async fn tenant(&self, key: &str, parent: i64, kind: &str, slug: &str) -> i64 {
        let r = self
            .json(
                "POST",
                "/core/v1/tenants",
                key,
                json!({"parent_id": parent, "kind": kind, "name": slug, "slug": slug}),
            )
            .await;
        assert_eq!(r.status, 201, "create tenant {slug}: {}", r.text);
        r.body["id"].as_i64().expect("tenant id")
    }

    /// Creates a user with roles in a tenant as `key` and returns its id.
    pub async fn user(&self, key: &str, tenant: i64, email: &str, roles: &[&str]) -> i64 {
        let r = self
            .json(
                "POST",
                &format!("/core/v1/tenants/{tenant}/users"),
                key,
                json!({"email": email, "password": "correct horse battery", "name": email, "roles": roles}),
            )
            .await;
        assert_eq!(r.status, 201, "create user {email}: {}", r.text);
        r.body["id"].as_i64().expect("user id")
    }

    /// Creates an API key for a user as `key` and returns (key id, key).
    pub async fn api_key(&self, key: &str, user: i64) -> (i64, String) {
        let r = self.json("POST", &format!("/core/v1/users/{user}/api-keys"), key, json!({"name": "test"})).await;
        assert_eq!(r.status, 201, "create key: {}", r.text);
        (r.body["id"].as_i64().expect("key id"), r.body["key"].as_str().expect("key").to_string())
    }

    /// Sets a plugin's state for a tenant as `key`, asserting success.
    pub async fn enable(&self, key: &str, tenant: i64, plugin: &str, enabled: bool) {
        let r = self
            .json("PUT", &format!("/core/v1/tenants/{tenant}/plugins/{plugin}"), key, json!({"enabled": enabled}))
            .await;
        assert_eq!(r.status, 200, "set plugin {plugin} for {tenant}: {}", r.text);
    }

    /// An ISP under the platform with a tenant_admin user and its key: (tenant, user, key).
    pub async fn isp(&self, slug: &str) -> Tenancy {
        let tenant = self.tenant(&self.admin_key, 1, "isp", slug).await;
        let user = self.user(&self.admin_key, tenant, &format!("admin@{slug}.example"), &["tenant_admin"]).await;
        let (_, key) = self.api_key(&self.admin_key, user).await;
        Tenancy { tenant, user, key }
    }
}

/// A tenant with an admin user and that user's key.
#[derive(Debug, Clone)]
pub struct Tenancy {
    pub tenant: i64,
    pub user: i64,
    pub key: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Store::Postgres { name } = &self.store {
            let name = name.clone();
            // Drop runs inside the test's runtime: use a thread with its own runtime.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(async {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin_url()).await {
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
                    }
                });
            })
            .join();
        }
    }
}
