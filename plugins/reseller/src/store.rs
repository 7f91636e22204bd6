//! All SQL of the reseller plugin: accounts (one per reseller tenant) and the wallet ledger.
//!
//! The wallet moves only in `apply_wallet`: one guarded UPDATE (the balance never goes below −credit_limit, whatever
//! the concurrency) and the ledger row, in the caller's transaction.

use sqlx::{AnyConnection, AnyPool};
use tracing::instrument;

use tessera_core::db::contains_pattern;
use tessera_core::money::MAX_BALANCE;
use tessera_core::tenancy::subtree;
use tessera_core::{CoreResult, Paging, Reader, Sql};

use crate::model::{SortField, SortOrder};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub tenant_id: i64,
    pub isp_id: i64,
    pub path: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub name: String,
    pub code: String,
    pub invoice_by: String,
    pub payment_by: String,
    pub address: String,
    pub mobile: String,
    pub email: String,
    pub state: String,
    pub commission_bp: i64,
    pub credit_limit: i64,
    pub balance: i64,
    pub created_at: i64,
}

/// The SELECT of an account row (macros, so queries are `&'static str` built with `concat!`).
/// The name is the tenant's: one name, whichever API renames it (the core's admin API or reseller/update).
macro_rules! account_select {
    () => {
        "SELECT r.tenant_id, r.isp_id, t.path, r.type, t.name, r.code, r.invoice_by, r.payment_by, r.address, \
         r.mobile, r.email, r.state, r.commission_bp, r.credit_limit, r.balance, r.created_at \
         FROM reseller_accounts r JOIN tenants t ON t.id = r.tenant_id"
    };
}

/// The values of a new account.
pub struct NewAccount<'a> {
    pub tenant_id: i64,
    pub isp_id: i64,
    /// The tenant it was created under: its code is unique among that tenant's resellers.
    pub parent_id: i64,
    pub kind: &'a str,
    pub name: &'a str,
    pub code: &'a str,
    pub invoice_by: &'a str,
    pub payment_by: &'a str,
    pub address: &'a str,
    pub mobile: &'a str,
    pub email: &'a str,
    pub state: &'a str,
    pub commission_bp: i64,
    pub credit_limit: i64,
}

#[instrument(skip_all)]
pub async fn insert_account(conn: &mut AnyConnection, a: &NewAccount<'_>, now: i64) -> CoreResult<()> {
    sqlx::query(
        "INSERT INTO reseller_accounts (tenant_id, isp_id, parent_id, type, name, code, invoice_by, payment_by, \
         address, mobile, email, state, commission_bp, credit_limit, balance, deleted, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 0, 0, $15, $15)",
    )
    .bind(a.tenant_id)
    .bind(a.isp_id)
    .bind(a.parent_id)
    .bind(a.kind)
    .bind(a.name)
    .bind(a.code)
    .bind(a.invoice_by)
    .bind(a.payment_by)
    .bind(a.address)
    .bind(a.mobile)
    .bind(a.email)
    .bind(a.state)
    .bind(a.commission_bp)
    .bind(a.credit_limit)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// True when a live reseller of the same parent other than `except` has this code.
#[instrument(skip_all)]
pub async fn code_taken(pool: &AnyPool, parent_id: i64, code: &str, except: Option<i64>) -> CoreResult<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM reseller_accounts WHERE parent_id = $1 AND code = $2 AND deleted = 0 AND tenant_id <> $3",
    )
    .bind(parent_id)
    .bind(code)
    .bind(except.unwrap_or(0))
    .fetch_one(pool)
    .await?;
    Ok(n > 0)
}

/// A live account of the ISP.
#[instrument(skip_all)]
pub async fn account(pool: &AnyPool, isp_id: i64, tenant_id: i64) -> CoreResult<Option<AccountRow>> {
    Ok(sqlx::query_as(concat!(account_select!(), " WHERE r.isp_id = $1 AND r.tenant_id = $2 AND r.deleted = 0"))
        .bind(isp_id)
        .bind(tenant_id)
        .fetch_optional(pool)
        .await?)
}

/// The changes of an update; None keeps the stored value.
#[derive(Default)]
pub struct AccountChanges {
    pub kind: Option<String>,
    pub name: Option<String>,
    pub code: Option<String>,
    pub invoice_by: Option<String>,
    pub payment_by: Option<String>,
    pub address: Option<String>,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub state: Option<String>,
    pub commission_bp: Option<i64>,
    pub credit_limit: Option<i64>,
}

#[instrument(skip_all)]
/// Applies the changes; false (nothing changed) when a new credit limit would be less than the wallet's current
/// debt — checked in the UPDATE itself, so a concurrent debit cannot slip between a check and the change.
pub async fn update_account(
    conn: &mut AnyConnection,
    tenant_id: i64,
    c: &AccountChanges,
    now: i64,
) -> CoreResult<bool> {
    let done = sqlx::query(
        "UPDATE reseller_accounts SET type = COALESCE($1, type), name = COALESCE($2, name), code = COALESCE($3, code), \
         invoice_by = COALESCE($4, invoice_by), payment_by = COALESCE($5, payment_by), \
         address = COALESCE($6, address), mobile = COALESCE($7, mobile), email = COALESCE($8, email), \
         state = COALESCE($9, state), commission_bp = COALESCE($10, commission_bp), \
         credit_limit = COALESCE($11, credit_limit), updated_at = $12 WHERE tenant_id = $13 AND deleted = 0 \
         AND balance >= -COALESCE($11, credit_limit)",
    )
    .bind(c.kind.as_deref())
    .bind(c.name.as_deref())
    .bind(c.code.as_deref())
    .bind(c.invoice_by.as_deref())
    .bind(c.payment_by.as_deref())
    .bind(c.address.as_deref())
    .bind(c.mobile.as_deref())
    .bind(c.email.as_deref())
    .bind(c.state.as_deref())
    .bind(c.commission_bp)
    .bind(c.credit_limit)
    .bind(now)
    .bind(tenant_id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks an account deleted if its wallet is zero; false when the balance is not zero.
#[instrument(skip_all)]
pub async fn delete_account(conn: &mut AnyConnection, tenant_id: i64, now: i64) -> CoreResult<bool> {
    let done = sqlx::query(
        "UPDATE reseller_accounts SET deleted = 1, updated_at = $1 WHERE tenant_id = $2 AND deleted = 0 AND balance = 0",
    )
    .bind(now)
    .bind(tenant_id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The ORDER BY columns of a sort field: a fixed set, never request text.
fn sort_column(field: SortField) -> &'static str {
    match field {
        SortField::Id => "r.tenant_id",
        SortField::Ispid => "r.isp_id",
        SortField::Type => "r.type",
        SortField::Name => "t.name",
        SortField::Code => "r.code",
        SortField::State => "r.state",
        SortField::Wallet => "r.balance",
    }
}

fn sort_direction(order: SortOrder) -> &'static str {
    match order {
        SortOrder::Asc => " ASC",
        SortOrder::Desc => " DESC",
    }
}

/// Filters of the reseller list.
pub struct AccountQuery {
    pub isp_id: i64,
    /// Only accounts at or below this tenant path.
    pub under_path: String,
    pub reseller_id: Option<i64>,
    pub kind: Option<String>,
    pub invoice_by: Option<String>,
    pub payment_by: Option<String>,
    pub name: Option<String>,
    pub code: Option<String>,
    pub state: Option<String>,
    pub created_from: Option<i64>,
    pub created_before: Option<i64>,
}

impl AccountQuery {
    /// `stmt` continued with the WHERE clause of these filters.
    fn filter(&self, stmt: &mut Sql) {
        stmt.push(" WHERE r.deleted = 0 AND r.isp_id = ").push_bind(self.isp_id);
        let (start, end) = subtree(&self.under_path);
        stmt.push(" AND t.path >= ").push_bind(start).push(" AND t.path < ").push_bind(end);
        stmt.and("r.tenant_id = ", self.reseller_id)
            .and("r.type = ", self.kind.as_deref())
            .and("r.invoice_by = ", self.invoice_by.as_deref())
            .and("r.payment_by = ", self.payment_by.as_deref())
            .and("r.state = ", self.state.as_deref())
            .and("r.created_at >= ", self.created_from)
            .and("r.created_at < ", self.created_before);
        if let Some(v) = &self.name {
            stmt.push(" AND LOWER(t.name) LIKE ").push_bind(contains_pattern(v)).push(" ESCAPE '\\'");
        }
        if let Some(v) = &self.code {
            stmt.push(" AND LOWER(r.code) LIKE ").push_bind(contains_pattern(v)).push(" ESCAPE '\\'");
        }
    }
}

/// A page of the matching accounts, sorted by `sort` then by id (a stable order across pages).
#[instrument(skip_all)]
pub async fn list_accounts(
    reader: &Reader,
    q: &AccountQuery,
    sort: SortField,
    order: SortOrder,
    page: Paging,
) -> CoreResult<Vec<AccountRow>> {
    let mut stmt = Sql::new(account_select!());
    q.filter(&mut stmt);
    let dir = sort_direction(order);
    stmt.push(" ORDER BY ").push(sort_column(sort)).push(dir).push(", r.tenant_id").push(dir);
    stmt.page(page);
    stmt.fetch_all(reader).await
}

#[instrument(skip_all)]
pub async fn count_accounts(reader: &Reader, q: &AccountQuery) -> CoreResult<i64> {
    let mut stmt = Sql::new("SELECT COUNT(*) FROM reseller_accounts r JOIN tenants t ON t.id = r.tenant_id");
    q.filter(&mut stmt);
    stmt.fetch_count(reader).await
}

// ---- wallet ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LedgerRow {
    pub id: i64,
    pub tenant_id: i64,
    pub isp_id: i64,
    pub txn_code: String,
    pub amount: i64,
    pub balance_after: i64,
    pub service_id: Option<String>,
    pub created_at: i64,
    pub created_by: i64,
}

macro_rules! ledger_cols {
    () => {
        "SELECT l.id, l.tenant_id, l.isp_id, l.txn_code, l.amount, l.balance_after, l.service_id, l.created_at, \
         l.created_by"
    };
}

/// A wallet change to apply.
pub struct WalletMove<'a> {
    pub tenant_id: i64,
    pub isp_id: i64,
    pub txn_code: &'a str,
    pub delta: i64,
    pub service_id: Option<&'a str>,
    pub txn_key: Option<&'a str>,
    pub by: i64,
}

/// Applies a change to a live account and writes its ledger row. Debits are refused (None) when they would take the
/// balance below −credit_limit; the guard is part of the UPDATE, so concurrent debits cannot overdraw.
#[instrument(skip_all)]
pub async fn apply_wallet(conn: &mut AnyConnection, m: &WalletMove<'_>, now: i64) -> CoreResult<Option<LedgerRow>> {
    let balance: Option<i64> = sqlx::query_scalar(
        "UPDATE reseller_accounts SET balance = balance + $1, updated_at = $2 \
         WHERE tenant_id = $3 AND deleted = 0 AND ($1 >= 0 OR balance + $1 >= -credit_limit) \
         AND ($1 <= 0 OR balance + $1 <= $4) RETURNING balance",
    )
    .bind(m.delta)
    .bind(now)
    .bind(m.tenant_id)
    .bind(MAX_BALANCE)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(balance_after) = balance else { return Ok(None) };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO reseller_ledger (tenant_id, isp_id, txn_code, amount, balance_after, service_id, txn_key, \
         created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(m.tenant_id)
    .bind(m.isp_id)
    .bind(m.txn_code)
    .bind(m.delta)
    .bind(balance_after)
    .bind(m.service_id)
    .bind(m.txn_key)
    .bind(now)
    .bind(m.by)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Some(LedgerRow {
        id,
        tenant_id: m.tenant_id,
        isp_id: m.isp_id,
        txn_code: m.txn_code.to_string(),
        amount: m.delta,
        balance_after,
        service_id: m.service_id.map(str::to_string),
        created_at: now,
        created_by: m.by,
    }))
}

/// The ledger row an idempotency key already produced for this account.
#[instrument(skip_all)]
pub async fn ledger_by_key(pool: &AnyPool, tenant_id: i64, txn_key: &str) -> CoreResult<Option<LedgerRow>> {
    Ok(sqlx::query_as(concat!(ledger_cols!(), " FROM reseller_ledger l WHERE l.tenant_id = $1 AND l.txn_key = $2"))
        .bind(tenant_id)
        .bind(txn_key)
        .fetch_optional(pool)
        .await?)
}

/// Filters of the ledger listing.
pub struct LedgerQuery {
    pub isp_id: i64,
    pub under_path: String,
    pub id: Option<i64>,
    pub reseller_id: Option<i64>,
    pub txn_code: Option<String>,
    pub service_id: Option<String>,
    pub created_from: Option<i64>,
    pub created_before: Option<i64>,
}

impl LedgerQuery {
    /// `stmt` continued with the WHERE clause of these filters.
    fn filter(&self, stmt: &mut Sql) {
        stmt.push(" WHERE l.isp_id = ").push_bind(self.isp_id);
        let (start, end) = subtree(&self.under_path);
        stmt.push(" AND t.path >= ").push_bind(start).push(" AND t.path < ").push_bind(end);
        stmt.and("l.id = ", self.id)
            .and("l.tenant_id = ", self.reseller_id)
            .and("l.txn_code = ", self.txn_code.as_deref())
            .and("l.service_id = ", self.service_id.as_deref())
            .and("l.created_at >= ", self.created_from)
            .and("l.created_at < ", self.created_before);
    }
}

#[instrument(skip_all)]
pub async fn list_ledger(reader: &Reader, q: &LedgerQuery, page: Paging) -> CoreResult<Vec<LedgerRow>> {
    let mut stmt = Sql::new(concat!(ledger_cols!(), " FROM reseller_ledger l JOIN tenants t ON t.id = l.tenant_id"));
    q.filter(&mut stmt);
    stmt.push(" ORDER BY l.id").page(page);
    stmt.fetch_all(reader).await
}

#[instrument(skip_all)]
pub async fn count_ledger(reader: &Reader, q: &LedgerQuery) -> CoreResult<i64> {
    let mut stmt = Sql::new("SELECT COUNT(*) FROM reseller_ledger l JOIN tenants t ON t.id = l.tenant_id");
    q.filter(&mut stmt);
    stmt.fetch_count(reader).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Request text reaches a listing only as bound values; LIMIT and OFFSET are bound too.
    #[test]
    fn listings_bind_every_value() {
        let q = AccountQuery {
            isp_id: 4,
            under_path: "/1/4/".into(),
            reseller_id: None,
            kind: Some("Franchisee".into()),
            invoice_by: None,
            payment_by: None,
            name: Some("x'; DROP TABLE tenants; --".into()),
            code: None,
            state: None,
            created_from: Some(0),
            created_before: None,
        };
        let mut stmt = Sql::new(account_select!());
        q.filter(&mut stmt);
        stmt.push(" ORDER BY ").push(sort_column(SortField::Wallet)).push(sort_direction(SortOrder::Desc));
        stmt.page(Paging { limit: 10, offset: 20 });
        let text = stmt.text();
        assert!(!text.contains("DROP") && !text.contains("Franchisee") && !text.contains("/1/4/"));
        assert!(text.ends_with(" ORDER BY r.balance DESC LIMIT $7 OFFSET $8"), "{text}");
        assert_eq!(stmt.bound(), 8);
    }
}
