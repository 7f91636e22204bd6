//! The admin API of the job runner and the outbox, under `/core/v1` beside the rest of the core's admin API (same
//! bearer keys, same problem+json errors): the jobs (platform admins), kept and sent emails, webhook endpoints, their
//! deliveries and replays.
//!
//! As everywhere in the admin API: authenticate, resolve the target tenant (one outside the caller's subtree answers
//! 404), then one casbin check on it (`core:webhook`, `core:email`, `core:job`).

use std::sync::Arc;

use poem_openapi::param::{Path, Query};
use poem_openapi::{Enum, Object, OpenApi};

use crate::admin::{rfc3339, AdminAuth, CoreTag, Gone, Made, Reply};
use crate::error::{CoreError, CoreResult};
use crate::identity::{new_secret, Caller};
use crate::outbox::{sql, Outbox};
use crate::tenancy::Tenant;
use crate::types::Paging;
use crate::wire::{Input, PathId};
use crate::{audit, jobs, now_ms, Core};

// ---- wire types ----

#[derive(Object)]
#[oai(rename = "CoreJob")]
pub struct JobOut {
    /// `<plugin>.<job>`, e.g. `core.outbox.deliver`.
    pub name: String,
    /// The period of a periodic job; absent for a job that runs only when queued.
    #[oai(nullable)]
    pub schedule_seconds: Option<f64>,
    #[oai(nullable)]
    pub last_started_at: Option<String>,
    #[oai(nullable)]
    pub last_finished_at: Option<String>,
    /// `ok` or `error`.
    #[oai(nullable)]
    pub last_outcome: Option<String>,
    #[oai(nullable)]
    pub last_error: Option<String>,
    #[oai(nullable)]
    pub last_duration_ms: Option<i64>,
    /// Runs finished, on every instance.
    pub runs: i64,
    pub failures: i64,
    #[oai(nullable)]
    pub next_run_at: Option<String>,
    /// A run holds the job's lease now.
    pub running: bool,
    /// One-off runs waiting in the queue.
    pub queued: i64,
}

#[derive(Object)]
#[oai(rename = "CoreJobList")]
pub struct JobList {
    pub items: Vec<JobOut>,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "CoreEmailStatus", rename_all = "lowercase")]
pub enum EmailStatus {
    /// Waiting to be sent (or to be retried).
    Pending,
    Sent,
    /// No SMTP server is configured: kept here to be read.
    Kept,
    /// Refused by the SMTP server, or not sent within 24 hours.
    Failed,
}

impl EmailStatus {
    fn as_str(self) -> &'static str {
        match self {
            EmailStatus::Pending => "pending",
            EmailStatus::Sent => "sent",
            EmailStatus::Kept => "kept",
            EmailStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "sent" => EmailStatus::Sent,
            "kept" => EmailStatus::Kept,
            "failed" => EmailStatus::Failed,
            _ => EmailStatus::Pending,
        }
    }
}

#[derive(Object)]
#[oai(rename = "CoreEmail")]
pub struct EmailOut {
    pub id: i64,
    pub tenant_id: i64,
    /// The plugin that sent it.
    pub plugin: String,
    pub template: String,
    pub to: String,
    pub subject: String,
    /// The plain-text body, exactly as sent; withheld for an email that carries a secret (a reset link).
    pub text: String,
    pub status: EmailStatus,
    pub attempts: i64,
    #[oai(nullable)]
    pub last_error: Option<String>,
    pub created_at: String,
    #[oai(nullable)]
    pub sent_at: Option<String>,
}

/// The text of an email that carries a secret, as the admin API shows it.
const WITHHELD: &str = "(withheld: this email carries a secret for its recipient only)";

impl From<sql::EmailRow> for EmailOut {
    fn from(r: sql::EmailRow) -> Self {
        let status = EmailStatus::parse(&r.status);
        EmailOut {
            id: r.id,
            tenant_id: r.tenant_id,
            plugin: r.plugin,
            template: r.template,
            to: r.email_to,
            subject: r.subject,
            text: if r.secret.0 { WITHHELD.to_string() } else { r.body },
            status,
            attempts: r.attempts,
            last_error: r.last_error,
            created_at: rfc3339(r.created_at),
            sent_at: r.done_at.filter(|_| status == EmailStatus::Sent).map(rfc3339),
        }
    }
}

#[derive(Object)]
#[oai(rename = "CoreEmailPage")]
pub struct EmailPage {
    pub items: Vec<EmailOut>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Object)]
#[oai(rename = "CoreEventType")]
pub struct EventTypeOut {
    pub name: String,
    pub description: String,
}

#[derive(Object)]
#[oai(rename = "CoreEventTypeList")]
pub struct EventTypeList {
    pub items: Vec<EventTypeOut>,
}

#[derive(Object)]
#[oai(rename = "CoreWebhookCreate")]
pub struct WebhookCreate {
    /// The tenant whose events (and whose descendants' events) the endpoint receives. Default: the caller's.
    pub tenant_id: Option<i64>,
    /// Where events are POSTed: an http or https URL.
    #[oai(validator(max_length = 2000))]
    pub url: String,
    /// Event types to receive, from `GET /core/v1/webhooks/event-types`.
    #[oai(validator(max_items = 50))]
    pub event_types: Vec<String>,
    #[oai(validator(max_length = 200))]
    pub description: Option<String>,
}

#[derive(Object)]
#[oai(rename = "CoreWebhook")]
pub struct WebhookOut {
    pub id: i64,
    pub tenant_id: i64,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: String,
    pub created_at: String,
}

impl From<&sql::WebhookRow> for WebhookOut {
    fn from(w: &sql::WebhookRow) -> Self {
        WebhookOut {
            id: w.id,
            tenant_id: w.tenant_id,
            url: w.url.clone(),
            event_types: serde_json::from_str(&w.event_types).unwrap_or_default(),
            description: w.description.clone(),
            created_at: rfc3339(w.created_at),
        }
    }
}

#[derive(Object)]
#[oai(rename = "CoreWebhookCreated")]
pub struct WebhookCreated {
    pub id: i64,
    pub tenant_id: i64,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: String,
    pub created_at: String,
    /// Signs every delivery (`Tessera-Signature`). Shown only in this answer; store it now.
    pub secret: String,
}

#[derive(Object)]
#[oai(rename = "CoreWebhookList")]
pub struct WebhookList {
    pub items: Vec<WebhookOut>,
}

#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "CoreDeliveryStatus", rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or a retry.
    Pending,
    /// A 2xx answer was received.
    Delivered,
    /// No 2xx answer within 24 hours.
    Failed,
    /// The endpoint was deleted first.
    Cancelled,
}

#[derive(Object)]
#[oai(rename = "CoreWebhookAttempt")]
pub struct AttemptOut {
    pub at: String,
    /// The receiver's HTTP status; absent when no answer came.
    #[oai(nullable)]
    pub http_status: Option<i64>,
    /// Why the attempt failed (a non-2xx status, a timeout, a refused connection); absent on success.
    #[oai(nullable)]
    pub error: Option<String>,
    pub latency_ms: i64,
}

#[derive(Object)]
#[oai(rename = "CoreWebhookDelivery")]
pub struct DeliveryOut {
    pub id: i64,
    /// Sent as `Tessera-Delivery`, the same on every attempt and replay: receivers de-duplicate by it.
    pub delivery_id: String,
    pub webhook_id: i64,
    pub event_id: i64,
    pub event_type: String,
    pub status: DeliveryStatus,
    /// The exact body POSTed.
    pub body: String,
    pub attempts: Vec<AttemptOut>,
    pub created_at: String,
    /// When the next attempt is due, while pending.
    #[oai(nullable)]
    pub next_attempt_at: Option<String>,
    #[oai(nullable)]
    pub delivered_at: Option<String>,
}

#[derive(Object)]
#[oai(rename = "CoreWebhookDeliveryPage")]
pub struct DeliveryPage {
    pub items: Vec<DeliveryOut>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

fn delivery_out(d: sql::DeliveryRow, attempts: &[sql::AttemptRow]) -> DeliveryOut {
    let status = match d.status.as_str() {
        "delivered" => DeliveryStatus::Delivered,
        "failed" => DeliveryStatus::Failed,
        "cancelled" => DeliveryStatus::Cancelled,
        _ => DeliveryStatus::Pending,
    };
    DeliveryOut {
        id: d.id,
        delivery_id: d.uid,
        webhook_id: d.webhook_id,
        event_id: d.outbox_id,
        event_type: d.event_type,
        status,
        body: d.body,
        attempts: attempts
            .iter()
            .filter(|a| a.delivery_id == d.id)
            .map(|a| AttemptOut {
                at: rfc3339(a.at),
                http_status: a.http_status,
                error: a.error.clone(),
                latency_ms: a.latency_ms,
            })
            .collect(),
        created_at: rfc3339(d.created_at),
        next_attempt_at: (status == DeliveryStatus::Pending).then(|| rfc3339(d.next_attempt_at)),
        delivered_at: d.delivered_at.map(rfc3339),
    }
}

// ---- the API ----

pub struct OutboxApi {
    core: Core,
    outbox: Arc<Outbox>,
}

impl OutboxApi {
    pub fn new(core: Core, outbox: Arc<Outbox>) -> Self {
        OutboxApi { core, outbox }
    }

    async fn caller(&self, auth: &AdminAuth) -> CoreResult<Caller> {
        self.core.identity.authenticate_key(&auth.0.token).await
    }

    async fn require(&self, caller: &Caller, object: &str, action: &str, tenant: &Tenant) -> CoreResult<()> {
        self.core.authz.require(caller, object, action, &tenant.path).await.map(|_| ())
    }

    /// A live endpoint whose tenant lies in the caller's subtree; otherwise not found.
    async fn visible_webhook(&self, caller: &Caller, id: i64) -> CoreResult<(sql::WebhookRow, Arc<Tenant>)> {
        let hidden = || CoreError::not_found(format!("webhook {id} not found"));
        let hook = sql::webhook(&self.core.db.pool, id).await?.filter(|w| w.deleted_at.is_none()).ok_or_else(hidden)?;
        let tenant = self.core.visible_tenant(caller, hook.tenant_id, "webhook").await.map_err(|_| hidden())?;
        Ok((hook, tenant))
    }

    fn validate_url(&self, url: &str) -> CoreResult<String> {
        let url = url.trim();
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| CoreError::invalid("url", format!("must be an absolute http or https URL ({e})")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(CoreError::invalid("url", "must be an http or https URL"));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(CoreError::invalid("url", "must name a host"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(CoreError::invalid("url", "must not carry credentials; the signature authenticates Tessera"));
        }
        if let Some(ip) = crate::outbox::url_ip(&parsed) {
            if !self.outbox.targets().allows(ip) {
                return Err(CoreError::invalid("url", format!("the address {ip} may not be reached by webhooks")));
            }
        }
        Ok(parsed.to_string())
    }

    fn validate_types(&self, types: &[String]) -> CoreResult<Vec<String>> {
        if types.is_empty() {
            return Err(CoreError::invalid("event_types", "must name at least one event type"));
        }
        let known = self.outbox.catalogue();
        let mut out: Vec<String> = Vec::new();
        for t in types {
            if !known.iter().any(|k| k.name == t) {
                let names: Vec<&str> = known.iter().map(|k| k.name).collect();
                return Err(CoreError::invalid(
                    "event_types",
                    format!("unknown event type `{t}`; known: {}", names.join(", ")),
                ));
            }
            if !out.contains(t) {
                out.push(t.clone());
            }
        }
        Ok(out)
    }

    async fn create_webhook(&self, caller: &Caller, body: &WebhookCreate) -> CoreResult<WebhookCreated> {
        let tenant = self.core.visible_tenant(caller, body.tenant_id.unwrap_or(caller.tenant_id()), "tenant").await?;
        self.require(caller, "core:webhook", "create", &tenant).await?;
        let url = self.validate_url(&body.url)?;
        let types = self.validate_types(&body.event_types)?;
        let description = body.description.as_deref().unwrap_or("").trim().to_string();
        if description.chars().any(char::is_control) {
            return Err(CoreError::invalid("description", "must not contain control characters"));
        }
        if sql::webhooks_of(&self.core.db.pool, tenant.id).await?.len() >= 50 {
            return Err(CoreError::conflict("a tenant has at most 50 webhook endpoints; delete one first"));
        }
        let secret = new_secret("whsec_");
        let types_text = serde_json::to_string(&types).map_err(CoreError::internal)?;
        let now = now_ms();
        let mut tx = self.core.db.begin().await?;
        let id = sql::insert_webhook(&mut tx, &tenant, &url, &types_text, &description, &secret, now).await?;
        audit::record(&mut tx, Some(caller.principal_id), &tenant, "core.webhook.create", &format!("webhook:{id}"))
            .await?;
        tx.commit().await?;
        Ok(WebhookCreated {
            id,
            tenant_id: tenant.id,
            url,
            event_types: types,
            description,
            created_at: rfc3339(now),
            secret,
        })
    }

    async fn deliveries(&self, caller: &Caller, webhook_id: i64, limit: i64, offset: i64) -> CoreResult<DeliveryPage> {
        let (hook, tenant) = self.visible_webhook(caller, webhook_id).await?;
        self.require(caller, "core:webhook", "read", &tenant).await?;
        let (rows, total) = sql::deliveries_of(&self.core.db.reader, hook.id, Paging { limit, offset }).await?;
        let (from, to) = (rows.iter().map(|d| d.id).min(), rows.iter().map(|d| d.id).max());
        let attempts = match (from, to) {
            (Some(from), Some(to)) => sql::attempts_of(&self.core.db.pool, hook.id, from, to).await?,
            _ => Vec::new(),
        };
        Ok(DeliveryPage { items: rows.into_iter().map(|d| delivery_out(d, &attempts)).collect(), total, limit, offset })
    }

    async fn replay(&self, caller: &Caller, delivery_id: i64) -> CoreResult<DeliveryOut> {
        let hidden = || CoreError::not_found(format!("delivery {delivery_id} not found"));
        let pool = &self.core.db.pool;
        let delivery = sql::delivery(pool, delivery_id).await?.ok_or_else(hidden)?;
        let (hook, tenant) = self.visible_webhook(caller, delivery.webhook_id).await.map_err(|_| hidden())?;
        self.require(caller, "core:webhook", "update", &tenant).await?;
        let mut tx = self.core.db.begin().await?;
        if !sql::replay(&mut tx, delivery.id, now_ms()).await? {
            return Err(CoreError::conflict("an attempt of this delivery is in progress; try again in a minute"));
        }
        audit::record(
            &mut tx,
            Some(caller.principal_id),
            &tenant,
            "core.webhook.replay",
            &format!("webhook_delivery:{delivery_id}"),
        )
        .await?;
        tx.commit().await?;
        crate::outbox::wake();
        let row = sql::delivery(pool, delivery.id).await?.ok_or_else(hidden)?;
        let attempts = sql::attempts_of(pool, hook.id, row.id, row.id).await?;
        Ok(delivery_out(row, &attempts))
    }
}

#[OpenApi(tag = "CoreTag::Core")]
impl OutboxApi {
    /// The background jobs with their last run, schedule and queue (platform admins only).
    #[oai(path = "/jobs", method = "get", operation_id = "core_jobs_list")]
    async fn jobs_list(&self, auth: AdminAuth) -> Reply<JobList> {
        async {
            let caller = self.caller(&auth).await?;
            if caller.tenant.parent_id.is_some() {
                return Err(CoreError::forbidden("only platform admins see the jobs"));
            }
            self.require(&caller, "core:job", "read", &caller.tenant).await?;
            let (rows, queued) = jobs::list(&self.core.db.pool).await?;
            let now = now_ms();
            let items = rows
                .into_iter()
                .map(|j| JobOut {
                    schedule_seconds: j.every_ms.map(|ms| ms as f64 / 1000.0),
                    last_started_at: j.last_started_at.map(rfc3339),
                    last_finished_at: j.last_finished_at.map(rfc3339),
                    last_outcome: j.last_outcome,
                    last_error: j.last_error,
                    last_duration_ms: j.last_duration_ms,
                    runs: j.runs,
                    failures: j.failures,
                    next_run_at: j.next_run_at.map(rfc3339),
                    running: j.lease_until.is_some_and(|t| t >= now),
                    queued: queued.get(&j.name).copied().unwrap_or(0),
                    name: j.name,
                })
                .collect();
            Ok(JobList { items })
        }
        .await
        .into()
    }

    /// Emails of a tenant and everything below it, newest first: kept (no SMTP configured), pending, sent, failed.
    #[oai(path = "/emails", method = "get", operation_id = "core_emails_list")]
    async fn emails_list(
        &self,
        auth: AdminAuth,
        /// Default: the caller's tenant.
        tenant_id: Query<Option<i64>>,
        /// Only emails in this state.
        status: Query<Option<EmailStatus>>,
        /// 1 to 100, default 20.
        limit: Query<Option<i64>>,
        /// Default 0.
        offset: Query<Option<i64>>,
    ) -> Reply<EmailPage> {
        async {
            let caller = self.caller(&auth).await?;
            let crate::Paging { limit, offset } = crate::Paging::new(crate::PageRule::CORE, *limit, *offset)?;
            let tenant = self.core.visible_tenant(&caller, tenant_id.unwrap_or(caller.tenant_id()), "tenant").await?;
            self.require(&caller, "core:email", "read", &tenant).await?;
            let status = status.map(EmailStatus::as_str);
            let (rows, total) =
                sql::emails_under(&self.core.db.reader, &tenant.path, status, Paging { limit, offset }).await?;
            Ok(EmailPage { items: rows.into_iter().map(EmailOut::from).collect(), total, limit, offset })
        }
        .await
        .into()
    }

    /// The event types webhook endpoints can subscribe to.
    #[oai(path = "/webhooks/event-types", method = "get", operation_id = "core_webhook_event_types_list")]
    async fn webhook_event_types(&self, auth: AdminAuth) -> Reply<EventTypeList> {
        async {
            self.caller(&auth).await?;
            let items = self
                .outbox
                .catalogue()
                .iter()
                .map(|t| EventTypeOut { name: t.name.to_string(), description: t.description.to_string() })
                .collect();
            Ok(EventTypeList { items })
        }
        .await
        .into()
    }

    /// Register a webhook endpoint for a tenant: it receives that tenant's and its descendants' events of the chosen
    /// types, signed with the secret shown once in this answer.
    #[oai(path = "/webhooks", method = "post", operation_id = "core_webhooks_create")]
    async fn webhooks_create(&self, auth: AdminAuth, body: Input<WebhookCreate>) -> Made<WebhookCreated> {
        async { self.create_webhook(&self.caller(&auth).await?, &body).await }.await.into()
    }

    /// The webhook endpoints of a tenant (never their secrets).
    #[oai(path = "/webhooks", method = "get", operation_id = "core_webhooks_list")]
    async fn webhooks_list(
        &self,
        auth: AdminAuth,
        /// Default: the caller's tenant.
        tenant_id: Query<Option<i64>>,
    ) -> Reply<WebhookList> {
        async {
            let caller = self.caller(&auth).await?;
            let tenant = self.core.visible_tenant(&caller, tenant_id.unwrap_or(caller.tenant_id()), "tenant").await?;
            self.require(&caller, "core:webhook", "read", &tenant).await?;
            let rows = sql::webhooks_of(&self.core.db.pool, tenant.id).await?;
            Ok(WebhookList { items: rows.iter().map(WebhookOut::from).collect() })
        }
        .await
        .into()
    }

    /// Delete a webhook endpoint; its pending deliveries are cancelled.
    #[oai(path = "/webhooks/:id", method = "delete", operation_id = "core_webhooks_delete")]
    async fn webhooks_delete(&self, auth: AdminAuth, id: Path<PathId>) -> Gone {
        async {
            let caller = self.caller(&auth).await?;
            let (hook, tenant) = self.visible_webhook(&caller, id.get("id")?).await?;
            self.require(&caller, "core:webhook", "delete", &tenant).await?;
            let mut tx = self.core.db.begin().await?;
            sql::delete_webhook(&mut tx, hook.id, now_ms()).await?;
            let object = format!("webhook:{}", hook.id);
            audit::record(&mut tx, Some(caller.principal_id), &tenant, "core.webhook.delete", &object).await?;
            tx.commit().await?;
            Ok(())
        }
        .await
        .into()
    }

    /// The deliveries of a webhook endpoint, newest first, each with every attempt (time, HTTP status or error,
    /// latency).
    #[oai(path = "/webhooks/:id/deliveries", method = "get", operation_id = "core_webhook_deliveries_list")]
    async fn webhook_deliveries(
        &self,
        auth: AdminAuth,
        id: Path<PathId>,
        /// 1 to 100, default 20.
        limit: Query<Option<i64>>,
        /// Default 0.
        offset: Query<Option<i64>>,
    ) -> Reply<DeliveryPage> {
        async {
            let caller = self.caller(&auth).await?;
            let crate::Paging { limit, offset } = crate::Paging::new(crate::PageRule::CORE, *limit, *offset)?;
            self.deliveries(&caller, id.get("id")?, limit, offset).await
        }
        .await
        .into()
    }

    /// Send a delivery again, now, with the same delivery id (and a new 24-hour retry window).
    #[oai(path = "/webhooks/deliveries/:id/replay", method = "post", operation_id = "core_webhook_deliveries_replay")]
    async fn webhook_delivery_replay(&self, auth: AdminAuth, id: Path<PathId>) -> Reply<DeliveryOut> {
        async { self.replay(&self.caller(&auth).await?, id.get("id")?).await }.await.into()
    }
}
