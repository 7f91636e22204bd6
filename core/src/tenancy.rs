//! The tenant tree: platform → isp → reseller (any depth) → organisation, with a materialised path per tenant so that
//! "is X inside Y" is a prefix test. Tenant state used on every request (path, status) is cached and invalidated on
//! change; a tenant is usable only while it and every ancestor are active.

use std::sync::Arc;

use moka::future::Cache;
use sqlx::AnyPool;

use crate::error::{CoreError, CoreResult};
use crate::events::{Change, Events};
use crate::store;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantKind {
    Platform,
    Isp,
    Reseller,
    Organisation,
}

impl TenantKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantKind::Platform => "platform",
            TenantKind::Isp => "isp",
            TenantKind::Reseller => "reseller",
            TenantKind::Organisation => "organisation",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "platform" => TenantKind::Platform,
            "isp" => TenantKind::Isp,
            "reseller" => TenantKind::Reseller,
            "organisation" => TenantKind::Organisation,
            _ => return None,
        })
    }

    /// A stored kind; an unknown one is an internal error (never a silent default).
    pub fn from_stored(s: &str) -> CoreResult<Self> {
        Self::parse(s).ok_or_else(|| CoreError::internal(format!("stored tenant kind `{s}` is not known")))
    }

    /// Which kinds may sit directly under a parent of kind `self`.
    pub fn may_parent(self, child: TenantKind) -> bool {
        use TenantKind::*;
        matches!(
            (self, child),
            (Platform, Isp)
                | (Platform, Organisation)
                | (Isp, Reseller)
                | (Isp, Organisation)
                | (Reseller, Reseller)
                | (Reseller, Organisation)
        )
    }
}

impl std::fmt::Display for TenantKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantStatus {
    Active,
    Suspended,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
        }
    }

    /// A stored status; an unknown one is an internal error.
    pub fn from_stored(s: &str) -> CoreResult<Self> {
        match s {
            "active" => Ok(TenantStatus::Active),
            "suspended" => Ok(TenantStatus::Suspended),
            other => Err(CoreError::internal(format!("stored tenant status `{other}` is not known"))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub kind: TenantKind,
    pub name: String,
    pub slug: String,
    pub path: String,
    pub status: TenantStatus,
    /// The tenant whose admin suspended it: only an admin at or above that tenant may reactivate it.
    pub suspended_by: Option<i64>,
    /// Closed for good (a deleted reseller): suspended, and never reactivated.
    pub closed: bool,
    pub created_at: i64,
}

impl Tenant {
    pub fn kind(&self) -> TenantKind {
        self.kind
    }

    pub fn is_active(&self) -> bool {
        self.status == TenantStatus::Active
    }

    /// True when `self` is `other` or lies below it.
    pub fn is_within(&self, other_path: &str) -> bool {
        self.path.starts_with(other_path)
    }

    /// The bounds of this tenant's subtree in path order (see `subtree`).
    pub fn subtree(&self) -> (String, String) {
        subtree(&self.path)
    }

    /// Ids on the path from the root to this tenant, inclusive.
    pub fn lineage(&self) -> impl Iterator<Item = i64> + '_ {
        self.path.split('/').filter_map(|s| s.parse().ok())
    }
}

/// The bounds of a subtree in path order: a path lies at or below `path` exactly when `start <= p < end` (paths are
/// digits and `/`, and end with `/`, so `end` is `path` with its last `/` turned into `0`, the next byte). Compared
/// bytewise — SQLite's BINARY, PostgreSQL's `COLLATE "C"` on every path column — a range lets the database walk an
/// index, where `substr(path, 1, length($1)) = $1` read every row of every tenant.
pub fn subtree(path: &str) -> (String, String) {
    let end = match path.strip_suffix('/') {
        Some(stem) => format!("{stem}0"),
        None => format!("{path}\u{10ffff}"),
    };
    (path.to_string(), end)
}

/// Tenant lookups with a cache in front.
#[derive(Clone)]
pub struct Tenants {
    pool: AnyPool,
    events: Events,
    cache: Cache<i64, Option<Arc<Tenant>>>,
}

impl Tenants {
    pub fn new(pool: AnyPool, events: Events) -> Self {
        Tenants { pool, events, cache: Cache::builder().max_capacity(200_000).build() }
    }

    pub async fn get(&self, id: i64) -> CoreResult<Option<Arc<Tenant>>> {
        let pool = self.pool.clone();
        crate::cache::get_or_load(
            &self.cache,
            id,
            async move { store::tenant(&pool, id).await.map(|t| t.map(Arc::new)) },
        )
        .await
    }

    pub async fn require(&self, id: i64) -> CoreResult<Arc<Tenant>> {
        self.get(id).await?.ok_or_else(|| CoreError::not_found(format!("tenant {id} not found")))
    }

    /// The tenant with this slug (uncached: used at login, not per request).
    pub async fn by_slug(&self, slug: &str) -> CoreResult<Option<Arc<Tenant>>> {
        Ok(store::tenant_by_slug(&self.pool, slug).await?.map(Arc::new))
    }

    /// Fails with `TenantSuspended` unless the tenant and all its ancestors are active.
    pub async fn ensure_usable(&self, tenant: &Tenant) -> CoreResult<()> {
        for id in tenant.lineage() {
            match self.get(id).await? {
                Some(t) if t.is_active() => {}
                _ => return Err(CoreError::TenantSuspended),
            }
        }
        Ok(())
    }

    /// After a committed change of a tenant: drops it here and tells the other instances.
    pub async fn changed(&self, id: i64) {
        self.cache.invalidate(&id).await;
        self.events.publish(Change::Tenant { id }).await;
    }

    /// Drops a cached tenant (another instance changed it).
    pub async fn forget(&self, id: i64) {
        self.cache.invalidate(&id).await;
    }

    pub fn forget_all(&self) {
        self.cache.invalidate_all();
    }
}
