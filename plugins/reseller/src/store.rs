//! All SQL of the reseller plugin: accounts (one per reseller tenant) and the wallet ledger.
//!
//! The wallet moves only in `apply_wallet`: one guarded UPDATE (the balance never goes below −credit_limit, whatever
//! the concurrency) and the ledger row, in the caller's transaction.

use sqlx::{AnyConnection, AnyPool};
use tracing::instrument;

use tessera_core::db::contains_pattern;
use tessera_core::CoreResult;

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

const ACCOUNT_COLS: &str = "r.tenant_id, r.isp_id, t.path, r.type, r.name, r.code, r.invoice_by, r.payment_by, \
     r.address, r.mobile, r.email, r.state, r.commission_bp, r.credit_limit, r.balance, r.created_at";

/// The values of a new account.
pub struct NewAccount<'a> {
    pub tenant_id: i64,
    pub isp_id: i64,
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
        "INSERT INTO reseller_accounts (tenant_id, isp_id, type, name, code, invoice_by, payment_by, address, mobile, \
         email, state, commission_bp, credit_limit, balance, deleted, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, 0, $14, $14)",
    )
    .bind(a.tenant_id)
    .bind(a.isp_id)
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

/// True when a live reseller of the ISP other than `except` has this code.
#[instrument(skip_all)]
pub async fn code_taken(pool: &AnyPool, isp_id: i64, code: &str, except: Option<i64>) -> CoreResult<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM reseller_accounts WHERE isp_id = $1 AND code = $2 AND deleted = 0 AND tenant_id <> $3",
    )
    .bind(isp_id)
    .bind(code)
    .bind(except.unwrap_or(0))
    .fetch_one(pool)
    .await?;
    Ok(n > 0)
}

/// A live account of the ISP.
#[instrument(skip_all)]
pub async fn account(pool: &AnyPool, isp_id: i64, tenant_id: i64) -> CoreResult<Option<AccountRow>> {
    let sql = format!(
        "SELECT {ACCOUNT_COLS} FROM reseller_accounts r JOIN tenants t ON t.id = r.tenant_id \
         WHERE r.isp_id = $1 AND r.tenant_id = $2 AND r.deleted = 0"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(isp_id).bind(tenant_id).fetch_optional(pool).await?)
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
pub async fn update_account(conn: &mut AnyConnection, tenant_id: i64, c: &AccountChanges, now: i64) -> CoreResult<()> {
    sqlx::query(
        "UPDATE reseller_accounts SET type = COALESCE($1, type), name = COALESCE($2, name), code = COALESCE($3, code), \
         invoice_by = COALESCE($4, invoice_by), payment_by = COALESCE($5, payment_by), \
         address = COALESCE($6, address), mobile = COALESCE($7, mobile), email = COALESCE($8, email), \
         state = COALESCE($9, state), commission_bp = COALESCE($10, commission_bp), \
         credit_limit = COALESCE($11, credit_limit), updated_at = $12 WHERE tenant_id = $13 AND deleted = 0",
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
    Ok(())
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

/// A bound value of a dynamically filtered query.
enum Bind {
    Int(i64),
    Text(String),
}

/// WHERE conditions with their `$n` values, built from validated filters only.
#[derive(Default)]
struct Filter {
    conditions: Vec<String>,
    binds: Vec<Bind>,
}

impl Filter {
    fn int(&mut self, sql: &str, v: i64) {
        self.binds.push(Bind::Int(v));
        self.conditions.push(sql.replace('?', &format!("${}", self.binds.len())));
    }

    fn text(&mut self, sql: &str, v: String) {
        self.binds.push(Bind::Text(v));
        self.conditions.push(sql.replace('?', &format!("${}", self.binds.len())));
    }

    fn clause(&self) -> String {
        self.conditions.join(" AND ")
    }

    fn apply<'q, O>(
        &'q self,
        mut q: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments> {
        for b in &self.binds {
            q = match b {
                Bind::Int(v) => q.bind(*v),
                Bind::Text(v) => q.bind(v.as_str()),
            };
        }
        q
    }

    fn apply_scalar<'q, O>(
        &'q self,
        mut q: sqlx::query::QueryScalar<'q, sqlx::Any, O, sqlx::any::AnyArguments>,
    ) -> sqlx::query::QueryScalar<'q, sqlx::Any, O, sqlx::any::AnyArguments> {
        for b in &self.binds {
            q = match b {
                Bind::Int(v) => q.bind(*v),
                Bind::Text(v) => q.bind(v.as_str()),
            };
        }
        q
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
    fn filter(&self) -> Filter {
        let mut f = Filter::default();
        f.int("r.isp_id = ?", self.isp_id);
        f.conditions.push("r.deleted = 0".into());
        f.text("substr(t.path, 1, length(?)) = ?", self.under_path.clone());
        if let Some(v) = self.reseller_id {
            f.int("r.tenant_id = ?", v);
        }
        if let Some(v) = &self.kind {
            f.text("r.type = ?", v.clone());
        }
        if let Some(v) = &self.invoice_by {
            f.text("r.invoice_by = ?", v.clone());
        }
        if let Some(v) = &self.payment_by {
            f.text("r.payment_by = ?", v.clone());
        }
        if let Some(v) = &self.name {
            f.text("LOWER(r.name) LIKE ? ESCAPE '\\'", contains_pattern(v));
        }
        if let Some(v) = &self.code {
            f.text("LOWER(r.code) LIKE ? ESCAPE '\\'", contains_pattern(v));
        }
        if let Some(v) = &self.state {
            f.text("r.state = ?", v.clone());
        }
        if let Some(v) = self.created_from {
            f.int("r.created_at >= ?", v);
        }
        if let Some(v) = self.created_before {
            f.int("r.created_at < ?", v);
        }
        f
    }
}

/// `order` is a column list chosen from a fixed set by the caller (never request text).
#[instrument(skip_all)]
pub async fn list_accounts(
    pool: &AnyPool,
    q: &AccountQuery,
    order: &str,
    limit: i64,
    offset: i64,
) -> CoreResult<Vec<AccountRow>> {
    let f = q.filter();
    let sql = format!(
        "SELECT {ACCOUNT_COLS} FROM reseller_accounts r JOIN tenants t ON t.id = r.tenant_id WHERE {} \
         ORDER BY {order} LIMIT {limit} OFFSET {offset}",
        f.clause()
    );
    Ok(f.apply(sqlx::query_as(sqlx::AssertSqlSafe(sql))).fetch_all(pool).await?)
}

#[instrument(skip_all)]
pub async fn count_accounts(pool: &AnyPool, q: &AccountQuery) -> CoreResult<i64> {
    let f = q.filter();
    let sql =
        format!("SELECT COUNT(*) FROM reseller_accounts r JOIN tenants t ON t.id = r.tenant_id WHERE {}", f.clause());
    Ok(f.apply_scalar(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))).fetch_one(pool).await?)
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

const LEDGER_COLS: &str = "l.id, l.tenant_id, l.isp_id, l.txn_code, l.amount, l.balance_after, l.service_id, \
     l.created_at, l.created_by";

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
         WHERE tenant_id = $3 AND deleted = 0 AND ($1 >= 0 OR balance + $1 >= -credit_limit) RETURNING balance",
    )
    .bind(m.delta)
    .bind(now)
    .bind(m.tenant_id)
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
    let sql = format!("SELECT {LEDGER_COLS} FROM reseller_ledger l WHERE l.tenant_id = $1 AND l.txn_key = $2");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(txn_key).fetch_optional(pool).await?)
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
    fn filter(&self) -> Filter {
        let mut f = Filter::default();
        f.int("l.isp_id = ?", self.isp_id);
        f.text("substr(t.path, 1, length(?)) = ?", self.under_path.clone());
        if let Some(v) = self.id {
            f.int("l.id = ?", v);
        }
        if let Some(v) = self.reseller_id {
            f.int("l.tenant_id = ?", v);
        }
        if let Some(v) = &self.txn_code {
            f.text("l.txn_code = ?", v.clone());
        }
        if let Some(v) = &self.service_id {
            f.text("l.service_id = ?", v.clone());
        }
        if let Some(v) = self.created_from {
            f.int("l.created_at >= ?", v);
        }
        if let Some(v) = self.created_before {
            f.int("l.created_at < ?", v);
        }
        f
    }
}

#[instrument(skip_all)]
pub async fn list_ledger(pool: &AnyPool, q: &LedgerQuery, limit: i64, offset: i64) -> CoreResult<Vec<LedgerRow>> {
    let f = q.filter();
    let sql = format!(
        "SELECT {LEDGER_COLS} FROM reseller_ledger l JOIN tenants t ON t.id = l.tenant_id WHERE {} \
         ORDER BY l.id LIMIT {limit} OFFSET {offset}",
        f.clause()
    );
    Ok(f.apply(sqlx::query_as(sqlx::AssertSqlSafe(sql))).fetch_all(pool).await?)
}

#[instrument(skip_all)]
pub async fn count_ledger(pool: &AnyPool, q: &LedgerQuery) -> CoreResult<i64> {
    let f = q.filter();
    let sql =
        format!("SELECT COUNT(*) FROM reseller_ledger l JOIN tenants t ON t.id = l.tenant_id WHERE {}", f.clause());
    Ok(f.apply_scalar(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))).fetch_one(pool).await?)
}
