//! The audit log: one row per write of the core and of every plugin, written in the same transaction as the write,
//! carrying the server's request id and the client's, when it sent one. Readers see their own subtree only.

use sqlx::AnyConnection;

use crate::db::now_ms;
use crate::error::CoreResult;
use crate::tenancy::Tenant;

pub async fn record(
    conn: &mut AnyConnection,
    principal_id: Option<i64>,
    tenant: &Tenant,
    action: &str,
    object: &str,
) -> CoreResult<()> {
    crate::store::insert_audit(
        conn,
        now_ms(),
        principal_id,
        tenant.id,
        &tenant.path,
        action,
        object,
        &crate::request_id::current(),
        crate::request_id::client().as_deref(),
    )
    .await
}
