//! All SQL of the chat plugin: addons, token pairs, operators, domains and assignments. Every query names the
//! organisation (tenant) and, below the addon level, the addon.

use sqlx::{AnyConnection, AnyPool};
use tracing::instrument;

use tessera_core::{CoreResult, Flag, Reader, Sql};

// ---- addons ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AddonRow {
    pub id: i64,
    pub tenant_id: i64,
    pub unique_name: String,
    pub kind: String,
    pub active: Flag,
}

const ADDON_COLS: &str = "id, tenant_id, unique_name, kind, active";

#[instrument(skip_all)]
pub async fn insert_addon(
    conn: &mut AnyConnection,
    tenant_id: i64,
    name: &str,
    kind: &str,
    now: i64,
) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO chat_addons (tenant_id, unique_name, kind, active, created_at) VALUES ($1, $2, $3, 1, $4) RETURNING id",
    )
    .bind(tenant_id)
    .bind(name)
    .bind(kind)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

#[instrument(skip_all)]
pub async fn addon(pool: &AnyPool, tenant_id: i64, name: &str) -> CoreResult<Option<AddonRow>> {
    let sql = format!("SELECT {ADDON_COLS} FROM chat_addons WHERE tenant_id = $1 AND unique_name = $2");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(name).fetch_optional(pool).await?)
}

#[instrument(skip_all)]
pub async fn addon_by_id(pool: &AnyPool, id: i64) -> CoreResult<Option<AddonRow>> {
    let sql = format!("SELECT {ADDON_COLS} FROM chat_addons WHERE id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?)
}

#[instrument(skip_all)]
pub async fn addons(reader: &Reader, tenant_id: i64) -> CoreResult<Vec<AddonRow>> {
    let mut stmt = Sql::new("SELECT ");
    stmt.push(ADDON_COLS).push(" FROM chat_addons WHERE tenant_id = ").push_bind(tenant_id).push(" ORDER BY id");
    stmt.fetch_all(reader).await
}

/// Disables an addon and revokes every token issued for it; returns the revoked access-token hashes.
#[instrument(skip_all)]
pub async fn disable_addon(conn: &mut AnyConnection, addon_id: i64) -> CoreResult<Vec<String>> {
    sqlx::query("UPDATE chat_addons SET active = 0 WHERE id = $1").bind(addon_id).execute(&mut *conn).await?;
    Ok(sqlx::query_scalar(
        "UPDATE chat_tokens SET revoked = 1 WHERE addon_id = $1 AND revoked = 0 RETURNING access_hash",
    )
    .bind(addon_id)
    .fetch_all(&mut *conn)
    .await?)
}

// ---- tokens ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub id: i64,
    pub tenant_id: i64,
    pub addon_id: i64,
    pub principal_id: i64,
    pub family: String,
    pub access_hash: String,
    pub expires_at: i64,
    pub refresh_expires_at: i64,
    pub rotated: Flag,
    pub revoked: Flag,
}

const TOKEN_COLS: &str =
    "id, tenant_id, addon_id, principal_id, family, access_hash, expires_at, refresh_expires_at, rotated, revoked";

pub struct NewToken<'a> {
    pub tenant_id: i64,
    pub addon_id: i64,
    pub principal_id: i64,
    pub family: &'a str,
    pub access_hash: &'a str,
    pub refresh_hash: &'a str,
    pub expires_at: i64,
    pub refresh_expires_at: i64,
}

#[instrument(skip_all)]
pub async fn insert_token(conn: &mut AnyConnection, t: &NewToken<'_>, now: i64) -> CoreResult<()> {
    sqlx::query(
        "INSERT INTO chat_tokens (tenant_id, addon_id, principal_id, family, access_hash, refresh_hash, expires_at, \
         refresh_expires_at, rotated, revoked, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, 0, $9)",
    )
    .bind(t.tenant_id)
    .bind(t.addon_id)
    .bind(t.principal_id)
    .bind(t.family)
    .bind(t.access_hash)
    .bind(t.refresh_hash)
    .bind(t.expires_at)
    .bind(t.refresh_expires_at)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[instrument(skip_all)]
pub async fn token_by_access(pool: &AnyPool, access_hash: &str) -> CoreResult<Option<TokenRow>> {
    let sql = format!("SELECT {TOKEN_COLS} FROM chat_tokens WHERE access_hash = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(access_hash).fetch_optional(pool).await?)
}

#[instrument(skip_all)]
pub async fn token_by_refresh(pool: &AnyPool, refresh_hash: &str) -> CoreResult<Option<TokenRow>> {
    let sql = format!("SELECT {TOKEN_COLS} FROM chat_tokens WHERE refresh_hash = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(refresh_hash).fetch_optional(pool).await?)
}

/// Marks a pair as rotated (its refresh token spent) and revoked; false when it already was (a reuse).
#[instrument(skip_all)]
pub async fn spend_refresh(conn: &mut AnyConnection, id: i64) -> CoreResult<bool> {
    let done =
        sqlx::query("UPDATE chat_tokens SET rotated = 1, revoked = 1 WHERE id = $1 AND rotated = 0 AND revoked = 0")
            .bind(id)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes every pair of a family; returns their access-token hashes.
#[instrument(skip_all)]
pub async fn revoke_family(pool: &AnyPool, family: &str) -> CoreResult<Vec<String>> {
    Ok(sqlx::query_scalar("UPDATE chat_tokens SET revoked = 1 WHERE family = $1 RETURNING access_hash")
        .bind(family)
        .fetch_all(pool)
        .await?)
}

// ---- operators ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OperatorRow {
    pub principal_id: i64,
    pub name: String,
    pub email: String,
    pub active: Flag,
    pub presence: i64,
}

/// Adds a principal as an operator of the addon; false when it already is one.
#[instrument(skip_all)]
pub async fn insert_operator(
    conn: &mut AnyConnection,
    tenant_id: i64,
    addon_id: i64,
    principal_id: i64,
    now: i64,
) -> CoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO chat_operators (tenant_id, addon_id, principal_id, active, presence, created_at) \
         VALUES ($1, $2, $3, 1, 0, $4) ON CONFLICT (addon_id, principal_id) DO NOTHING",
    )
    .bind(tenant_id)
    .bind(addon_id)
    .bind(principal_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[instrument(skip_all)]
pub async fn operator(
    pool: &AnyPool,
    tenant_id: i64,
    addon_id: i64,
    principal_id: i64,
) -> CoreResult<Option<OperatorRow>> {
    Ok(sqlx::query_as(
        "SELECT o.principal_id, p.name, p.email, o.active, o.presence FROM chat_operators o \
         JOIN principals p ON p.id = o.principal_id \
         WHERE o.tenant_id = $1 AND o.addon_id = $2 AND o.principal_id = $3",
    )
    .bind(tenant_id)
    .bind(addon_id)
    .bind(principal_id)
    .fetch_optional(pool)
    .await?)
}

#[instrument(skip_all)]
pub async fn set_operator_active(
    conn: &mut AnyConnection,
    addon_id: i64,
    principal_id: i64,
    active: bool,
) -> CoreResult<()> {
    sqlx::query("UPDATE chat_operators SET active = $1 WHERE addon_id = $2 AND principal_id = $3")
        .bind(active as i64)
        .bind(addon_id)
        .bind(principal_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

// ---- domains ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DomainRow {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub active: Flag,
}

#[instrument(skip_all)]
#[allow(clippy::too_many_arguments)]
pub async fn insert_domain(
    conn: &mut AnyConnection,
    tenant_id: i64,
    addon_id: i64,
    name: &str,
    email: &str,
    link: Option<&str>,
    now: i64,
) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO chat_domains (tenant_id, addon_id, name, email, active, link, created_at) \
         VALUES ($1, $2, $3, $4, 1, $5, $6) RETURNING id",
    )
    .bind(tenant_id)
    .bind(addon_id)
    .bind(name)
    .bind(email)
    .bind(link)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

#[instrument(skip_all)]
pub async fn domain(pool: &AnyPool, tenant_id: i64, addon_id: i64, name: &str) -> CoreResult<Option<DomainRow>> {
    Ok(sqlx::query_as(
        "SELECT id, name, email, active FROM chat_domains WHERE tenant_id = $1 AND addon_id = $2 AND name = $3",
    )
    .bind(tenant_id)
    .bind(addon_id)
    .bind(name)
    .fetch_optional(pool)
    .await?)
}

#[instrument(skip_all)]
pub async fn update_domain(
    conn: &mut AnyConnection,
    id: i64,
    name: Option<&str>,
    email: Option<&str>,
    active: Option<bool>,
) -> CoreResult<()> {
    sqlx::query(
        "UPDATE chat_domains SET name = COALESCE($1, name), email = COALESCE($2, email), \
         active = COALESCE($3, active) WHERE id = $4",
    )
    .bind(name)
    .bind(email)
    .bind(active.map(i64::from))
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ---- assignments ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AssignmentRow {
    pub is_admin: Flag,
    pub online_status: Flag,
    pub unique_id: Option<String>,
    pub status: Flag,
}

#[instrument(skip_all)]
#[allow(clippy::too_many_arguments)]
pub async fn insert_assignment(
    conn: &mut AnyConnection,
    tenant_id: i64,
    addon_id: i64,
    domain_id: i64,
    principal_id: i64,
    is_admin: bool,
    unique_id: Option<&str>,
    now: i64,
) -> CoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO chat_assignments (tenant_id, addon_id, domain_id, principal_id, is_admin, online_status, \
         unique_id, status, created_at) VALUES ($1, $2, $3, $4, $5, 0, $6, 1, $7) \
         ON CONFLICT (domain_id, principal_id) DO NOTHING",
    )
    .bind(tenant_id)
    .bind(addon_id)
    .bind(domain_id)
    .bind(principal_id)
    .bind(is_admin as i64)
    .bind(unique_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[instrument(skip_all)]
pub async fn assignment(pool: &AnyPool, domain_id: i64, principal_id: i64) -> CoreResult<Option<AssignmentRow>> {
    Ok(sqlx::query_as(
        "SELECT is_admin, online_status, unique_id, status FROM chat_assignments WHERE domain_id = $1 AND principal_id = $2",
    )
    .bind(domain_id)
    .bind(principal_id)
    .fetch_optional(pool)
    .await?)
}

/// The changes of an assignment update; None keeps the stored value.
pub struct AssignmentChanges<'a> {
    pub unique_id: Option<&'a str>,
    pub is_admin: Option<bool>,
    pub online_status: Option<bool>,
    pub status: Option<bool>,
}

#[instrument(skip_all)]
pub async fn update_assignment(
    conn: &mut AnyConnection,
    domain_id: i64,
    principal_id: i64,
    c: &AssignmentChanges<'_>,
) -> CoreResult<()> {
    sqlx::query(
        "UPDATE chat_assignments SET unique_id = COALESCE($1, unique_id), is_admin = COALESCE($2, is_admin), \
         online_status = COALESCE($3, online_status), status = COALESCE($4, status) \
         WHERE domain_id = $5 AND principal_id = $6",
    )
    .bind(c.unique_id)
    .bind(c.is_admin.map(i64::from))
    .bind(c.online_status.map(i64::from))
    .bind(c.status.map(i64::from))
    .bind(domain_id)
    .bind(principal_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
