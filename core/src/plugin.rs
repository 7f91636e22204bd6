//! The plugin contract. A plugin declares what it is, its migrations, its permissions and its API, and may hook into
//! the server's life; the core applies the migrations, loads the permissions into casbin, mounts the API under
//! `/<name>`, merges its OpenAPI document, and offers it the shared services through `PluginContext` — and only
//! through it: the context is the whole of what a plugin may do to the core.
//!
//! What the context guarantees:
//! - A `Caller` comes only from the context (`authenticate_key`, `authenticate_token`, `login`), each of which checks
//!   the credential, that the caller's tenant and its ancestors are active, that this plugin is enabled for the
//!   tenant, and the rate limits.
//! - A change of core state (a tenant created, renamed, suspended) is made inside the plugin's `Tx` and takes effect
//!   in every cache, on every instance, when that transaction commits — the plugin never invalidates core caches.

use std::future::Future;
use std::sync::Arc;

use poem::endpoint::BoxEndpoint;
use poem::{EndpointExt, IntoEndpoint};
use poem_openapi::{OpenApi, OpenApiService};
use serde::de::DeserializeOwned;
use sqlx::{Any, AnyConnection, AnyPool};

use crate::authz::Granted;
use crate::db::{now_ms, Migrations, Reader};
use crate::error::{CoreError, CoreResult};
use crate::events::Change;
use crate::identity::Caller;
use crate::jobs::Job;
use crate::outbox::{EmailTemplate, EventType};
use crate::reply::ErrorEnvelope;
use crate::tenancy::{Tenant, TenantKind};
use crate::types::Email;
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

/// A plugin's HTTP endpoint, its OpenAPI document (paths relative to the mount), and how its envelope writes an
/// error the core answers on its behalf (an unknown path or method under its mount, a body too large).
pub struct PluginApi {
    pub endpoint: BoxEndpoint<'static>,
    pub spec: serde_json::Value,
    pub error_response: fn(CoreError) -> poem::Response,
}

impl PluginApi {
    /// `PluginApi::new::<MyErrorBody, _>(api, &manifest)`: the API and the plugin's error envelope.
    pub fn new<E: ErrorEnvelope + 'static, T: OpenApi + 'static>(api: T, manifest: &Manifest) -> Self {
        let service = OpenApiService::new(api, manifest.title, manifest.version).description(manifest.description);
        let spec = serde_json::from_str(&service.spec()).unwrap_or_default();
        PluginApi { endpoint: service.into_endpoint().boxed(), spec, error_response: crate::reply::error_response::<E> }
    }
}

/// A plugin. Only `manifest`, `migrations`, `permissions` and `api` must be written; the hooks default to nothing.
/// The hooks are async (`#[tessera_core::async_trait]` on the impl).
#[async_trait::async_trait]
pub trait Plugin: Send + Sync + 'static {
    fn manifest(&self) -> Manifest;
    fn migrations(&self) -> Migrations;
    fn permissions(&self) -> Vec<Permission>;

    /// The API, built once at start-up. Read the plugin's configuration here (`ctx.config()`): an error stops the
    /// start with its message.
    fn api(&self, ctx: PluginContext) -> CoreResult<PluginApi>;

    /// The event types this plugin emits (`ctx.emit`), each named `<plugin>.…`: the catalogue tenants choose from
    /// when they register a webhook.
    fn events(&self) -> Vec<EventType> {
        Vec::new()
    }

    /// Background jobs, each named `<plugin>.…`: periodic ones (`Job::every`) and those that run when queued
    /// (`Job::queued`, queued with `ctx.enqueue`). One instance runs each run, whatever the number of instances.
    fn jobs(&self, _ctx: &PluginContext) -> Vec<Job> {
        Vec::new()
    }

    /// After every API is built and before the first request: spawn what the plugin runs in the background here,
    /// never in a constructor.
    async fn on_start(&self, _ctx: &PluginContext) -> CoreResult<()> {
        Ok(())
    }

    /// A change made by another instance (PostgreSQL), or `Change::All` after the change listener reconnected: drop
    /// what the plugin caches of it. This plugin's own entries arrive as `Change::Plugin { plugin: <name>, key }`.
    async fn on_change(&self, _change: &Change) {}

    /// When the server stops, after the last request was answered.
    async fn on_shutdown(&self) {}
}

/// What a plugin's own token (a session, an access token) stands for, as its lookup found it.
pub struct TokenGrant<S> {
    pub principal_id: i64,
    pub tenant_id: i64,
    /// Epoch milliseconds; None never expires.
    pub expires_at: Option<i64>,
    /// What else the plugin keeps with the token, handed back with the caller.
    pub session: S,
}

/// A plugin's own bearer-style credential: the plugin stores and finds its tokens (by `hash_secret` of the token),
/// the core does everything else (`PluginContext::authenticate_token`).
pub trait TokenLookup: Send + Sync {
    type Session: Send;
    /// The header or field the token arrives in, named in errors.
    const FIELD: &'static str;
    /// Said after "<FIELD>: " when the token has expired.
    const EXPIRED: &'static str = "expired";
    /// The grant of a live token, or None when the token is unknown or revoked.
    fn lookup(&self, token: &str) -> impl Future<Output = CoreResult<Option<TokenGrant<Self::Session>>>> + Send;
}

/// A database transaction of a plugin. It is a connection (store functions take `&mut tx`); changes of core state
/// made through the context inside it are applied to the caches, here and on the other instances, by `commit`.
pub struct Tx {
    inner: sqlx::Transaction<'static, Any>,
    core: Core,
    after_commit: Vec<Change>,
    /// Events or emails were written: deliver them now rather than at the next tick.
    outbox: bool,
}

impl Tx {
    pub async fn commit(self) -> CoreResult<()> {
        self.inner.commit().await?;
        for change in &self.after_commit {
            self.core.apply_local(change).await;
            self.core.events.publish(change.clone()).await;
        }
        if self.outbox {
            crate::outbox::wake();
        }
        Ok(())
    }
}

impl std::ops::Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.inner
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.inner
    }
}

/// What a plugin's handlers use of the core, bound to that plugin. Cheap to clone.
#[derive(Clone)]
pub struct PluginContext {
    plugin: &'static str,
    core: Core,
    /// The plugin's section of the configuration (`[plugins.<name>]`), or null.
    config: serde_json::Value,
}

impl PluginContext {
    pub(crate) fn new(plugin: &'static str, core: Core, config: serde_json::Value) -> Self {
        PluginContext { plugin, core, config }
    }

    /// This plugin's name.
    pub fn plugin(&self) -> &'static str {
        self.plugin
    }

    /// The pool of single-row reads, for the plugin's store functions. It refuses writes on SQLite: a write is a
    /// statement in a transaction (`begin`), or a single statement on `writer`.
    pub fn pool(&self) -> &AnyPool {
        &self.core.db.pool
    }

    /// The writer, for a single statement that writes outside a transaction (it commits on its own). Never use it
    /// while holding a `Tx`: on SQLite the writer is one connection, and the transaction holds it.
    pub fn writer(&self) -> &AnyPool {
        &self.core.db.writer
    }

    /// The read pool every listing runs on (`Sql::fetch_all`); see `Reader`.
    pub fn reader(&self) -> &Reader {
        &self.core.db.reader
    }

    /// A transaction; see `Tx`.
    pub async fn begin(&self) -> CoreResult<Tx> {
        Ok(Tx { inner: self.core.db.begin().await?, core: self.core.clone(), after_commit: Vec::new(), outbox: false })
    }

    /// The plugin's settings (`[plugins.<name>]` in tessera.toml) as `T`; missing settings take `T::default()`'s
    /// values (put `#[serde(default)]` on T). A key T does not know is reported as a warning at start-up, like the
    /// core's own; a value of the wrong type is an error naming it.
    pub fn config<T: DeserializeOwned + Default>(&self) -> CoreResult<T> {
        if self.config.is_null() {
            return Ok(T::default());
        }
        let mut unknown = Vec::new();
        let value = serde_ignored::deserialize(self.config.clone(), |path| unknown.push(path.to_string()))
            .map_err(|e| CoreError::invalid(format!("plugins.{}", self.plugin), e.to_string()))?;
        for key in unknown {
            tracing::warn!("plugins.{}.{key}: unknown setting, ignored", self.plugin);
        }
        Ok(value)
    }

    // ---- authentication: the only ways to a Caller ----

    /// An API key of the core, for a tenant this plugin is enabled for.
    pub async fn authenticate_key(&self, key: &str) -> CoreResult<Caller> {
        let caller = self.core.identity.authenticate_key(key).await?;
        self.core.ensure_enabled(self.plugin, caller.tenant()).await?;
        Ok(caller)
    }

    /// A token of this plugin's own: `lookup` finds what it stands for, the core checks expiry, the tenant, that
    /// this plugin is enabled for it, and the rate limits.
    pub async fn authenticate_token<L: TokenLookup>(
        &self,
        lookup: &L,
        token: &str,
    ) -> CoreResult<(Caller, L::Session)> {
        let unknown = || CoreError::Unauthenticated(format!("{}: unknown or revoked token", L::FIELD));
        if token.is_empty() || token.len() > 256 {
            return Err(unknown());
        }
        let grant = lookup.lookup(token).await?.ok_or_else(unknown)?;
        if grant.expires_at.is_some_and(|t| t <= now_ms()) {
            return Err(CoreError::Unauthenticated(format!("{}: {}", L::FIELD, L::EXPIRED)));
        }
        let caller = self.core.identity.admit(grant.principal_id, grant.tenant_id, None).await?;
        self.core.ensure_enabled(self.plugin, caller.tenant()).await?;
        Ok((caller, grant.session))
    }

    /// Email and password of a person of `tenant` (argon2id, counted toward the lock-out). Every failure of the
    /// credentials reads the same, so a caller cannot tell an unknown email from a wrong password.
    /// The tenant and the plugin are checked first, so a right password cannot be told from a wrong one there.
    pub async fn login(&self, tenant: &Tenant, email: &str, password: &str) -> CoreResult<Caller> {
        self.core.tenants.ensure_usable(tenant).await?;
        self.core.ensure_enabled(self.plugin, tenant).await?;
        let principal = self.core.identity.login(tenant.id, email, password).await?;
        let caller = self.core.identity.admit(principal, tenant.id, None).await?;
        self.core.ensure_enabled(self.plugin, tenant).await?;
        Ok(caller)
    }

    /// A person of `tenant` that this plugin finds by its own login name (a member's username): `principal` is
    /// what the plugin found for `account` (None when the name is unknown, which is checked all the same, so the
    /// answer does not tell). Argon2id, counted toward the lock-out like `login`; the tenant and the plugin are
    /// checked first.
    pub async fn login_principal(
        &self,
        tenant: &Tenant,
        account: &str,
        principal: Option<i64>,
        password: &str,
    ) -> CoreResult<Caller> {
        self.core.tenants.ensure_usable(tenant).await?;
        self.core.ensure_enabled(self.plugin, tenant).await?;
        let principal = self.core.identity.login_principal(tenant.id, account, principal, password).await?;
        self.core.identity.admit(principal, tenant.id, None).await
    }

    /// Checks a secret this plugin keeps (an argon2id `hash` from `identity::hash_password`, e.g. a transaction
    /// password) for `name` (what the secret belongs to) in `tenant`, counted toward the same lock-out as logins:
    /// after repeated failures it answers `LoginBlocked` for a while.
    pub async fn check_secret(&self, tenant: &Tenant, name: &str, hash: &str, password: &str) -> CoreResult<bool> {
        let account = format!("{}:{}:{name}", self.plugin, tenant.id);
        self.core.identity.check_secret(&account, hash, password).await
    }

    // ---- authorization ----

    /// The one authorization check of an operation on `target`.
    pub async fn require(&self, caller: &Caller, object: &str, action: &str, target: &Tenant) -> CoreResult<Granted> {
        self.core.authz.require(caller, object, action, &target.path).await
    }

    // ---- tenants ----

    /// A tenant by id (cached), whoever asks: check visibility before showing it (`visible_tenant`).
    pub async fn tenant(&self, id: i64) -> CoreResult<Option<Arc<Tenant>>> {
        self.core.tenants.get(id).await
    }

    /// A tenant by slug (uncached; for logins, not per request).
    pub async fn tenant_by_slug(&self, slug: &str) -> CoreResult<Option<Arc<Tenant>>> {
        self.core.tenants.by_slug(slug).await
    }

    /// A tenant the caller may see: one outside its subtree answers as not found, so its existence does not leak.
    pub async fn visible_tenant(&self, caller: &Caller, id: i64, what: &str) -> CoreResult<Arc<Tenant>> {
        self.core.visible_tenant(caller, id, what).await
    }

    /// The tenants from the root down to `tenant`, inclusive.
    pub async fn lineage(&self, tenant: &Tenant) -> CoreResult<Vec<Arc<Tenant>>> {
        let mut out = Vec::new();
        for id in tenant.lineage() {
            out.push(self.core.tenants.require(id).await?);
        }
        Ok(out)
    }

    /// Creates a tenant under `parent` (kind rules, name and slug checked) in the plugin's transaction.
    pub async fn create_tenant(
        &self,
        tx: &mut Tx,
        parent: &Tenant,
        kind: TenantKind,
        name: &str,
        slug: &str,
    ) -> CoreResult<Tenant> {
        self.core.create_tenant(tx, parent, kind, name, slug).await
    }

    /// Renames a tenant; caches follow when `tx` commits.
    pub async fn rename_tenant(&self, tx: &mut Tx, tenant: &Tenant, name: &str) -> CoreResult<()> {
        crate::validate_name("name", name)?;
        crate::store::rename_tenant(tx, tenant.id, name.trim(), now_ms()).await?;
        tx.after_commit.push(Change::Tenant { id: tenant.id });
        Ok(())
    }

    /// Suspends a tenant for the caller: its callers, and those of every tenant below it, are refused once `tx`
    /// commits, webhooks subscribed to `tenant.suspended` hear of it, and only an admin at or above the caller's
    /// tenant may reactivate it.
    pub async fn suspend_tenant(&self, tx: &mut Tx, caller: &Caller, tenant: &Tenant) -> CoreResult<()> {
        self.status(tx, caller, tenant, crate::StatusChange::Suspend).await
    }

    /// Suspends a tenant for good (its records stay, nobody reactivates it): a deleted account of a plugin.
    pub async fn close_tenant(&self, tx: &mut Tx, caller: &Caller, tenant: &Tenant) -> CoreResult<()> {
        self.status(tx, caller, tenant, crate::StatusChange::Close).await
    }

    async fn status(
        &self,
        tx: &mut Tx,
        caller: &Caller,
        tenant: &Tenant,
        change: crate::StatusChange,
    ) -> CoreResult<()> {
        tx.outbox |= self.core.set_tenant_status(tx, caller, tenant, change).await?;
        tx.after_commit.push(Change::Tenant { id: tenant.id });
        Ok(())
    }

    // ---- principals ----

    /// The person of `tenant` with this email, created without a password when there is none yet.
    /// Returns (principal id, created).
    pub async fn ensure_principal(
        &self,
        tx: &mut Tx,
        tenant: &Tenant,
        email: &Email,
        name: &str,
    ) -> CoreResult<(i64, bool)> {
        self.core.identity.ensure_principal(tx, tenant.id, email, name).await
    }

    /// A new person of `tenant` who logs in with a password: `hash` comes from `identity::hash_password`, computed
    /// before the transaction began (a hash takes tens of milliseconds; the writer is not held for it). An email the
    /// tenant already has is refused, naming `email`.
    pub async fn create_person(
        &self,
        tx: &mut Tx,
        tenant: &Tenant,
        email: &Email,
        name: &str,
        hash: &str,
    ) -> CoreResult<i64> {
        self.core.identity.create_person(tx, tenant.id, email, name, hash).await
    }

    /// Replaces the password of a person of `tenant` (`hash` from `identity::hash_password`).
    pub async fn set_password(&self, tx: &mut Tx, tenant: &Tenant, principal: i64, hash: &str) -> CoreResult<()> {
        match crate::store::set_principal_password(tx, tenant.id, principal, hash).await? {
            true => Ok(()),
            false => Err(CoreError::not_found("no such person")),
        }
    }

    /// Changes the email of a person of `tenant`; one another person of the tenant has is refused, naming `email`.
    pub async fn set_email(&self, tx: &mut Tx, tenant: &Tenant, principal: i64, email: &Email) -> CoreResult<()> {
        let taken = crate::store::principal_id_by_email(tx, tenant.id, email.as_str()).await?;
        if taken.is_some_and(|id| id != principal) {
            return Err(CoreError::invalid("email", "is already registered"));
        }
        match crate::store::set_principal_email(tx, tenant.id, principal, email.as_str()).await? {
            true => Ok(()),
            false => Err(CoreError::not_found("no such person")),
        }
    }

    /// Closes a person of `tenant` the plugin created (a removed staff member or client): its keys are revoked and
    /// it can no longer log in, here and on the other instances once the transaction commits; its email is free for
    /// a new person.
    pub async fn close_person(&self, tx: &mut Tx, tenant: &Tenant, principal: i64) -> CoreResult<()> {
        for hash in crate::store::close_principal(tx, tenant.id, principal, now_ms()).await? {
            tx.after_commit.push(Change::Key { hash });
        }
        Ok(())
    }

    /// A new API key of a person of `tenant`, stored (as a hash) in the plugin's transaction: (key id, plaintext).
    /// The plaintext is shown once, to whoever asked for the key.
    pub async fn create_key(
        &self,
        tx: &mut Tx,
        tenant: &Tenant,
        principal: i64,
        name: &str,
    ) -> CoreResult<(i64, String)> {
        let key = crate::identity::new_secret("tsk_");
        let prefix: String = key.chars().take(8).collect();
        let hash = crate::identity::hash_secret(&key);
        let id = crate::store::insert_key(&mut **tx, principal, tenant.id, name, &prefix, &hash, None).await?;
        Ok((id, key))
    }

    // ---- roles the plugin defines at run time ----

    /// Replaces the rules of `role`, a role this plugin defines while it runs (a staff group's permissions): each
    /// rule lets the role do `action` (or `*`) on `object`. The role is named `<plugin>_…` and every object
    /// `<plugin>:…`. Written in the plugin's transaction; the permission checks here and on the other instances
    /// follow when it commits.
    pub async fn set_role_rules(&self, tx: &mut Tx, role: &str, rules: &[(String, String)]) -> CoreResult<()> {
        self.own_role(role)?;
        crate::store::remove_role_rules(tx, "p", role).await?;
        for (object, action) in rules {
            if !object.starts_with(&format!("{}:", self.plugin)) {
                return Err(CoreError::internal(format!(
                    "{}: a rule's object {object} is not the plugin's",
                    self.plugin
                )));
            }
            let rule = [role.to_string(), object.clone(), action.clone()];
            crate::store::add_rule(&mut **tx, "p", &rule).await?;
        }
        tx.after_commit.push(Change::Policy);
        Ok(())
    }

    /// Removes a role of this plugin's: its rules and every grant of it.
    pub async fn drop_role(&self, tx: &mut Tx, role: &str) -> CoreResult<()> {
        self.own_role(role)?;
        crate::store::remove_role_rules(tx, "p", role).await?;
        crate::store::remove_role_rules(tx, "g", role).await?;
        tx.after_commit.push(Change::Policy);
        Ok(())
    }

    /// Grants `principal` a role of this plugin's over `tenant` and its subtree (`revoke` takes it back).
    pub async fn grant_role(
        &self,
        tx: &mut Tx,
        principal: i64,
        role: &str,
        tenant: &Tenant,
        revoke: bool,
    ) -> CoreResult<()> {
        self.own_role(role)?;
        let rule = [crate::authz::subject(principal), role.to_string(), crate::authz::subtree(&tenant.path)];
        if revoke {
            crate::store::remove_rule(&mut **tx, "g", &rule).await?;
        } else {
            crate::store::add_rule(&mut **tx, "g", &rule).await?;
        }
        tx.after_commit.push(Change::Policy);
        Ok(())
    }

    fn own_role(&self, role: &str) -> CoreResult<()> {
        match role.strip_prefix(self.plugin).and_then(|r| r.strip_prefix('_')) {
            Some(rest) if !rest.is_empty() => Ok(()),
            _ => Err(CoreError::internal(format!("{}: role {role} is not the plugin's", self.plugin))),
        }
    }

    // ---- audit ----

    /// Records a write in the audit log, inside the plugin's transaction, as `<plugin>.<action>`.
    pub async fn audit(
        &self,
        tx: &mut Tx,
        caller: &Caller,
        tenant: &Tenant,
        action: &str,
        object: &str,
    ) -> CoreResult<()> {
        crate::audit::record(tx, Some(caller.principal_id()), tenant, &format!("{}.{action}", self.plugin), object)
            .await
    }

    // ---- outbox and jobs ----

    /// Records an event of `tenant` (one of this plugin's `events()`) in the transaction; webhooks of the tenant and
    /// of the tenants above it receive it after the commit, signed, retried until delivered.
    pub async fn emit(&self, tx: &mut Tx, tenant: &Tenant, event: &str, payload: &serde_json::Value) -> CoreResult<()> {
        self.own_name("event type", event)?;
        crate::outbox::emit(tx, tenant, event, payload).await?;
        tx.outbox = true;
        Ok(())
    }

    /// Queues an email to `to`, rendered from the plugin's template with `vars`, in the transaction: sent through
    /// SMTP after the commit when SMTP is configured, otherwise kept for admins to read.
    pub async fn email(
        &self,
        tx: &mut Tx,
        tenant: &Tenant,
        to: &Email,
        template: &EmailTemplate,
        vars: &serde_json::Value,
    ) -> CoreResult<()> {
        crate::outbox::email(tx, tenant, self.plugin, to.as_str(), template, vars).await?;
        tx.outbox = true;
        Ok(())
    }

    /// Queues a run of one of this plugin's queued jobs, with `payload`, at `run_at_ms` (epoch ms), in the
    /// transaction: it runs only if the transaction commits.
    pub async fn enqueue(
        &self,
        tx: &mut Tx,
        job: &str,
        payload: &serde_json::Value,
        run_at_ms: i64,
    ) -> CoreResult<i64> {
        self.own_name("job", job)?;
        crate::jobs::enqueue(tx, job, payload, run_at_ms).await
    }

    fn own_name(&self, what: &str, name: &str) -> CoreResult<()> {
        match name.strip_prefix(self.plugin).and_then(|rest| rest.strip_prefix('.')) {
            Some(rest) if !rest.is_empty() => Ok(()),
            _ => Err(CoreError::internal(format!(
                "{what} `{name}` of plugin {} must be named `{}.…`",
                self.plugin, self.plugin
            ))),
        }
    }

    // ---- the plugin's own caches ----

    /// After a committed change of an entry of this plugin's own cache (dropped locally by the plugin): tells the
    /// other instances, whose copy of the plugin receives `Change::Plugin { plugin, key }` in `on_change`.
    pub async fn publish_change(&self, key: &str) {
        let change = Change::Plugin { plugin: self.plugin.to_string(), key: key.to_string() };
        self.core.events.publish(change).await;
    }
}
