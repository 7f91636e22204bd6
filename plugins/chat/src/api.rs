//! The chat addon admin API at the seed's paths under `/chat`: access tokens (issue, validate, regenerate), operators,
//! domains and operator assignments, answering `{"status": 1, "data": …}` or
//! `{"status": 0, "error": {"code": …, "message": …}}`; plus the addon management a tenant admin needs first.
//!
//! Every seed operation but the token calls takes the `access_token` header (or `access-token`): the token names one organisation and
//! one addon, resolves (through a cache) to the principal who logged in, and the operation makes its one permission
//! check on the organisation.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use poem_openapi::param::{Path, Query};
use poem_openapi::types::{ParseFromJSON, ToJSON};
use poem_openapi::{Object, OpenApi, Tags};
use tessera_core::identity::{hash_secret, new_secret};
use tessera_core::{
    now_ms, BearerKey, Caller, CoreError, CoreResult, Email, ErrorEnvelope, HeaderKey, HeaderNames, Input, PathId,
    PluginContext, StoredEnum, Tenant, TenantKind, TokenGrant, TokenLookup,
};

use crate::model::{self, AddonKind};
use crate::store::{self, AddonRow, AssignmentChanges, DomainRow, NewToken, TokenRow};

#[derive(Tags)]
enum ChatTag {
    /// Live-chat addon administration: access tokens, operators, domains, assignments, addons.
    Chat,
}

/// The access token from an access-token call: the seed's `access_token` header, or `access-token` through proxies
/// that drop header names with underscores.
type AccessToken = HeaderKey<AccessTokenHeader>;

enum AccessTokenHeader {}

impl HeaderNames for AccessTokenHeader {
    const NAME: &'static str = "access_token";
    const ALIAS: &'static str = "access-token";
    const SCHEME: &'static str = "ChatAccessToken";
    const ALIAS_SCHEME: &'static str = "ChatAccessTokenHyphenated";
    const DESCRIPTION: &'static str =
        "The access token from an access-token call, in the `access_token` header (or `access-token`).";
}

// ---- envelope ----

/// Failure detail.
#[derive(Object)]
#[oai(rename = "ChatErrorDetail")]
pub struct ErrorDetail {
    /// A stable code: invalid_input, unauthenticated, forbidden, not_found, method_not_allowed, conflict,
    /// unsupported_media_type, rate_limited, …
    pub code: String,
    /// What is wrong, naming the field.
    pub message: String,
}

/// Failure: `status` 0.
#[derive(Object)]
#[oai(rename = "ChatError")]
pub struct ErrorBody {
    pub status: i64,
    pub error: ErrorDetail,
}

/// Success: `status` 1 and the answer in `data`.
#[derive(Object)]
#[oai(rename = "ChatResult")]
pub struct Envelope<T: ToJSON + ParseFromJSON> {
    pub status: i64,
    pub data: T,
}

/// The answers of every chat operation.
pub type Reply<T> = tessera_core::Reply<Envelope<T>, ErrorBody>;

impl ErrorEnvelope for ErrorBody {
    /// The one mapping of a core error to the seed's envelope.
    fn from_error(e: &CoreError) -> Self {
        let code = match e {
            CoreError::Invalid { .. } | CoreError::PayloadTooLarge(_) => "invalid_input",
            CoreError::Unauthenticated(_) => "unauthenticated",
            CoreError::Forbidden(_) => "forbidden",
            CoreError::TenantSuspended => "organisation_suspended",
            CoreError::PluginDisabled(_) => "service_not_enabled",
            CoreError::NotFound(_) => "not_found",
            CoreError::Conflict(_) => "conflict",
            CoreError::MethodNotAllowed { .. } => "method_not_allowed",
            CoreError::UnsupportedMediaType(_) => "unsupported_media_type",
            CoreError::RateLimited(_) => "rate_limited",
            CoreError::LoginBlocked(_) => "login_blocked",
            CoreError::Internal(_) => "internal",
        };
        ErrorBody { status: 0, error: ErrorDetail { code: code.into(), message: e.public_message() } }
    }
}

fn reply<T: ToJSON + ParseFromJSON>(r: CoreResult<T>) -> Reply<T> {
    Reply::from_result(r, |data| Envelope { status: 1, data })
}

// ---- wire types ----

#[derive(Object)]
#[oai(rename = "ChatTokenRequest")]
pub struct TokenRequest {
    #[oai(validator(max_length = 254))]
    pub email: String,
    #[oai(validator(max_length = 256))]
    pub password: String,
    /// The organisation's domain (its tenant slug).
    #[oai(validator(max_length = 63))]
    pub organisation_domain: String,
    #[oai(validator(max_length = 100))]
    pub addon_unique_name: String,
}

#[derive(Object)]
#[oai(rename = "ChatTokenValidateRequest")]
pub struct ValidateRequest {
    #[oai(validator(max_length = 256))]
    pub access_token: String,
    #[oai(validator(max_length = 256))]
    pub refresh_token: String,
    #[oai(validator(max_length = 100))]
    pub addon_unique_name: String,
}

#[derive(Object)]
#[oai(rename = "ChatTokenRegenerateRequest")]
pub struct RegenerateRequest {
    #[oai(validator(max_length = 256))]
    pub access_token: String,
    #[oai(validator(max_length = 256))]
    pub refresh_token: String,
}

#[derive(Object)]
#[oai(rename = "ChatToken")]
pub struct TokenOut {
    pub access_token: String,
    /// Spent by regenerate; presenting a spent one again revokes every token of the session.
    pub refresh_token: String,
    /// Seconds the access token stays valid.
    pub expire_in: i64,
    pub organisation_domain: String,
}

#[derive(Object)]
#[oai(rename = "ChatOperatorCreateRequest")]
pub struct OperatorCreate {
    #[oai(validator(max_length = 254))]
    pub email: String,
    /// Used when the email is new to the organisation.
    #[oai(validator(max_length = 100))]
    pub first_name: Option<String>,
    #[oai(validator(max_length = 100))]
    pub last_name: Option<String>,
}

#[derive(Object)]
#[oai(rename = "ChatOperatorCreated")]
pub struct OperatorCreated {
    /// The operator id, used to read and update it.
    pub id: i64,
    pub name: String,
    pub email: String,
    pub addon_unique_name: String,
}

#[derive(Object)]
#[oai(rename = "ChatOperator")]
pub struct OperatorOut {
    #[oai(rename = "_id")]
    pub id: i64,
    pub name: String,
    pub email: String,
    /// 0 offline, 1 online, 2 away, 3 busy.
    pub status: i64,
    /// Whether the operator is active on this addon.
    pub operator: bool,
}

#[derive(Object)]
#[oai(rename = "ChatOperatorUpdateRequest")]
pub struct OperatorUpdate {
    /// 1 active or 0 inactive, for this addon.
    #[oai(validator(minimum(value = "0"), maximum(value = "1")))]
    pub status: i64,
}

#[derive(Object)]
#[oai(rename = "ChatDomainCreateRequest")]
pub struct DomainCreate {
    /// Host name without http:// or https://.
    #[oai(validator(max_length = 253))]
    pub domain_name: String,
    #[oai(validator(max_length = 254))]
    pub email: String,
}

#[derive(Object)]
#[oai(rename = "ChatDomainCreated")]
pub struct DomainCreated {
    pub name: String,
    pub email: String,
    /// true active, false inactive.
    pub status: bool,
    pub addon_unique_name: String,
    /// The embed code for the merchant site (seller_buyer addons only).
    #[oai(skip_serializing_if_is_none)]
    pub link: Option<String>,
}

#[derive(Object)]
#[oai(rename = "ChatDomain")]
pub struct DomainOut {
    pub name: String,
    pub email: String,
    pub status: bool,
}

#[derive(Object)]
#[oai(rename = "ChatDomainUpdateRequest")]
pub struct DomainUpdate {
    /// At least one of name, status, email.
    #[oai(validator(max_length = 253))]
    pub name: Option<String>,
    pub status: Option<bool>,
    #[oai(validator(max_length = 254))]
    pub email: Option<String>,
}

#[derive(Object)]
#[oai(rename = "ChatAssignRequest")]
pub struct AssignCreate {
    #[oai(validator(max_length = 253))]
    pub domain_name: String,
    pub operator_id: i64,
    /// The seller's product page (seller_buyer addons only).
    #[oai(validator(max_length = 200))]
    pub unique_id: Option<String>,
    pub is_admin: Option<bool>,
}

#[derive(Object)]
#[oai(rename = "ChatAssignedOperator")]
pub struct AssignedOperator {
    pub name: String,
    pub email: String,
    #[oai(rename = "userId")]
    pub user_id: i64,
    #[oai(skip_serializing_if_is_none)]
    pub unique_id: Option<String>,
    pub is_admin: bool,
}

#[derive(Object)]
#[oai(rename = "ChatAssigned")]
pub struct Assigned {
    pub operators: AssignedOperator,
}

#[derive(Object)]
#[oai(rename = "ChatAssignUpdateRequest")]
pub struct AssignUpdate {
    #[oai(validator(max_length = 253))]
    pub domain_name: String,
    /// At least one of unique_id, is_admin, online_status, status; unique_id and status are for seller_buyer only.
    #[oai(validator(max_length = 200))]
    pub unique_id: Option<String>,
    pub is_admin: Option<bool>,
    /// Whether the operator shows as online.
    pub online_status: Option<bool>,
    /// Whether the operator receives messages (seller_buyer only).
    pub status: Option<bool>,
}

#[derive(Object)]
#[oai(rename = "ChatAssignmentState")]
pub struct AssignmentState {
    pub online_status: bool,
    #[oai(skip_serializing_if_is_none)]
    pub unique_id: Option<String>,
    pub is_admin: bool,
    pub status: bool,
}

#[derive(Object)]
#[oai(rename = "ChatAssignmentUpdated")]
pub struct AssignmentUpdated {
    pub addon_unique_name: String,
    pub domain_name: String,
    pub operators: AssignmentState,
}

#[derive(Object)]
#[oai(rename = "ChatAddonCreateRequest")]
pub struct AddonCreate {
    /// The organisation (a tenant of kind organisation in your subtree).
    pub organisation_id: i64,
    #[oai(validator(max_length = 100))]
    pub addon_unique_name: String,
    pub kind: AddonKind,
}

#[derive(Object)]
#[oai(rename = "ChatAddon")]
pub struct AddonOut {
    pub id: i64,
    pub organisation_id: i64,
    pub addon_unique_name: String,
    pub kind: AddonKind,
    pub active: bool,
}

#[derive(Object)]
#[oai(rename = "ChatAddonList")]
pub struct AddonList {
    pub items: Vec<AddonOut>,
}

impl AddonOut {
    fn from_row(a: AddonRow) -> CoreResult<Self> {
        Ok(AddonOut {
            id: a.id,
            organisation_id: a.tenant_id,
            kind: AddonKind::from_stored("kind", &a.kind)?,
            addon_unique_name: a.unique_name,
            active: a.active.0,
        })
    }
}

// ---- sessions ----

/// What an access token stands for.
#[derive(Debug, Clone)]
pub struct Session {
    tenant_id: i64,
    principal_id: i64,
    addon: AddonRow,
    expires_at: i64,
    revoked: bool,
}

/// access-token hash → session (None: no such token). Shared with the plugin, which drops entries other instances
/// revoked (`on_change`).
pub type Sessions = Cache<String, Option<Arc<Session>>>;

pub fn sessions() -> Sessions {
    Cache::builder().max_capacity(100_000).time_to_live(Duration::from_secs(3600)).build()
}

/// A checked session: the caller (the principal who logged in, in its organisation) and the addon.
struct Authed {
    caller: Caller,
    addon: AddonRow,
    kind: AddonKind,
}

impl Authed {
    fn org(&self) -> &Tenant {
        self.caller.tenant()
    }
}

/// The `access_token` header, looked up through the session cache.
struct AccessTokens<'a>(&'a ChatApi);

impl TokenLookup for AccessTokens<'_> {
    type Session = Arc<Session>;
    const FIELD: &'static str = "access_token";
    const EXPIRED: &'static str = "expired; regenerate it with the refresh token";

    async fn lookup(&self, token: &str) -> CoreResult<Option<TokenGrant<Arc<Session>>>> {
        let hash = hash_secret(token);
        let pool = self.0.ctx.pool().clone();
        let lookup = hash.clone();
        let session = tessera_core::cache::get_or_load(&self.0.sessions, hash, async move {
            let Some(t) = store::token_by_access(&pool, &lookup).await? else { return Ok(None) };
            let addon =
                store::addon_by_id(&pool, t.addon_id).await?.ok_or_else(|| CoreError::internal("addon gone"))?;
            Ok::<_, CoreError>(Some(Arc::new(Session {
                tenant_id: t.tenant_id,
                principal_id: t.principal_id,
                addon,
                expires_at: t.expires_at,
                revoked: t.revoked.0,
            })))
        })
        .await?;
        Ok(session.filter(|s| !s.revoked).map(|s| TokenGrant {
            principal_id: s.principal_id,
            tenant_id: s.tenant_id,
            expires_at: Some(s.expires_at),
            session: s,
        }))
    }
}

/// A refresh token presented with its access token (regenerate): spent, revoked or expired ones are refused, and a
/// spent one presented again revokes its whole session.
struct RefreshTokens<'a> {
    api: &'a ChatApi,
    access_token: &'a str,
}

impl TokenLookup for RefreshTokens<'_> {
    type Session = TokenRow;
    const FIELD: &'static str = "refresh_token";
    const EXPIRED: &'static str = "expired; request a new access token";

    async fn lookup(&self, token: &str) -> CoreResult<Option<TokenGrant<TokenRow>>> {
        let row = self.api.pair(self.access_token, token).await?;
        if row.rotated.0 {
            return Err(self.api.reuse_detected(&row).await);
        }
        if row.revoked.0 {
            return Ok(None);
        }
        Ok(Some(TokenGrant {
            principal_id: row.principal_id,
            tenant_id: row.tenant_id,
            expires_at: Some(row.refresh_expires_at),
            session: row,
        }))
    }
}

/// `[plugins.chat]` settings.
#[derive(serde::Deserialize)]
#[serde(default)]
pub struct ChatConfig {
    /// Seconds an access token lives.
    pub token_ttl_seconds: i64,
    /// Where the embed script of seller_buyer domains is served.
    pub embed_base_url: String,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig { token_ttl_seconds: 3600, embed_base_url: "https://chat.tessera.example/embed".into() }
    }
}

const REFRESH_TTL_MS: i64 = 30 * 24 * 3600 * 1000;

pub struct ChatApi {
    ctx: PluginContext,
    sessions: Sessions,
    token_ttl_s: i64,
    embed_base: String,
}

impl ChatApi {
    pub fn new(ctx: PluginContext, sessions: Sessions) -> CoreResult<Self> {
        let config: ChatConfig = ctx.config()?;
        if config.token_ttl_seconds <= 0 {
            return Err(CoreError::invalid("plugins.chat.token_ttl_seconds", "must be a positive number of seconds"));
        }
        Ok(ChatApi { ctx, sessions, token_ttl_s: config.token_ttl_seconds, embed_base: config.embed_base_url })
    }

    /// Drops revoked tokens here and in every other instance.
    async fn forget_tokens(&self, hashes: &[String]) {
        for hash in hashes {
            self.sessions.invalidate(hash).await;
            self.ctx.publish_change(hash).await;
        }
    }

    async fn session(&self, token: &AccessToken) -> CoreResult<Authed> {
        let (caller, session) = self.ctx.authenticate_token(&AccessTokens(self), token.value()).await?;
        Ok(Authed { kind: AddonKind::from_stored("kind", &session.addon.kind)?, addon: session.addon.clone(), caller })
    }

    async fn tokens_issue_op(&self, req: &TokenRequest) -> CoreResult<TokenOut> {
        let wrong = || CoreError::Unauthenticated("wrong email, password or organisation_domain".into());
        let org = match self.ctx.tenant_by_slug(req.organisation_domain.trim()).await? {
            Some(t) if t.kind() == TenantKind::Organisation => t,
            _ => return Err(wrong()),
        };
        let caller = self.ctx.login(&org, &req.email, &req.password).await.map_err(|e| match e {
            CoreError::Unauthenticated(_) => wrong(),
            other => other,
        })?;
        self.ctx.require(&caller, "chat:token", "create", &org).await?;
        let addon = match store::addon(self.ctx.pool(), org.id, req.addon_unique_name.trim()).await? {
            Some(a) if a.active.0 => a,
            _ => return Err(CoreError::not_found("addon_unique_name: no such active addon in this organisation")),
        };
        let family = new_secret("");
        self.new_pair(&caller, &org, &addon, &family, None).await
    }

    /// Stores a new token pair (after spending `spent`, in the same transaction) and answers it.
    async fn new_pair(
        &self,
        caller: &Caller,
        org: &Tenant,
        addon: &AddonRow,
        family: &str,
        spent: Option<&TokenRow>,
    ) -> CoreResult<TokenOut> {
        let (access, refresh) = (new_secret("cat_"), new_secret("crt_"));
        let now = now_ms();
        let mut tx = self.ctx.begin().await?;
        if let Some(old) = spent {
            if !store::spend_refresh(&mut tx, old.id).await? {
                drop(tx);
                return Err(self.reuse_detected(old).await);
            }
        }
        let token = NewToken {
            tenant_id: org.id,
            addon_id: addon.id,
            principal_id: caller.principal_id(),
            family,
            access_hash: &hash_secret(&access),
            refresh_hash: &hash_secret(&refresh),
            expires_at: now + self.token_ttl_s * 1000,
            refresh_expires_at: now + REFRESH_TTL_MS,
        };
        store::insert_token(&mut tx, &token, now).await?;
        let action = if spent.is_some() { "token.regenerate" } else { "token.issue" };
        self.ctx.audit(&mut tx, caller, org, action, &format!("chat_addon:{}", addon.id)).await?;
        tx.commit().await?;
        if let Some(old) = spent {
            self.forget_tokens(std::slice::from_ref(&old.access_hash)).await;
        }
        Ok(TokenOut {
            access_token: access,
            refresh_token: refresh,
            expire_in: self.token_ttl_s,
            organisation_domain: org.slug.clone(),
        })
    }

    /// A spent refresh token came back: someone holds a copy. Every token of that login is revoked.
    async fn reuse_detected(&self, t: &TokenRow) -> CoreError {
        match store::revoke_family(self.ctx.writer(), &t.family).await {
            Ok(hashes) => self.forget_tokens(&hashes).await,
            Err(e) => return e,
        }
        tracing::warn!(token = t.id, "a spent refresh token was presented again; its session is revoked");
        CoreError::Unauthenticated("refresh_token: already used; every token of this session is now revoked".into())
    }

    /// The pair row of a refresh token, if the access token belongs to it.
    async fn pair(&self, access_token: &str, refresh_token: &str) -> CoreResult<TokenRow> {
        let bad = || CoreError::Unauthenticated("refresh_token: unknown, or not the pair of access_token".into());
        let row = store::token_by_refresh(self.ctx.pool(), &hash_secret(refresh_token)).await?.ok_or_else(bad)?;
        if row.access_hash != hash_secret(access_token) {
            return Err(bad());
        }
        Ok(row)
    }

    /// The pair must belong together, and the access token must be usable right now: live, of an active
    /// organisation, with chat enabled for it and its ancestors.
    async fn tokens_validate_op(&self, req: &ValidateRequest) -> CoreResult<TokenOut> {
        self.pair(&req.access_token, &req.refresh_token).await?;
        let (caller, session) = self.ctx.authenticate_token(&AccessTokens(self), &req.access_token).await?;
        if session.addon.unique_name != req.addon_unique_name.trim() {
            return Err(CoreError::Unauthenticated("addon_unique_name: the token is not for this addon".into()));
        }
        Ok(TokenOut {
            access_token: req.access_token.clone(),
            refresh_token: req.refresh_token.clone(),
            expire_in: ((session.expires_at - now_ms()) / 1000).max(1),
            organisation_domain: caller.tenant().slug.clone(),
        })
    }

    async fn tokens_regenerate_op(&self, req: &RegenerateRequest) -> CoreResult<TokenOut> {
        let refresh = RefreshTokens { api: self, access_token: &req.access_token };
        let (caller, row) = self.ctx.authenticate_token(&refresh, &req.refresh_token).await?;
        let addon = match store::addon_by_id(self.ctx.pool(), row.addon_id).await? {
            Some(a) if a.active.0 => a,
            _ => return Err(CoreError::Unauthenticated("addon_unique_name: the addon is disabled".into())),
        };
        let org = caller.tenant().clone();
        // The same right as the first issue: an owner who lost chat_admin gets no new pair.
        self.ctx.require(&caller, "chat:token", "create", &org).await?;
        self.new_pair(&caller, &org, &addon, &row.family, Some(&row)).await
    }

    async fn operator_of(&self, s: &Authed, id: i64) -> CoreResult<store::OperatorRow> {
        store::operator(self.ctx.pool(), s.org().id, s.addon.id, id)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("operatorId: operator {id} not found in this addon")))
    }

    async fn domain_of(&self, s: &Authed, field: &str, name: &str) -> CoreResult<DomainRow> {
        let name = model::host_name(field, name)?;
        store::domain(self.ctx.pool(), s.org().id, s.addon.id, &name)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("{field}: domain {name} not found in this addon")))
    }

    async fn operators_create_op(&self, token: &AccessToken, req: &OperatorCreate) -> CoreResult<OperatorCreated> {
        let s = &self.session(token).await?;
        self.ctx.require(&s.caller, "chat:operator", "create", s.org()).await?;
        let email = Email::parse("email", &req.email)?;
        let name = model::operator_name(&email, req.first_name.as_deref(), req.last_name.as_deref());
        let mut tx = self.ctx.begin().await?;
        let (id, _) = self.ctx.ensure_principal(&mut tx, s.org(), &email, &name).await?;
        if !store::insert_operator(&mut tx, s.org().id, s.addon.id, id, now_ms()).await? {
            return Err(CoreError::conflict(format!("email: {email} is already an operator of this addon")));
        }
        self.ctx
            .audit(&mut tx, &s.caller, s.org(), "operator.create", &format!("chat_operator:{}:{id}", s.addon.id))
            .await?;
        tx.commit().await?;
        let op = self.operator_of(s, id).await?;
        Ok(OperatorCreated { id, name: op.name, email: op.email, addon_unique_name: s.addon.unique_name.clone() })
    }

    async fn domains_create_op(&self, token: &AccessToken, req: &DomainCreate) -> CoreResult<DomainCreated> {
        let s = &self.session(token).await?;
        self.ctx.require(&s.caller, "chat:domain", "create", s.org()).await?;
        let name = model::host_name("domain_name", &req.domain_name)?;
        let email = Email::parse("email", &req.email)?.into_string();
        if store::domain(self.ctx.pool(), s.org().id, s.addon.id, &name).await?.is_some() {
            return Err(CoreError::conflict(format!("domain_name: {name} is already a domain of this addon")));
        }
        let link = (s.kind == AddonKind::SellerBuyer).then(|| {
            format!(
                "<script src=\"{}/{}/{}.js\" data-domain=\"{name}\" async></script>",
                self.embed_base,
                s.org().slug,
                s.addon.unique_name
            )
        });
        let mut tx = self.ctx.begin().await?;
        let id =
            store::insert_domain(&mut tx, s.org().id, s.addon.id, &name, &email, link.as_deref(), now_ms()).await?;
        self.ctx.audit(&mut tx, &s.caller, s.org(), "domain.create", &format!("chat_domain:{id}")).await?;
        tx.commit().await?;
        Ok(DomainCreated { name, email, status: true, addon_unique_name: s.addon.unique_name.clone(), link })
    }

    async fn domains_update_op(&self, token: &AccessToken, current: &str, req: &DomainUpdate) -> CoreResult<DomainOut> {
        let s = &self.session(token).await?;
        self.ctx.require(&s.caller, "chat:domain", "update", s.org()).await?;
        model::at_least_one("name, status, email", &[req.name.is_some(), req.status.is_some(), req.email.is_some()])?;
        let domain = self.domain_of(s, "domain_name", current).await?;
        let name = req.name.as_deref().map(|n| model::host_name("name", n)).transpose()?;
        let email = req.email.as_deref().map(|e| Email::parse("email", e).map(Email::into_string)).transpose()?;
        if let Some(n) = name.as_deref().filter(|n| *n != domain.name) {
            if store::domain(self.ctx.pool(), s.org().id, s.addon.id, n).await?.is_some() {
                return Err(CoreError::conflict(format!("name: {n} is already a domain of this addon")));
            }
        }
        let mut tx = self.ctx.begin().await?;
        store::update_domain(&mut tx, domain.id, name.as_deref(), email.as_deref(), req.status).await?;
        self.ctx.audit(&mut tx, &s.caller, s.org(), "domain.update", &format!("chat_domain:{}", domain.id)).await?;
        tx.commit().await?;
        Ok(DomainOut {
            name: name.unwrap_or(domain.name),
            email: email.unwrap_or(domain.email),
            status: req.status.unwrap_or(domain.active.0),
        })
    }

    async fn assignments_create_op(&self, token: &AccessToken, req: &AssignCreate) -> CoreResult<Assigned> {
        let s = &self.session(token).await?;
        self.ctx.require(&s.caller, "chat:assignment", "create", s.org()).await?;
        model::seller_buyer_only(s.kind, "unique_id", req.unique_id.is_some())?;
        let domain = self.domain_of(s, "domain_name", &req.domain_name).await?;
        let op = store::operator(self.ctx.pool(), s.org().id, s.addon.id, req.operator_id).await?.ok_or_else(|| {
            CoreError::not_found(format!("operator_id: operator {} not found in this addon", req.operator_id))
        })?;
        let is_admin = req.is_admin.unwrap_or(false);
        let unique_id = req.unique_id.as_deref().map(str::trim);
        let mut tx = self.ctx.begin().await?;
        let added = store::insert_assignment(
            &mut tx,
            s.org().id,
            s.addon.id,
            domain.id,
            op.principal_id,
            is_admin,
            unique_id,
            now_ms(),
        )
        .await?;
        if !added {
            return Err(CoreError::conflict(format!(
                "operator_id: operator {} is already assigned to {}",
                op.principal_id, domain.name
            )));
        }
        let object = format!("chat_assignment:{}:{}", domain.id, op.principal_id);
        self.ctx.audit(&mut tx, &s.caller, s.org(), "assignment.create", &object).await?;
        tx.commit().await?;
        Ok(Assigned {
            operators: AssignedOperator {
                name: op.name,
                email: op.email,
                user_id: op.principal_id,
                unique_id: unique_id.map(str::to_string),
                is_admin,
            },
        })
    }

    async fn assignments_update_op(
        &self,
        token: &AccessToken,
        operator_id: &PathId,
        req: &AssignUpdate,
    ) -> CoreResult<AssignmentUpdated> {
        let s = &self.session(token).await?;
        let operator = operator_id.get("operatorId")?;
        self.ctx.require(&s.caller, "chat:assignment", "update", s.org()).await?;
        let present =
            [req.unique_id.is_some(), req.is_admin.is_some(), req.online_status.is_some(), req.status.is_some()];
        model::at_least_one("unique_id, is_admin, online_status, status", &present)?;
        model::seller_buyer_only(s.kind, "unique_id", req.unique_id.is_some())?;
        model::seller_buyer_only(s.kind, "status", req.status.is_some())?;
        let domain = self.domain_of(s, "domain_name", &req.domain_name).await?;
        let op = self.operator_of(s, operator).await?;
        let missing =
            || CoreError::not_found(format!("operatorId: operator {operator} is not assigned to {}", domain.name));
        store::assignment(self.ctx.pool(), domain.id, op.principal_id).await?.ok_or_else(missing)?;
        let changes = AssignmentChanges {
            unique_id: req.unique_id.as_deref().map(str::trim),
            is_admin: req.is_admin,
            online_status: req.online_status,
            status: req.status,
        };
        let mut tx = self.ctx.begin().await?;
        store::update_assignment(&mut tx, domain.id, op.principal_id, &changes).await?;
        let object = format!("chat_assignment:{}:{}", domain.id, op.principal_id);
        self.ctx.audit(&mut tx, &s.caller, s.org(), "assignment.update", &object).await?;
        tx.commit().await?;
        let now = store::assignment(self.ctx.pool(), domain.id, op.principal_id).await?.ok_or_else(missing)?;
        Ok(AssignmentUpdated {
            addon_unique_name: s.addon.unique_name.clone(),
            domain_name: domain.name,
            operators: AssignmentState {
                online_status: now.online_status.0,
                unique_id: now.unique_id,
                is_admin: now.is_admin.0,
                status: now.status.0,
            },
        })
    }

    /// The organisation an admin names for addon management: in the caller's subtree, of kind organisation.
    async fn organisation(&self, caller: &Caller, id: i64) -> CoreResult<Arc<Tenant>> {
        let org = self.ctx.visible_tenant(caller, id, "organisation_id: organisation").await?;
        if org.kind() != TenantKind::Organisation {
            return Err(CoreError::invalid("organisation_id", "is not an organisation"));
        }
        Ok(org)
    }

    /// The seed's GET form of tokens_issue: the same request, from the query string.
    async fn tokens_issue_get_op(
        &self,
        email: String,
        password: String,
        organisation_domain: String,
        addon_unique_name: String,
    ) -> CoreResult<TokenOut> {
        self.tokens_issue_op(&TokenRequest { email, password, organisation_domain, addon_unique_name }).await
    }

    async fn operators_get_op(&self, token: &AccessToken, operator_id: &PathId) -> CoreResult<OperatorOut> {
        let s = self.session(token).await?;
        self.ctx.require(&s.caller, "chat:operator", "read", s.org()).await?;
        let op = self.operator_of(&s, operator_id.get("operatorId")?).await?;
        Ok(OperatorOut {
            id: op.principal_id,
            name: op.name,
            email: op.email,
            status: op.presence,
            operator: op.active.0,
        })
    }

    async fn operators_update_op(
        &self,
        token: &AccessToken,
        operator_id: &PathId,
        req: &OperatorUpdate,
    ) -> CoreResult<String> {
        let s = self.session(token).await?;
        self.ctx.require(&s.caller, "chat:operator", "update", s.org()).await?;
        let op = self.operator_of(&s, operator_id.get("operatorId")?).await?;
        let mut tx = self.ctx.begin().await?;
        store::set_operator_active(&mut tx, s.addon.id, op.principal_id, req.status == 1).await?;
        let object = format!("chat_operator:{}:{}", s.addon.id, op.principal_id);
        self.ctx.audit(&mut tx, &s.caller, s.org(), "operator.update", &object).await?;
        tx.commit().await?;
        Ok("Status Changes Successfully".to_string())
    }

    async fn domains_get_op(&self, token: &AccessToken, domain_name: &str) -> CoreResult<DomainOut> {
        let s = self.session(token).await?;
        self.ctx.require(&s.caller, "chat:domain", "read", s.org()).await?;
        let d = self.domain_of(&s, "domain_name", domain_name).await?;
        Ok(DomainOut { name: d.name, email: d.email, status: d.active.0 })
    }

    async fn addons_list_op(&self, key: &BearerKey, organisation_id: i64) -> CoreResult<AddonList> {
        let caller = self.ctx.authenticate_key(&key.0.token).await?;
        let org = self.organisation(&caller, organisation_id).await?;
        self.ctx.require(&caller, "chat:addon", "read", &org).await?;
        let rows = store::addons(self.ctx.reader(), org.id).await?;
        Ok(AddonList { items: rows.into_iter().map(AddonOut::from_row).collect::<CoreResult<_>>()? })
    }

    async fn addons_create_op(&self, key: &BearerKey, req: &AddonCreate) -> CoreResult<AddonOut> {
        let caller = self.ctx.authenticate_key(&key.0.token).await?;
        let org = self.organisation(&caller, req.organisation_id).await?;
        self.ctx.require(&caller, "chat:addon", "create", &org).await?;
        let name = req.addon_unique_name.trim();
        let well_formed =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !well_formed {
            return Err(CoreError::invalid("addon_unique_name", "must be letters, digits, '-', '_' or '.'"));
        }
        if store::addon(self.ctx.pool(), org.id, name).await?.is_some() {
            return Err(CoreError::conflict(format!("addon_unique_name: {name} already exists in this organisation")));
        }
        let mut tx = self.ctx.begin().await?;
        let id = store::insert_addon(&mut tx, org.id, name, &req.kind.stored(), now_ms()).await?;
        self.ctx.audit(&mut tx, &caller, &org, "addon.create", &format!("chat_addon:{id}")).await?;
        tx.commit().await?;
        Ok(AddonOut { id, organisation_id: org.id, addon_unique_name: name.to_string(), kind: req.kind, active: true })
    }

    async fn addons_disable_op(&self, key: &BearerKey, organisation_id: i64, name: &str) -> CoreResult<AddonOut> {
        let caller = self.ctx.authenticate_key(&key.0.token).await?;
        let org = self.organisation(&caller, organisation_id).await?;
        self.ctx.require(&caller, "chat:addon", "update", &org).await?;
        let addon = store::addon(self.ctx.pool(), org.id, name)
            .await?
            .ok_or_else(|| CoreError::not_found(format!("addon_unique_name: {name} not found")))?;
        let mut tx = self.ctx.begin().await?;
        let revoked = store::disable_addon(&mut tx, addon.id).await?;
        self.ctx.audit(&mut tx, &caller, &org, "addon.disable", &format!("chat_addon:{}", addon.id)).await?;
        let event = serde_json::json!({
            "organisation_id": org.id,
            "organisation_domain": org.slug,
            "addon_unique_name": addon.unique_name,
        });
        self.ctx.emit(&mut tx, &org, crate::ADDON_DISABLED, &event).await?;
        tx.commit().await?;
        self.forget_tokens(&revoked).await;
        Ok(AddonOut { active: false, ..AddonOut::from_row(addon)? })
    }
}

#[OpenApi(tag = "ChatTag::Chat")]
impl ChatApi {
    /// Get an access token (seed form: credentials in the query string; prefer POST, query strings reach logs).
    #[oai(path = "/admin/access-token", method = "get", operation_id = "chat_tokens_issue_get")]
    async fn tokens_issue_get(
        &self,
        email: Query<String>,
        password: Query<String>,
        organisation_domain: Query<String>,
        addon_unique_name: Query<String>,
    ) -> Reply<TokenOut> {
        reply(self.tokens_issue_get_op(email.0, password.0, organisation_domain.0, addon_unique_name.0).await)
    }

    /// Get an access token for an organisation's addon with the owner's email and password.
    #[oai(path = "/admin/access-token", method = "post", operation_id = "chat_tokens_issue")]
    async fn tokens_issue(&self, body: Input<TokenRequest>) -> Reply<TokenOut> {
        reply(self.tokens_issue_op(&body).await)
    }

    /// Check an access token (with its refresh token) for an addon; answers the seconds it has left.
    #[oai(path = "/admin/access-token/validate", method = "post", operation_id = "chat_tokens_validate")]
    async fn tokens_validate(&self, body: Input<ValidateRequest>) -> Reply<TokenOut> {
        reply(self.tokens_validate_op(&body).await)
    }

    /// Rotate a token pair: the old pair stops working; a spent refresh token presented again revokes the session.
    #[oai(path = "/admin/access-token/regenerate", method = "post", operation_id = "chat_tokens_regenerate")]
    async fn tokens_regenerate(&self, body: Input<RegenerateRequest>) -> Reply<TokenOut> {
        reply(self.tokens_regenerate_op(&body).await)
    }

    /// Add an operator to this addon by email (a new person of the organisation when the email is new).
    #[oai(path = "/admin/operator/create", method = "post", operation_id = "chat_operators_create")]
    async fn operators_create(&self, token: AccessToken, body: Input<OperatorCreate>) -> Reply<OperatorCreated> {
        reply(self.operators_create_op(&token, &body).await)
    }

    /// Read an operator of this addon.
    #[oai(path = "/admin/operator/:operatorId", method = "get", operation_id = "chat_operators_get")]
    async fn operators_get(
        &self,
        token: AccessToken,
        #[oai(name = "operatorId")] operator_id: Path<PathId>,
    ) -> Reply<OperatorOut> {
        reply(self.operators_get_op(&token, &operator_id).await)
    }

    /// Activate (1) or deactivate (0) an operator on this addon.
    #[oai(path = "/admin/operator/update/:operatorId", method = "put", operation_id = "chat_operators_update")]
    async fn operators_update(
        &self,
        token: AccessToken,
        #[oai(name = "operatorId")] operator_id: Path<PathId>,
        body: Input<OperatorUpdate>,
    ) -> Reply<String> {
        reply(self.operators_update_op(&token, &operator_id, &body).await)
    }

    /// Add a website (host name) to this addon; seller_buyer addons also get the embed link.
    #[oai(path = "/admin/domain/create", method = "post", operation_id = "chat_domains_create")]
    async fn domains_create(&self, token: AccessToken, body: Input<DomainCreate>) -> Reply<DomainCreated> {
        reply(self.domains_create_op(&token, &body).await)
    }

    /// Read a website of this addon.
    #[oai(path = "/admin/domain/:domain_name", method = "get", operation_id = "chat_domains_get")]
    async fn domains_get(&self, token: AccessToken, domain_name: Path<String>) -> Reply<DomainOut> {
        reply(self.domains_get_op(&token, &domain_name).await)
    }

    /// Change the name, status or email of a website (at least one).
    #[oai(path = "/admin/domain/update/:domain_name", method = "put", operation_id = "chat_domains_update")]
    async fn domains_update(
        &self,
        token: AccessToken,
        domain_name: Path<String>,
        body: Input<DomainUpdate>,
    ) -> Reply<DomainOut> {
        reply(self.domains_update_op(&token, &domain_name, &body).await)
    }

    /// Assign an operator to a website of this addon.
    #[oai(path = "/admin/operator/assign", method = "post", operation_id = "chat_assignments_create")]
    async fn assignments_create(&self, token: AccessToken, body: Input<AssignCreate>) -> Reply<Assigned> {
        reply(self.assignments_create_op(&token, &body).await)
    }

    /// Change an operator's assignment on a website: unique_id, is_admin, online_status or status (at least one).
    #[oai(path = "/admin/operator/assign/:operatorId", method = "put", operation_id = "chat_assignments_update")]
    async fn assignments_update(
        &self,
        token: AccessToken,
        #[oai(name = "operatorId")] operator_id: Path<PathId>,
        body: Input<AssignUpdate>,
    ) -> Reply<AssignmentUpdated> {
        reply(self.assignments_update_op(&token, &operator_id, &body).await)
    }

    /// Create an addon for an organisation of your subtree (tenant admins, with a core API key).
    #[oai(path = "/addons", method = "post", operation_id = "chat_addons_create")]
    async fn addons_create(&self, key: BearerKey, body: Input<AddonCreate>) -> Reply<AddonOut> {
        reply(self.addons_create_op(&key, &body).await)
    }

    /// List the addons of an organisation of your subtree.
    #[oai(path = "/addons", method = "get", operation_id = "chat_addons_list")]
    async fn addons_list(&self, key: BearerKey, organisation_id: Query<i64>) -> Reply<AddonList> {
        reply(self.addons_list_op(&key, *organisation_id).await)
    }

    /// Disable an addon: its tokens stop working at once and no new ones are issued.
    #[oai(path = "/addons/:addon_unique_name/disable", method = "post", operation_id = "chat_addons_disable")]
    async fn addons_disable(
        &self,
        key: BearerKey,
        addon_unique_name: Path<String>,
        organisation_id: Query<i64>,
    ) -> Reply<AddonOut> {
        reply(self.addons_disable_op(&key, *organisation_id, &addon_unique_name).await)
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::ToJSON;
    use tessera_core::Failure;

    use super::*;

    /// The stable code each core error answers with.
    fn expected_code(e: &CoreError) -> &'static str {
        match e {
            CoreError::Invalid { .. } => "invalid_input",
            CoreError::Unauthenticated(_) => "unauthenticated",
            CoreError::Forbidden(_) => "forbidden",
            CoreError::TenantSuspended => "organisation_suspended",
            CoreError::PluginDisabled(_) => "service_not_enabled",
            CoreError::NotFound(_) => "not_found",
            CoreError::Conflict(_) => "conflict",
            CoreError::PayloadTooLarge(_) => "invalid_input",
            CoreError::MethodNotAllowed { .. } => "method_not_allowed",
            CoreError::UnsupportedMediaType(_) => "unsupported_media_type",
            CoreError::RateLimited(_) => "rate_limited",
            CoreError::LoginBlocked(_) => "login_blocked",
            CoreError::Internal(_) => "internal",
        }
    }

    /// Every core error reads in the seed's envelope: `status` 0, its stable code and the public message; an
    /// internal cause is never shown.
    #[test]
    fn every_error_maps_to_the_envelope() {
        for e in CoreError::examples() {
            let body = ErrorBody::from_error(&e).to_json().unwrap();
            let message = e.public_message();
            assert_eq!(body["status"], 0, "{message}");
            assert_eq!(body["error"]["code"], expected_code(&e), "{message}");
            assert_eq!(body["error"]["message"], message.as_str());
            if e.failure() == Failure::Internal {
                assert_eq!(body["error"]["message"], "internal error");
                assert!(!body.to_string().contains("disk on fire"), "an internal cause is never shown");
            }
        }
    }
}
