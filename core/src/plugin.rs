//! The plugin contract. A plugin declares what it is, its migrations, its permissions and its API; the core applies the
//! migrations, loads the permissions into casbin, mounts the API under `/<name>`, merges its OpenAPI document and
//! offers it the shared services through `PluginContext`.

use poem::endpoint::BoxEndpoint;
use poem::{EndpointExt, IntoEndpoint};
use poem_openapi::{OpenApi, OpenApiService};
use sqlx::{AnyConnection, AnyPool};

use crate::authz::Granted;
use crate::db::Migrations;
use crate::error::CoreResult;
use crate::identity::Caller;
use crate::tenancy::Tenant;
use crate::Core;

#[derive(Debug, Clone)]
pub struct Manifest {
    /// The plugin's name, its mount (`/<name>`), its tag, and the prefix of its operation ids, schemas and roles.
    pub name: &'static str,
    pub version: &'static str,
    pub title: &'static str,
    pub description: &'static str,
}

/// A default grant: `role` may do `action` on `object` ("plugin:resource"). `*` stands for any action.
#[derive(Debug, Clone, Copy)]
pub struct Permission {
    pub role: &'static str,
    pub object: &'static str,
    pub action: &'static str,
}

/// A plugin's HTTP endpoint and its OpenAPI document (paths relative to the mount).
pub struct PluginApi {
    pub endpoint: BoxEndpoint<'static>,
    pub spec: serde_json::Value,
}

impl PluginApi {
    pub fn new<T: OpenApi + 'static>(api: T, manifest: &Manifest) -> Self {
        let service = OpenApiService::new(api, manifest.title, manifest.version).description(manifest.description);
        let spec = serde_json::from_str(&service.spec()).unwrap_or_default();
        PluginApi { endpoint: service.into_endpoint().boxed(), spec }
    }
}

pub trait Plugin: Send + Sync + 'static {
    fn manifest(&self) -> Manifest;
    fn migrations(&self) -> Migrations;
    fn permissions(&self) -> Vec<Permission>;
    fn api(&self, ctx: PluginContext) -> PluginApi;
}

/// What a plugin's handlers use of the core, bound to that plugin.
#[derive(Clone)]
pub struct PluginContext {
    pub plugin: &'static str,
    pub core: Core,
    /// The plugin's section of the configuration (`[plugins.<name>]`), or null.
    pub config: serde_json::Value,
}

impl PluginContext {
    pub fn pool(&self) -> &AnyPool {
        &self.core.db.pool
    }

    /// Authenticates an API key and checks that this plugin is enabled for the caller's tenant.
    pub async fn caller_from_key(&self, key: &str) -> CoreResult<Caller> {
        let caller = self.core.identity.authenticate_key(key).await?;
        self.core.ensure_enabled(self.plugin, caller.tenant_id()).await?;
        Ok(caller)
    }

    /// The one authorization check of an operation on `target`.
    pub async fn require(&self, caller: &Caller, object: &str, action: &str, target: &Tenant) -> CoreResult<Granted> {
        self.core.authz.require(caller, object, action, &target.path).await
    }

    /// A tenant the caller may see: one outside its subtree answers as not found, so its existence does not leak.
    pub async fn visible_tenant(&self, caller: &Caller, id: i64, what: &str) -> CoreResult<std::sync::Arc<Tenant>> {
        self.core.visible_tenant(caller, id, what).await
    }

    /// After a committed change of an entry of this plugin's own cache (dropped locally by the caller): tells the
    /// other instances, which receive `Change::Plugin { plugin, key }` through `subscribe`.
    pub async fn publish_change(&self, key: &str) {
        let change = crate::events::Change::Plugin { plugin: self.plugin.to_string(), key: key.to_string() };
        self.core.events.publish(change).await;
    }

    /// Changes made by other instances: this plugin's own entries as `Change::Plugin`, and `Change::All` when every
    /// cache must be dropped (after the listener reconnected).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<crate::events::Change> {
        self.core.events.subscribe()
    }

    /// Records a write in the audit log, inside the caller's transaction.
    pub async fn audit(
        &self,
        conn: &mut AnyConnection,
        caller: &Caller,
        tenant: &Tenant,
        action: &str,
        object: &str,
    ) -> CoreResult<()> {
        crate::audit::record(conn, Some(caller.principal_id), tenant, &format!("{}.{action}", self.plugin), object)
            .await
    }
}
