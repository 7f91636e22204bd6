//! The hello operations: a thin handler per operation, its logic in `<operation>_op`.

use std::time::{Duration, Instant};

use poem_openapi::param::Query;
use poem_openapi::{Object, OpenApi, Tags};
use tessera_core::{now_ms, BearerKey, CoreError, CoreResult, ErrorEnvelope, Input, PluginContext};

use crate::store;

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
    pub fn new(ctx: PluginContext) -> Self {
        HelloApi { ctx }
    }

    async fn greetings_create_op(&self, key: &BearerKey, name: &str) -> CoreResult<Greeting> {
        let caller = self.ctx.authenticate_key(&key.0.token).await?;
        self.ctx.require(&caller, "hello:greeting", "create", caller.tenant()).await?;
        let name = name.trim();
        if name.is_empty() {
            return Err(CoreError::invalid("name", "must not be blank"));
        }
        if name == "panic" {
            panic!("hello-plugin: the deliberate fault was asked for");
        }
        let mut tx = self.ctx.begin().await?;
        let id = store::insert_greeting(&mut tx, caller.tenant_id(), name, now_ms()).await?;
        let times = store::count_greetings(&mut tx, caller.tenant_id(), name).await?;
        self.ctx.audit(&mut tx, &caller, caller.tenant(), "greeting.create", &format!("hello_greeting:{id}")).await?;
        tx.commit().await?;
        Ok(Greeting { id, message: format!("Hello, {name}!"), times })
    }

    async fn wait_op(&self, key: &BearerKey, ms: u64) -> CoreResult<Waited> {
        let caller = self.ctx.authenticate_key(&key.0.token).await?;
        self.ctx.require(&caller, "hello:greeting", "read", caller.tenant()).await?;
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
        Reply::from_result(self.greetings_create_op(&key, &body.name).await, |g| g)
    }

    /// Wait on the server's timer in a spawned task, then say how long it took.
    #[oai(path = "/v1/wait", method = "get", operation_id = "hello_wait")]
    async fn wait(&self, key: BearerKey, ms: Query<u64>) -> Reply<Waited> {
        Reply::from_result(self.wait_op(&key, ms.0).await, |w| w)
    }
}
