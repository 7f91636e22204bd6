//! Permissions: casbin RBAC with tenant-path domains, a casbin adapter over the core's pool, and a decision cache.
//!
//! Roles are global definitions (`p, role, object, action`, where `*` matches any object or action). A grant gives a
//! principal a role in a tenant subtree (`g, u:<id>, role, /1/4/*`); the role manager matches the requested tenant path
//! against the grant's pattern, so a grant at an ancestor covers every descendant and the domain is decided before
//! anything else. Decisions are cached per (principal, tenant path, object, action) and the whole cache is dropped on
//! every policy change, so the request path costs no casbin evaluation after the first call.

use std::sync::Arc;

use casbin::function_map::key_match;
use casbin::{Adapter, CoreApi, DefaultModel, Enforcer, Filter, MgmtApi, Model};
use moka::future::Cache;
use sqlx::AnyPool;
use tokio::sync::RwLock;

use crate::db::Db;
use crate::error::{CoreError, CoreResult};
use crate::events::{Change, Events};
use crate::identity::Caller;
use crate::store;

const MODEL: &str = r#"
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && (p.obj == "*" || r.obj == p.obj) && (p.act == "*" || r.act == p.act)
"#;

pub const PLATFORM_ADMIN: &str = "platform_admin";
pub const TENANT_ADMIN: &str = "tenant_admin";

/// The subject name of a principal in casbin.
pub fn subject(principal_id: i64) -> String {
    format!("u:{principal_id}")
}

/// The grant pattern covering a tenant and everything below it.
pub fn subtree(path: &str) -> String {
    format!("{path}*")
}

/// Proof that an authorization check passed. Operations that need it take it as an argument.
#[derive(Debug, Clone, Copy)]
pub struct Granted(());

#[derive(Clone)]
pub struct Authz {
    enforcer: Arc<RwLock<Enforcer>>,
    decisions: Cache<(i64, String, String, String), bool>,
    /// Counts policy changes: a decision made while the policy changed is not cached (it may be the old policy's).
    generation: Arc<std::sync::atomic::AtomicU64>,
    pool: AnyPool,
    events: Events,
}

impl Authz {
    pub async fn load(db: Db, events: Events) -> CoreResult<Self> {
        let model = DefaultModel::from_str(MODEL).await.map_err(CoreError::internal)?;
        let pool = db.pool.clone();
        let adapter = PoolAdapter { db };
        let mut enforcer = Enforcer::new(model, adapter).await.map_err(CoreError::internal)?;
        enforcer.get_role_manager().write().matching_fn(None, Some(key_match));
        // Domain matching functions only apply to links added after they are set: load the grants again.
        enforcer.load_policy().await.map_err(CoreError::internal)?;
        Ok(Authz {
            enforcer: Arc::new(RwLock::new(enforcer)),
            decisions: Cache::builder().max_capacity(100_000).build(),
            generation: Default::default(),
            pool,
            events,
        })
    }

    /// Ensures a role definition exists (plugins' and the core's roles are declared at start-up).
    pub async fn define(&self, role: &str, object: &str, action: &str) -> CoreResult<()> {
        let mut e = self.enforcer.write().await;
        let rule = vec![role.to_string(), object.to_string(), action.to_string()];
        if !e.has_policy(rule.clone()) {
            e.add_policy(rule).await.map_err(CoreError::internal)?;
            self.policy_changed();
            drop(e);
            self.events.publish(Change::Policy).await;
        }
        Ok(())
    }

    /// The names of every defined role.
    pub async fn roles(&self) -> Vec<String> {
        let e = self.enforcer.read().await;
        let mut roles: Vec<String> = e.get_policy().into_iter().filter_map(|r| r.into_iter().next()).collect();
        roles.sort();
        roles.dedup();
        roles
    }

    pub async fn grant(&self, principal_id: i64, role: &str, tenant_path: &str) -> CoreResult<()> {
        let mut e = self.enforcer.write().await;
        e.add_grouping_policy(vec![subject(principal_id), role.to_string(), subtree(tenant_path)])
            .await
            .map_err(CoreError::internal)?;
        self.policy_changed();
        drop(e);
        self.events.publish(Change::Policy).await;
        Ok(())
    }

    pub async fn revoke(&self, principal_id: i64, role: &str, tenant_path: &str) -> CoreResult<()> {
        let mut e = self.enforcer.write().await;
        e.remove_grouping_policy(vec![subject(principal_id), role.to_string(), subtree(tenant_path)])
            .await
            .map_err(CoreError::internal)?;
        self.policy_changed();
        drop(e);
        self.events.publish(Change::Policy).await;
        Ok(())
    }

    /// Reloads roles and grants from storage and drops every decision (another instance changed them).
    pub async fn reload(&self) {
        let mut e = self.enforcer.write().await;
        if let Err(err) = e.load_policy().await {
            tracing::error!("cannot reload the permission policy: {err}");
        }
        self.policy_changed();
    }

    /// The (role, tenant pattern) grants of a principal, from storage.
    pub async fn grants_of(&self, principal_id: i64) -> CoreResult<Vec<(String, String)>> {
        store::grants_of(&self.pool, &subject(principal_id)).await
    }

    /// Drops every cached decision; called with the enforcer's write lock held, after the policy changed.
    fn policy_changed(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.decisions.invalidate_all();
    }

    /// True when the principal holds `object:action` on the tenant at `tenant_path`.
    pub async fn allowed(&self, principal_id: i64, tenant_path: &str, object: &str, action: &str) -> CoreResult<bool> {
        let key = (principal_id, tenant_path.to_string(), object.to_string(), action.to_string());
        // moka's futures are large; boxed, they do not inflate every future that awaits this one.
        if let Some(hit) = Box::pin(self.decisions.get(&key)).await {
            return Ok(hit);
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        let decision = {
            let e = self.enforcer.read().await;
            e.enforce((subject(principal_id).as_str(), tenant_path, object, action)).map_err(CoreError::internal)?
        };
        // A policy change since the load above may have been missed by this decision while its invalidation has
        // already passed: the decision would keep the old policy's answer until the next change. Checked after the
        // insert, so a change whose invalidation comes later removes the entry itself.
        Box::pin(self.decisions.insert(key.clone(), decision)).await;
        if self.generation.load(std::sync::atomic::Ordering::SeqCst) != generation {
            Box::pin(self.decisions.invalidate(&key)).await;
        }
        Ok(decision)
    }

    /// The one authorization check of an operation: the caller may do `action` on `object` in the target tenant.
    pub async fn require(&self, caller: &Caller, object: &str, action: &str, target_path: &str) -> CoreResult<Granted> {
        if self.allowed(caller.principal_id, target_path, object, action).await? {
            Ok(Granted(()))
        } else {
            Err(CoreError::forbidden(format!("not allowed to {action} {object} in this tenant")))
        }
    }
}

/// A casbin adapter storing rules in the core's `casbin_rules` table, through the writer.
struct PoolAdapter {
    db: Db,
}

fn adapter_err(e: impl std::error::Error + Send + Sync + 'static) -> casbin::Error {
    casbin::Error::AdapterError(casbin::error::AdapterError(Box::new(e)))
}

#[async_trait::async_trait]
impl Adapter for PoolAdapter {
    async fn load_policy(&mut self, m: &mut dyn Model) -> casbin::Result<()> {
        for (ptype, rule) in store::load_rules(&self.db.pool).await.map_err(adapter_err)? {
            let sec = if ptype.starts_with('g') { "g" } else { "p" };
            m.add_policy(sec, &ptype, rule);
        }
        Ok(())
    }

    async fn load_filtered_policy<'a>(&mut self, m: &mut dyn Model, _f: Filter<'a>) -> casbin::Result<()> {
        self.load_policy(m).await
    }

    async fn save_policy(&mut self, m: &mut dyn Model) -> casbin::Result<()> {
        let mut rules = Vec::new();
        for sec in ["p", "g"] {
            if let Some(map) = m.get_model().get(sec) {
                for (ptype, assertion) in map {
                    for rule in assertion.get_policy() {
                        rules.push((ptype.clone(), rule.clone()));
                    }
                }
            }
        }
        store::replace_rules(&self.db, &rules).await.map_err(adapter_err)
    }

    async fn clear_policy(&mut self) -> casbin::Result<()> {
        store::replace_rules(&self.db, &[]).await.map_err(adapter_err)
    }

    fn is_filtered(&self) -> bool {
        false
    }

    async fn add_policy(&mut self, _sec: &str, ptype: &str, rule: Vec<String>) -> casbin::Result<bool> {
        store::add_rule(&self.db.writer, ptype, &rule).await.map_err(adapter_err)?;
        Ok(true)
    }

    async fn add_policies(&mut self, _sec: &str, ptype: &str, rules: Vec<Vec<String>>) -> casbin::Result<bool> {
        for rule in rules {
            store::add_rule(&self.db.writer, ptype, &rule).await.map_err(adapter_err)?;
        }
        Ok(true)
    }

    async fn remove_policy(&mut self, _sec: &str, ptype: &str, rule: Vec<String>) -> casbin::Result<bool> {
        store::remove_rule(&self.db.writer, ptype, &rule).await.map_err(adapter_err)
    }

    async fn remove_policies(&mut self, _sec: &str, ptype: &str, rules: Vec<Vec<String>>) -> casbin::Result<bool> {
        let mut any = false;
        for rule in rules {
            any |= store::remove_rule(&self.db.writer, ptype, &rule).await.map_err(adapter_err)?;
        }
        Ok(any)
    }

    async fn remove_filtered_policy(
        &mut self,
        _sec: &str,
        ptype: &str,
        field_index: usize,
        field_values: Vec<String>,
    ) -> casbin::Result<bool> {
        store::remove_filtered_rules(&self.db.writer, ptype, field_index, &field_values).await.map_err(adapter_err)
    }
}
