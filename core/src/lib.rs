//! Tessera core: the plugin contract, tenancy, identity and credentials, casbin permissions, storage plumbing, the
//! merged OpenAPI document and the HTTP server. Plugins reach all of it through `PluginContext`.

pub mod admin;
pub mod admin_outbox;
pub mod audit;
pub mod authz;
pub mod cache;
pub mod config;
pub mod conn;
pub mod db;
pub mod error;
pub mod events;
pub mod identity;
pub mod jobs;
pub mod limits;
pub mod loadable;
pub mod money;
pub mod openapi;
pub mod outbox;
pub mod plugin;
pub mod reply;
pub mod request_id;
pub mod server;
pub mod store;
pub mod tenancy;
pub mod types;
pub mod wire;

use std::sync::Arc;

use moka::future::Cache;
use sqlx::AnyConnection;

pub use admin::AdminAuth as BearerKey;
pub use async_trait::async_trait;
pub use authz::{Authz, Granted};
pub use config::{Config, Secret};
pub use db::{now_ms, Db, Migrations, Reader, Sql};
pub use error::Failure;
pub use error::{CoreError, CoreResult};
pub use identity::{Caller, Identity};
pub use plugin::{Manifest, Permission, Plugin, PluginApi, PluginContext, TokenGrant, TokenLookup, Tx};
pub use reply::{ErrorEnvelope, Reply};
pub use tenancy::{Tenant, TenantKind, TenantStatus, Tenants};
pub use types::{Email, Flag, PageRule, Paging, StoredEnum};
pub use wire::{parse, Fields, HeaderKey, HeaderNames, Input, InputError, PathId, PathParam};

/// The core's version, part of a plugin's build id.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The core's own migrations.
pub fn migrations() -> Migrations {
    Migrations { sqlite: sqlx::migrate!("../migrations/sqlite"), postgres: sqlx::migrate!("../migrations/postgres") }
}

/// The shared services, cheap to clone.
#[derive(Clone)]
pub struct Core {
    pub db: Db,
    pub tenants: Tenants,
    pub identity: Identity,
    pub authz: Authz,
    pub events: events::Events,
    /// Manifests of every plugin this process serves.
    pub plugins: Arc<Vec<Manifest>>,
    /// The plugins themselves, for their hooks.
    hooks: Arc<Vec<Arc<dyn Plugin>>>,
    /// (tenant, plugin) → the state set for that tenant itself (None: never set).
    enabled: Cache<(i64, String), Option<bool>>,
}

impl Core {
    pub async fn new(db: Db, plugins: &[Arc<dyn Plugin>], limits: limits::LimitSettings) -> CoreResult<Self> {
        let events = events::Events::new(db.pool.clone(), db.backend);
        let tenants = Tenants::new(db.pool.clone(), events.clone());
        let limits = Arc::new(limits::Limits::new(limits));
        let identity = Identity::new(db.clone(), tenants.clone(), events.clone(), limits);
        let authz = Authz::load(db.clone(), events.clone()).await?;
        Ok(Core {
            db,
            tenants,
            identity,
            authz,
            events,
            plugins: Arc::new(plugins.iter().map(|p| p.manifest()).collect()),
            hooks: Arc::new(plugins.to_vec()),
            enabled: Cache::builder().max_capacity(200_000).build(),
        })
    }

    pub fn has_plugin(&self, name: &str) -> bool {
        self.plugins.iter().any(|m| m.name == name)
    }

    /// The plugin's state set for the tenant itself (cached).
    async fn plugin_state(&self, plugin: &str, tenant_id: i64) -> CoreResult<Option<bool>> {
        let pool = self.db.pool.clone();
        let name = plugin.to_string();
        cache::get_or_load(&self.enabled, (tenant_id, plugin.to_string()), async move {
            store::plugin_state(&pool, tenant_id, &name).await
        })
        .await
    }

    /// Whether the plugin serves the tenant: enabled for the tenant itself and disabled by none of its ancestors.
    /// Err names the ancestor that disabled it (`Some(id)`), or says it is not enabled for the tenant (`None`).
    pub async fn plugin_available(&self, plugin: &str, tenant: &Tenant) -> CoreResult<Result<(), Option<i64>>> {
        for id in tenant.lineage().filter(|id| *id != tenant.id) {
            if self.plugin_state(plugin, id).await? == Some(false) {
                return Ok(Err(Some(id)));
            }
        }
        match self.plugin_state(plugin, tenant.id).await? {
            Some(true) => Ok(Ok(())),
            _ => Ok(Err(None)),
        }
    }

    /// Fails with the plugin's "not available" error unless it serves the tenant (`plugin_available`).
    pub async fn ensure_enabled(&self, plugin: &str, tenant: &Tenant) -> CoreResult<()> {
        match self.plugin_available(plugin, tenant).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(CoreError::PluginDisabled(plugin.to_string())),
        }
    }

    pub async fn set_plugin(
        &self,
        conn: &mut AnyConnection,
        tenant_id: i64,
        plugin: &str,
        enabled: bool,
        config: &str,
    ) -> CoreResult<()> {
        store::set_tenant_plugin(conn, tenant_id, plugin, enabled, config, now_ms()).await
    }

    /// After a committed change of a plugin's state for a tenant: drops it here and tells the other instances.
    pub async fn plugin_changed(&self, tenant_id: i64, plugin: &str) {
        self.enabled.invalidate(&(tenant_id, plugin.to_string())).await;
        self.events.publish(events::Change::TenantPlugin { tenant_id, plugin: plugin.to_string() }).await;
    }

    /// Drops what another instance changed (or everything, after the listener reconnected), in the core's caches
    /// and, through `on_change`, in every plugin's.
    pub async fn forget(&self, change: &events::Change) {
        self.apply_local(change).await;
        for plugin in self.hooks.iter() {
            plugin.on_change(change).await;
        }
    }

    /// Drops the core's cached copy of what `change` names.
    pub(crate) async fn apply_local(&self, change: &events::Change) {
        use events::Change;
        match change {
            Change::Key { hash } => self.identity.forget_key(hash).await,
            Change::Tenant { id } => self.tenants.forget(*id).await,
            Change::TenantPlugin { tenant_id, plugin } => self.enabled.invalidate(&(*tenant_id, plugin.clone())).await,
            Change::Policy => self.authz.reload().await,
            Change::Plugin { .. } => {}
            Change::All => {
                self.identity.forget_all();
                self.tenants.forget_all();
                self.enabled.invalidate_all();
                self.authz.reload().await;
            }
        }
    }

    /// A tenant the caller may see: one outside its subtree answers as not found, so its existence does not leak.
    pub async fn visible_tenant(&self, caller: &Caller, id: i64, what: &str) -> CoreResult<Arc<Tenant>> {
        match self.tenants.get(id).await? {
            Some(t) if t.is_within(caller.tenant_path()) => Ok(t),
            _ => Err(CoreError::not_found(format!("{what} {id} not found"))),
        }
    }

    /// Creates a tenant under `parent` after checking the kind rules, the name and the slug.
    pub async fn create_tenant(
        &self,
        conn: &mut AnyConnection,
        parent: &Tenant,
        kind: TenantKind,
        name: &str,
        slug: &str,
    ) -> CoreResult<Tenant> {
        if !parent.kind().may_parent(kind) {
            return Err(CoreError::invalid(
                "kind",
                format!("a tenant of kind {kind} cannot be created under a {}", parent.kind),
            ));
        }
        validate_name("name", name)?;
        validate_slug(slug)?;
        if store::slug_taken(&self.db.pool, slug).await? {
            return Err(CoreError::conflict(format!("slug: `{slug}` is already taken")));
        }
        store::insert_tenant(conn, Some(parent), kind, name.trim(), slug, now_ms()).await
    }
}

/// What a status change does to a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    Suspend,
    /// Suspend for good: a closed tenant is never reactivated (a deleted reseller keeps its tenant for its ledger).
    Close,
    Activate,
}

impl Core {
    /// Suspends, closes or reactivates `tenant` in the caller's transaction, by the rules: a suspension remembers the
    /// caller's tenant, and only an admin at or above that tenant may reactivate (a suspension cannot be undone from
    /// below); a closed tenant stays suspended. Returns true when an active tenant was suspended (an event was
    /// written; wake the outbox after the commit). The caller drops the tenant from the caches after the commit.
    pub(crate) async fn set_tenant_status(
        &self,
        conn: &mut AnyConnection,
        caller: &Caller,
        tenant: &Tenant,
        change: StatusChange,
    ) -> CoreResult<bool> {
        let now = now_ms();
        let (start, end) = caller.tenant().subtree();
        match change {
            StatusChange::Activate => {
                if store::activate_tenant(conn, tenant.id, (&start, &end), now).await? {
                    return Ok(false);
                }
                // Refused: say why, from the row as it is now.
                let current =
                    store::tenant_now(conn, tenant.id).await?.ok_or_else(|| CoreError::not_found("tenant"))?;
                if current.closed {
                    return Err(CoreError::conflict(format!("status: tenant {} is closed for good", tenant.id)));
                }
                Err(CoreError::forbidden(format!(
                    "status: tenant {} was suspended above you; an admin of tenant {} or above reactivates it",
                    tenant.id,
                    current.suspended_by.unwrap_or_default()
                )))
            }
            StatusChange::Suspend | StatusChange::Close => {
                // The write comes first: on SQLite a transaction that reads before it writes can be refused the write
                // lock when another writer committed meanwhile. Whether the tenant was active comes from the cache.
                let was_active = tenant.is_active();
                let close = change == StatusChange::Close;
                store::suspend_tenant(conn, tenant.id, caller.tenant_id(), (&start, &end), close, now).await?;
                if was_active {
                    outbox::emit(conn, tenant, "tenant.suspended", &outbox::tenant_suspended(tenant)).await?;
                }
                Ok(was_active)
            }
        }
    }
}

pub fn validate_name(field: &str, name: &str) -> CoreResult<()> {
    let len = name.trim().chars().count();
    if len == 0 {
        return Err(CoreError::invalid(field, "must not be empty"));
    }
    if len > 200 {
        return Err(CoreError::invalid(field, "must be at most 200 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(CoreError::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

pub fn validate_slug(slug: &str) -> CoreResult<()> {
    let ok = (1..=63).contains(&slug.len())
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !slug.starts_with(['-', '.'])
        && !slug.ends_with(['-', '.']);
    if ok {
        Ok(())
    } else {
        Err(CoreError::invalid(
            "slug",
            "must be 1-63 characters of a-z, 0-9, '-' and '.', not starting or ending with '-' or '.'",
        ))
    }
}
