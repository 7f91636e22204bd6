//! All SQL of the billing plugin: staff groups and staff, client groups and clients. Every statement names the
//! business (`tenant_id`), so a row of another business is never read or changed.

use sqlx::{Any, AnyConnection, AnyPool, Executor};
use tracing::instrument;

use tessera_core::money::MAX_BALANCE;
use tessera_core::{CoreResult, Flag};

// ---- row locks ----

/// The tables whose rows an edit locks before it reads them.
#[derive(Debug, Clone, Copy)]
pub enum Table {
    StaffGroups,
    Staff,
    ClientGroups,
    Clients,
    Categories,
    Products,
    Promos,
}

/// Takes the write lock of one row of the business for the rest of the transaction, so that what the transaction
/// reads next is what it writes over: a concurrent edit waits, then sees this one's result. (PostgreSQL locks the
/// row; SQLite's writer already holds the whole database.) False when the business has no such row.
#[instrument(skip_all)]
pub async fn lock(conn: &mut AnyConnection, table: Table, tenant_id: i64, id: i64) -> CoreResult<bool> {
    let sql = match table {
        Table::StaffGroups => "UPDATE billing_staff_groups SET id = id WHERE tenant_id = $1 AND id = $2",
        Table::Staff => "UPDATE billing_staff SET id = id WHERE tenant_id = $1 AND id = $2",
        Table::ClientGroups => "UPDATE billing_client_groups SET id = id WHERE tenant_id = $1 AND id = $2",
        Table::Clients => "UPDATE billing_clients SET id = id WHERE tenant_id = $1 AND id = $2",
        Table::Categories => "UPDATE billing_product_categories SET id = id WHERE tenant_id = $1 AND id = $2",
        Table::Products => "UPDATE billing_products SET id = id WHERE tenant_id = $1 AND id = $2",
        Table::Promos => "UPDATE billing_promocodes SET id = id WHERE tenant_id = $1 AND id = $2",
    };
    Ok(sqlx::query(sql).bind(tenant_id).bind(id).execute(&mut *conn).await?.rows_affected() == 1)
}

// ---- staff groups ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GroupRow {
    pub id: i64,
    pub name: String,
    pub permissions: String,
    pub active: Flag,
    pub created_at: i64,
    pub updated_at: Option<i64>,
}

const GROUP_COLS: &str = "SELECT id, name, permissions, active, created_at, updated_at FROM billing_staff_groups";

#[instrument(skip_all)]
pub async fn insert_group(
    conn: &mut AnyConnection,
    tenant_id: i64,
    name: &str,
    permissions: &str,
    active: bool,
    now: i64,
) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO billing_staff_groups (tenant_id, name, permissions, active, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(tenant_id)
    .bind(name)
    .bind(permissions)
    .bind(active as i64)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

#[instrument(skip_all)]
pub async fn group<'c, E: Executor<'c, Database = Any>>(
    pool: E,
    tenant_id: i64,
    id: i64,
) -> CoreResult<Option<GroupRow>> {
    let sql = format!("{GROUP_COLS} WHERE tenant_id = $1 AND id = $2");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(id).fetch_optional(pool).await?)
}

#[instrument(skip_all)]
pub async fn update_group(conn: &mut AnyConnection, tenant_id: i64, g: &GroupRow, now: i64) -> CoreResult<bool> {
    let done = sqlx::query(
        "UPDATE billing_staff_groups SET name = $1, permissions = $2, active = $3, updated_at = $4 \
         WHERE tenant_id = $5 AND id = $6",
    )
    .bind(&g.name)
    .bind(&g.permissions)
    .bind(g.active.0 as i64)
    .bind(now)
    .bind(tenant_id)
    .bind(g.id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How many staff groups the business has (none before its setup).
#[instrument(skip_all)]
pub async fn group_count(conn: &mut AnyConnection, tenant_id: i64) -> CoreResult<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM billing_staff_groups WHERE tenant_id = $1")
        .bind(tenant_id)
        .fetch_one(&mut *conn)
        .await?)
}

/// Deletes a group without members; false when it has members (or is not the business's).
#[instrument(skip_all)]
pub async fn delete_group(conn: &mut AnyConnection, tenant_id: i64, id: i64) -> CoreResult<bool> {
    let done = sqlx::query(
        "DELETE FROM billing_staff_groups WHERE tenant_id = $1 AND id = $2 \
         AND NOT EXISTS (SELECT 1 FROM billing_staff WHERE group_id = $2)",
    )
    .bind(tenant_id)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

// ---- staff ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StaffRow {
    pub id: i64,
    pub principal_id: i64,
    pub group_id: i64,
    pub name: String,
    pub email: String,
    pub active: Flag,
    pub acc_manager: Flag,
    pub created_at: i64,
    pub updated_at: Option<i64>,
}

const STAFF_COLS: &str = "SELECT id, principal_id, group_id, name, email, active, acc_manager, created_at, updated_at \
                          FROM billing_staff";

#[instrument(skip_all)]
pub async fn insert_staff(conn: &mut AnyConnection, tenant_id: i64, s: &StaffRow, now: i64) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO billing_staff (tenant_id, principal_id, group_id, name, email, active, acc_manager, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(tenant_id)
    .bind(s.principal_id)
    .bind(s.group_id)
    .bind(&s.name)
    .bind(&s.email)
    .bind(s.active.0 as i64)
    .bind(s.acc_manager.0 as i64)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

#[instrument(skip_all)]
pub async fn staff<'c, E: Executor<'c, Database = Any>>(
    pool: E,
    tenant_id: i64,
    id: i64,
) -> CoreResult<Option<StaffRow>> {
    let sql = format!("{STAFF_COLS} WHERE tenant_id = $1 AND id = $2");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(id).fetch_optional(pool).await?)
}

#[instrument(skip_all)]
pub async fn staff_by_principal(pool: &AnyPool, tenant_id: i64, principal_id: i64) -> CoreResult<Option<StaffRow>> {
    let sql = format!("{STAFF_COLS} WHERE tenant_id = $1 AND principal_id = $2");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(principal_id).fetch_optional(pool).await?)
}

#[instrument(skip_all)]
pub async fn update_staff(conn: &mut AnyConnection, tenant_id: i64, s: &StaffRow, now: i64) -> CoreResult<bool> {
    let done = sqlx::query(
        "UPDATE billing_staff SET group_id = $1, name = $2, email = $3, active = $4, acc_manager = $5, \
         updated_at = $6 WHERE tenant_id = $7 AND id = $8",
    )
    .bind(s.group_id)
    .bind(&s.name)
    .bind(&s.email)
    .bind(s.active.0 as i64)
    .bind(s.acc_manager.0 as i64)
    .bind(now)
    .bind(tenant_id)
    .bind(s.id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[instrument(skip_all)]
pub async fn delete_staff(conn: &mut AnyConnection, tenant_id: i64, id: i64) -> CoreResult<bool> {
    let done = sqlx::query("DELETE FROM billing_staff WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

// ---- client groups ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClientGroupRow {
    pub id: i64,
    pub title: String,
    pub created_at: i64,
    pub updated_at: Option<i64>,
}

#[instrument(skip_all)]
pub async fn insert_client_group(conn: &mut AnyConnection, tenant_id: i64, title: &str, now: i64) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO billing_client_groups (tenant_id, title, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(tenant_id)
    .bind(title)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

#[instrument(skip_all)]
pub async fn client_group<'c, E: Executor<'c, Database = Any>>(
    pool: E,
    tenant_id: i64,
    id: i64,
) -> CoreResult<Option<ClientGroupRow>> {
    Ok(sqlx::query_as(
        "SELECT id, title, created_at, updated_at FROM billing_client_groups WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

#[instrument(skip_all)]
pub async fn update_client_group(
    conn: &mut AnyConnection,
    tenant_id: i64,
    id: i64,
    title: &str,
    now: i64,
) -> CoreResult<bool> {
    let done =
        sqlx::query("UPDATE billing_client_groups SET title = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4")
            .bind(title)
            .bind(now)
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes a client group; its clients are left without a group.
#[instrument(skip_all)]
pub async fn delete_client_group(conn: &mut AnyConnection, tenant_id: i64, id: i64) -> CoreResult<bool> {
    sqlx::query("UPDATE billing_clients SET group_id = NULL WHERE tenant_id = $1 AND group_id = $2")
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let done = sqlx::query("DELETE FROM billing_client_groups WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

// ---- clients ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClientRow {
    pub id: i64,
    pub principal_id: i64,
    pub group_id: Option<i64>,
    pub status: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub gender: String,
    pub dob: String,
    pub phone: String,
    pub company: String,
    pub address_1: String,
    pub address_2: String,
    pub city: String,
    pub state: String,
    pub postcode: String,
    pub country: String,
    pub currency: String,
    pub balance: i64,
    pub created_at: i64,
    pub updated_at: Option<i64>,
}

const CLIENT_COLS: &str =
    "SELECT id, principal_id, group_id, status, first_name, last_name, email, gender, dob, phone, \
                           company, address_1, address_2, city, state, postcode, country, currency, balance, \
                           created_at, updated_at FROM billing_clients";

#[instrument(skip_all)]
pub async fn insert_client(conn: &mut AnyConnection, tenant_id: i64, c: &ClientRow, now: i64) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO billing_clients (tenant_id, principal_id, group_id, status, first_name, last_name, email, \
         gender, dob, phone, company, address_1, address_2, city, state, postcode, country, currency, balance, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, 0, $19) \
         RETURNING id",
    )
    .bind(tenant_id)
    .bind(c.principal_id)
    .bind(c.group_id)
    .bind(&c.status)
    .bind(&c.first_name)
    .bind(&c.last_name)
    .bind(&c.email)
    .bind(&c.gender)
    .bind(&c.dob)
    .bind(&c.phone)
    .bind(&c.company)
    .bind(&c.address_1)
    .bind(&c.address_2)
    .bind(&c.city)
    .bind(&c.state)
    .bind(&c.postcode)
    .bind(&c.country)
    .bind(&c.currency)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

#[instrument(skip_all)]
pub async fn client<'c, E: Executor<'c, Database = Any>>(
    pool: E,
    tenant_id: i64,
    id: i64,
) -> CoreResult<Option<ClientRow>> {
    let sql = format!("{CLIENT_COLS} WHERE tenant_id = $1 AND id = $2");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(id).fetch_optional(pool).await?)
}

#[instrument(skip_all)]
pub async fn client_by_principal(pool: &AnyPool, tenant_id: i64, principal_id: i64) -> CoreResult<Option<ClientRow>> {
    let sql = format!("{CLIENT_COLS} WHERE tenant_id = $1 AND principal_id = $2");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(principal_id).fetch_optional(pool).await?)
}

/// Writes a client's profile (everything but its principal, currency and balance).
#[instrument(skip_all)]
pub async fn update_client(conn: &mut AnyConnection, tenant_id: i64, c: &ClientRow, now: i64) -> CoreResult<bool> {
    let done = sqlx::query(
        "UPDATE billing_clients SET group_id = $1, status = $2, first_name = $3, last_name = $4, email = $5, \
         gender = $6, dob = $7, phone = $8, company = $9, address_1 = $10, address_2 = $11, city = $12, \
         state = $13, postcode = $14, country = $15, updated_at = $16 WHERE tenant_id = $17 AND id = $18",
    )
    .bind(c.group_id)
    .bind(&c.status)
    .bind(&c.first_name)
    .bind(&c.last_name)
    .bind(&c.email)
    .bind(&c.gender)
    .bind(&c.dob)
    .bind(&c.phone)
    .bind(&c.company)
    .bind(&c.address_1)
    .bind(&c.address_2)
    .bind(&c.city)
    .bind(&c.state)
    .bind(&c.postcode)
    .bind(&c.country)
    .bind(now)
    .bind(tenant_id)
    .bind(c.id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[instrument(skip_all)]
pub async fn delete_client(conn: &mut AnyConnection, tenant_id: i64, id: i64) -> CoreResult<bool> {
    let done = sqlx::query("DELETE FROM billing_clients WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

// ---- catalogue: categories ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CategoryRow {
    pub id: i64,
    pub title: String,
    pub description: String,
    pub created_at: i64,
    pub updated_at: Option<i64>,
}

#[instrument(skip_all)]
pub async fn insert_category(conn: &mut AnyConnection, tenant_id: i64, c: &CategoryRow, now: i64) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO billing_product_categories (tenant_id, title, description, created_at) VALUES ($1, $2, $3, $4) \
         RETURNING id",
    )
    .bind(tenant_id)
    .bind(&c.title)
    .bind(&c.description)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

#[instrument(skip_all)]
pub async fn category<'c, E: Executor<'c, Database = Any>>(
    pool: E,
    tenant_id: i64,
    id: i64,
) -> CoreResult<Option<CategoryRow>> {
    Ok(sqlx::query_as(
        "SELECT id, title, description, created_at, updated_at FROM billing_product_categories \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

#[instrument(skip_all)]
pub async fn update_category(conn: &mut AnyConnection, tenant_id: i64, c: &CategoryRow, now: i64) -> CoreResult<bool> {
    let done = sqlx::query(
        "UPDATE billing_product_categories SET title = $1, description = $2, updated_at = $3 \
         WHERE tenant_id = $4 AND id = $5",
    )
    .bind(&c.title)
    .bind(&c.description)
    .bind(now)
    .bind(tenant_id)
    .bind(c.id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes a category holding no products; false when it holds some (or is not the business's).
#[instrument(skip_all)]
pub async fn delete_category(conn: &mut AnyConnection, tenant_id: i64, id: i64) -> CoreResult<bool> {
    let done = sqlx::query(
        "DELETE FROM billing_product_categories WHERE tenant_id = $1 AND id = $2 \
         AND NOT EXISTS (SELECT 1 FROM billing_products WHERE category_id = $2)",
    )
    .bind(tenant_id)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

// ---- catalogue: products and addons ----

/// A product (`kind` product) or an addon (`kind` addon, no category).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProductRow {
    pub id: i64,
    pub kind: String,
    pub category_id: Option<i64>,
    pub title: String,
    pub product_type: String,
    pub description: String,
    pub currency: String,
    pub price: i64,
    pub setup_price: i64,
    pub period: String,
    pub active: Flag,
    pub created_at: i64,
    pub updated_at: Option<i64>,
}

#[instrument(skip_all)]
pub async fn insert_product(conn: &mut AnyConnection, tenant_id: i64, p: &ProductRow, now: i64) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO billing_products (tenant_id, kind, category_id, title, product_type, description, currency, \
         price, setup_price, period, active, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(tenant_id)
    .bind(&p.kind)
    .bind(p.category_id)
    .bind(&p.title)
    .bind(&p.product_type)
    .bind(&p.description)
    .bind(&p.currency)
    .bind(p.price)
    .bind(p.setup_price)
    .bind(&p.period)
    .bind(p.active.0 as i64)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

#[instrument(skip_all)]
pub async fn product<'c, E: Executor<'c, Database = Any>>(
    pool: E,
    tenant_id: i64,
    kind: &str,
    id: i64,
) -> CoreResult<Option<ProductRow>> {
    Ok(sqlx::query_as(
        "SELECT id, kind, category_id, title, product_type, description, currency, price, setup_price, period, \
         active, created_at, updated_at FROM billing_products WHERE tenant_id = $1 AND kind = $2 AND id = $3",
    )
    .bind(tenant_id)
    .bind(kind)
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

#[instrument(skip_all)]
pub async fn update_product(conn: &mut AnyConnection, tenant_id: i64, p: &ProductRow, now: i64) -> CoreResult<bool> {
    let done = sqlx::query(
        "UPDATE billing_products SET category_id = $1, title = $2, product_type = $3, description = $4, \
         currency = $5, price = $6, setup_price = $7, period = $8, active = $9, updated_at = $10 \
         WHERE tenant_id = $11 AND kind = $12 AND id = $13",
    )
    .bind(p.category_id)
    .bind(&p.title)
    .bind(&p.product_type)
    .bind(&p.description)
    .bind(&p.currency)
    .bind(p.price)
    .bind(p.setup_price)
    .bind(&p.period)
    .bind(p.active.0 as i64)
    .bind(now)
    .bind(tenant_id)
    .bind(&p.kind)
    .bind(p.id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[instrument(skip_all)]
pub async fn delete_product(conn: &mut AnyConnection, tenant_id: i64, kind: &str, id: i64) -> CoreResult<bool> {
    let done = sqlx::query("DELETE FROM billing_products WHERE tenant_id = $1 AND kind = $2 AND id = $3")
        .bind(tenant_id)
        .bind(kind)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

// ---- catalogue: promo codes ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PromoRow {
    pub id: i64,
    pub code: String,
    pub promo_type: String,
    pub value: i64,
    pub max_uses: i64,
    pub used: i64,
    pub starts_at: Option<i64>,
    pub ends_at: Option<i64>,
    pub active: Flag,
    pub created_at: i64,
    pub updated_at: Option<i64>,
}

#[instrument(skip_all)]
pub async fn insert_promo(conn: &mut AnyConnection, tenant_id: i64, p: &PromoRow, now: i64) -> CoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO billing_promocodes (tenant_id, code, promo_type, value, max_uses, starts_at, ends_at, active, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(tenant_id)
    .bind(&p.code)
    .bind(&p.promo_type)
    .bind(p.value)
    .bind(p.max_uses)
    .bind(p.starts_at)
    .bind(p.ends_at)
    .bind(p.active.0 as i64)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

const PROMO_COLS: &str = "SELECT id, code, promo_type, value, max_uses, used, starts_at, ends_at, active, created_at, \
                          updated_at FROM billing_promocodes";

#[instrument(skip_all)]
pub async fn promo<'c, E: Executor<'c, Database = Any>>(
    pool: E,
    tenant_id: i64,
    id: i64,
) -> CoreResult<Option<PromoRow>> {
    let sql = format!("{PROMO_COLS} WHERE tenant_id = $1 AND id = $2");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(id).fetch_optional(pool).await?)
}

#[instrument(skip_all)]
pub async fn update_promo(conn: &mut AnyConnection, tenant_id: i64, p: &PromoRow, now: i64) -> CoreResult<bool> {
    let done = sqlx::query(
        "UPDATE billing_promocodes SET code = $1, promo_type = $2, value = $3, max_uses = $4, starts_at = $5, \
         ends_at = $6, active = $7, updated_at = $8 WHERE tenant_id = $9 AND id = $10",
    )
    .bind(&p.code)
    .bind(&p.promo_type)
    .bind(p.value)
    .bind(p.max_uses)
    .bind(p.starts_at)
    .bind(p.ends_at)
    .bind(p.active.0 as i64)
    .bind(now)
    .bind(tenant_id)
    .bind(p.id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[instrument(skip_all)]
pub async fn delete_promo(conn: &mut AnyConnection, tenant_id: i64, id: i64) -> CoreResult<bool> {
    let done = sqlx::query("DELETE FROM billing_promocodes WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

// ---- client balances ----

/// One move of a client's balance.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LedgerRow {
    pub id: i64,
    pub amount: i64,
    pub balance_after: i64,
    pub kind: String,
    pub description: String,
    pub invoice_id: Option<i64>,
    pub created_at: i64,
}

pub struct BalanceMove<'a> {
    pub client_id: i64,
    /// Minor units; negative takes from the balance.
    pub amount: i64,
    pub kind: &'a str,
    pub description: &'a str,
    pub key: Option<&'a str>,
    pub invoice_id: Option<i64>,
}

/// Moves a client's balance and records the move, in the caller's transaction: one guarded UPDATE, so the balance
/// never goes below zero (nor above the largest amount kept), whatever the concurrency. None when the guard refuses.
#[instrument(skip_all)]
pub async fn move_balance(
    conn: &mut AnyConnection,
    tenant_id: i64,
    m: &BalanceMove<'_>,
    now: i64,
) -> CoreResult<Option<LedgerRow>> {
    let after: Option<i64> = sqlx::query_scalar(
        "UPDATE billing_clients SET balance = balance + $1 WHERE tenant_id = $2 AND id = $3 \
         AND balance + $1 >= 0 AND balance + $1 <= $4 RETURNING balance",
    )
    .bind(m.amount)
    .bind(tenant_id)
    .bind(m.client_id)
    .bind(MAX_BALANCE)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(after) = after else { return Ok(None) };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO billing_balance_ledger (tenant_id, client_id, amount, balance_after, kind, description, \
         idempotency_key, invoice_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(tenant_id)
    .bind(m.client_id)
    .bind(m.amount)
    .bind(after)
    .bind(m.kind)
    .bind(m.description)
    .bind(m.key)
    .bind(m.invoice_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Some(LedgerRow {
        id,
        amount: m.amount,
        balance_after: after,
        kind: m.kind.to_string(),
        description: m.description.to_string(),
        invoice_id: m.invoice_id,
        created_at: now,
    }))
}

const LEDGER_COLS: &str =
    "SELECT id, amount, balance_after, kind, description, invoice_id, created_at FROM billing_balance_ledger";

/// The move a client's idempotency key was first used for.
#[instrument(skip_all)]
pub async fn move_by_key<'c, E: Executor<'c, Database = Any>>(
    pool: E,
    tenant_id: i64,
    client_id: i64,
    key: &str,
) -> CoreResult<Option<LedgerRow>> {
    let sql = format!("{LEDGER_COLS} WHERE tenant_id = $1 AND client_id = $2 AND idempotency_key = $3");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(client_id).bind(key).fetch_optional(pool).await?)
}

/// A client's latest moves, newest first, and how many there are.
#[instrument(skip_all)]
pub async fn moves(pool: &AnyPool, tenant_id: i64, client_id: i64, limit: i64) -> CoreResult<(Vec<LedgerRow>, i64)> {
    let sql = format!("{LEDGER_COLS} WHERE tenant_id = $1 AND client_id = $2 ORDER BY id DESC LIMIT $3");
    let rows =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(client_id).bind(limit).fetch_all(pool).await?;
    let total =
        sqlx::query_scalar("SELECT COUNT(*) FROM billing_balance_ledger WHERE tenant_id = $1 AND client_id = $2")
            .bind(tenant_id)
            .bind(client_id)
            .fetch_one(pool)
            .await?;
    Ok((rows, total))
}
