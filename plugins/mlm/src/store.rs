//! All SQL of the mlm plugin: settings, packages, members and their genealogy, access tokens, the e-wallet ledger,
//! e-pins and reported orders.
//!
//! The genealogy is a materialised path of positions (see the migration). A new member's uplines are the prefixes of
//! its path, so the leg counts and volumes of every upline change in one UPDATE (`add_to_uplines`), O(depth).
//! The e-wallet moves only in `apply_wallet`: one guarded UPDATE (the balance never goes below zero, whatever the
//! concurrency) and its ledger row, in the caller's transaction.

use sqlx::{AnyConnection, AnyPool};
use tracing::instrument;

use tessera_core::db::contains_pattern;
use tessera_core::money::MAX_BALANCE;
use tessera_core::{CoreResult, Flag, Paging, Reader, Sql};

// ---- settings ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SettingsRow {
    pub registration_blocked: Flag,
    pub username_min: i64,
    pub username_max: i64,
    pub signup_fee: i64,
    pub currency: String,
    pub sponsor_bonus_bp: i64,
    pub pair_pv: i64,
    pub pair_bonus: i64,
    pub daily_pair_cap: i64,
    pub username_type: String,
    pub username_prefix: String,
    pub compensation_auto: Flag,
}

impl Default for SettingsRow {
    fn default() -> Self {
        SettingsRow {
            registration_blocked: Flag(false),
            username_min: 4,
            username_max: 20,
            signup_fee: 0,
            currency: "USD".into(),
            sponsor_bonus_bp: 0,
            pair_pv: 100,
            pair_bonus: 0,
            daily_pair_cap: 10,
            username_type: "static".into(),
            username_prefix: "m".into(),
            compensation_auto: Flag(true),
        }
    }
}

/// The business's settings, or the defaults before an admin set any.
#[instrument(skip_all)]
pub async fn settings(pool: &AnyPool, tenant_id: i64) -> CoreResult<SettingsRow> {
    let row: Option<SettingsRow> = sqlx::query_as(
        "SELECT registration_blocked, username_min, username_max, signup_fee, currency, sponsor_bonus_bp, pair_pv, \
         pair_bonus, daily_pair_cap, username_type, username_prefix, compensation_auto FROM mlm_settings \
         WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.unwrap_or_default())
}

#[instrument(skip_all)]
pub async fn put_settings(conn: &mut AnyConnection, tenant_id: i64, s: &SettingsRow, now: i64) -> CoreResult<()> {
    sqlx::query(
        "INSERT INTO mlm_settings (tenant_id, registration_blocked, username_min, username_max, signup_fee, currency, \
         updated_at, sponsor_bonus_bp, pair_pv, pair_bonus, daily_pair_cap, username_type, username_prefix, \
         compensation_auto) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (tenant_id) DO UPDATE SET \
         registration_blocked = $2, username_min = $3, username_max = $4, signup_fee = $5, currency = $6, \
         updated_at = $7, sponsor_bonus_bp = $8, pair_pv = $9, pair_bonus = $10, daily_pair_cap = $11, \
         username_type = $12, username_prefix = $13, compensation_auto = $14",
    )
    .bind(tenant_id)
    .bind(s.registration_blocked.0 as i64)
    .bind(s.username_min)
    .bind(s.username_max)
    .bind(s.signup_fee)
    .bind(&s.currency)
    .bind(now)
    .bind(s.sponsor_bonus_bp)
    .bind(s.pair_pv)
    .bind(s.pair_bonus)
    .bind(s.daily_pair_cap)
    .bind(&s.username_type)
    .bind(&s.username_prefix)
    .bind(s.compensation_auto.0 as i64)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ---- packages ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PackageRow {
    pub id: i64,
    pub kind: String,
    pub package_code: String,
    pub name: String,
    pub amount: i64,
    pub pv: i64,
    pub category: String,
    pub image: String,
    pub description: String,
    pub active: Flag,
}

const PACKAGE_COLS: &str =
    "SELECT id, kind, package_code, name, amount, pv, category, image, description, active FROM mlm_packages";

pub struct NewPackage<'a> {
    pub tenant_id: i64,
    pub kind: &'a str,
    pub package_code: &'a str,
    pub name: &'a str,
    pub amount: i64,
    pub pv: i64,
    pub category: &'a str,
    pub image: &'a str,
    pub description: &'a str,
}

#[instrument(skip_all)]
pub async fn insert_package(conn: &mut AnyConnection, p: &NewPackage<'_>, now: i64) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO mlm_packages (tenant_id, kind, package_code, name, amount, pv, category, image, description, \
         active, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10) RETURNING id",
    )
    .bind(p.tenant_id)
    .bind(p.kind)
    .bind(p.package_code)
    .bind(p.name)
    .bind(p.amount)
    .bind(p.pv)
    .bind(p.category)
    .bind(p.image)
    .bind(p.description)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

#[instrument(skip_all)]
pub async fn package_code_taken(pool: &AnyPool, tenant_id: i64, code: &str) -> CoreResult<bool> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM mlm_packages WHERE tenant_id = $1 AND package_code = $2")
            .bind(tenant_id)
            .bind(code)
            .fetch_optional(pool)
            .await?;
    Ok(found.is_some())
}

/// The active packages of a kind, in the order they were added.
#[instrument(skip_all)]
pub async fn packages(reader: &Reader, tenant_id: i64, kind: &str) -> CoreResult<Vec<PackageRow>> {
    let mut q = Sql::new(
        "SELECT id, kind, package_code, name, amount, pv, category, image, description, active FROM mlm_packages \
         WHERE tenant_id = ",
    );
    q.push_bind(tenant_id).push(" AND kind = ").push_bind(kind).push(" AND active = 1 ORDER BY id LIMIT 500");
    q.fetch_all(reader).await
}

#[instrument(skip_all)]
pub async fn package(pool: &AnyPool, tenant_id: i64, id: i64) -> CoreResult<Option<PackageRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{PACKAGE_COLS} WHERE tenant_id = $1 AND id = $2")))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

// ---- members ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub id: i64,
    pub principal_id: i64,
    pub username: String,
    pub sponsor_id: Option<i64>,
    pub parent_id: Option<i64>,
    pub position: Option<String>,
    pub path: String,
    pub depth: i64,
    pub package_id: Option<i64>,
    pub firstname: String,
    pub lastname: String,
    pub gender: String,
    pub date_of_birth: String,
    pub email: String,
    pub mobile: String,
    pub landline: String,
    pub address_line1: String,
    pub address_line2: String,
    pub country: String,
    pub state: String,
    pub city: String,
    pub zip_code: String,
    pub bank_name: String,
    pub branch_name: String,
    pub account_holder: String,
    pub account_number: String,
    pub ifsc: String,
    pub pan: String,
    pub profile_image: String,
    pub rank_name: String,
    pub txn_password_hash: String,
    pub balance: i64,
    pub personal_pv: i64,
    pub left_pv: i64,
    pub right_pv: i64,
    pub left_count: i64,
    pub right_count: i64,
    pub kyc_status: String,
    pub created_at: i64,
}

macro_rules! member_cols {
    () => {
        "SELECT id, principal_id, username, sponsor_id, parent_id, position, path, depth, package_id, firstname, \
         lastname, gender, date_of_birth, email, mobile, landline, address_line1, address_line2, country, state, city, \
         zip_code, bank_name, branch_name, account_holder, account_number, ifsc, pan, profile_image, rank_name, \
         txn_password_hash, balance, personal_pv, left_pv, right_pv, left_count, right_count, kyc_status, created_at \
         FROM mlm_members"
    };
}

#[instrument(skip_all)]
pub async fn member(pool: &AnyPool, tenant_id: i64, id: i64) -> CoreResult<Option<MemberRow>> {
    Ok(sqlx::query_as(concat!(member_cols!(), " WHERE tenant_id = $1 AND id = $2"))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

/// A member by username (stored lowercased).
#[instrument(skip_all)]
pub async fn member_by_username(pool: &AnyPool, tenant_id: i64, username: &str) -> CoreResult<Option<MemberRow>> {
    Ok(sqlx::query_as(concat!(member_cols!(), " WHERE tenant_id = $1 AND username = $2"))
        .bind(tenant_id)
        .bind(username)
        .fetch_optional(pool)
        .await?)
}

/// The member at a position under a parent, if the position is taken.
#[instrument(skip_all)]
pub async fn position_taken(pool: &AnyPool, tenant_id: i64, parent_id: i64, position: &str) -> CoreResult<bool> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM mlm_members WHERE tenant_id = $1 AND parent_id = $2 AND position = $3")
            .bind(tenant_id)
            .bind(parent_id)
            .bind(position)
            .fetch_optional(pool)
            .await?;
    Ok(found.is_some())
}

#[instrument(skip_all)]
pub async fn has_top(pool: &AnyPool, tenant_id: i64) -> CoreResult<bool> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM mlm_members WHERE tenant_id = $1 AND parent_id IS NULL")
            .bind(tenant_id)
            .fetch_optional(pool)
            .await?;
    Ok(found.is_some())
}

pub struct NewMember<'a> {
    pub tenant_id: i64,
    pub principal_id: i64,
    pub username: &'a str,
    pub sponsor_id: Option<i64>,
    pub parent_id: Option<i64>,
    pub position: Option<&'a str>,
    pub path: &'a str,
    pub package_id: Option<i64>,
    pub firstname: &'a str,
    pub lastname: &'a str,
    pub date_of_birth: &'a str,
    pub email: &'a str,
    pub mobile: &'a str,
    pub txn_password_hash: &'a str,
}

/// Inserts a member. A position filled meanwhile, or a username taken meanwhile, is a unique violation: the
/// caller's conflict.
#[instrument(skip_all)]
pub async fn insert_member(conn: &mut AnyConnection, m: &NewMember<'_>, now: i64) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO mlm_members (tenant_id, principal_id, username, sponsor_id, parent_id, position, path, depth, \
         package_id, firstname, lastname, date_of_birth, email, mobile, txn_password_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id",
    )
    .bind(m.tenant_id)
    .bind(m.principal_id)
    .bind(m.username)
    .bind(m.sponsor_id)
    .bind(m.parent_id)
    .bind(m.position)
    .bind(m.path)
    .bind(m.path.len() as i64)
    .bind(m.package_id)
    .bind(m.firstname)
    .bind(m.lastname)
    .bind(m.date_of_birth)
    .bind(m.email)
    .bind(m.mobile)
    .bind(m.txn_password_hash)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

/// Adds `pv` to the leg volume and `count` to the leg count of every upline of the member at `path`, on the leg
/// the member lies in: one statement over the path's prefixes.
#[instrument(skip_all)]
pub async fn add_to_uplines(
    conn: &mut AnyConnection,
    tenant_id: i64,
    path: &str,
    pv: i64,
    count: i64,
) -> CoreResult<()> {
    if path.is_empty() {
        return Ok(());
    }
    let mut text = String::from(
        "UPDATE mlm_members SET \
         left_pv = left_pv + CASE WHEN substr($2, length(path) + 1, 1) = 'L' THEN $3 ELSE 0 END, \
         right_pv = right_pv + CASE WHEN substr($2, length(path) + 1, 1) = 'R' THEN $3 ELSE 0 END, \
         left_count = left_count + CASE WHEN substr($2, length(path) + 1, 1) = 'L' THEN $4 ELSE 0 END, \
         right_count = right_count + CASE WHEN substr($2, length(path) + 1, 1) = 'R' THEN $4 ELSE 0 END \
         WHERE tenant_id = $1 AND path IN (",
    );
    for i in 0..path.len() {
        if i > 0 {
            text.push_str(", ");
        }
        text.push_str(&format!("${}", i + 5));
    }
    text.push(')');
    let mut q = sqlx::query(sqlx::AssertSqlSafe(text)).bind(tenant_id).bind(path).bind(pv).bind(count);
    for (upline, _) in crate::model::uplines(path) {
        q = q.bind(upline);
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

#[instrument(skip_all)]
pub async fn add_personal_pv(conn: &mut AnyConnection, tenant_id: i64, member_id: i64, pv: i64) -> CoreResult<()> {
    sqlx::query("UPDATE mlm_members SET personal_pv = personal_pv + $3 WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(member_id)
        .bind(pv)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub struct Personal<'a> {
    pub firstname: &'a str,
    pub lastname: Option<&'a str>,
    pub gender: &'a str,
    pub date_of_birth: &'a str,
}

#[instrument(skip_all)]
pub async fn update_personal(conn: &mut AnyConnection, tenant_id: i64, id: i64, p: &Personal<'_>) -> CoreResult<()> {
    sqlx::query(
        "UPDATE mlm_members SET firstname = $3, lastname = COALESCE($4, lastname), gender = $5, date_of_birth = $6 \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(p.firstname)
    .bind(p.lastname)
    .bind(p.gender)
    .bind(p.date_of_birth)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub struct Contact<'a> {
    pub address_line1: &'a str,
    pub address_line2: &'a str,
    pub country: &'a str,
    pub state: &'a str,
    pub city: &'a str,
    pub zip_code: &'a str,
    pub email: &'a str,
    pub mobile: &'a str,
    pub landline: &'a str,
}

#[instrument(skip_all)]
pub async fn update_contact(conn: &mut AnyConnection, tenant_id: i64, id: i64, c: &Contact<'_>) -> CoreResult<()> {
    sqlx::query(
        "UPDATE mlm_members SET address_line1 = $3, address_line2 = $4, country = $5, state = $6, city = $7, \
         zip_code = $8, email = $9, mobile = $10, landline = $11 WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(c.address_line1)
    .bind(c.address_line2)
    .bind(c.country)
    .bind(c.state)
    .bind(c.city)
    .bind(c.zip_code)
    .bind(c.email)
    .bind(c.mobile)
    .bind(c.landline)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub struct Bank<'a> {
    pub bank_name: &'a str,
    pub branch_name: &'a str,
    pub account_holder: &'a str,
    pub account_number: &'a str,
    pub ifsc: &'a str,
    pub pan: &'a str,
}

#[instrument(skip_all)]
pub async fn update_bank(conn: &mut AnyConnection, tenant_id: i64, id: i64, b: &Bank<'_>) -> CoreResult<()> {
    sqlx::query(
        "UPDATE mlm_members SET bank_name = $3, branch_name = $4, account_holder = $5, account_number = $6, ifsc = $7, \
         pan = $8 WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(b.bank_name)
    .bind(b.branch_name)
    .bind(b.account_holder)
    .bind(b.account_number)
    .bind(b.ifsc)
    .bind(b.pan)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[instrument(skip_all)]
pub async fn set_txn_password(conn: &mut AnyConnection, tenant_id: i64, id: i64, hash: &str) -> CoreResult<()> {
    sqlx::query("UPDATE mlm_members SET txn_password_hash = $3 WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .bind(hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberListRow {
    pub id: i64,
    pub username: String,
    pub firstname: String,
    pub lastname: String,
    pub email: String,
    pub position: Option<String>,
    pub depth: i64,
    pub balance: i64,
    pub left_pv: i64,
    pub right_pv: i64,
    pub left_count: i64,
    pub right_count: i64,
    pub kyc_status: String,
    pub created_at: i64,
}

/// What a listing shows of a member, from the full row (the admin's answer for one member is the same shape).
impl From<MemberRow> for MemberListRow {
    fn from(r: MemberRow) -> Self {
        MemberListRow {
            id: r.id,
            username: r.username,
            firstname: r.firstname,
            lastname: r.lastname,
            email: r.email,
            position: r.position,
            depth: r.depth,
            balance: r.balance,
            left_pv: r.left_pv,
            right_pv: r.right_pv,
            left_count: r.left_count,
            right_count: r.right_count,
            kyc_status: r.kyc_status,
            created_at: r.created_at,
        }
    }
}

/// A page of the business's members, optionally those whose username, name or email contains `search`.
#[instrument(skip_all)]
pub async fn list_members(
    reader: &Reader,
    tenant_id: i64,
    search: Option<&str>,
    page: Paging,
) -> CoreResult<(Vec<MemberListRow>, i64)> {
    let pattern = search.map(contains_pattern);
    let filter = |q: &mut Sql| {
        q.push_bind(tenant_id);
        if let Some(p) = &pattern {
            q.push(" AND (username LIKE ").push_bind(p.as_str()).push(" ESCAPE '\\' OR lower(firstname) LIKE ");
            q.push_bind(p.as_str()).push(" ESCAPE '\\' OR lower(lastname) LIKE ").push_bind(p.as_str());
            q.push(" ESCAPE '\\' OR email LIKE ").push_bind(p.as_str()).push(" ESCAPE '\\')");
        }
    };
    let mut q = Sql::new(
        "SELECT id, username, firstname, lastname, email, position, depth, balance, left_pv, right_pv, \
         left_count, right_count, kyc_status, created_at FROM mlm_members WHERE tenant_id = ",
    );
    filter(&mut q);
    q.push(" ORDER BY id").page(page);
    let rows = q.fetch_all(reader).await?;
    let mut count = Sql::new("SELECT COUNT(*) FROM mlm_members WHERE tenant_id = ");
    filter(&mut count);
    Ok((rows, count.fetch_count(reader).await?))
}

// ---- access tokens ----

#[instrument(skip_all)]
pub async fn insert_token(
    writer: &AnyPool,
    hash: &str,
    tenant_id: i64,
    member_id: i64,
    principal_id: i64,
    expires_at: i64,
    now: i64,
) -> CoreResult<()> {
    sqlx::query(
        "INSERT INTO mlm_tokens (token_hash, tenant_id, member_id, principal_id, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(hash)
    .bind(tenant_id)
    .bind(member_id)
    .bind(principal_id)
    .bind(expires_at)
    .bind(now)
    .execute(writer)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub tenant_id: i64,
    pub member_id: i64,
    pub principal_id: i64,
    pub expires_at: i64,
}

#[instrument(skip_all)]
pub async fn token(pool: &AnyPool, hash: &str) -> CoreResult<Option<TokenRow>> {
    Ok(sqlx::query_as("SELECT tenant_id, member_id, principal_id, expires_at FROM mlm_tokens WHERE token_hash = $1")
        .bind(hash)
        .fetch_optional(pool)
        .await?)
}

/// Revokes every token of a member (after a password change); returns the hashes, for the caches.
#[instrument(skip_all)]
pub async fn revoke_tokens(conn: &mut AnyConnection, tenant_id: i64, member_id: i64) -> CoreResult<Vec<String>> {
    Ok(sqlx::query_scalar("DELETE FROM mlm_tokens WHERE tenant_id = $1 AND member_id = $2 RETURNING token_hash")
        .bind(tenant_id)
        .bind(member_id)
        .fetch_all(&mut *conn)
        .await?)
}

// ---- e-wallet ----

/// A move of a member's e-wallet.
pub struct WalletMove<'a> {
    pub tenant_id: i64,
    pub member_id: i64,
    pub delta: i64,
    /// credit, debit, …: what kind of move.
    pub kind: &'a str,
    /// Where it came from or went: "purchase", "registration of anna", "admin credit", "sponsor bonus from …".
    pub source: &'a str,
    pub idempotency_key: Option<&'a str>,
}

/// Applies a move and writes its ledger row; a debit that would take the balance below zero is refused (None). The
/// guard is part of the UPDATE, so concurrent debits cannot overdraw. Returns the balance after.
#[instrument(skip_all)]
pub async fn apply_wallet(conn: &mut AnyConnection, m: &WalletMove<'_>, now: i64) -> CoreResult<Option<i64>> {
    let balance: Option<i64> = sqlx::query_scalar(
        "UPDATE mlm_members SET balance = balance + $1 WHERE tenant_id = $2 AND id = $3 \
         AND balance + $1 >= 0 AND balance + $1 <= $4 RETURNING balance",
    )
    .bind(m.delta)
    .bind(m.tenant_id)
    .bind(m.member_id)
    .bind(MAX_BALANCE)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(balance_after) = balance else { return Ok(None) };
    sqlx::query(
        "INSERT INTO mlm_ledger (tenant_id, member_id, amount, balance_after, kind, source, idempotency_key, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(m.tenant_id)
    .bind(m.member_id)
    .bind(m.delta)
    .bind(balance_after)
    .bind(m.kind)
    .bind(m.source)
    .bind(m.idempotency_key)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(Some(balance_after))
}

/// The amount a ledger row of this member's idempotency key moved, if the key was used.
#[instrument(skip_all)]
pub async fn ledger_amount_by_key(
    pool: &AnyPool,
    tenant_id: i64,
    member_id: i64,
    key: &str,
) -> CoreResult<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT amount FROM mlm_ledger WHERE tenant_id = $1 AND member_id = $2 AND idempotency_key = $3",
    )
    .bind(tenant_id)
    .bind(member_id)
    .bind(key)
    .fetch_optional(pool)
    .await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LedgerRow {
    pub id: i64,
    pub amount: i64,
    pub balance_after: i64,
    pub kind: String,
    pub source: String,
    pub created_at: i64,
}

/// A page of a member's ledger, newest first.
#[instrument(skip_all)]
pub async fn ledger(reader: &Reader, tenant_id: i64, member_id: i64, page: Paging) -> CoreResult<Vec<LedgerRow>> {
    let mut q =
        Sql::new("SELECT id, amount, balance_after, kind, source, created_at FROM mlm_ledger WHERE tenant_id = ");
    q.push_bind(tenant_id).push(" AND member_id = ").push_bind(member_id).push(" ORDER BY id DESC").page(page);
    q.fetch_all(reader).await
}

// ---- e-pins ----

pub struct NewEpin<'a> {
    pub tenant_id: i64,
    pub batch: &'a str,
    pub code_hash: &'a str,
    pub amount: i64,
    pub owner_member_id: Option<i64>,
    pub expires_at: Option<i64>,
}

#[instrument(skip_all)]
pub async fn insert_epin(conn: &mut AnyConnection, e: &NewEpin<'_>, now: i64) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO mlm_epins (tenant_id, batch, code_hash, amount, owner_member_id, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(e.tenant_id)
    .bind(e.batch)
    .bind(e.code_hash)
    .bind(e.amount)
    .bind(e.owner_member_id)
    .bind(e.expires_at)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

/// Spends an e-pin worth at least `amount` for `member_id`: unused, unexpired, and the member's or nobody's. The
/// check and the spending are one UPDATE, so a pin is spent once however many requests present it. Returns its
/// value, or None when it cannot be spent.
#[instrument(skip_all)]
pub async fn spend_epin(
    conn: &mut AnyConnection,
    tenant_id: i64,
    code_hash: &str,
    amount: i64,
    member_id: Option<i64>,
    used_for: &str,
    now: i64,
) -> CoreResult<Option<i64>> {
    Ok(sqlx::query_scalar(
        "UPDATE mlm_epins SET used_at = $4, used_by = $5, used_for = $6 WHERE tenant_id = $1 AND code_hash = $2 \
         AND used_at IS NULL AND amount >= $3 AND (expires_at IS NULL OR expires_at > $4) \
         AND (owner_member_id IS NULL OR owner_member_id = $5) RETURNING amount",
    )
    .bind(tenant_id)
    .bind(code_hash)
    .bind(amount)
    .bind(now)
    .bind(member_id)
    .bind(used_for)
    .fetch_optional(&mut *conn)
    .await?)
}

// ---- orders ----

pub struct NewOrder<'a> {
    pub tenant_id: i64,
    pub member_id: i64,
    pub order_ref: &'a str,
    pub total_amount: i64,
    pub total_quantity: i64,
    pub total_pv: i64,
}

/// Records a reported order; a reference reported before is a unique violation (nothing is counted twice).
#[instrument(skip_all)]
pub async fn insert_order(conn: &mut AnyConnection, o: &NewOrder<'_>, now: i64) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO mlm_orders (tenant_id, member_id, order_ref, total_amount, total_quantity, total_pv, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(o.tenant_id)
    .bind(o.member_id)
    .bind(o.order_ref)
    .bind(o.total_amount)
    .bind(o.total_quantity)
    .bind(o.total_pv)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

#[instrument(skip_all)]
pub async fn order_exists(pool: &AnyPool, tenant_id: i64, order_ref: &str) -> CoreResult<bool> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM mlm_orders WHERE tenant_id = $1 AND order_ref = $2")
        .bind(tenant_id)
        .bind(order_ref)
        .fetch_optional(pool)
        .await?;
    Ok(found.is_some())
}

// ---- cart and shipping ----

/// The most of one package a cart holds.
pub const CART_MAX_QUANTITY: i64 = 999;

/// Adds `quantity` of a package to the member's cart (more of it when it is there already); false when that would
/// make more than `CART_MAX_QUANTITY` of it.
#[instrument(skip_all)]
pub async fn cart_add(
    conn: &mut AnyConnection,
    tenant_id: i64,
    member_id: i64,
    package_id: i64,
    quantity: i64,
    now: i64,
) -> CoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO mlm_cart (tenant_id, member_id, package_id, quantity, added_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (member_id, package_id) DO UPDATE SET quantity = mlm_cart.quantity + $4 \
         WHERE mlm_cart.quantity + $4 <= $6",
    )
    .bind(tenant_id)
    .bind(member_id)
    .bind(package_id)
    .bind(quantity)
    .bind(now)
    .bind(CART_MAX_QUANTITY)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Empties the member's cart in the caller's transaction and returns what it held, priced now: a checkout takes
/// the cart it pays for, so two checkouts of one cart cannot both pay it (the second finds it empty).
#[instrument(skip_all)]
pub async fn take_cart(conn: &mut AnyConnection, tenant_id: i64, member_id: i64) -> CoreResult<Vec<(CartRow, bool)>> {
    let taken: Vec<(i64, i64)> =
        sqlx::query_as("DELETE FROM mlm_cart WHERE tenant_id = $1 AND member_id = $2 RETURNING package_id, quantity")
            .bind(tenant_id)
            .bind(member_id)
            .fetch_all(&mut *conn)
            .await?;
    let mut items = Vec::with_capacity(taken.len());
    for (package_id, quantity) in taken {
        let (name, amount, pv, active): (String, i64, i64, Flag) =
            sqlx::query_as("SELECT name, amount, pv, active FROM mlm_packages WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id)
                .bind(package_id)
                .fetch_one(&mut *conn)
                .await?;
        items.push((CartRow { package_id, name, amount, pv, quantity }, active.0));
    }
    Ok(items)
}

/// Removes a package from the cart, or every package when `package_id` is None; returns how many rows went.
#[instrument(skip_all)]
pub async fn cart_remove(
    conn: &mut AnyConnection,
    tenant_id: i64,
    member_id: i64,
    package_id: Option<i64>,
) -> CoreResult<u64> {
    let done =
        sqlx::query("DELETE FROM mlm_cart WHERE tenant_id = $1 AND member_id = $2 AND ($3 IS NULL OR package_id = $3)")
            .bind(tenant_id)
            .bind(member_id)
            .bind(package_id)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CartRow {
    pub package_id: i64,
    pub name: String,
    pub amount: i64,
    pub pv: i64,
    pub quantity: i64,
}

/// The member's cart with each package's current price and PV, in the order the packages were added.
#[instrument(skip_all)]
pub async fn cart(reader: &Reader, tenant_id: i64, member_id: i64) -> CoreResult<Vec<CartRow>> {
    let mut q = Sql::new(
        "SELECT c.package_id, p.name, p.amount, p.pv, c.quantity FROM mlm_cart c \
         JOIN mlm_packages p ON p.id = c.package_id AND p.tenant_id = c.tenant_id WHERE c.tenant_id = ",
    );
    q.push_bind(tenant_id).push(" AND c.member_id = ").push_bind(member_id);
    q.push(" ORDER BY c.added_at, c.package_id LIMIT 500");
    q.fetch_all(reader).await
}

pub struct NewAddress<'a> {
    pub tenant_id: i64,
    pub member_id: i64,
    pub name: &'a str,
    pub address: &'a str,
    pub zip_code: &'a str,
    pub city: &'a str,
    pub phone: &'a str,
}

/// Adds an address; the member's first becomes the default.
#[instrument(skip_all)]
pub async fn insert_address(conn: &mut AnyConnection, a: &NewAddress<'_>, now: i64) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO mlm_addresses (tenant_id, member_id, name, address, zip_code, city, phone, is_default, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, \
         CASE WHEN EXISTS (SELECT 1 FROM mlm_addresses WHERE member_id = $2) THEN 0 ELSE 1 END, $8) RETURNING id",
    )
    .bind(a.tenant_id)
    .bind(a.member_id)
    .bind(a.name)
    .bind(a.address)
    .bind(a.zip_code)
    .bind(a.city)
    .bind(a.phone)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

#[instrument(skip_all)]
pub async fn delete_address(conn: &mut AnyConnection, tenant_id: i64, member_id: i64, id: i64) -> CoreResult<bool> {
    let done = sqlx::query("DELETE FROM mlm_addresses WHERE tenant_id = $1 AND member_id = $2 AND id = $3")
        .bind(tenant_id)
        .bind(member_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Makes one of the member's addresses the default (and no other); false when it is not theirs.
#[instrument(skip_all)]
pub async fn set_default_address(
    conn: &mut AnyConnection,
    tenant_id: i64,
    member_id: i64,
    id: i64,
) -> CoreResult<bool> {
    let done = sqlx::query(
        "UPDATE mlm_addresses SET is_default = CASE WHEN id = $3 THEN 1 ELSE 0 END \
         WHERE tenant_id = $1 AND member_id = $2 AND EXISTS \
         (SELECT 1 FROM mlm_addresses WHERE tenant_id = $1 AND member_id = $2 AND id = $3)",
    )
    .bind(tenant_id)
    .bind(member_id)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AddressRow {
    pub id: i64,
    pub name: String,
    pub address: String,
    pub zip_code: String,
    pub city: String,
    pub phone: String,
    pub is_default: Flag,
}

#[instrument(skip_all)]
pub async fn addresses(reader: &Reader, tenant_id: i64, member_id: i64) -> CoreResult<Vec<AddressRow>> {
    let mut q =
        Sql::new("SELECT id, name, address, zip_code, city, phone, is_default FROM mlm_addresses WHERE tenant_id = ");
    q.push_bind(tenant_id).push(" AND member_id = ").push_bind(member_id).push(" ORDER BY id LIMIT 100");
    q.fetch_all(reader).await
}

/// The address a checkout ships to: the one named, or the default.
#[instrument(skip_all)]
pub async fn shipping_address(
    pool: &AnyPool,
    tenant_id: i64,
    member_id: i64,
    id: Option<i64>,
) -> CoreResult<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM mlm_addresses WHERE tenant_id = $1 AND member_id = $2 \
         AND (($3 IS NULL AND is_default = 1) OR id = $3)",
    )
    .bind(tenant_id)
    .bind(member_id)
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// Records a checkout's order with where it ships and how it was paid.
#[instrument(skip_all)]
pub async fn insert_checkout(
    conn: &mut AnyConnection,
    o: &NewOrder<'_>,
    address_id: i64,
    paid_by: &str,
    now: i64,
) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO mlm_orders (tenant_id, member_id, order_ref, total_amount, total_quantity, total_pv, created_at, \
         address_id, paid_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(o.tenant_id)
    .bind(o.member_id)
    .bind(o.order_ref)
    .bind(o.total_amount)
    .bind(o.total_quantity)
    .bind(o.total_pv)
    .bind(now)
    .bind(address_id)
    .bind(paid_by)
    .fetch_one(&mut *conn)
    .await?)
}

// ---- password resets ----

#[instrument(skip_all)]
pub async fn insert_reset(
    conn: &mut AnyConnection,
    hash: &str,
    tenant_id: i64,
    member_id: i64,
    kind: &str,
    expires_at: i64,
    now: i64,
) -> CoreResult<()> {
    sqlx::query(
        "INSERT INTO mlm_resets (token_hash, tenant_id, member_id, kind, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(hash)
    .bind(tenant_id)
    .bind(member_id)
    .bind(kind)
    .bind(expires_at)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Spends a reset token of the business and kind: unused and unexpired, once. Returns its member.
#[instrument(skip_all)]
pub async fn spend_reset(
    conn: &mut AnyConnection,
    hash: &str,
    tenant_id: i64,
    kind: &str,
    now: i64,
) -> CoreResult<Option<i64>> {
    Ok(sqlx::query_scalar(
        "UPDATE mlm_resets SET used_at = $4 WHERE token_hash = $1 AND tenant_id = $2 AND kind = $3 \
         AND used_at IS NULL AND expires_at > $4 RETURNING member_id",
    )
    .bind(hash)
    .bind(tenant_id)
    .bind(kind)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?)
}

// ---- compensation ----

/// One credit a run makes (or, for flushed pairs, only the volume it consumes).
pub struct Credit {
    pub member_id: i64,
    pub username: String,
    pub kind: &'static str,
    pub amount: i64,
    pub source: String,
    /// The ledger's idempotency key: a credit is made once, whatever runs again.
    pub key: String,
    /// Leg volume the credit's pairs consume.
    pub consume: i64,
}

/// The credits of a period, read on `conn`: a sponsor bonus for each registration of the period, and binary pairing
/// on the unmatched volume of every member with a pair's worth on both legs.
#[instrument(skip_all)]
pub async fn plan_credits(
    conn: &mut AnyConnection,
    s: &SettingsRow,
    business: i64,
    period: &str,
    (start, end): (i64, i64),
) -> CoreResult<Vec<Credit>> {
    let mut credits = Vec::new();
    if s.sponsor_bonus_bp > 0 {
        for r in sponsorships(conn, business, start, end).await? {
            let amount = crate::model::sponsor_bonus(r.amount, s.sponsor_bonus_bp);
            if amount > 0 {
                credits.push(Credit {
                    member_id: r.sponsor_id,
                    username: r.sponsor,
                    kind: "sponsor_bonus",
                    amount,
                    source: format!("sponsor bonus: registration of {}", r.username),
                    key: format!("sponsor:{}", r.member_id),
                    consume: 0,
                });
            }
        }
    }
    if s.pair_bonus > 0 {
        for u in unmatched(conn, business, s.pair_pv).await? {
            let (paid, consumed) = crate::model::pairing(u.left, u.right, s.pair_pv, s.daily_pair_cap);
            credits.push(Credit {
                member_id: u.id,
                username: u.username,
                kind: "binary_pairing",
                amount: paid * s.pair_bonus,
                source: format!("binary pairing {period}: {paid} pairs of {} PV", s.pair_pv),
                key: format!("pair:{period}:{}", u.id),
                consume: consumed,
            });
        }
    }
    Ok(credits)
}

/// Credits a run's plan to the e-wallets (each with its ledger key) and marks the volume its pairs consumed.
#[instrument(skip_all)]
pub async fn apply_credits(conn: &mut AnyConnection, business: i64, credits: &[Credit], now: i64) -> CoreResult<()> {
    for c in credits {
        if c.amount > 0 {
            let credit = WalletMove {
                tenant_id: business,
                member_id: c.member_id,
                delta: c.amount,
                kind: "credit",
                source: &c.source,
                idempotency_key: Some(&c.key),
            };
            apply_wallet(conn, &credit, now).await?.ok_or_else(|| {
                tessera_core::CoreError::internal(format!("a credit to member {} was refused", c.member_id))
            })?;
        }
        if c.consume > 0 {
            consume_volume(conn, business, c.member_id, c.consume).await?;
        }
    }
    Ok(())
}

/// The businesses whose plan pays anything and runs by itself (`compensation_auto`): the compensation job's work list.
#[instrument(skip_all)]
pub async fn paying_businesses(pool: &AnyPool) -> CoreResult<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT tenant_id FROM mlm_settings WHERE compensation_auto = 1 AND (sponsor_bonus_bp > 0 OR pair_bonus > 0) \
         ORDER BY tenant_id",
    )
    .fetch_all(pool)
    .await?)
}

#[instrument(skip_all)]
pub async fn run_exists(pool: &AnyPool, tenant_id: i64, period: &str) -> CoreResult<bool> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM mlm_comp_runs WHERE tenant_id = $1 AND period = $2")
        .bind(tenant_id)
        .bind(period)
        .fetch_optional(pool)
        .await?;
    Ok(found.is_some())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Sponsorship {
    pub member_id: i64,
    pub username: String,
    pub sponsor_id: i64,
    pub sponsor: String,
    pub amount: i64,
}

/// The registrations of a period with a sponsor, and the package each paid for.
#[instrument(skip_all)]
pub async fn sponsorships(
    conn: &mut AnyConnection,
    tenant_id: i64,
    start: i64,
    end: i64,
) -> CoreResult<Vec<Sponsorship>> {
    Ok(sqlx::query_as(
        "SELECT m.id AS member_id, m.username, s.id AS sponsor_id, s.username AS sponsor, p.amount \
         FROM mlm_members m JOIN mlm_members s ON s.id = m.sponsor_id AND s.tenant_id = m.tenant_id \
         JOIN mlm_packages p ON p.id = m.package_id AND p.tenant_id = m.tenant_id \
         WHERE m.tenant_id = $1 AND m.created_at >= $2 AND m.created_at < $3 ORDER BY m.id",
    )
    .bind(tenant_id)
    .bind(start)
    .bind(end)
    .fetch_all(&mut *conn)
    .await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Unmatched {
    pub id: i64,
    pub username: String,
    pub left: i64,
    pub right: i64,
}

/// Members with at least one pair's worth of unmatched volume on both legs.
#[instrument(skip_all)]
pub async fn unmatched(conn: &mut AnyConnection, tenant_id: i64, pair_pv: i64) -> CoreResult<Vec<Unmatched>> {
    Ok(sqlx::query_as(
        "SELECT id, username, left_pv - paired_left_pv AS \"left\", right_pv - paired_right_pv AS \"right\" \
         FROM mlm_members WHERE tenant_id = $1 AND left_pv - paired_left_pv >= $2 \
         AND right_pv - paired_right_pv >= $2 ORDER BY id",
    )
    .bind(tenant_id)
    .bind(pair_pv)
    .fetch_all(&mut *conn)
    .await?)
}

/// Marks volume of both legs as matched.
#[instrument(skip_all)]
pub async fn consume_volume(conn: &mut AnyConnection, tenant_id: i64, member_id: i64, pv: i64) -> CoreResult<()> {
    sqlx::query(
        "UPDATE mlm_members SET paired_left_pv = paired_left_pv + $3, paired_right_pv = paired_right_pv + $3 \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(member_id)
    .bind(pv)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Takes the business's plan row for the caller's transaction: on PostgreSQL, runs of two periods at once would
/// otherwise both read the same unmatched volume and both pay it (SQLite's one writer serialises them anyway).
#[instrument(skip_all)]
pub async fn lock_plan(conn: &mut AnyConnection, tenant_id: i64) -> CoreResult<()> {
    sqlx::query("UPDATE mlm_settings SET updated_at = updated_at WHERE tenant_id = $1")
        .bind(tenant_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records a committed run; a second run of the period is a unique violation.
#[instrument(skip_all)]
pub async fn insert_run(
    conn: &mut AnyConnection,
    tenant_id: i64,
    period: &str,
    sponsor_total: i64,
    pairing_total: i64,
    credits: i64,
    now: i64,
) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO mlm_comp_runs (tenant_id, period, sponsor_total, pairing_total, credits, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(tenant_id)
    .bind(period)
    .bind(sponsor_total)
    .bind(pairing_total)
    .bind(credits)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunRow {
    pub period: String,
    pub sponsor_total: i64,
    pub pairing_total: i64,
    pub credits: i64,
    pub created_at: i64,
}

#[instrument(skip_all)]
pub async fn runs(reader: &Reader, tenant_id: i64, page: Paging) -> CoreResult<Vec<RunRow>> {
    let mut q = Sql::new(
        "SELECT period, sponsor_total, pairing_total, credits, created_at FROM mlm_comp_runs WHERE tenant_id = ",
    );
    q.push_bind(tenant_id).push(" ORDER BY period DESC").page(page);
    q.fetch_all(reader).await
}

// ---- profile images ----

/// Replaces the member's image and points the profile at it.
#[instrument(skip_all)]
pub async fn put_image(
    conn: &mut AnyConnection,
    tenant_id: i64,
    member_id: i64,
    name: &str,
    content_type: &str,
    bytes: &[u8],
    now: i64,
) -> CoreResult<()> {
    sqlx::query("DELETE FROM mlm_images WHERE tenant_id = $1 AND member_id = $2")
        .bind(tenant_id)
        .bind(member_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO mlm_images (name, tenant_id, member_id, content_type, bytes, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(name)
    .bind(tenant_id)
    .bind(member_id)
    .bind(content_type)
    .bind(bytes)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE mlm_members SET profile_image = $3 WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(member_id)
        .bind(format!("/mlm/images/{name}"))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[instrument(skip_all)]
pub async fn image(pool: &AnyPool, tenant_id: i64, name: &str) -> CoreResult<Option<Vec<u8>>> {
    Ok(sqlx::query_scalar("SELECT bytes FROM mlm_images WHERE tenant_id = $1 AND name = $2")
        .bind(tenant_id)
        .bind(name)
        .fetch_optional(pool)
        .await?)
}

// ---- KYC and payouts ----

#[instrument(skip_all)]
pub async fn set_kyc(conn: &mut AnyConnection, tenant_id: i64, member_id: i64, status: &str) -> CoreResult<()> {
    sqlx::query("UPDATE mlm_members SET kyc_status = $3 WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(member_id)
        .bind(status)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[instrument(skip_all)]
pub async fn insert_payout(
    conn: &mut AnyConnection,
    tenant_id: i64,
    member_id: i64,
    amount: i64,
    now: i64,
) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO mlm_payouts (tenant_id, member_id, amount, status, requested_at) \
         VALUES ($1, $2, $3, 'pending', $4) RETURNING id",
    )
    .bind(tenant_id)
    .bind(member_id)
    .bind(amount)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

/// Decides a pending payout, once: returns its member and amount, or None when it is not pending (or not the
/// business's).
#[instrument(skip_all)]
pub async fn decide_payout(
    conn: &mut AnyConnection,
    tenant_id: i64,
    id: i64,
    status: &str,
    note: &str,
    now: i64,
) -> CoreResult<Option<(i64, i64)>> {
    Ok(sqlx::query_as(
        "UPDATE mlm_payouts SET status = $3, note = $4, decided_at = $5 WHERE tenant_id = $1 AND id = $2 \
         AND status = 'pending' RETURNING member_id, amount",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(status)
    .bind(note)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PayoutRow {
    pub id: i64,
    pub username: String,
    pub amount: i64,
    pub status: String,
    pub requested_at: i64,
    pub decided_at: Option<i64>,
    pub note: String,
}

/// Payouts of the business, or of one member, optionally in one status; newest first.
#[instrument(skip_all)]
pub async fn payouts(
    reader: &Reader,
    tenant_id: i64,
    member_id: Option<i64>,
    status: Option<&str>,
    page: Paging,
) -> CoreResult<Vec<PayoutRow>> {
    let mut q = Sql::new(
        "SELECT p.id, m.username, p.amount, p.status, p.requested_at, p.decided_at, p.note FROM mlm_payouts p \
         JOIN mlm_members m ON m.id = p.member_id AND m.tenant_id = p.tenant_id WHERE p.tenant_id = ",
    );
    q.push_bind(tenant_id).and("p.member_id = ", member_id).and("p.status = ", status);
    q.push(" ORDER BY p.id DESC").page(page);
    q.fetch_all(reader).await
}

// ---- genealogy ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NodeRow {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub username: String,
    pub position: Option<String>,
    pub depth: i64,
    pub left_count: i64,
    pub right_count: i64,
    pub left_pv: i64,
    pub right_pv: i64,
}

/// The children of some members (one level of a genealogy), left before right under each parent.
#[instrument(skip_all)]
pub async fn children(reader: &Reader, tenant_id: i64, parents: &[i64]) -> CoreResult<Vec<NodeRow>> {
    if parents.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Sql::new(
        "SELECT id, parent_id, username, position, depth, left_count, right_count, left_pv, right_pv \
         FROM mlm_members WHERE tenant_id = ",
    );
    q.push_bind(tenant_id).push(" AND parent_id IN (");
    for (i, id) in parents.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.push_bind(*id);
    }
    q.push(") ORDER BY path");
    q.fetch_all(reader).await
}

// ---- admin: packages and e-pins ----

pub struct PackageChange<'a> {
    pub name: Option<&'a str>,
    pub amount: Option<i64>,
    pub pv: Option<i64>,
    pub category: Option<&'a str>,
    pub image: Option<&'a str>,
    pub description: Option<&'a str>,
    pub active: Option<bool>,
}

/// Changes the given fields of a package of the business; false when it has no such package.
#[instrument(skip_all)]
pub async fn update_package(
    conn: &mut AnyConnection,
    tenant_id: i64,
    id: i64,
    c: &PackageChange<'_>,
) -> CoreResult<bool> {
    let done = sqlx::query(
        "UPDATE mlm_packages SET name = COALESCE($3, name), amount = COALESCE($4, amount), pv = COALESCE($5, pv), \
         category = COALESCE($6, category), image = COALESCE($7, image), description = COALESCE($8, description), \
         active = COALESCE($9, active) WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(c.name)
    .bind(c.amount)
    .bind(c.pv)
    .bind(c.category)
    .bind(c.image)
    .bind(c.description)
    .bind(c.active.map(i64::from))
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EpinBatchRow {
    pub batch: String,
    pub amount: i64,
    pub expires_at: Option<i64>,
    pub pins: i64,
    pub used: i64,
    pub created_at: i64,
}

/// The business's e-pin batches, newest first, with how many of each are used.
#[instrument(skip_all)]
pub async fn epin_batches(reader: &Reader, tenant_id: i64, page: Paging) -> CoreResult<Vec<EpinBatchRow>> {
    let mut q = Sql::new(
        "SELECT batch, amount, expires_at, COUNT(*) AS pins, COUNT(used_at) AS used, MIN(created_at) AS created_at \
         FROM mlm_epins WHERE tenant_id = ",
    );
    q.push_bind(tenant_id).push(" GROUP BY batch, amount, expires_at ORDER BY MIN(id) DESC").page(page);
    q.fetch_all(reader).await
}
