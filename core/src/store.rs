//! All SQL of the core: tenants, principals, API keys, per-tenant plugins, casbin rules and the audit log.

use sqlx::{AnyConnection, AnyPool};
use tracing::instrument;

use crate::db::{Reader, Sql};
use crate::error::CoreResult;
use crate::identity::KeyRecord;
use crate::tenancy::{Tenant, TenantKind, TenantStatus};
use crate::types::Paging;

// ---- tenants ----

const TENANT_COLS: &str = "id, parent_id, kind, name, slug, path, status, suspended_by, closed, created_at";

/// A tenant as stored; kind and status become typed values (an unknown one is an error, never a default).
#[derive(sqlx::FromRow)]
struct TenantRow {
    id: i64,
    parent_id: Option<i64>,
    kind: String,
    name: String,
    slug: String,
    path: String,
    status: String,
    suspended_by: Option<i64>,
    closed: crate::types::Flag,
    created_at: i64,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = crate::error::CoreError;
    fn try_from(r: TenantRow) -> CoreResult<Tenant> {
        Ok(Tenant {
            id: r.id,
            parent_id: r.parent_id,
            kind: TenantKind::from_stored(&r.kind)?,
            name: r.name,
            slug: r.slug,
            path: r.path,
            status: TenantStatus::from_stored(&r.status)?,
            suspended_by: r.suspended_by,
            closed: r.closed.0,
            created_at: r.created_at,
        })
    }
}

#[instrument(skip_all)]
pub async fn tenant(pool: &AnyPool, id: i64) -> CoreResult<Option<Tenant>> {
    let sql = format!("SELECT {TENANT_COLS} FROM tenants WHERE id = $1");
    let row: Option<TenantRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?;
    row.map(Tenant::try_from).transpose()
}

#[instrument(skip_all)]
pub async fn tenant_by_slug(pool: &AnyPool, slug: &str) -> CoreResult<Option<Tenant>> {
    let sql = format!("SELECT {TENANT_COLS} FROM tenants WHERE slug = $1");
    let row: Option<TenantRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(slug).fetch_optional(pool).await?;
    row.map(Tenant::try_from).transpose()
}

#[instrument(skip_all)]
pub async fn platform_exists(pool: &AnyPool) -> CoreResult<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenants WHERE parent_id IS NULL").fetch_one(pool).await?;
    Ok(n > 0)
}

/// Inserts a tenant and sets its materialised path from the parent's (in the caller's transaction).
#[instrument(skip_all)]
pub async fn insert_tenant(
    conn: &mut AnyConnection,
    parent: Option<&Tenant>,
    kind: TenantKind,
    name: &str,
    slug: &str,
    now: i64,
) -> CoreResult<Tenant> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO tenants (parent_id, kind, name, slug, path, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, '', 'active', $5, $5) RETURNING id",
    )
    .bind(parent.map(|p| p.id))
    .bind(kind.as_str())
    .bind(name)
    .bind(slug)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let path = format!("{}{id}/", parent.map(|p| p.path.as_str()).unwrap_or("/"));
    sqlx::query("UPDATE tenants SET path = $1 WHERE id = $2").bind(&path).bind(id).execute(&mut *conn).await?;
    Ok(Tenant {
        id,
        parent_id: parent.map(|p| p.id),
        kind,
        name: name.to_string(),
        slug: slug.to_string(),
        path,
        status: TenantStatus::Active,
        suspended_by: None,
        closed: false,
        created_at: now,
    })
}

#[instrument(skip_all)]
pub async fn slug_taken(pool: &AnyPool, slug: &str) -> CoreResult<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenants WHERE slug = $1").bind(slug).fetch_one(pool).await?;
    Ok(n > 0)
}

#[instrument(skip_all)]
pub async fn children(reader: &Reader, parent_id: i64, page: Paging) -> CoreResult<(Vec<Tenant>, i64)> {
    let mut stmt = Sql::new("SELECT ");
    stmt.push(TENANT_COLS)
        .push(" FROM tenants WHERE parent_id = ")
        .push_bind(parent_id)
        .push(" ORDER BY id")
        .page(page);
    let rows: Vec<TenantRow> = stmt.fetch_all(reader).await?;
    let rows = rows.into_iter().map(Tenant::try_from).collect::<CoreResult<_>>()?;
    let mut count = Sql::new("SELECT COUNT(*) FROM tenants WHERE parent_id = ");
    count.push_bind(parent_id);
    Ok((rows, count.fetch_count(reader).await?))
}

/// Suspends (or closes) a tenant for an admin of the tenant `by`, whose subtree is `[start, end)`: a suspension
/// made from above `by` keeps its mark. Decided in the UPDATE itself, so concurrent changes cannot interleave.
#[instrument(skip_all)]
pub async fn suspend_tenant(
    conn: &mut AnyConnection,
    id: i64,
    by: i64,
    (start, end): (&str, &str),
    close: bool,
    now: i64,
) -> CoreResult<()> {
    sqlx::query(
        "UPDATE tenants SET status = 'suspended', closed = CASE WHEN $1 = 1 THEN 1 ELSE closed END, \
         suspended_by = CASE WHEN status = 'suspended' AND suspended_by IS NOT NULL AND suspended_by NOT IN \
         (SELECT s.id FROM tenants s WHERE s.path >= $2 AND s.path < $3) THEN suspended_by ELSE $4 END, \
         updated_at = $5 WHERE id = $6",
    )
    .bind(close as i64)
    .bind(start)
    .bind(end)
    .bind(by)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Reactivates a tenant for an admin whose subtree is `[start, end)`: only when it is not closed and was
/// suspended by a tenant in that subtree (the admin's own level or below). False when refused.
#[instrument(skip_all)]
pub async fn activate_tenant(
    conn: &mut AnyConnection,
    id: i64,
    (start, end): (&str, &str),
    now: i64,
) -> CoreResult<bool> {
    let done = sqlx::query(
        "UPDATE tenants SET status = 'active', suspended_by = NULL, updated_at = $1 WHERE id = $2 AND closed = 0 \
         AND (suspended_by IS NULL OR suspended_by IN (SELECT s.id FROM tenants s WHERE s.path >= $3 AND s.path < $4))",
    )
    .bind(now)
    .bind(id)
    .bind(start)
    .bind(end)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A tenant as stored now, bypassing the cache (inside a transaction that is about to decide on it).
#[instrument(skip_all)]
pub async fn tenant_now(conn: &mut AnyConnection, id: i64) -> CoreResult<Option<Tenant>> {
    let sql = format!("SELECT {TENANT_COLS} FROM tenants WHERE id = $1");
    let row: Option<TenantRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *conn).await?;
    row.map(Tenant::try_from).transpose()
}

#[instrument(skip_all)]
pub async fn rename_tenant(conn: &mut AnyConnection, id: i64, name: &str, now: i64) -> CoreResult<()> {
    sqlx::query("UPDATE tenants SET name = $1, updated_at = $2 WHERE id = $3")
        .bind(name)
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

// ---- principals ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PrincipalRow {
    pub id: i64,
    pub tenant_id: i64,
    pub email: String,
    pub name: String,
    pub status: String,
    pub created_at: i64,
}

const PRINCIPAL_COLS: &str = "id, tenant_id, email, name, status, created_at";

#[instrument(skip_all)]
pub async fn insert_principal(
    conn: &mut AnyConnection,
    tenant_id: i64,
    email: &str,
    name: &str,
    password_hash: Option<&str>,
    now: i64,
) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO principals (tenant_id, email, name, password_hash, status, created_at) \
         VALUES ($1, $2, $3, $4, 'active', $5) RETURNING id",
    )
    .bind(tenant_id)
    .bind(email)
    .bind(name)
    .bind(password_hash)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

#[instrument(skip_all)]
pub async fn principal(pool: &AnyPool, id: i64) -> CoreResult<Option<PrincipalRow>> {
    let sql = format!("SELECT {PRINCIPAL_COLS} FROM principals WHERE id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?)
}

#[instrument(skip_all)]
pub async fn principal_email_taken(pool: &AnyPool, tenant_id: i64, email: &str) -> CoreResult<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM principals WHERE tenant_id = $1 AND email = $2")
        .bind(tenant_id)
        .bind(email)
        .fetch_one(pool)
        .await?;
    Ok(n > 0)
}

/// The principal of a tenant with that email, with its password hash (for login only).
#[instrument(skip_all)]
pub async fn principal_login(pool: &AnyPool, tenant_id: i64, email: &str) -> CoreResult<Option<(i64, Option<String>)>> {
    Ok(sqlx::query_as(
        "SELECT id, password_hash FROM principals WHERE tenant_id = $1 AND email = $2 AND status = 'active'",
    )
    .bind(tenant_id)
    .bind(email)
    .fetch_optional(pool)
    .await?)
}

/// The password hash of an active principal of the tenant: None when there is no such principal, Some(None) when it
/// has no password.
#[instrument(skip_all)]
pub async fn principal_password(pool: &AnyPool, tenant_id: i64, id: i64) -> CoreResult<Option<Option<String>>> {
    Ok(sqlx::query_scalar(
        "SELECT password_hash FROM principals WHERE tenant_id = $1 AND id = $2 AND status = 'active'",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

#[instrument(skip_all)]
pub async fn set_principal_password(conn: &mut AnyConnection, tenant_id: i64, id: i64, hash: &str) -> CoreResult<bool> {
    let done = sqlx::query("UPDATE principals SET password_hash = $3 WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .bind(hash)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

#[instrument(skip_all)]
pub async fn set_principal_email(conn: &mut AnyConnection, tenant_id: i64, id: i64, email: &str) -> CoreResult<bool> {
    let done = sqlx::query("UPDATE principals SET email = $3 WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .bind(email)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

#[instrument(skip_all)]
pub async fn principal_id_by_email(conn: &mut AnyConnection, tenant_id: i64, email: &str) -> CoreResult<Option<i64>> {
    Ok(sqlx::query_scalar("SELECT id FROM principals WHERE tenant_id = $1 AND email = $2")
        .bind(tenant_id)
        .bind(email)
        .fetch_optional(&mut *conn)
        .await?)
}

#[instrument(skip_all)]
pub async fn principals_of(reader: &Reader, tenant_id: i64, page: Paging) -> CoreResult<(Vec<PrincipalRow>, i64)> {
    let mut stmt = Sql::new("SELECT ");
    stmt.push(PRINCIPAL_COLS).push(" FROM principals WHERE tenant_id = ").push_bind(tenant_id).push(" ORDER BY id");
    stmt.page(page);
    let rows = stmt.fetch_all(reader).await?;
    let mut count = Sql::new("SELECT COUNT(*) FROM principals WHERE tenant_id = ");
    count.push_bind(tenant_id);
    Ok((rows, count.fetch_count(reader).await?))
}

// ---- API keys ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRow {
    pub id: i64,
    pub principal_id: i64,
    pub tenant_id: i64,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[instrument(skip_all)]
pub async fn insert_key<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    pool: E,
    principal_id: i64,
    tenant_id: i64,
    name: &str,
    prefix: &str,
    key_hash: &str,
    expires_at: Option<i64>,
) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO api_keys (principal_id, tenant_id, name, prefix, key_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(principal_id)
    .bind(tenant_id)
    .bind(name)
    .bind(prefix)
    .bind(key_hash)
    .bind(crate::db::now_ms())
    .bind(expires_at)
    .fetch_one(pool)
    .await?)
}

#[instrument(skip_all)]
pub async fn key_by_hash(pool: &AnyPool, key_hash: &str) -> CoreResult<Option<KeyRecord>> {
    Ok(sqlx::query_as(
        "SELECT k.id, k.principal_id, k.tenant_id, k.expires_at, k.revoked_at FROM api_keys k \
         JOIN principals p ON p.id = k.principal_id WHERE k.key_hash = $1 AND p.status = 'active'",
    )
    .bind(key_hash)
    .fetch_optional(pool)
    .await?)
}

#[instrument(skip_all)]
pub async fn keys_of(pool: &AnyPool, principal_id: i64) -> CoreResult<Vec<KeyRow>> {
    Ok(sqlx::query_as(
        "SELECT id, principal_id, tenant_id, name, prefix, created_at, expires_at, revoked_at FROM api_keys \
         WHERE principal_id = $1 ORDER BY id",
    )
    .bind(principal_id)
    .fetch_all(pool)
    .await?)
}

#[instrument(skip_all)]
pub async fn key(pool: &AnyPool, id: i64) -> CoreResult<Option<KeyRow>> {
    Ok(sqlx::query_as(
        "SELECT id, principal_id, tenant_id, name, prefix, created_at, expires_at, revoked_at FROM api_keys WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// Marks a key revoked and returns its hash, so the caller can drop it from the cache.
/// Closes a person: it can no longer log in or use a key, and its email is free again (the closed row keeps it
/// behind a prefix no email can have: a space). Returns the hashes of the keys it revoked.
#[instrument(skip_all)]
pub async fn close_principal(conn: &mut AnyConnection, tenant_id: i64, id: i64, now: i64) -> CoreResult<Vec<String>> {
    let done = sqlx::query(
        "UPDATE principals SET status = 'closed', email = $1 || email WHERE tenant_id = $2 AND id = $3 \
         AND status <> 'closed'",
    )
    .bind(format!("closed {id} "))
    .bind(tenant_id)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_scalar(
        "UPDATE api_keys SET revoked_at = $1 WHERE principal_id = $2 AND revoked_at IS NULL RETURNING key_hash",
    )
    .bind(now)
    .bind(id)
    .fetch_all(&mut *conn)
    .await?)
}

#[instrument(skip_all)]
pub async fn revoke_key(pool: &AnyPool, id: i64, now: i64) -> CoreResult<Option<String>> {
    Ok(sqlx::query_scalar("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING key_hash")
        .bind(now)
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

// ---- plugins per tenant ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TenantPluginRow {
    pub plugin: String,
    pub enabled: i64,
    pub config: String,
    pub updated_at: i64,
}

#[instrument(skip_all)]
pub async fn set_tenant_plugin(
    conn: &mut AnyConnection,
    tenant_id: i64,
    plugin: &str,
    enabled: bool,
    config: &str,
    now: i64,
) -> CoreResult<()> {
    sqlx::query(
        "INSERT INTO tenant_plugins (tenant_id, plugin, enabled, config, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tenant_id, plugin) DO UPDATE SET enabled = $3, config = $4, updated_at = $5",
    )
    .bind(tenant_id)
    .bind(plugin)
    .bind(enabled as i64)
    .bind(config)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[instrument(skip_all)]
pub async fn tenant_plugins(pool: &AnyPool, tenant_id: i64) -> CoreResult<Vec<TenantPluginRow>> {
    Ok(sqlx::query_as(
        "SELECT plugin, enabled, config, updated_at FROM tenant_plugins WHERE tenant_id = $1 ORDER BY plugin",
    )
    .bind(tenant_id)
    .fetch_all(pool)
    .await?)
}

#[instrument(skip_all)]
/// The plugin's state set for the tenant itself: Some(enabled) when an admin set it, None when never set.
pub async fn plugin_state(pool: &AnyPool, tenant_id: i64, plugin: &str) -> CoreResult<Option<bool>> {
    let state: Option<crate::types::Flag> =
        sqlx::query_scalar("SELECT enabled FROM tenant_plugins WHERE tenant_id = $1 AND plugin = $2")
            .bind(tenant_id)
            .bind(plugin)
            .fetch_optional(pool)
            .await?;
    Ok(state.map(bool::from))
}

// ---- casbin rules ----

#[instrument(skip_all)]
pub async fn load_rules(pool: &AnyPool) -> Result<Vec<(String, Vec<String>)>, sqlx::Error> {
    let rows: Vec<(String, String, String, String, String, String, String)> =
        sqlx::query_as("SELECT ptype, v0, v1, v2, v3, v4, v5 FROM casbin_rules ORDER BY id").fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|(ptype, v0, v1, v2, v3, v4, v5)| {
            let mut rule = vec![v0, v1, v2, v3, v4, v5];
            while rule.last().is_some_and(|v| v.is_empty()) {
                rule.pop();
            }
            (ptype, rule)
        })
        .collect())
}

fn padded(rule: &[String]) -> [&str; 6] {
    let mut out = [""; 6];
    for (slot, v) in out.iter_mut().zip(rule) {
        *slot = v.as_str();
    }
    out
}

#[instrument(skip_all)]
pub async fn add_rule<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    pool: E,
    ptype: &str,
    rule: &[String],
) -> Result<(), sqlx::Error> {
    let v = padded(rule);
    sqlx::query(
        "INSERT INTO casbin_rules (ptype, v0, v1, v2, v3, v4, v5) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (ptype, v0, v1, v2, v3, v4, v5) DO NOTHING",
    )
    .bind(ptype)
    .bind(v[0])
    .bind(v[1])
    .bind(v[2])
    .bind(v[3])
    .bind(v[4])
    .bind(v[5])
    .execute(pool)
    .await?;
    Ok(())
}

#[instrument(skip_all)]
pub async fn remove_rule<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    pool: E,
    ptype: &str,
    rule: &[String],
) -> Result<bool, sqlx::Error> {
    let v = padded(rule);
    let done = sqlx::query(
        "DELETE FROM casbin_rules WHERE ptype = $1 AND v0 = $2 AND v1 = $3 AND v2 = $4 AND v3 = $5 AND v4 = $6 AND v5 = $7",
    )
    .bind(ptype)
    .bind(v[0])
    .bind(v[1])
    .bind(v[2])
    .bind(v[3])
    .bind(v[4])
    .bind(v[5])
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Removes every rule of `ptype` whose field `v0` (a role's rules, ptype p) or `v1` (a role's grants, ptype g) is
/// `role`.
#[instrument(skip_all)]
pub async fn remove_role_rules(conn: &mut AnyConnection, ptype: &str, role: &str) -> Result<(), sqlx::Error> {
    let sql = match ptype {
        "p" => "DELETE FROM casbin_rules WHERE ptype = 'p' AND v0 = $1",
        _ => "DELETE FROM casbin_rules WHERE ptype = 'g' AND v1 = $1",
    };
    sqlx::query(sql).bind(role).execute(&mut *conn).await?;
    Ok(())
}

/// Removes the rules whose fields from `field_index` on equal `values` (an empty value matches anything).
#[instrument(skip_all)]
pub async fn remove_filtered_rules(
    pool: &AnyPool,
    ptype: &str,
    field_index: usize,
    values: &[String],
) -> Result<bool, sqlx::Error> {
    let mut removed = false;
    for (ptype_found, rule) in load_rules(pool).await? {
        let matches = ptype_found == ptype
            && values
                .iter()
                .enumerate()
                .all(|(i, v)| v.is_empty() || rule.get(field_index + i).map(String::as_str) == Some(v.as_str()));
        if matches {
            removed |= remove_rule(pool, ptype, &rule).await?;
        }
    }
    Ok(removed)
}

#[instrument(skip_all)]
pub async fn replace_rules(db: &crate::Db, rules: &[(String, Vec<String>)]) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM casbin_rules").execute(&mut *tx).await?;
    for (ptype, rule) in rules {
        let v = padded(rule);
        sqlx::query("INSERT INTO casbin_rules (ptype, v0, v1, v2, v3, v4, v5) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(ptype)
            .bind(v[0])
            .bind(v[1])
            .bind(v[2])
            .bind(v[3])
            .bind(v[4])
            .bind(v[5])
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

#[instrument(skip_all)]
pub async fn grants_of(pool: &AnyPool, subject: &str) -> CoreResult<Vec<(String, String)>> {
    Ok(sqlx::query_as("SELECT v1, v2 FROM casbin_rules WHERE ptype = 'g' AND v0 = $1 ORDER BY id")
        .bind(subject)
        .fetch_all(pool)
        .await?)
}

// ---- audit ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub principal_id: Option<i64>,
    pub tenant_id: i64,
    pub action: String,
    pub object: String,
    pub request_id: String,
    pub client_request_id: Option<String>,
}

#[allow(clippy::too_many_arguments)]
#[instrument(skip_all)]
pub async fn insert_audit(
    conn: &mut AnyConnection,
    at: i64,
    principal_id: Option<i64>,
    tenant_id: i64,
    tenant_path: &str,
    action: &str,
    object: &str,
    request_id: &str,
    client_request_id: Option<&str>,
) -> CoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, principal_id, tenant_id, tenant_path, action, object, request_id, \
         client_request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(at)
    .bind(principal_id)
    .bind(tenant_id)
    .bind(tenant_path)
    .bind(action)
    .bind(object)
    .bind(request_id)
    .bind(client_request_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Audit rows of a tenant and everything below it, newest first.
#[instrument(skip_all)]
pub async fn audit_under(reader: &Reader, path: &str, page: Paging) -> CoreResult<(Vec<AuditRow>, i64)> {
    let (start, end) = crate::tenancy::subtree(path);
    let mut stmt = Sql::new(AUDIT_UNDER);
    stmt.bind(start.as_str()).bind(end.as_str()).bind(page.limit).bind(page.offset);
    let rows = stmt.fetch_all(reader).await?;
    let mut count = Sql::new("SELECT COUNT(*) FROM audit_log WHERE tenant_path >= ");
    count.push_bind(start).push(" AND tenant_path < ").push_bind(end);
    Ok((rows, count.fetch_count(reader).await?))
}

/// The audit page of a subtree: a range of `audit_log_path`, whatever the size of other tenants' logs (a test
/// checks the plan).
pub const AUDIT_UNDER: &str = "SELECT id, at, principal_id, tenant_id, action, object, request_id, client_request_id \
     FROM audit_log \
     WHERE tenant_path >= $1 AND tenant_path < $2 ORDER BY id DESC LIMIT $3 OFFSET $4";
