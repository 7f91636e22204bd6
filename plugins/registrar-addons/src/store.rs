//! All SQL of the registrar plugin: customers, plans, orders, actions, invoices and login tokens. Rows are reached
//! through their reseller's tenant path, so a reseller sees its own and its sub-resellers' rows only.

use sqlx::{AnyConnection, AnyPool};
use tracing::instrument;

use tessera_core::db::contains_pattern;
use tessera_core::money::MAX_BALANCE;
use tessera_core::tenancy::subtree;
use tessera_core::{CoreResult, Paging, Reader, Sql, StoredEnum};

use crate::model::Product;

// ---- customers ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CustomerRow {
    pub id: i64,
    pub tenant_id: i64,
    pub parent_id: Option<i64>,
    pub username: String,
    pub name: String,
    pub company: String,
    pub telnocc: String,
    pub telno: String,
    pub address1: String,
    pub address2: String,
    pub address3: String,
    pub city: String,
    pub state: String,
    pub country: String,
    pub zip: String,
    pub pin: String,
    pub lang: String,
    pub status: String,
    pub funds: i64,
    pub total_receipts: i64,
    pub created_at: i64,
}

/// The customer columns and their tables, as a literal (`concat!`), so every statement stays a fixed text.
macro_rules! select_customers {
    () => {
        "SELECT c.id, c.tenant_id, t.parent_id, c.username, c.name, c.company, c.telnocc, c.telno, c.address1, \
         c.address2, c.address3, c.city, c.state, c.country, c.zip, c.pin, c.lang, c.status, c.funds, \
         c.total_receipts, c.created_at FROM registrar_customers c JOIN tenants t ON t.id = c.tenant_id"
    };
}

pub struct NewCustomer<'a> {
    pub tenant_id: i64,
    pub username: &'a str,
    pub name: &'a str,
    pub company: &'a str,
    pub telnocc: &'a str,
    pub telno: &'a str,
    pub address: [&'a str; 3],
    pub city: &'a str,
    pub state: &'a str,
    pub country: &'a str,
    pub zip: &'a str,
    pub pin: &'a str,
    pub lang: &'a str,
}

#[instrument(skip_all)]
pub async fn insert_customer(conn: &mut AnyConnection, c: &NewCustomer<'_>, now: i64) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO registrar_customers (tenant_id, username, name, company, telnocc, telno, address1, address2, \
         address3, city, state, country, zip, pin, lang, status, funds, total_receipts, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'Active', 0, 0, $16) RETURNING id",
    )
    .bind(c.tenant_id)
    .bind(c.username)
    .bind(c.name)
    .bind(c.company)
    .bind(c.telnocc)
    .bind(c.telno)
    .bind(c.address[0])
    .bind(c.address[1])
    .bind(c.address[2])
    .bind(c.city)
    .bind(c.state)
    .bind(c.country)
    .bind(c.zip)
    .bind(c.pin)
    .bind(c.lang)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

#[instrument(skip_all)]
pub async fn username_taken(pool: &AnyPool, tenant_id: i64, username: &str) -> CoreResult<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM registrar_customers WHERE tenant_id = $1 AND username = $2")
        .bind(tenant_id)
        .bind(username)
        .fetch_one(pool)
        .await?;
    Ok(n > 0)
}

/// A customer of a reseller at or below `under_path`.
#[instrument(skip_all)]
pub async fn customer(pool: &AnyPool, under_path: &str, id: i64) -> CoreResult<Option<CustomerRow>> {
    let (start, end) = subtree(under_path);
    Ok(sqlx::query_as(concat!(select_customers!(), " WHERE c.id = $1 AND t.path >= $2 AND t.path < $3"))
        .bind(id)
        .bind(start)
        .bind(end)
        .fetch_optional(pool)
        .await?)
}

/// The filters of a customer search, as the registrar's search takes them: ids (any of), parts of text fields
/// (case-insensitive), a stored status, and exclusive bounds (creation time in milliseconds, total receipts in
/// minor units).
#[derive(Debug, Default)]
pub struct CustomerFilter<'a> {
    pub customer_ids: &'a [i64],
    pub reseller_ids: &'a [i64],
    pub username: Option<&'a str>,
    pub name: Option<&'a str>,
    pub company: Option<&'a str>,
    pub city: Option<&'a str>,
    pub state: Option<&'a str>,
    pub status: Option<String>,
    pub created_from: Option<i64>,
    pub created_before: Option<i64>,
    pub receipts_above: Option<i64>,
    pub receipts_below: Option<i64>,
}

/// Customers at or below `under_path` that pass the filter: one page (limit and offset bound) and the number of all
/// matches.
#[instrument(skip_all)]
pub async fn search_customers(
    reader: &Reader,
    under_path: &str,
    f: &CustomerFilter<'_>,
    page: Paging,
) -> CoreResult<(Vec<CustomerRow>, i64)> {
    // The filters: under a tenant path first (a reseller sees its subtree only, whatever ids it names), then each
    // filter given.
    let filter = |mut q: Sql| -> Sql {
        let (start, end) = subtree(under_path);
        q.push(" WHERE t.path >= ").push_bind(start).push(" AND t.path < ").push_bind(end);
        for (column, ids) in [(" AND c.id IN (", f.customer_ids), (" AND c.tenant_id IN (", f.reseller_ids)] {
            if let Some((first, rest)) = ids.split_first() {
                q.push(column).push_bind(*first);
                for id in rest {
                    q.push(", ").push_bind(*id);
                }
                q.push(")");
            }
        }
        for (column, text) in [
            (" AND LOWER(c.username) LIKE ", f.username),
            (" AND LOWER(c.name) LIKE ", f.name),
            (" AND LOWER(c.company) LIKE ", f.company),
            (" AND LOWER(c.city) LIKE ", f.city),
            (" AND LOWER(c.state) LIKE ", f.state),
        ] {
            if let Some(text) = text.filter(|t| !t.trim().is_empty()) {
                q.push(column).push_bind(contains_pattern(text)).push(" ESCAPE '\\'");
            }
        }
        q.and("c.status = ", f.status.clone());
        q.and("c.created_at >= ", f.created_from);
        q.and("c.created_at < ", f.created_before);
        q.and("c.total_receipts > ", f.receipts_above);
        q.and("c.total_receipts < ", f.receipts_below);
        q
    };
    let mut rows = filter(Sql::new(select_customers!()));
    rows.push(" ORDER BY c.id").page(page);
    let rows = rows.fetch_all(reader).await?;
    let count = filter(Sql::new("SELECT COUNT(*) FROM registrar_customers c JOIN tenants t ON t.id = c.tenant_id"));
    let total = count.fetch_count(reader).await?;
    Ok((rows, total))
}

#[instrument(skip_all)]
pub async fn set_customer_status(conn: &mut AnyConnection, id: i64, status: &str) -> CoreResult<()> {
    sqlx::query("UPDATE registrar_customers SET status = $1 WHERE id = $2")
        .bind(status)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Adds funds (a receipt) and returns the new balance.
#[instrument(skip_all)]
/// Adds a receipt to the customer's funds; the new funds, or None when the funds or the total of receipts would
/// pass `MAX_BALANCE` (guarded in the UPDATE).
pub async fn add_funds(conn: &mut AnyConnection, id: i64, amount: i64) -> CoreResult<Option<i64>> {
    Ok(sqlx::query_scalar(
        "UPDATE registrar_customers SET funds = funds + $1, total_receipts = total_receipts + $1 WHERE id = $2 \
         AND funds + $1 <= $3 AND total_receipts + $1 <= $3 RETURNING funds",
    )
    .bind(amount)
    .bind(id)
    .bind(MAX_BALANCE)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Takes `amount` from the customer's funds if they suffice (guarded in SQL); the new balance, or None.
#[instrument(skip_all)]
pub async fn take_funds(conn: &mut AnyConnection, id: i64, amount: i64) -> CoreResult<Option<i64>> {
    Ok(sqlx::query_scalar(
        "UPDATE registrar_customers SET funds = funds - $1 WHERE id = $2 AND funds >= $1 RETURNING funds",
    )
    .bind(amount)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?)
}

// ---- plans ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PlanRow {
    pub id: i64,
    pub name: String,
    pub tier: i64,
    pub pricing: String,
}

#[instrument(skip_all)]
pub async fn insert_plan(
    conn: &mut AnyConnection,
    tenant_id: i64,
    product: Product,
    name: &str,
    tier: i64,
    pricing: &str,
    now: i64,
) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO registrar_plans (tenant_id, product, name, tier, pricing, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(tenant_id)
    .bind(product.stored())
    .bind(name)
    .bind(tier)
    .bind(pricing)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

#[instrument(skip_all)]
pub async fn plans(pool: &AnyPool, tenant_id: i64, product: Product) -> CoreResult<Vec<PlanRow>> {
    Ok(sqlx::query_as(
        "SELECT id, name, tier, pricing FROM registrar_plans WHERE tenant_id = $1 AND product = $2 ORDER BY tier, id",
    )
    .bind(tenant_id)
    .bind(product.stored())
    .fetch_all(pool)
    .await?)
}

#[instrument(skip_all)]
pub async fn plan(pool: &AnyPool, tenant_id: i64, product: Product, id: i64) -> CoreResult<Option<PlanRow>> {
    Ok(sqlx::query_as(
        "SELECT id, name, tier, pricing FROM registrar_plans WHERE tenant_id = $1 AND product = $2 AND id = $3",
    )
    .bind(tenant_id)
    .bind(product.stored())
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

// ---- orders ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderRow {
    pub id: i64,
    pub tenant_id: i64,
    pub customer_id: i64,
    pub domain: String,
    pub plan_id: i64,
    pub months: i64,
    pub start_at: i64,
    pub end_at: i64,
    pub status: String,
    pub pending_plan_id: Option<i64>,
    /// The tenant path of the customer's reseller.
    pub path: String,
}

#[instrument(skip_all)]
#[allow(clippy::too_many_arguments)]
pub async fn insert_order(
    conn: &mut AnyConnection,
    tenant_id: i64,
    customer_id: i64,
    product: Product,
    domain: &str,
    plan_id: i64,
    months: i64,
    start_at: i64,
    end_at: i64,
    status: &str,
) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO registrar_orders (tenant_id, customer_id, product, domain, plan_id, months, start_at, end_at, \
         status, pending_plan_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $7) RETURNING id",
    )
    .bind(tenant_id)
    .bind(customer_id)
    .bind(product.stored())
    .bind(domain)
    .bind(plan_id)
    .bind(months)
    .bind(start_at)
    .bind(end_at)
    .bind(status)
    .fetch_one(&mut *conn)
    .await?)
}

/// An order of a product whose reseller is at or below `under_path`.
#[instrument(skip_all)]
pub async fn order(pool: &AnyPool, under_path: &str, product: Product, id: i64) -> CoreResult<Option<OrderRow>> {
    let (start, end) = subtree(under_path);
    Ok(sqlx::query_as(
        "SELECT o.id, o.tenant_id, o.customer_id, o.domain, o.plan_id, o.months, o.start_at, o.end_at, o.status, \
         o.pending_plan_id, t.path FROM registrar_orders o JOIN tenants t ON t.id = o.tenant_id \
         WHERE o.id = $1 AND o.product = $2 AND t.path >= $3 AND t.path < $4",
    )
    .bind(id)
    .bind(product.stored())
    .bind(start)
    .bind(end)
    .fetch_optional(pool)
    .await?)
}

#[instrument(skip_all)]
pub async fn activate_order(conn: &mut AnyConnection, id: i64) -> CoreResult<()> {
    sqlx::query("UPDATE registrar_orders SET status = 'Active' WHERE id = $1").bind(id).execute(&mut *conn).await?;
    Ok(())
}

/// Moves an order to a plan now, or records the plan as pending (until its invoice is paid).
#[instrument(skip_all)]
pub async fn change_plan(conn: &mut AnyConnection, id: i64, plan_id: i64, now_or_pending: bool) -> CoreResult<()> {
    let sql = if now_or_pending {
        "UPDATE registrar_orders SET plan_id = $1, pending_plan_id = NULL WHERE id = $2"
    } else {
        "UPDATE registrar_orders SET pending_plan_id = $1 WHERE id = $2"
    };
    sqlx::query(sql).bind(plan_id).bind(id).execute(&mut *conn).await?;
    Ok(())
}

// ---- actions and invoices ----

#[allow(clippy::too_many_arguments)]
#[instrument(skip_all)]
pub async fn insert_action(
    conn: &mut AnyConnection,
    tenant_id: i64,
    customer_id: i64,
    order_id: Option<i64>,
    kind: &str,
    description: &str,
    status: &str,
    reason: Option<&str>,
    now: i64,
) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO registrar_actions (tenant_id, customer_id, order_id, kind, description, status, reason, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(tenant_id)
    .bind(customer_id)
    .bind(order_id)
    .bind(kind)
    .bind(description)
    .bind(status)
    .bind(reason)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

#[allow(clippy::too_many_arguments)]
#[instrument(skip_all)]
pub async fn insert_invoice(
    conn: &mut AnyConnection,
    tenant_id: i64,
    customer_id: i64,
    order_id: i64,
    action_id: i64,
    amount: i64,
    status: &str,
    now: i64,
) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO registrar_invoices (tenant_id, customer_id, order_id, action_id, amount, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(tenant_id)
    .bind(customer_id)
    .bind(order_id)
    .bind(action_id)
    .bind(amount)
    .bind(status)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

// ---- login tokens ----

#[instrument(skip_all)]
pub async fn insert_login_token(
    pool: &AnyPool,
    hash: &str,
    tenant_id: i64,
    customer_id: i64,
    expires_at: i64,
) -> CoreResult<()> {
    sqlx::query(
        "INSERT INTO registrar_login_tokens (token_hash, tenant_id, customer_id, expires_at, used) VALUES ($1, $2, $3, $4, 0)",
    )
    .bind(hash)
    .bind(tenant_id)
    .bind(customer_id)
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Spends a live token of a reseller at or below `under_path`, once; its customer id, or None.
#[instrument(skip_all)]
pub async fn consume_login_token(pool: &AnyPool, hash: &str, under_path: &str, now: i64) -> CoreResult<Option<i64>> {
    let (start, end) = subtree(under_path);
    Ok(sqlx::query_scalar(
        "UPDATE registrar_login_tokens SET used = 1 WHERE token_hash = $1 AND used = 0 AND expires_at > $2 \
         AND tenant_id IN (SELECT id FROM tenants WHERE path >= $3 AND path < $4) RETURNING customer_id",
    )
    .bind(hash)
    .bind(now)
    .bind(start)
    .bind(end)
    .fetch_optional(pool)
    .await?)
}
