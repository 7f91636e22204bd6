//! Cache coherence between instances. Every cached fact (API keys, tenant state, plugin state per tenant, casbin
//! decisions and policy, plugins' own caches) is dropped locally by the code that changes it, and the change is
//! published. With PostgreSQL, publishing is `pg_notify` on one channel, and every instance LISTENs on it and drops
//! the same entries; when the listening connection is lost, the instance reconnects and then drops every cache, so a
//! change missed during the gap cannot survive. With SQLite (one process) publishing is local only.

use serde::{Deserialize, Serialize};
use sqlx::AnyPool;
use tokio::sync::broadcast;

use crate::db::Backend;
use crate::Core;

pub const CHANNEL: &str = "tessera_changes";

/// What changed. Plugins use `Plugin` for their own cached entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// An API key (by its hash) was revoked.
    Key { hash: String },
    /// A tenant's name or status changed.
    Tenant { id: i64 },
    /// A plugin was enabled, disabled or reconfigured for a tenant.
    TenantPlugin { tenant_id: i64, plugin: String },
    /// Roles or grants changed.
    Policy,
    /// An entry of a plugin's own cache (e.g. a token) changed.
    Plugin { plugin: String, key: String },
    /// Everything may have changed (the listener reconnected): drop every cache.
    All,
}

/// A published change with the id of the instance that made it (so it can skip its own echo).
#[derive(Serialize, Deserialize)]
struct Envelope {
    from: String,
    change: Change,
}

#[derive(Clone)]
pub struct Events {
    pool: AnyPool,
    backend: Backend,
    instance: String,
    remote: broadcast::Sender<Change>,
}

impl Events {
    pub fn new(pool: AnyPool, backend: Backend) -> Self {
        let (remote, _) = broadcast::channel(4096);
        Events { pool, backend, instance: uuid::Uuid::new_v4().simple().to_string(), remote }
    }

    /// Tells the other instances. The caller has already dropped its own cached entry.
    pub async fn publish(&self, change: Change) {
        if self.backend != Backend::Postgres {
            return;
        }
        let payload = match serde_json::to_string(&Envelope { from: self.instance.clone(), change }) {
            Ok(p) => p,
            Err(_) => return,
        };
        if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(&payload).execute(&self.pool).await {
            // The change is committed; other instances learn of it at their next reconnect at the latest.
            tracing::error!("cannot publish a cache change: {e}");
        }
    }

    /// Changes made by other instances (and `All` after a reconnect), for caches outside the core.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.remote.subscribe()
    }

    /// Listens for other instances' changes until the process ends, applying each to `core` (PostgreSQL only).
    pub fn listen(&self, url: String, core: Core) {
        if self.backend != Backend::Postgres {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                match me.listen_once(&url, &core).await {
                    Ok(()) => {}
                    Err(e) => tracing::warn!("change listener lost its connection: {e}; reconnecting"),
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        });
    }

    /// One connection's life: LISTEN, then drop every cache (whatever happened while not listening), then apply
    /// changes as they come until the connection fails.
    async fn listen_once(&self, url: &str, core: &Core) -> Result<(), sqlx::Error> {
        let opts = url.parse::<sqlx::postgres::PgConnectOptions>()?.application_name("tessera-listener");
        let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect_lazy_with(opts);
        let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        self.deliver(core, Change::All).await;
        loop {
            match listener.try_recv().await? {
                Some(n) => match serde_json::from_str::<Envelope>(n.payload()) {
                    Ok(env) if env.from == self.instance => {}
                    Ok(env) => self.deliver(core, env.change).await,
                    Err(_) => tracing::warn!("ignoring a malformed change notification"),
                },
                None => return Ok(()),
            }
        }
    }

    async fn deliver(&self, core: &Core, change: Change) {
        tracing::debug!(?change, "change from another instance");
        core.forget(&change).await;
        let _ = self.remote.send(change);
    }
}
