//! An example Tessera plugin, written as a third party would write one. The same source builds an rlib (link it
//! into a server by adding it to the server's `src/plugins.rs`) and a dylib (drop it into the directory given to
//! `tessera serve --plugins-dir`). It has its own migrations, one permission and two operations under `/hello`:
//!
//! - `POST /hello/v1/greetings` reads and writes its table: it records a greeting and says how often that name was
//!   greeted in the caller's tenant.
//! - `GET /hello/v1/wait?ms=` uses tokio: a spawned task sleeps on the server's timer and reports back.
//!
//! Greeting the name `panic` panics on purpose, so that the server's handling of a faulty plugin can be seen: that
//! one request answers 500 and the server goes on serving.

use std::time::{Duration, Instant};

use poem_openapi::param::Query;
use poem_openapi::{Object, OpenApi, Tags};
use tessera_core::{
    now_ms, BearerKey, CoreError, CoreResult, ErrorEnvelope, Input, Manifest, Migrations, Permission, Plugin,
    PluginApi, PluginContext,
};

pub struct HelloPlugin;

impl Plugin for HelloPlugin {
    fn manifest(&self) -> Manifest {
        Manifest {
            name: "hello",
            version: env!("CARGO_PKG_VERSION"),
            title: "Hello",
            description: "An example plugin: greetings stored per tenant, and a wait on the server's timer.",
        }
    }

    fn migrations(&self) -> Migrations {
        Migrations { sqlite: sqlx::migrate!("./migrations/sqlite"), postgres: sqlx::migrate!("./migrations/postgres") }
    }

    fn permissions(&self) -> Vec<Permission> {
        vec![Permission { role: "hello_user", object: "hello:greeting", action: "*" }]
    }

    fn api(&self, ctx: PluginContext) -> PluginApi {
        PluginApi::new(HelloApi { ctx }, &self.manifest())
    }
}

tessera_core::export_plugin!(HelloPlugin);

#[derive(Tags)]
enum HelloTag {
    /// The example plugin.
    Hello,
}

/// Failure: what is wrong, naming the field.
#[derive(Object)]
#[oai(rename = "HelloError")]
pub struct HelloError {
    pub error: String,
}

impl ErrorEnvelope for HelloError {
    fn from_error(e: &CoreError) -> Self {
        HelloError { error: e.public_message() }
    }
}

type Reply<T> = tessera_core::Reply<T, HelloError>;

#[derive(Object)]
#[oai(rename = "HelloGreetingCreate")]
pub struct GreetingCreate {
    /// Who to greet.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: String,
}

#[derive(Object)]
#[oai(rename = "HelloGreeting")]
pub struct Greeting {
    pub id: i64,
    pub message: String,
    /// How many times this name has been greeted in the caller's tenant, this time included.
    pub times: i64,
}

#[derive(Object)]
#[oai(rename = "HelloWaited")]
pub struct Waited {
    /// How long the spawned task slept, in milliseconds.
    pub waited_ms: i64,
}

pub struct HelloApi {
    ctx: PluginContext,
}

impl HelloApi {
    async fn greet(&self, key: &BearerKey, name: &str) -> CoreResult<Greeting> {
        let caller = self.ctx.caller_from_key(&key.0.token).await?;
        self.ctx.require(&caller, "hello:greeting", "create", &caller.tenant).await?;
        let name = name.trim();
        if name.is_empty() {
            return Err(CoreError::invalid("name", "must not be blank"));
        }
        if name == "panic" {
            panic!("hello-plugin: the deliberate fault was asked for");
        }
        let mut tx = self.ctx.pool().begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO hello_greetings (tenant_id, name, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(caller.tenant_id())
        .bind(name)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        let times: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM hello_greetings WHERE tenant_id = $1 AND name = $2")
            .bind(caller.tenant_id())
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
        self.ctx.audit(&mut tx, &caller, &caller.tenant, "greeting.create", &format!("hello_greeting:{id}")).await?;
        tx.commit().await?;
        Ok(Greeting { id, message: format!("Hello, {name}!"), times })
    }

    async fn wait(&self, key: &BearerKey, ms: u64) -> CoreResult<Waited> {
        let caller = self.ctx.caller_from_key(&key.0.token).await?;
        self.ctx.require(&caller, "hello:greeting", "read", &caller.tenant).await?;
        if ms > 1000 {
            return Err(CoreError::invalid("ms", "must be at most 1000"));
        }
        let task = tokio::spawn(async move {
            let start = Instant::now();
            tokio::time::sleep(Duration::from_millis(ms)).await;
            start.elapsed()
        });
        let waited = task.await.map_err(CoreError::internal)?;
        Ok(Waited { waited_ms: waited.as_millis() as i64 })
    }
}

#[OpenApi(tag = "HelloTag::Hello")]
impl HelloApi {
    /// Greet someone: stores the greeting and counts earlier ones for the same name.
    #[oai(path = "/v1/greetings", method = "post", operation_id = "hello_greetings_create")]
    async fn greetings_create(&self, key: BearerKey, body: Input<GreetingCreate>) -> Reply<Greeting> {
        Reply::from_result(self.greet(&key, &body.name).await, |g| g)
    }

    /// Wait on the server's timer in a spawned task, then say how long it took.
    #[oai(path = "/v1/wait", method = "get", operation_id = "hello_wait")]
    async fn wait_get(&self, key: BearerKey, ms: Query<u64>) -> Reply<Waited> {
        Reply::from_result(self.wait(&key, ms.0).await, |w| w)
    }
}
