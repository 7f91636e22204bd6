//! All SQL of the hello plugin.

use sqlx::AnyConnection;
use tessera_core::CoreResult;

pub async fn insert_greeting(conn: &mut AnyConnection, tenant_id: i64, name: &str, now: i64) -> CoreResult<i64> {
    let id = sqlx::query_scalar(
        "INSERT INTO hello_greetings (tenant_id, name, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(tenant_id)
    .bind(name)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

/// How often `name` was greeted in the tenant.
pub async fn count_greetings(conn: &mut AnyConnection, tenant_id: i64, name: &str) -> CoreResult<i64> {
    let n = sqlx::query_scalar("SELECT COUNT(*) FROM hello_greetings WHERE tenant_id = $1 AND name = $2")
        .bind(tenant_id)
        .bind(name)
        .fetch_one(&mut *conn)
        .await?;
    Ok(n)
}
