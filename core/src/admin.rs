//! The core admin API under `/core/v1`: tenants, users, API keys, plugins per tenant and the audit log. JSON (forms
//! accepted too), `Authorization: Bearer <api key>`, errors as application/problem+json.
//!
//! Every operation authenticates first, then resolves its target tenant (one outside the caller's subtree answers
//! 404, so its existence does not leak), then makes its one casbin check on that tenant.

use std::collections::BTreeMap;
use std::sync::Arc;

use poem_openapi::auth::Bearer;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::ToJSON;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, SecurityScheme, Tags};

use crate::authz::PLATFORM_ADMIN;
use crate::error::{CoreError, CoreResult, Failure};
use crate::identity::{hash_password, Caller};
use crate::plugin::{Manifest, PluginApi};
use crate::store::{self, AuditRow, KeyRow, PrincipalRow};
use crate::tenancy::{Tenant, TenantKind};
use crate::types::Paging;
use crate::wire::{Input, PathId};
use crate::{audit, now_ms, validate_name, Core};

#[derive(Tags)]
pub(crate) enum CoreTag {
    /// Tenants, users, API keys, plugins per tenant and the audit log.
    Core,
}

/// An API key, sent as `Authorization: Bearer <key>`. Plugins whose own operations take a core API key use this
/// same scheme, so the document declares it once.
#[derive(SecurityScheme)]
#[oai(rename = "CoreBearer", ty = "bearer", bearer_format = "API key")]
pub struct AdminAuth(pub Bearer);

// ---- wire types ----

/// An error, as RFC 9457 problem details.
#[derive(Object, Debug)]
#[oai(rename = "CoreProblem")]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[oai(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// What is wrong, naming the field where there is one.
    pub detail: String,
    /// The request field that is wrong, for validation errors.
    #[oai(skip_serializing_if_is_none)]
    pub field: Option<String>,
    pub request_id: String,
}

impl From<CoreError> for Problem {
    fn from(e: CoreError) -> Self {
        e.log_internal();
        let status = e.status();
        let slug = match &e {
            CoreError::Invalid { .. } => "invalid-input",
            CoreError::Unauthenticated(_) => "unauthenticated",
            CoreError::Forbidden(_) => "forbidden",
            CoreError::TenantSuspended => "tenant-suspended",
            CoreError::PluginDisabled(_) => "plugin-disabled",
            CoreError::NotFound(_) => "not-found",
            CoreError::Conflict(_) => "conflict",
            CoreError::PayloadTooLarge(_) => "payload-too-large",
            CoreError::MethodNotAllowed { .. } => "method-not-allowed",
            CoreError::UnsupportedMediaType(_) => "unsupported-media-type",
            CoreError::RateLimited(_) => "rate-limited",
            CoreError::LoginBlocked(_) => "login-blocked",
            CoreError::Internal(_) => "internal",
        };
        Problem {
            kind: format!("https://tessera.dev/problems/{slug}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: e.public_message(),
            field: e.field().map(str::to_string),
            request_id: crate::request_id::current(),
        }
    }
}

/// A read or an update: 200 with the object, or a problem.
#[derive(ApiResponse)]
#[oai(bad_request_handler = "bad_request_reply")]
pub(crate) enum Reply<T: ToJSON> {
    /// Success.
    #[oai(status = 200)]
    Ok(Json<T>),
    /// Invalid input; `field` names it.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Missing, invalid, expired or revoked API key.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// Not allowed, or the caller's tenant is suspended.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// No such object visible to the caller, or no operation at this path.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The path does not serve this method; Allow lists the methods it serves.
    #[oai(status = 405, content_type = "application/problem+json")]
    MethodNotAllowed(Json<Problem>, #[oai(header = "Allow")] String),
    /// Conflicts with the current state (a slug or email taken, an object in use).
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// The request body is larger than the server accepts.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// The body is neither JSON (application/json) nor a form (application/x-www-form-urlencoded).
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// Too many requests for this API key or tenant; Retry-After says how many seconds to wait.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// Unexpected failure; the request id is in the answer and in the server log.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}

/// A creation: 201 with the new object, or a problem.
#[derive(ApiResponse)]
#[oai(bad_request_handler = "bad_request_made")]
pub(crate) enum Made<T: ToJSON> {
    /// Created.
    #[oai(status = 201)]
    Created(Json<T>),
    /// Invalid input; `field` names it.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Missing, invalid, expired or revoked API key.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// Not allowed, or the caller's tenant is suspended.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// No such object visible to the caller, or no operation at this path.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The path does not serve this method; Allow lists the methods it serves.
    #[oai(status = 405, content_type = "application/problem+json")]
    MethodNotAllowed(Json<Problem>, #[oai(header = "Allow")] String),
    /// Conflicts with the current state (a slug or email taken, an object in use).
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// The request body is larger than the server accepts.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// The body is neither JSON (application/json) nor a form (application/x-www-form-urlencoded).
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// Too many requests for this API key or tenant; Retry-After says how many seconds to wait.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// Unexpected failure; the request id is in the answer and in the server log.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}

/// A deletion: 204, or a problem.
#[derive(ApiResponse)]
#[oai(bad_request_handler = "bad_request_gone")]
pub(crate) enum Gone {
    /// Done.
    #[oai(status = 204)]
    NoContent,
    /// Invalid input; `field` names it.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Missing, invalid, expired or revoked API key.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// Not allowed, or the caller's tenant is suspended.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// No such object visible to the caller, or no operation at this path.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The path does not serve this method; Allow lists the methods it serves.
    #[oai(status = 405, content_type = "application/problem+json")]
    MethodNotAllowed(Json<Problem>, #[oai(header = "Allow")] String),
    /// Conflicts with the current state (a slug or email taken, an object in use).
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// The request body is larger than the server accepts.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// The body is neither JSON (application/json) nor a form (application/x-www-form-urlencoded).
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// Too many requests for this API key or tenant; Retry-After says how many seconds to wait.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// Unexpected failure; the request id is in the answer and in the server log.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}

impl<T: ToJSON> From<CoreResult<T>> for Reply<T> {
    fn from(r: CoreResult<T>) -> Self {
        match r {
            Ok(v) => Reply::Ok(Json(v)),
            Err(e) => {
                let failure = e.failure();
                let p = Json(Problem::from(e));
                match failure {
                    Failure::BadRequest => Reply::BadRequest(p),
                    Failure::Unauthorized => Reply::Unauthorized(p),
                    Failure::Forbidden => Reply::Forbidden(p),
                    Failure::NotFound => Reply::NotFound(p),
                    Failure::MethodNotAllowed(allow) => Reply::MethodNotAllowed(p, allow),
                    Failure::Conflict => Reply::Conflict(p),
                    Failure::PayloadTooLarge => Reply::PayloadTooLarge(p),
                    Failure::UnsupportedMediaType => Reply::UnsupportedMediaType(p),
                    Failure::TooManyRequests(seconds) => Reply::TooManyRequests(p, seconds),
                    Failure::Internal => Reply::Internal(p),
                }
            }
        }
    }
}

impl<T: ToJSON> From<CoreResult<T>> for Made<T> {
    fn from(r: CoreResult<T>) -> Self {
        match r {
            Ok(v) => Made::Created(Json(v)),
            Err(e) => {
                let failure = e.failure();
                let p = Json(Problem::from(e));
                match failure {
                    Failure::BadRequest => Made::BadRequest(p),
                    Failure::Unauthorized => Made::Unauthorized(p),
                    Failure::Forbidden => Made::Forbidden(p),
                    Failure::NotFound => Made::NotFound(p),
                    Failure::MethodNotAllowed(allow) => Made::MethodNotAllowed(p, allow),
                    Failure::Conflict => Made::Conflict(p),
                    Failure::PayloadTooLarge => Made::PayloadTooLarge(p),
                    Failure::UnsupportedMediaType => Made::UnsupportedMediaType(p),
                    Failure::TooManyRequests(seconds) => Made::TooManyRequests(p, seconds),
                    Failure::Internal => Made::Internal(p),
                }
            }
        }
    }
}

impl From<CoreResult<()>> for Gone {
    fn from(r: CoreResult<()>) -> Self {
        match r {
            Ok(()) => Gone::NoContent,
            Err(e) => {
                let failure = e.failure();
                let p = Json(Problem::from(e));
                match failure {
                    Failure::BadRequest => Gone::BadRequest(p),
                    Failure::Unauthorized => Gone::Unauthorized(p),
                    Failure::Forbidden => Gone::Forbidden(p),
                    Failure::NotFound => Gone::NotFound(p),
                    Failure::MethodNotAllowed(allow) => Gone::MethodNotAllowed(p, allow),
                    Failure::Conflict => Gone::Conflict(p),
                    Failure::PayloadTooLarge => Gone::PayloadTooLarge(p),
                    Failure::UnsupportedMediaType => Gone::UnsupportedMediaType(p),
                    Failure::TooManyRequests(seconds) => Gone::TooManyRequests(p, seconds),
                    Failure::Internal => Gone::Internal(p),
                }
            }
        }
    }
}

/// The admin API's answer to a failure the core meets before an operation runs (see `server::guard`).
fn problem_response(e: CoreError) -> poem::Response {
    poem::IntoResponse::into_response(Gone::from(Err(e)))
}

fn bad_request_reply<T: ToJSON>(err: poem::Error) -> Reply<T> {
    Err(CoreError::from_poem(err)).into()
}

fn bad_request_made<T: ToJSON>(err: poem::Error) -> Made<T> {
    Err(CoreError::from_poem(err)).into()
}

fn bad_request_gone(err: poem::Error) -> Gone {
    Err(CoreError::from_poem(err)).into()
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "CoreTenantKind", rename_all = "lowercase")]
pub enum WireTenantKind {
    Platform,
    Isp,
    Reseller,
    Organisation,
}

/// The kinds an API caller may create (the platform exists once).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "CoreNewTenantKind", rename_all = "lowercase")]
pub enum NewTenantKind {
    Isp,
    Reseller,
    Organisation,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "CoreTenantStatus", rename_all = "lowercase")]
pub enum TenantStatus {
    Active,
    Suspended,
}

#[derive(Object)]
#[oai(rename = "CoreTenant")]
pub struct TenantOut {
    pub id: i64,
    #[oai(nullable)]
    pub parent_id: Option<i64>,
    pub kind: WireTenantKind,
    pub name: String,
    pub slug: String,
    /// Materialised path of ids from the root, e.g. `/1/4/9/`.
    pub path: String,
    pub status: TenantStatus,
    /// RFC 3339.
    pub created_at: String,
}

impl From<&Tenant> for TenantOut {
    fn from(t: &Tenant) -> Self {
        TenantOut {
            id: t.id,
            parent_id: t.parent_id,
            kind: match t.kind() {
                TenantKind::Platform => WireTenantKind::Platform,
                TenantKind::Isp => WireTenantKind::Isp,
                TenantKind::Reseller => WireTenantKind::Reseller,
                TenantKind::Organisation => WireTenantKind::Organisation,
            },
            name: t.name.clone(),
            slug: t.slug.clone(),
            path: t.path.clone(),
            status: if t.is_active() { TenantStatus::Active } else { TenantStatus::Suspended },
            created_at: rfc3339(t.created_at),
        }
    }
}

#[derive(Object)]
#[oai(rename = "CoreTenantCreate")]
pub struct TenantCreate {
    pub parent_id: i64,
    pub kind: NewTenantKind,
    #[oai(validator(max_length = 200))]
    pub name: String,
    /// Unique across the platform: lowercase letters, digits, '-' and '.'.
    #[oai(validator(max_length = 63))]
    pub slug: String,
}

#[derive(Object)]
#[oai(rename = "CoreTenantUpdate")]
pub struct TenantUpdate {
    #[oai(validator(max_length = 200))]
    pub name: Option<String>,
    /// A suspended tenant's callers, and those of every tenant below it, are refused everywhere.
    pub status: Option<TenantStatus>,
}

#[derive(Object)]
#[oai(rename = "CoreTenantPage")]
pub struct TenantPage {
    pub items: Vec<TenantOut>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Object)]
#[oai(rename = "CoreUserCreate")]
pub struct UserCreate {
    #[oai(validator(max_length = 254))]
    pub email: String,
    /// At least 8 characters. Stored only as an argon2id hash.
    #[oai(validator(max_length = 256))]
    pub password: String,
    #[oai(validator(max_length = 200))]
    pub name: String,
    /// Roles granted in this tenant and everything below it: `tenant_admin` or a role a plugin declares.
    #[oai(default)]
    pub roles: Vec<String>,
}

#[derive(Object)]
#[oai(rename = "CoreRoleGrant")]
pub struct RoleGrant {
    pub role: String,
    /// The subtree the role covers, e.g. `/1/4/*`.
    pub scope: String,
}

#[derive(Object)]
#[oai(rename = "CoreUser")]
pub struct UserOut {
    pub id: i64,
    pub tenant_id: i64,
    pub email: String,
    pub name: String,
    pub status: String,
    pub roles: Vec<RoleGrant>,
    pub created_at: String,
}

#[derive(Object)]
#[oai(rename = "CoreUserPage")]
pub struct UserPage {
    pub items: Vec<UserOut>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Object)]
#[oai(rename = "CoreApiKeyCreate")]
pub struct ApiKeyCreate {
    #[oai(validator(max_length = 200))]
    pub name: String,
    /// RFC 3339; the key stops working then. Absent: no expiry.
    pub expires_at: Option<String>,
}

#[derive(Object)]
#[oai(rename = "CoreApiKeyCreated")]
pub struct ApiKeyCreated {
    pub id: i64,
    pub name: String,
    /// The key. Shown only in this answer; store it now.
    pub key: String,
    pub prefix: String,
    #[oai(nullable)]
    pub expires_at: Option<String>,
}

#[derive(Object)]
#[oai(rename = "CoreApiKey")]
pub struct ApiKeyOut {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    pub created_at: String,
    #[oai(nullable)]
    pub expires_at: Option<String>,
    #[oai(nullable)]
    pub revoked_at: Option<String>,
}

impl From<KeyRow> for ApiKeyOut {
    fn from(k: KeyRow) -> Self {
        ApiKeyOut {
            id: k.id,
            user_id: k.principal_id,
            name: k.name,
            prefix: k.prefix,
            created_at: rfc3339(k.created_at),
            expires_at: k.expires_at.map(rfc3339),
            revoked_at: k.revoked_at.map(rfc3339),
        }
    }
}

#[derive(Object)]
#[oai(rename = "CoreApiKeyList")]
pub struct ApiKeyList {
    pub items: Vec<ApiKeyOut>,
}

#[derive(Object)]
#[oai(rename = "CorePlugin")]
pub struct PluginOut {
    pub name: String,
    pub version: String,
    pub title: String,
    pub description: String,
    /// Where its API is served.
    pub mount: String,
}

impl From<&Manifest> for PluginOut {
    fn from(m: &Manifest) -> Self {
        PluginOut {
            name: m.name.into(),
            version: m.version.into(),
            title: m.title.into(),
            description: m.description.into(),
            mount: format!("/{}", m.name),
        }
    }
}

#[derive(Object)]
#[oai(rename = "CorePluginList")]
pub struct PluginList {
    pub items: Vec<PluginOut>,
}

#[derive(Object)]
#[oai(rename = "CoreTenantPlugin")]
pub struct TenantPluginOut {
    pub plugin: String,
    /// Set for this tenant itself.
    pub enabled: bool,
    /// Whether the plugin serves this tenant: enabled for it, and disabled by none of the tenants above it.
    pub available: bool,
    /// The tenant above that disabled it, when one did (its state then wins over `enabled`).
    #[oai(nullable)]
    pub disabled_by: Option<i64>,
    pub config: BTreeMap<String, serde_json::Value>,
    #[oai(nullable)]
    pub updated_at: Option<String>,
}

#[derive(Object)]
#[oai(rename = "CoreTenantPluginList")]
pub struct TenantPluginList {
    pub items: Vec<TenantPluginOut>,
}

#[derive(Object)]
#[oai(rename = "CoreTenantPluginSet")]
pub struct TenantPluginSet {
    pub enabled: bool,
    /// Plugin settings for this tenant (a JSON object); absent keeps the current ones.
    pub config: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Object)]
#[oai(rename = "CoreAuditEntry")]
pub struct AuditOut {
    pub id: i64,
    pub at: String,
    /// Who did it; absent for the system (bootstrap).
    #[oai(nullable)]
    pub principal_id: Option<i64>,
    pub tenant_id: i64,
    pub action: String,
    pub object: String,
    /// The id Tessera gave the request (its `x-request-id` answer header).
    pub request_id: String,
    /// The well-formed `x-request-id` the client sent, if it sent one.
    #[oai(nullable)]
    pub client_request_id: Option<String>,
}

impl From<AuditRow> for AuditOut {
    fn from(a: AuditRow) -> Self {
        AuditOut {
            id: a.id,
            at: rfc3339(a.at),
            principal_id: a.principal_id,
            tenant_id: a.tenant_id,
            action: a.action,
            object: a.object,
            request_id: a.request_id,
            client_request_id: a.client_request_id,
        }
    }
}

#[derive(Object)]
#[oai(rename = "CoreAuditPage")]
pub struct AuditPage {
    pub items: Vec<AuditOut>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Object)]
#[oai(rename = "CoreWhoAmI")]
pub struct WhoAmI {
    pub user_id: i64,
    pub tenant: TenantOut,
    pub roles: Vec<RoleGrant>,
}

pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

fn parse_rfc3339(field: &str, s: &str) -> CoreResult<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| CoreError::invalid(field, "must be an RFC 3339 date-time, e.g. 2030-01-31T00:00:00Z"))
}

// ---- the API ----

pub struct AdminApi {
    core: Core,
}

pub fn api(core: Core, outbox: Arc<crate::outbox::Outbox>) -> PluginApi {
    let manifest = Manifest {
        name: "core",
        version: crate::VERSION,
        title: "Tessera core",
        description: "Tenants, users, API keys, plugins per tenant, the audit log, jobs, emails and webhooks.",
    };
    let apis = (AdminApi { core: core.clone() }, crate::admin_outbox::OutboxApi::new(core, outbox));
    let service =
        poem_openapi::OpenApiService::new(apis, manifest.title, manifest.version).description(manifest.description);
    let spec = serde_json::from_str(&service.spec()).unwrap_or_default();
    PluginApi {
        endpoint: poem::EndpointExt::boxed(poem::IntoEndpoint::into_endpoint(service)),
        spec,
        error_response: problem_response,
    }
}

impl AdminApi {
    async fn caller(&self, auth: &AdminAuth) -> CoreResult<Caller> {
        self.core.identity.authenticate_key(&auth.0.token).await
    }

    /// The tenant `id` if it lies in the caller's subtree; otherwise not found.
    async fn visible(&self, caller: &Caller, id: i64) -> CoreResult<Arc<Tenant>> {
        self.core.visible_tenant(caller, id, "tenant").await
    }

    async fn require(&self, caller: &Caller, object: &str, action: &str, tenant: &Tenant) -> CoreResult<()> {
        self.core.authz.require(caller, object, action, &tenant.path).await.map(|_| ())
    }

    fn is_platform_admin(caller: &Caller) -> bool {
        caller.tenant.parent_id.is_none()
    }

    async fn user_out(&self, p: PrincipalRow) -> CoreResult<UserOut> {
        let roles = self.core.authz.grants_of(p.id).await?;
        Ok(UserOut {
            id: p.id,
            tenant_id: p.tenant_id,
            email: p.email,
            name: p.name,
            status: p.status,
            roles: roles.into_iter().map(|(role, scope)| RoleGrant { role, scope }).collect(),
            created_at: rfc3339(p.created_at),
        })
    }

    /// The principal `id` and its tenant, if the caller may act on it (itself, or inside its subtree).
    async fn visible_user(&self, caller: &Caller, id: i64) -> CoreResult<(PrincipalRow, Arc<Tenant>)> {
        let hidden = || CoreError::not_found(format!("user {id} not found"));
        let p = store::principal(&self.core.db.pool, id).await?.ok_or_else(hidden)?;
        let tenant = self.core.tenants.get(p.tenant_id).await?.ok_or_else(hidden)?;
        if p.id != caller.principal_id && !tenant.is_within(caller.tenant_path()) {
            return Err(hidden());
        }
        Ok((p, tenant))
    }

    async fn create_tenant(&self, caller: &Caller, body: &TenantCreate) -> CoreResult<TenantOut> {
        let parent = self.visible(caller, body.parent_id).await.map_err(|_| {
            CoreError::invalid("parent_id", format!("tenant {} does not exist or is not yours", body.parent_id))
        })?;
        self.require(caller, "core:tenant", "create", &parent).await?;
        let kind = match body.kind {
            NewTenantKind::Isp => TenantKind::Isp,
            NewTenantKind::Reseller => TenantKind::Reseller,
            NewTenantKind::Organisation => TenantKind::Organisation,
        };
        let mut tx = self.core.db.begin().await?;
        let tenant = self.core.create_tenant(&mut tx, &parent, kind, &body.name, &body.slug).await?;
        audit::record(
            &mut tx,
            Some(caller.principal_id),
            &tenant,
            "core.tenant.create",
            &format!("tenant:{}", tenant.id),
        )
        .await?;
        tx.commit().await?;
        Ok(TenantOut::from(&tenant))
    }

    async fn update_tenant(&self, caller: &Caller, id: i64, body: &TenantUpdate) -> CoreResult<TenantOut> {
        let tenant = self.visible(caller, id).await?;
        self.require(caller, "core:tenant", "update", &tenant).await?;
        if let Some(name) = &body.name {
            validate_name("name", name)?;
        }
        let status = body.status.map(|s| match s {
            TenantStatus::Active => crate::TenantStatus::Active,
            TenantStatus::Suspended => crate::TenantStatus::Suspended,
        });
        if status.is_some() && tenant.id == caller.tenant_id() {
            return Err(CoreError::forbidden("the status of your own tenant is changed by an admin above it"));
        }
        let mut tx = self.core.db.begin().await?;
        if let Some(name) = &body.name {
            store::rename_tenant(&mut tx, id, name.trim(), now_ms()).await?;
        }
        let change = status.map(|s| match s {
            crate::TenantStatus::Suspended => crate::StatusChange::Suspend,
            crate::TenantStatus::Active => crate::StatusChange::Activate,
        });
        let suspended = match change {
            Some(c) => self.core.set_tenant_status(&mut tx, caller, &tenant, c).await?,
            None => false,
        };
        let action = match status {
            Some(crate::TenantStatus::Suspended) => "core.tenant.suspend",
            Some(_) => "core.tenant.activate",
            None => "core.tenant.update",
        };
        audit::record(&mut tx, Some(caller.principal_id), &tenant, action, &format!("tenant:{id}")).await?;
        tx.commit().await?;
        if suspended {
            crate::outbox::wake();
        }
        self.core.tenants.changed(id).await;
        Ok(TenantOut::from(&*self.core.tenants.require(id).await?))
    }

    async fn create_user(&self, caller: &Caller, tenant_id: i64, body: &UserCreate) -> CoreResult<UserOut> {
        let tenant = self.visible(caller, tenant_id).await?;
        self.require(caller, "core:user", "create", &tenant).await?;
        let email = crate::Email::parse("email", &body.email)?.into_string();
        validate_name("name", &body.name)?;
        if body.password.chars().count() < 8 {
            return Err(CoreError::invalid("password", "must be at least 8 characters"));
        }
        let defined = self.core.authz.roles().await;
        for role in &body.roles {
            if role == PLATFORM_ADMIN {
                return Err(CoreError::invalid("roles", "platform_admin cannot be granted through the API"));
            }
            if !defined.contains(role) {
                return Err(CoreError::invalid(
                    "roles",
                    format!("unknown role `{role}`; known: {}", defined.join(", ")),
                ));
            }
        }
        if store::principal_email_taken(&self.core.db.pool, tenant.id, &email).await? {
            return Err(CoreError::conflict(format!("email: {email} is already a user of this tenant")));
        }
        let hash = hash_password(&body.password).await?;
        let mut tx = self.core.db.begin().await?;
        let id = store::insert_principal(&mut tx, tenant.id, &email, body.name.trim(), Some(&hash), now_ms()).await?;
        audit::record(&mut tx, Some(caller.principal_id), &tenant, "core.user.create", &format!("user:{id}")).await?;
        tx.commit().await?;
        for role in &body.roles {
            self.core.authz.grant(id, role, &tenant.path).await?;
        }
        let p = store::principal(&self.core.db.pool, id).await?.ok_or_else(|| CoreError::internal("user vanished"))?;
        self.user_out(p).await
    }

    /// Grants (`grant`) or removes a role of a user in the user's tenant subtree.
    async fn set_role(&self, caller: &Caller, user_id: i64, role: &str, grant: bool) -> CoreResult<UserOut> {
        let (user, tenant) = self.visible_user(caller, user_id).await?;
        self.require(caller, "core:user", "update", &tenant).await?;
        if role == PLATFORM_ADMIN {
            return Err(CoreError::invalid("role", "platform_admin cannot be granted or removed through the API"));
        }
        let defined = self.core.authz.roles().await;
        if !defined.iter().any(|r| r == role) {
            return Err(CoreError::invalid("role", format!("unknown role `{role}`; known: {}", defined.join(", "))));
        }
        let scope = crate::authz::subtree(&tenant.path);
        let held = self.core.authz.grants_of(user.id).await?.iter().any(|(r, s)| r == role && *s == scope);
        if !grant && !held {
            return Err(CoreError::not_found(format!("user {user_id} does not hold role `{role}` here")));
        }
        if grant != held {
            let mut tx = self.core.db.begin().await?;
            let action = if grant { "core.role.grant" } else { "core.role.revoke" };
            audit::record(&mut tx, Some(caller.principal_id), &tenant, action, &format!("user:{user_id}:{role}"))
                .await?;
            tx.commit().await?;
            if grant {
                self.core.authz.grant(user.id, role, &tenant.path).await?;
            } else {
                self.core.authz.revoke(user.id, role, &tenant.path).await?;
            }
        }
        self.user_out(user).await
    }

    async fn create_key(&self, caller: &Caller, user_id: i64, body: &ApiKeyCreate) -> CoreResult<ApiKeyCreated> {
        let (user, tenant) = self.visible_user(caller, user_id).await?;
        if user.id != caller.principal_id {
            self.require(caller, "core:api_key", "create", &tenant).await?;
        }
        validate_name("name", &body.name)?;
        let expires_at = match &body.expires_at {
            Some(s) => {
                let t = parse_rfc3339("expires_at", s)?;
                if t <= now_ms() {
                    return Err(CoreError::invalid("expires_at", "must be in the future"));
                }
                Some(t)
            }
            None => None,
        };
        // A key never outlives the key that created it: an expiring key cannot mint a lasting one.
        let creator_expiry = match caller.key_id() {
            Some(k) => store::key(&self.core.db.pool, k).await?.and_then(|k| k.expires_at),
            None => None,
        };
        let expires_at = match (expires_at, creator_expiry) {
            (Some(t), Some(limit)) if t > limit => {
                return Err(CoreError::invalid(
                    "expires_at",
                    format!("must not be later than the expiry of the key making this request ({})", rfc3339(limit)),
                ))
            }
            (None, Some(limit)) => Some(limit),
            (t, _) => t,
        };
        let (id, key) = self.core.identity.create_key(user.id, tenant.id, body.name.trim(), expires_at, None).await?;
        let mut conn = self.core.db.writer.acquire().await?;
        audit::record(&mut conn, Some(caller.principal_id), &tenant, "core.api_key.create", &format!("api_key:{id}"))
            .await?;
        Ok(ApiKeyCreated {
            id,
            name: body.name.trim().to_string(),
            prefix: key.chars().take(8).collect(),
            key,
            expires_at: expires_at.map(rfc3339),
        })
    }

    async fn revoke_key(&self, caller: &Caller, key_id: i64) -> CoreResult<()> {
        let hidden = || CoreError::not_found(format!("API key {key_id} not found"));
        let key = store::key(&self.core.db.pool, key_id).await?.ok_or_else(hidden)?;
        let (user, tenant) = self.visible_user(caller, key.principal_id).await.map_err(|_| hidden())?;
        if user.id != caller.principal_id {
            self.require(caller, "core:api_key", "delete", &tenant).await?;
        }
        let mut tx = self.core.db.begin().await?;
        audit::record(&mut tx, Some(caller.principal_id), &tenant, "core.api_key.revoke", &format!("api_key:{key_id}"))
            .await?;
        tx.commit().await?;
        self.core.identity.revoke_key(key_id).await
    }

    async fn tenant_plugins(&self, tenant: &Tenant) -> CoreResult<Vec<TenantPluginOut>> {
        let rows = store::tenant_plugins(&self.core.db.pool, tenant.id).await?;
        let mut out = Vec::new();
        for m in self.core.plugins.iter() {
            let row = rows.iter().find(|r| r.plugin == m.name);
            let available = self.core.plugin_available(m.name, tenant).await?;
            out.push(TenantPluginOut {
                plugin: m.name.to_string(),
                enabled: row.is_some_and(|r| r.enabled != 0),
                available: available.is_ok(),
                disabled_by: available.err().flatten(),
                config: row.and_then(|r| serde_json::from_str(&r.config).ok()).unwrap_or_default(),
                updated_at: row.map(|r| rfc3339(r.updated_at)),
            });
        }
        Ok(out)
    }

    async fn set_plugin(
        &self,
        caller: &Caller,
        tenant_id: i64,
        plugin: &str,
        body: &TenantPluginSet,
    ) -> CoreResult<TenantPluginOut> {
        let tenant = self.visible(caller, tenant_id).await?;
        if !self.core.has_plugin(plugin) {
            return Err(CoreError::not_found(format!("plugin `{plugin}` is not served here")));
        }
        self.require(caller, "core:plugin", "update", &tenant).await?;
        if !Self::is_platform_admin(caller) && self.core.plugin_available(plugin, caller.tenant()).await?.is_err() {
            return Err(CoreError::forbidden(format!("plugin `{plugin}` is not enabled for your own tenant")));
        }
        let current = self.tenant_plugins(&tenant).await?.into_iter().find(|p| p.plugin == plugin);
        let config = match &body.config {
            Some(c) => c.clone(),
            None => current.map(|c| c.config).unwrap_or_default(),
        };
        let config_text = serde_json::to_string(&config).map_err(CoreError::internal)?;
        if config_text.len() > 16 * 1024 {
            return Err(CoreError::invalid("config", "must be at most 16 KiB of JSON"));
        }
        let mut tx = self.core.db.begin().await?;
        self.core.set_plugin(&mut tx, tenant.id, plugin, body.enabled, &config_text).await?;
        let action = if body.enabled { "core.plugin.enable" } else { "core.plugin.disable" };
        audit::record(&mut tx, Some(caller.principal_id), &tenant, action, &format!("plugin:{plugin}")).await?;
        tx.commit().await?;
        self.core.plugin_changed(tenant.id, plugin).await;
        self.tenant_plugins(&tenant)
            .await?
            .into_iter()
            .find(|p| p.plugin == plugin)
            .ok_or_else(|| CoreError::internal("plugin vanished"))
    }
}

#[OpenApi(tag = "CoreTag::Core")]
impl AdminApi {
    /// Who am I: the caller's user, tenant and roles.
    #[oai(path = "/me", method = "get", operation_id = "core_me_get")]
    async fn me(&self, auth: AdminAuth) -> Reply<WhoAmI> {
        async {
            let caller = self.caller(&auth).await?;
            let roles = self.core.authz.grants_of(caller.principal_id).await?;
            Ok(WhoAmI {
                user_id: caller.principal_id,
                tenant: TenantOut::from(&*caller.tenant),
                roles: roles.into_iter().map(|(role, scope)| RoleGrant { role, scope }).collect(),
            })
        }
        .await
        .into()
    }

    /// Create a tenant under a parent inside the caller's subtree.
    #[oai(path = "/tenants", method = "post", operation_id = "core_tenants_create")]
    async fn tenants_create(&self, auth: AdminAuth, body: Input<TenantCreate>) -> Made<TenantOut> {
        async { self.create_tenant(&self.caller(&auth).await?, &body).await }.await.into()
    }

    /// Read a tenant.
    #[oai(path = "/tenants/:id", method = "get", operation_id = "core_tenants_get")]
    async fn tenants_get(&self, auth: AdminAuth, id: Path<PathId>) -> Reply<TenantOut> {
        async {
            let caller = self.caller(&auth).await?;
            let tenant = self.visible(&caller, id.get("id")?).await?;
            self.require(&caller, "core:tenant", "read", &tenant).await?;
            Ok(TenantOut::from(&*tenant))
        }
        .await
        .into()
    }

    /// Rename, suspend or reactivate a tenant.
    #[oai(path = "/tenants/:id", method = "patch", operation_id = "core_tenants_update")]
    async fn tenants_update(&self, auth: AdminAuth, id: Path<PathId>, body: Input<TenantUpdate>) -> Reply<TenantOut> {
        async { self.update_tenant(&self.caller(&auth).await?, id.get("id")?, &body).await }.await.into()
    }

    /// List the direct children of a tenant, oldest first.
    #[oai(path = "/tenants/:id/children", method = "get", operation_id = "core_tenants_children")]
    async fn tenants_children(
        &self,
        auth: AdminAuth,
        id: Path<PathId>,
        /// 1 to 100, default 20.
        limit: Query<Option<i64>>,
        /// Default 0.
        offset: Query<Option<i64>>,
    ) -> Reply<TenantPage> {
        async {
            let caller = self.caller(&auth).await?;
            let crate::Paging { limit, offset } = crate::Paging::new(crate::PageRule::CORE, *limit, *offset)?;
            let tenant = self.visible(&caller, id.get("id")?).await?;
            self.require(&caller, "core:tenant", "read", &tenant).await?;
            let (rows, total) = store::children(&self.core.db.reader, tenant.id, Paging { limit, offset }).await?;
            Ok(TenantPage { items: rows.iter().map(TenantOut::from).collect(), total, limit, offset })
        }
        .await
        .into()
    }

    /// Create a user (a person who logs in or holds API keys) in a tenant, with roles there.
    #[oai(path = "/tenants/:id/users", method = "post", operation_id = "core_users_create")]
    async fn users_create(&self, auth: AdminAuth, id: Path<PathId>, body: Input<UserCreate>) -> Made<UserOut> {
        async { self.create_user(&self.caller(&auth).await?, id.get("id")?, &body).await }.await.into()
    }

    /// List the users of a tenant.
    #[oai(path = "/tenants/:id/users", method = "get", operation_id = "core_users_list")]
    async fn users_list(
        &self,
        auth: AdminAuth,
        id: Path<PathId>,
        /// 1 to 100, default 20.
        limit: Query<Option<i64>>,
        /// Default 0.
        offset: Query<Option<i64>>,
    ) -> Reply<UserPage> {
        async {
            let caller = self.caller(&auth).await?;
            let crate::Paging { limit, offset } = crate::Paging::new(crate::PageRule::CORE, *limit, *offset)?;
            let tenant = self.visible(&caller, id.get("id")?).await?;
            self.require(&caller, "core:user", "read", &tenant).await?;
            let (rows, total) = store::principals_of(&self.core.db.reader, tenant.id, Paging { limit, offset }).await?;
            let mut items = Vec::with_capacity(rows.len());
            for p in rows {
                items.push(self.user_out(p).await?);
            }
            Ok(UserPage { items, total, limit, offset })
        }
        .await
        .into()
    }

    /// Grant a role to a user, in the user's tenant and everything below it.
    #[oai(path = "/users/:id/roles/:role", method = "put", operation_id = "core_user_roles_grant")]
    async fn user_roles_grant(&self, auth: AdminAuth, id: Path<PathId>, role: Path<String>) -> Reply<UserOut> {
        async { self.set_role(&self.caller(&auth).await?, id.get("id")?, &role, true).await }.await.into()
    }

    /// Remove a role from a user; it takes effect on the user's next request.
    #[oai(path = "/users/:id/roles/:role", method = "delete", operation_id = "core_user_roles_revoke")]
    async fn user_roles_revoke(&self, auth: AdminAuth, id: Path<PathId>, role: Path<String>) -> Reply<UserOut> {
        async { self.set_role(&self.caller(&auth).await?, id.get("id")?, &role, false).await }.await.into()
    }

    /// Create an API key for a user (yourself, or a user of your subtree). The key is shown once.
    #[oai(path = "/users/:id/api-keys", method = "post", operation_id = "core_api_keys_create")]
    async fn api_keys_create(
        &self,
        auth: AdminAuth,
        id: Path<PathId>,
        body: Input<ApiKeyCreate>,
    ) -> Made<ApiKeyCreated> {
        async { self.create_key(&self.caller(&auth).await?, id.get("id")?, &body).await }.await.into()
    }

    /// List a user's API keys (never the keys themselves).
    #[oai(path = "/users/:id/api-keys", method = "get", operation_id = "core_api_keys_list")]
    async fn api_keys_list(&self, auth: AdminAuth, id: Path<PathId>) -> Reply<ApiKeyList> {
        async {
            let caller = self.caller(&auth).await?;
            let (user, tenant) = self.visible_user(&caller, id.get("id")?).await?;
            if user.id != caller.principal_id {
                self.require(&caller, "core:api_key", "read", &tenant).await?;
            }
            let keys = store::keys_of(&self.core.db.pool, user.id).await?;
            Ok(ApiKeyList { items: keys.into_iter().map(ApiKeyOut::from).collect() })
        }
        .await
        .into()
    }

    /// Revoke an API key; the next request with it is refused.
    #[oai(path = "/api-keys/:id", method = "delete", operation_id = "core_api_keys_revoke")]
    async fn api_keys_revoke(&self, auth: AdminAuth, id: Path<PathId>) -> Gone {
        async { self.revoke_key(&self.caller(&auth).await?, id.get("id")?).await }.await.into()
    }

    /// The plugins this server serves, with their versions.
    #[oai(path = "/plugins", method = "get", operation_id = "core_plugins_list")]
    async fn plugins_list(&self, auth: AdminAuth) -> Reply<PluginList> {
        async {
            self.caller(&auth).await?;
            Ok(PluginList { items: self.core.plugins.iter().map(PluginOut::from).collect() })
        }
        .await
        .into()
    }

    /// Every plugin with whether it is enabled for this tenant.
    #[oai(path = "/tenants/:id/plugins", method = "get", operation_id = "core_tenant_plugins_list")]
    async fn tenant_plugins_list(&self, auth: AdminAuth, id: Path<PathId>) -> Reply<TenantPluginList> {
        async {
            let caller = self.caller(&auth).await?;
            let tenant = self.visible(&caller, id.get("id")?).await?;
            self.require(&caller, "core:plugin", "read", &tenant).await?;
            Ok(TenantPluginList { items: self.tenant_plugins(&tenant).await? })
        }
        .await
        .into()
    }

    /// Enable or disable a plugin for a tenant of your subtree (only plugins enabled for your own tenant).
    #[oai(path = "/tenants/:id/plugins/:plugin", method = "put", operation_id = "core_tenant_plugins_set")]
    async fn tenant_plugins_set(
        &self,
        auth: AdminAuth,
        id: Path<PathId>,
        plugin: Path<String>,
        body: Input<TenantPluginSet>,
    ) -> Reply<TenantPluginOut> {
        async { self.set_plugin(&self.caller(&auth).await?, id.get("id")?, &plugin, &body).await }.await.into()
    }

    /// The audit log of a tenant and everything below it, newest first.
    #[oai(path = "/audit", method = "get", operation_id = "core_audit_list")]
    async fn audit_list(
        &self,
        auth: AdminAuth,
        /// Default: the caller's tenant.
        tenant_id: Query<Option<i64>>,
        /// 1 to 100, default 20.
        limit: Query<Option<i64>>,
        /// Default 0.
        offset: Query<Option<i64>>,
    ) -> Reply<AuditPage> {
        async {
            let caller = self.caller(&auth).await?;
            let crate::Paging { limit, offset } = crate::Paging::new(crate::PageRule::CORE, *limit, *offset)?;
            let tenant = self.visible(&caller, tenant_id.unwrap_or(caller.tenant_id())).await?;
            self.require(&caller, "core:audit", "read", &tenant).await?;
            let (rows, total) =
                store::audit_under(&self.core.db.reader, &tenant.path, Paging { limit, offset }).await?;
            Ok(AuditPage { items: rows.into_iter().map(AuditOut::from).collect(), total, limit, offset })
        }
        .await
        .into()
    }
}

#[cfg(test)]
mod tests {
    use poem::IntoResponse;

    use super::*;

    /// Every error variant gets its own status in each of the admin API's answer shapes, as problem+json, with
    /// Retry-After where there is a wait.
    #[tokio::test]
    async fn every_error_maps_to_its_status_in_every_answer() {
        for e in CoreError::examples() {
            let (status, failure, message) = (e.status(), e.failure(), e.public_message());
            for resp in [
                Reply::<String>::from(Err(e.clone())).into_response(),
                Made::<String>::from(Err(e.clone())).into_response(),
                Gone::from(Err(e.clone())).into_response(),
            ] {
                assert_eq!(resp.status(), status, "{message}");
                assert_eq!(resp.content_type(), Some("application/problem+json"), "{message}");
                assert_eq!(problem_response(e.clone()).status(), status, "{message}");
                let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
                match &failure {
                    Failure::TooManyRequests(s) => assert_eq!(header("retry-after"), Some(s.to_string())),
                    _ => assert_eq!(header("retry-after"), None, "{message}"),
                }
                match &failure {
                    Failure::MethodNotAllowed(allow) => assert_eq!(header("allow").as_ref(), Some(allow)),
                    _ => assert_eq!(header("allow"), None, "{message}"),
                }
                let body: serde_json::Value =
                    serde_json::from_slice(&resp.into_body().into_bytes().await.unwrap()).unwrap();
                assert_eq!(body["status"], status.as_u16(), "{message}");
                assert_eq!(body["detail"], message.as_str());
            }
        }
    }
}
