//! The outbox: events and emails written in the transaction of the change that causes them (`emit`, `email`), and
//! delivered afterwards by the job `core.outbox.deliver` (every second, and at once after `wake()`), never in a
//! request.
//!
//! - An event of tenant X goes to every webhook endpoint of X and of X's ancestors that chose its type (a path prefix
//!   test; never to another tree): one delivery row per endpoint, created in one transaction with the event marked
//!   dispatched. Each delivery has a stable id (`Tessera-Delivery`), is signed with the endpoint's secret
//!   (`Tessera-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`), and is retried with exponential backoff (30 s
//!   doubling, at most an hour apart) for 24 hours, then failed. Every attempt is recorded.
//! - An email is rendered when it is queued, so what is stored is exactly what is sent; with `[smtp]` configured it
//!   is sent through SMTP (retried like a delivery), otherwise it is kept for admins to read.
//!
//! Rows are claimed with leases, so delivery is at-least-once across crashes and instances: a receiver de-duplicates
//! by the delivery id. The SQL of the outbox lives at the end of this module (its own tables only).

use std::net::IpAddr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;
use tokio::sync::{Notify, Semaphore};

use crate::config::Secret;
use crate::db::{now_ms, Db};
use crate::error::{CoreError, CoreResult};
use crate::jobs::{self, Job};
use crate::tenancy::Tenant;

/// An event type of the catalogue (the core's, and those plugins declare).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventType {
    pub name: &'static str,
    pub description: &'static str,
}

/// An email a plugin sends: `{{var}}` in the subject and text is replaced by that value of `vars`.
#[derive(Debug, Clone, Copy)]
pub struct EmailTemplate {
    pub name: &'static str,
    pub subject: &'static str,
    pub text: &'static str,
    /// The text carries a secret (a reset link): it is sent, and withheld wherever emails are listed.
    pub secret: bool,
}

/// The event types of the core itself; plugins declare theirs (`Plugin::events`).
pub fn core_event_types() -> Vec<EventType> {
    vec![EventType { name: "tenant.suspended", description: "A tenant was suspended (its callers are refused)." }]
}

/// The payload of `tenant.suspended`.
pub fn tenant_suspended(tenant: &Tenant) -> Value {
    serde_json::json!({"tenant_id": tenant.id, "name": tenant.name, "slug": tenant.slug})
}

/// A delivery or an email is retried for this long after it was queued, then failed.
pub const RETRY_FOR_MS: i64 = 24 * 3_600_000;
/// Backoff after the n-th failed attempt: 30 s, 60 s, 120 s, … at most an hour.
pub fn retry_delay_ms(attempt: i64) -> i64 {
    (30_000i64 << (attempt - 1).clamp(0, 20)).min(3_600_000)
}
/// A delivery in progress holds its row this long; longer than the HTTP and SMTP timeouts.
const LEASE_MS: i64 = 60_000;
/// Connect and total timeout of one webhook request or one SMTP conversation.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Webhook requests and emails in flight per instance.
const CONCURRENCY: usize = 16;

static WAKE: LazyLock<Notify> = LazyLock::new(Notify::new);

/// After committing a transaction that emitted events or queued emails: deliver now rather than at the next tick.
pub fn wake() {
    WAKE.notify_one();
}

// ---- writing (in the caller's transaction) ----

fn check_event_type(event_type: &str) -> CoreResult<()> {
    let ok = (3..=100).contains(&event_type.len())
        && event_type.contains('.')
        && event_type.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(CoreError::internal(format!("event type `{event_type}` is not of the form `plugin.thing.happened`")))
    }
}

/// Records an event of `tenant` in the caller's transaction; it is delivered after the commit (call `wake()` then).
pub async fn emit(conn: &mut AnyConnection, tenant: &Tenant, event_type: &str, payload: &Value) -> CoreResult<i64> {
    check_event_type(event_type)?;
    let payload = serde_json::to_string(payload).map_err(CoreError::internal)?;
    sql::insert_event(conn, tenant, event_type, &payload, now_ms()).await
}

/// Renders `{{name}}` placeholders with `vars` (strings as they are, other values as JSON, null as nothing).
pub fn render(text: &str, vars: &Value) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("a `{{` is not closed")?;
        let name = after[..end].trim();
        match vars.get(name) {
            Some(Value::String(s)) => out.push_str(s),
            Some(Value::Null) => {}
            Some(other) => out.push_str(&other.to_string()),
            None => return Err(format!("no value for `{name}`")),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Queues an email from `plugin` to `to`, rendered now from `template` and `vars`, in the caller's transaction.
pub async fn email(
    conn: &mut AnyConnection,
    tenant: &Tenant,
    plugin: &str,
    to: &str,
    template: &EmailTemplate,
    vars: &Value,
) -> CoreResult<i64> {
    let to = to.trim();
    if to.parse::<Mailbox>().is_err() || to.len() > 254 {
        return Err(CoreError::invalid("to", "must be an email address like name@example.com"));
    }
    let bad = |e: String| CoreError::invalid("vars", format!("template `{}`: {e}", template.name));
    let subject = render(template.subject, vars).map_err(bad)?;
    if subject.contains(['\r', '\n']) {
        return Err(CoreError::invalid("vars", format!("template `{}`: the subject must be one line", template.name)));
    }
    let text = render(template.text, vars).map_err(bad)?;
    sql::insert_email(conn, tenant, plugin, template, to, &subject, &text, now_ms()).await
}

// ---- settings ----

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpTls {
    /// Plain text (a local relay).
    None,
    /// Plain connection upgraded with STARTTLS (port 587).
    #[default]
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl SmtpTls {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(SmtpTls::None),
            "starttls" => Some(SmtpTls::StartTls),
            "tls" => Some(SmtpTls::Tls),
            _ => None,
        }
    }
}

/// `[smtp]` in tessera.toml. Without it, emails are kept (status `kept`) for admins to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// The sender, e.g. `Tessera <noreply@example.com>`.
    pub from: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub tls: SmtpTls,
}

/// Which addresses webhook deliveries may reach (checked after name resolution, on every attempt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WebhookTargets {
    /// Public addresses only: no loopback, private, link-local, shared or unspecified address (the default, so a
    /// tenant cannot make the server call into its own network).
    #[default]
    Public,
    /// Loopback only (tests and local development).
    Loopback,
    /// Any address (a deployment whose tenants are all trusted).
    Any,
}

impl WebhookTargets {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "public" => Some(WebhookTargets::Public),
            "loopback" => Some(WebhookTargets::Loopback),
            "any" => Some(WebhookTargets::Any),
            _ => None,
        }
    }

    pub fn allows(self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        match self {
            WebhookTargets::Any => true,
            WebhookTargets::Loopback => ip.is_loopback(),
            WebhookTargets::Public => match ip {
                IpAddr::V4(v4) => {
                    let [a, b, ..] = v4.octets();
                    !(v4.is_loopback()
                        || v4.is_private()
                        || v4.is_link_local()
                        || v4.is_unspecified()
                        || v4.is_broadcast()
                        || v4.is_multicast()
                        || v4.is_documentation()
                        || a == 0
                        || (a == 100 && (64..128).contains(&b))
                        || (a == 198 && (b == 18 || b == 19))
                        || a >= 240)
                }
                IpAddr::V6(v6) => {
                    let first = v6.segments()[0];
                    !(v6.is_loopback()
                        || v6.is_unspecified()
                        || v6.is_multicast()
                        || (first & 0xfe00) == 0xfc00
                        || (first & 0xffc0) == 0xfe80)
                }
            },
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct OutboxSettings {
    pub smtp: Option<SmtpSettings>,
    pub webhook_targets: WebhookTargets,
}

// ---- signing ----

/// HMAC-SHA256 (RFC 2104) over SHA-256 of the `sha2` crate the core already uses.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The `Tessera-Signature` value for a body sent at `unix` seconds: `t=<unix>,v1=<hex>`.
pub fn signature(secret: &str, unix: i64, body: &str) -> String {
    let mac = hmac_sha256(secret.as_bytes(), format!("{unix}.{body}").as_bytes());
    format!("t={unix},v1={}", hex::encode(mac))
}

// ---- delivery ----

/// Resolves names for webhook requests and drops every address the policy refuses, so a name cannot lead the
/// server to a forbidden address (redirects are not followed either).
struct GuardedResolver(WebhookTargets);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0;
        let host = name.as_str().to_string();
        Box::pin(async move {
            // Loopback mode (tests) resolves nothing: no name lookup leaves the machine.
            if policy == WebhookTargets::Loopback && !host.eq_ignore_ascii_case("localhost") {
                return Err(format!("{host}: only loopback addresses may be reached by webhooks").into());
            }
            let found: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<_> = found.into_iter().filter(|a| policy.allows(a.ip())).collect();
            if allowed.is_empty() {
                return Err(format!("{host} has no address that webhooks may reach").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

pub struct Outbox {
    db: Db,
    catalogue: Vec<EventType>,
    smtp: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
    targets: WebhookTargets,
    http: reqwest::Client,
    slots: Arc<Semaphore>,
    owner: String,
}

impl Outbox {
    pub fn new(db: Db, catalogue: Vec<EventType>, settings: &OutboxSettings) -> CoreResult<Arc<Outbox>> {
        let smtp = match &settings.smtp {
            None => None,
            Some(s) => {
                let from: Mailbox =
                    s.from.parse().map_err(|e| CoreError::invalid("smtp.from", format!("not an address: {e}")))?;
                let builder = match s.tls {
                    SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
                    SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)
                        .map_err(|e| CoreError::invalid("smtp.host", e.to_string()))?,
                    SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)
                        .map_err(|e| CoreError::invalid("smtp.host", e.to_string()))?,
                };
                let mut builder = builder.port(s.port).timeout(Some(SEND_TIMEOUT));
                if let Some(user) = &s.username {
                    let password = s.password.as_ref().map(|p| p.0.clone()).unwrap_or_default();
                    builder = builder.credentials(Credentials::new(user.clone(), password));
                }
                Some((builder.build(), from))
            }
        };
        let http = reqwest::Client::builder()
            .connect_timeout(SEND_TIMEOUT)
            .timeout(SEND_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver(settings.webhook_targets)))
            .user_agent(concat!("Tessera-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(CoreError::internal)?;
        let mut names = std::collections::HashSet::new();
        for t in &catalogue {
            if !names.insert(t.name) {
                return Err(CoreError::internal(format!("event type `{}` is declared twice", t.name)));
            }
        }
        Ok(Arc::new(Outbox {
            db,
            catalogue,
            smtp,
            targets: settings.webhook_targets,
            http,
            slots: Arc::new(Semaphore::new(CONCURRENCY)),
            owner: uuid::Uuid::new_v4().simple().to_string(),
        }))
    }

    pub fn catalogue(&self) -> &[EventType] {
        &self.catalogue
    }

    pub fn targets(&self) -> WebhookTargets {
        self.targets
    }

    /// The delivery job, every second; and a task that delivers as soon as `wake()` is called.
    pub fn jobs(self: &Arc<Self>) -> Vec<Job> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                WAKE.notified().await;
                // Several commits in a burst make one pass.
                tokio::time::sleep(Duration::from_millis(20)).await;
                let pass = me.clone();
                tokio::spawn(async move {
                    if let Err(e) = pass.deliver_due().await {
                        tracing::warn!("outbox delivery pass failed: {e:?}");
                    }
                });
            }
        });
        let me = self.clone();
        let handler = jobs::handler(move |_run| {
            let me = me.clone();
            async move { me.deliver_due().await }
        });
        vec![Job::every("core.outbox.deliver", Duration::from_secs(1), handler)]
    }

    /// One pass: fan due events out to their endpoints, then send due emails and deliveries (concurrently, bounded).
    pub async fn deliver_due(self: &Arc<Self>) -> CoreResult<()> {
        self.fan_out().await?;
        let now = now_ms();
        if self.smtp.is_none() {
            sql::keep_emails(&self.db.writer, now).await?;
        }
        let mut work = tokio::task::JoinSet::new();
        if self.smtp.is_some() {
            for id in sql::due_emails(&self.db.pool, now).await? {
                let permit = self.slots.clone().acquire_owned().await.map_err(CoreError::internal)?;
                if let Some(row) = sql::claim_email(&self.db.writer, id, &self.owner, now_ms()).await? {
                    let me = self.clone();
                    work.spawn(async move {
                        let _permit = permit;
                        if let Err(e) = me.send_email(row).await {
                            tracing::warn!("cannot record an email attempt: {e:?}");
                        }
                    });
                }
            }
        }
        for id in sql::due_deliveries(&self.db.pool, now).await? {
            let permit = self.slots.clone().acquire_owned().await.map_err(CoreError::internal)?;
            if let Some(row) = sql::claim_delivery(&self.db.writer, id, &self.owner, now_ms()).await? {
                let me = self.clone();
                work.spawn(async move {
                    let _permit = permit;
                    if let Err(e) = me.send_delivery(row).await {
                        tracing::warn!("cannot record a webhook attempt: {e:?}");
                    }
                });
            }
        }
        while work.join_next().await.is_some() {}
        Ok(())
    }

    /// Each pending event becomes one delivery per endpoint (of its tenant and ancestors) that chose its type, with
    /// the event marked dispatched: whoever wins the event's row does it, once. A pass takes up to 200 events with one
    /// statement and fans them out in one transaction: one short turn of SQLite's writer, where a transaction per
    /// event took two turns per wallet move under load. If it fails, every event of the pass stays pending.
    async fn fan_out(&self) -> CoreResult<()> {
        // A pass with nothing to do does not take a turn of the writer.
        if !sql::events_pending(&self.db.pool).await? {
            return Ok(());
        }
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let events = sql::take_pending_events(&mut tx, now).await?;
        if events.is_empty() {
            return Ok(());
        }
        // Events of one tenant share its endpoints: read once per pass and tenant.
        let mut endpoints = std::collections::HashMap::new();
        for event in &events {
            if !endpoints.contains_key(&event.tenant_path) {
                let found = sql::endpoints_above(&mut tx, &event.tenant_path).await?;
                endpoints.insert(event.tenant_path.clone(), found);
            }
            let hooks = &endpoints[&event.tenant_path];
            if hooks.is_empty() {
                continue;
            }
            let body = delivery_body(event);
            for hook in hooks {
                let types: Vec<String> = serde_json::from_str(&hook.event_types).unwrap_or_default();
                if types.contains(&event.event_type) {
                    let uid = uuid::Uuid::new_v4().to_string();
                    sql::insert_delivery(&mut tx, &uid, hook.id, event.id, &event.event_type, &body, now).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn send_email(&self, row: sql::EmailRow) -> CoreResult<()> {
        let Some((transport, from)) = &self.smtp else { return Ok(()) };
        let domain = from.email.domain().to_string();
        let message = row.email_to.parse::<Mailbox>().map_err(|e| e.to_string()).and_then(|to| {
            Message::builder()
                .from(from.clone())
                .to(to)
                .subject(row.subject.clone())
                .message_id(Some(format!("<tessera-email-{}@{domain}>", row.id)))
                .header(ContentType::TEXT_PLAIN)
                .body(row.body.clone())
                .map_err(|e| e.to_string())
        });
        let outcome = match message {
            Err(e) => Err((e, true)),
            Ok(m) => match tokio::time::timeout(SEND_TIMEOUT, transport.send(m)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err((e.to_string(), e.is_permanent())),
                Err(_) => Err(("timed out".to_string(), false)),
            },
        };
        let now = now_ms();
        match outcome {
            Ok(()) => sql::finish_email(&self.db.writer, row.id, &self.owner, "sent", None, None, now).await,
            Err((e, permanent)) => {
                tracing::warn!(email = row.id, attempt = row.attempts, "email not sent: {e}");
                let next = now + retry_delay_ms(row.attempts);
                if permanent || next > row.retry_until {
                    sql::finish_email(&self.db.writer, row.id, &self.owner, "failed", Some(&e), None, now).await
                } else {
                    sql::finish_email(&self.db.writer, row.id, &self.owner, "pending", Some(&e), Some(next), now).await
                }
            }
        }
    }

    /// One attempt of one delivery: POST the stored body, signed now, and record what happened.
    async fn send_delivery(&self, row: sql::DeliveryRow) -> CoreResult<()> {
        let Some(hook) = sql::webhook(&self.db.pool, row.webhook_id).await? else {
            return sql::finish_delivery(&self.db.writer, row.id, &self.owner, "cancelled", None, now_ms()).await;
        };
        if hook.deleted_at.is_some() {
            return sql::finish_delivery(&self.db.writer, row.id, &self.owner, "cancelled", None, now_ms()).await;
        }
        let started = std::time::Instant::now();
        let outcome = self.post(&hook, &row).await;
        let latency_ms = started.elapsed().as_millis() as i64;
        let now = now_ms();
        let (status, error) = match &outcome {
            Ok(s) => (Some(*s as i64), (!(200..300).contains(s)).then(|| format!("HTTP {s}"))),
            Err(e) => (None, Some(e.clone())),
        };
        sql::insert_attempt(&self.db.writer, row.id, now, status, error.as_deref(), latency_ms).await?;
        match error {
            None => sql::finish_delivery(&self.db.writer, row.id, &self.owner, "delivered", None, now).await,
            Some(_) => {
                let next = now + retry_delay_ms(row.attempts);
                if next > row.retry_until {
                    tracing::warn!(delivery = %row.uid, "webhook delivery failed for good after {} attempts", row.attempts);
                    sql::finish_delivery(&self.db.writer, row.id, &self.owner, "failed", None, now).await
                } else {
                    sql::finish_delivery(&self.db.writer, row.id, &self.owner, "pending", Some(next), now).await
                }
            }
        }
    }

    async fn post(&self, hook: &sql::WebhookRow, row: &sql::DeliveryRow) -> Result<u16, String> {
        let url = reqwest::Url::parse(&hook.url).map_err(|e| format!("invalid URL: {e}"))?;
        if let Some(ip) = url_ip(&url) {
            if !self.targets.allows(ip) {
                return Err(format!("the address {ip} may not be reached by webhooks"));
            }
        }
        let unix = now_ms() / 1000;
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("Tessera-Event", &row.event_type)
            .header("Tessera-Delivery", &row.uid)
            .header("Tessera-Signature", signature(&hook.secret, unix, &row.body))
            .body(row.body.clone())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        Ok(response.status().as_u16())
    }
}

/// The IP of a URL whose host is an address literal.
pub fn url_ip(url: &reqwest::Url) -> Option<IpAddr> {
    url.host_str()?.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// A reqwest error with its causes (its Display alone says only "error sending request").
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() { "timed out".to_string() } else { e.to_string() };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text.chars().take(500).collect()
}

// ---- SQL ----

/// The statements of an email listing, its page and its count: a range of the (kind, tenant_path, id) index, as
/// every subtree filter (a test reads their plans).
pub fn email_listing(path: &str, status: Option<&str>, page: crate::types::Paging) -> (crate::db::Sql, crate::db::Sql) {
    use crate::db::Sql;
    let filter = |mut stmt: Sql| {
        let (start, end) = crate::tenancy::subtree(path);
        stmt.push(" FROM core_outbox WHERE kind = 'email' AND tenant_path >= ").push_bind(start);
        stmt.push(" AND tenant_path < ").push_bind(end).and("status = ", status);
        stmt
    };
    let mut stmt = Sql::new("SELECT ");
    stmt.push(sql::EMAIL_COLS);
    let mut stmt = filter(stmt);
    stmt.push(" ORDER BY id DESC").page(page);
    (stmt, filter(Sql::new("SELECT COUNT(*)")))
}

/// The body every endpoint receives for an event.
fn delivery_body(event: &sql::EventRow) -> String {
    json!({
        "event_id": event.id,
        "type": event.event_type,
        "tenant_id": event.tenant_id,
        "occurred_at": crate::admin::rfc3339(event.created_at),
        "data": serde_json::from_str::<Value>(&event.payload).unwrap_or(Value::Null),
    })
    .to_string()
}

pub(crate) mod sql {
    use sqlx::{AnyConnection, AnyPool};
    use tracing::instrument;

    use super::{LEASE_MS, RETRY_FOR_MS};
    use crate::db::{Reader, Sql};
    use crate::error::CoreResult;
    use crate::tenancy::Tenant;
    use crate::types::Paging;

    #[instrument(skip_all)]
    pub async fn insert_event(
        conn: &mut AnyConnection,
        tenant: &Tenant,
        event_type: &str,
        payload: &str,
        now: i64,
    ) -> CoreResult<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO core_outbox (kind, tenant_id, tenant_path, event_type, payload, status, next_attempt_at, \
             retry_until, created_at) VALUES ('event', $1, $2, $3, $4, 'pending', $5, $6, $5) RETURNING id",
        )
        .bind(tenant.id)
        .bind(&tenant.path)
        .bind(event_type)
        .bind(payload)
        .bind(now)
        .bind(now + RETRY_FOR_MS)
        .fetch_one(&mut *conn)
        .await?)
    }

    #[allow(clippy::too_many_arguments)]
    #[instrument(skip_all)]
    pub async fn insert_email(
        conn: &mut AnyConnection,
        tenant: &Tenant,
        plugin: &str,
        template: &super::EmailTemplate,
        to: &str,
        subject: &str,
        body: &str,
        now: i64,
    ) -> CoreResult<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO core_outbox (kind, tenant_id, tenant_path, plugin, template, email_to, subject, body, status, \
             next_attempt_at, retry_until, created_at, secret) \
             VALUES ('email', $1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $8, $10) RETURNING id",
        )
        .bind(tenant.id)
        .bind(&tenant.path)
        .bind(plugin)
        .bind(template.name)
        .bind(to)
        .bind(subject)
        .bind(body)
        .bind(now)
        .bind(now + RETRY_FOR_MS)
        .bind(template.secret as i64)
        .fetch_one(&mut *conn)
        .await?)
    }

    #[derive(Debug, sqlx::FromRow)]
    pub struct EventRow {
        pub id: i64,
        pub tenant_id: i64,
        pub tenant_path: String,
        pub event_type: String,
        pub payload: String,
        pub created_at: i64,
    }

    #[instrument(skip_all)]
    pub async fn events_pending(pool: &AnyPool) -> CoreResult<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT id FROM core_outbox WHERE status = 'pending' AND kind = 'event' LIMIT 1")
                .fetch_optional(pool)
                .await?;
        Ok(found.is_some())
    }

    /// Marks up to 200 pending events dispatched, oldest first, and returns them. The outer `status` test makes a
    /// concurrent pass on PostgreSQL skip the rows this one took (it is checked again on the row it waited for).
    #[instrument(skip_all)]
    pub async fn take_pending_events(conn: &mut AnyConnection, now: i64) -> CoreResult<Vec<EventRow>> {
        let mut rows: Vec<EventRow> = sqlx::query_as(
            "UPDATE core_outbox SET status = 'dispatched', done_at = $1 \
             WHERE status = 'pending' AND kind = 'event' AND id IN \
             (SELECT id FROM core_outbox WHERE status = 'pending' AND kind = 'event' ORDER BY id LIMIT 200) \
             RETURNING id, tenant_id, tenant_path, event_type, payload, created_at",
        )
        .bind(now)
        .fetch_all(&mut *conn)
        .await?;
        rows.sort_by_key(|r| r.id);
        Ok(rows)
    }

    #[derive(Debug, Clone, sqlx::FromRow)]
    pub struct WebhookRow {
        pub id: i64,
        pub tenant_id: i64,
        pub tenant_path: String,
        pub url: String,
        pub event_types: String,
        pub description: String,
        pub secret: String,
        pub created_at: i64,
        pub deleted_at: Option<i64>,
    }

    const WEBHOOK_COLS: &str =
        "id, tenant_id, tenant_path, url, event_types, description, secret, created_at, deleted_at";

    /// Live endpoints of the tenant at `path` and of its ancestors.
    #[instrument(skip_all)]
    pub async fn endpoints_above(conn: &mut AnyConnection, path: &str) -> CoreResult<Vec<WebhookRow>> {
        let sql = format!(
            "SELECT {WEBHOOK_COLS} FROM core_webhooks WHERE deleted_at IS NULL \
             AND substr($1, 1, length(tenant_path)) = tenant_path ORDER BY id"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(path).fetch_all(&mut *conn).await?)
    }

    #[instrument(skip_all)]
    pub async fn webhook(pool: &AnyPool, id: i64) -> CoreResult<Option<WebhookRow>> {
        let sql = format!("SELECT {WEBHOOK_COLS} FROM core_webhooks WHERE id = $1");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?)
    }

    #[instrument(skip_all)]
    pub async fn insert_webhook(
        conn: &mut AnyConnection,
        tenant: &Tenant,
        url: &str,
        event_types: &str,
        description: &str,
        secret: &str,
        now: i64,
    ) -> CoreResult<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO core_webhooks (tenant_id, tenant_path, url, event_types, description, secret, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(tenant.id)
        .bind(&tenant.path)
        .bind(url)
        .bind(event_types)
        .bind(description)
        .bind(secret)
        .bind(now)
        .fetch_one(&mut *conn)
        .await?)
    }

    /// Live endpoints of exactly this tenant.
    #[instrument(skip_all)]
    pub async fn webhooks_of(pool: &AnyPool, tenant_id: i64) -> CoreResult<Vec<WebhookRow>> {
        let sql =
            format!("SELECT {WEBHOOK_COLS} FROM core_webhooks WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY id");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).fetch_all(pool).await?)
    }

    #[instrument(skip_all)]
    pub async fn delete_webhook(conn: &mut AnyConnection, id: i64, now: i64) -> CoreResult<()> {
        sqlx::query("UPDATE core_webhooks SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "UPDATE core_webhook_deliveries SET status = 'cancelled' WHERE webhook_id = $1 AND status = 'pending'",
        )
        .bind(id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    #[instrument(skip_all)]
    pub async fn insert_delivery(
        conn: &mut AnyConnection,
        uid: &str,
        webhook_id: i64,
        outbox_id: i64,
        event_type: &str,
        body: &str,
        now: i64,
    ) -> CoreResult<()> {
        sqlx::query(
            "INSERT INTO core_webhook_deliveries (uid, webhook_id, outbox_id, event_type, body, status, attempts, \
             next_attempt_at, retry_until, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7, $6)",
        )
        .bind(uid)
        .bind(webhook_id)
        .bind(outbox_id)
        .bind(event_type)
        .bind(body)
        .bind(now)
        .bind(now + RETRY_FOR_MS)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    #[derive(Debug, Clone, sqlx::FromRow)]
    pub struct DeliveryRow {
        pub id: i64,
        pub uid: String,
        pub webhook_id: i64,
        pub outbox_id: i64,
        pub event_type: String,
        pub body: String,
        pub status: String,
        pub attempts: i64,
        pub next_attempt_at: i64,
        pub retry_until: i64,
        pub created_at: i64,
        pub delivered_at: Option<i64>,
    }

    const DELIVERY_COLS: &str = "id, uid, webhook_id, outbox_id, event_type, body, status, attempts, next_attempt_at, \
                                 retry_until, created_at, delivered_at";

    #[instrument(skip_all)]
    pub async fn due_deliveries(pool: &AnyPool, now: i64) -> CoreResult<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM core_webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
             AND (lease_until IS NULL OR lease_until < $1) ORDER BY next_attempt_at, id LIMIT 64",
        )
        .bind(now)
        .fetch_all(pool)
        .await?)
    }

    /// The one statement that decides which instance makes this attempt.
    #[instrument(skip_all)]
    pub async fn claim_delivery(pool: &AnyPool, id: i64, owner: &str, now: i64) -> CoreResult<Option<DeliveryRow>> {
        let sql = format!(
            "UPDATE core_webhook_deliveries SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
             WHERE id = $3 AND status = 'pending' AND next_attempt_at <= $4 \
             AND (lease_until IS NULL OR lease_until < $4) RETURNING {DELIVERY_COLS}"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(now + LEASE_MS)
            .bind(id)
            .bind(now)
            .fetch_optional(pool)
            .await?)
    }

    #[instrument(skip_all)]
    pub async fn insert_attempt(
        pool: &AnyPool,
        delivery_id: i64,
        at: i64,
        http_status: Option<i64>,
        error: Option<&str>,
        latency_ms: i64,
    ) -> CoreResult<()> {
        sqlx::query(
            "INSERT INTO core_webhook_attempts (delivery_id, at, http_status, error, latency_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(delivery_id)
        .bind(at)
        .bind(http_status)
        .bind(error)
        .bind(latency_ms)
        .execute(pool)
        .await?;
        Ok(())
    }

    /// Ends an attempt: `delivered`, `failed`, `cancelled`, or `pending` again at `next`.
    #[instrument(skip_all)]
    pub async fn finish_delivery(
        pool: &AnyPool,
        id: i64,
        owner: &str,
        status: &str,
        next: Option<i64>,
        now: i64,
    ) -> CoreResult<()> {
        sqlx::query(
            "UPDATE core_webhook_deliveries SET status = $1, next_attempt_at = COALESCE($2, next_attempt_at), \
             lease_owner = NULL, lease_until = NULL, \
             delivered_at = CASE WHEN $1 = 'delivered' THEN $3 ELSE delivered_at END \
             WHERE id = $4 AND lease_owner = $5",
        )
        .bind(status)
        .bind(next)
        .bind(now)
        .bind(id)
        .bind(owner)
        .execute(pool)
        .await?;
        Ok(())
    }

    #[instrument(skip_all)]
    pub async fn deliveries_of(reader: &Reader, webhook_id: i64, page: Paging) -> CoreResult<(Vec<DeliveryRow>, i64)> {
        let mut stmt = Sql::new("SELECT ");
        stmt.push(DELIVERY_COLS).push(" FROM core_webhook_deliveries WHERE webhook_id = ").push_bind(webhook_id);
        stmt.push(" ORDER BY id DESC").page(page);
        let rows = stmt.fetch_all(reader).await?;
        let mut count = Sql::new("SELECT COUNT(*) FROM core_webhook_deliveries WHERE webhook_id = ");
        count.push_bind(webhook_id);
        Ok((rows, count.fetch_count(reader).await?))
    }

    #[instrument(skip_all)]
    pub async fn delivery(pool: &AnyPool, id: i64) -> CoreResult<Option<DeliveryRow>> {
        let sql = format!("SELECT {DELIVERY_COLS} FROM core_webhook_deliveries WHERE id = $1");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?)
    }

    /// Sends a delivery again (same id), now, with a fresh 24-hour window; unless an attempt is in flight.
    #[instrument(skip_all)]
    pub async fn replay(conn: &mut AnyConnection, id: i64, now: i64) -> CoreResult<bool> {
        let done = sqlx::query(
            "UPDATE core_webhook_deliveries SET status = 'pending', next_attempt_at = $1, retry_until = $2 \
             WHERE id = $3 AND (lease_until IS NULL OR lease_until < $1)",
        )
        .bind(now)
        .bind(now + RETRY_FOR_MS)
        .bind(id)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    #[derive(Debug, Clone, sqlx::FromRow)]
    pub struct AttemptRow {
        pub delivery_id: i64,
        pub at: i64,
        pub http_status: Option<i64>,
        pub error: Option<String>,
        pub latency_ms: i64,
    }

    /// The attempts of deliveries `from..=to` of one endpoint, oldest first.
    #[instrument(skip_all)]
    pub async fn attempts_of(pool: &AnyPool, webhook_id: i64, from: i64, to: i64) -> CoreResult<Vec<AttemptRow>> {
        Ok(sqlx::query_as(
            "SELECT a.delivery_id, a.at, a.http_status, a.error, a.latency_ms FROM core_webhook_attempts a \
             JOIN core_webhook_deliveries d ON d.id = a.delivery_id \
             WHERE d.webhook_id = $1 AND a.delivery_id >= $2 AND a.delivery_id <= $3 ORDER BY a.id",
        )
        .bind(webhook_id)
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await?)
    }

    // ---- emails ----

    #[derive(Debug, Clone, sqlx::FromRow)]
    pub struct EmailRow {
        pub id: i64,
        pub tenant_id: i64,
        pub plugin: String,
        pub template: String,
        pub email_to: String,
        pub subject: String,
        pub body: String,
        pub status: String,
        pub attempts: i64,
        pub retry_until: i64,
        pub last_error: Option<String>,
        pub created_at: i64,
        pub done_at: Option<i64>,
        pub secret: crate::types::Flag,
    }

    pub(super) const EMAIL_COLS: &str = "id, tenant_id, plugin, template, email_to, subject, body, status, attempts, \
                              retry_until, last_error, created_at, done_at, secret";

    /// Without SMTP, pending emails are kept for admins to read.
    #[instrument(skip_all)]
    pub async fn keep_emails(pool: &AnyPool, now: i64) -> CoreResult<()> {
        sqlx::query("UPDATE core_outbox SET status = 'kept', done_at = $1 WHERE kind = 'email' AND status = 'pending'")
            .bind(now)
            .execute(pool)
            .await?;
        Ok(())
    }

    #[instrument(skip_all)]
    pub async fn due_emails(pool: &AnyPool, now: i64) -> CoreResult<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM core_outbox WHERE status = 'pending' AND kind = 'email' AND next_attempt_at <= $1 \
             AND (lease_until IS NULL OR lease_until < $1) ORDER BY next_attempt_at, id LIMIT 64",
        )
        .bind(now)
        .fetch_all(pool)
        .await?)
    }

    #[instrument(skip_all)]
    pub async fn claim_email(pool: &AnyPool, id: i64, owner: &str, now: i64) -> CoreResult<Option<EmailRow>> {
        let sql = format!(
            "UPDATE core_outbox SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
             WHERE id = $3 AND kind = 'email' AND status = 'pending' AND next_attempt_at <= $4 \
             AND (lease_until IS NULL OR lease_until < $4) RETURNING {EMAIL_COLS}"
        );
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(now + LEASE_MS)
            .bind(id)
            .bind(now)
            .fetch_optional(pool)
            .await?)
    }

    #[instrument(skip_all)]
    pub async fn finish_email(
        pool: &AnyPool,
        id: i64,
        owner: &str,
        status: &str,
        error: Option<&str>,
        next: Option<i64>,
        now: i64,
    ) -> CoreResult<()> {
        sqlx::query(
            "UPDATE core_outbox SET status = $1, last_error = $2, next_attempt_at = COALESCE($3, next_attempt_at), \
             lease_owner = NULL, lease_until = NULL, done_at = CASE WHEN $1 = 'pending' THEN NULL ELSE $4 END \
             WHERE id = $5 AND lease_owner = $6",
        )
        .bind(status)
        .bind(error.map(|e| e.chars().take(1000).collect::<String>()))
        .bind(next)
        .bind(now)
        .bind(id)
        .bind(owner)
        .execute(pool)
        .await?;
        Ok(())
    }

    /// Emails of the tenant at `path` and everything below it, newest first.
    #[instrument(skip_all)]
    pub async fn emails_under(
        reader: &Reader,
        path: &str,
        status: Option<&str>,
        page: Paging,
    ) -> CoreResult<(Vec<EmailRow>, i64)> {
        let (stmt, count) = super::email_listing(path, status, page);
        let rows = stmt.fetch_all(reader).await?;
        Ok((rows, count.fetch_count(reader).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        let long_key = [0xaau8; 131];
        let mac = hmac_sha256(&long_key, b"Test Using Larger Than Block-Size Key - Hash Key First");
        assert_eq!(hex::encode(mac), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }

    #[test]
    fn templates_render_and_name_missing_values() {
        let vars = json!({"name": "Ann", "n": 3});
        assert_eq!(render("Hi {{name}}, {{ n }} new", &vars).unwrap(), "Hi Ann, 3 new");
        assert_eq!(render("{{missing}}", &vars).unwrap_err(), "no value for `missing`");
        assert!(render("{{name", &vars).is_err());
    }

    #[test]
    fn public_targets_refuse_internal_addresses() {
        let p = WebhookTargets::Public;
        for ip in ["127.0.0.1", "10.1.2.3", "192.168.0.1", "172.16.0.1", "169.254.169.254", "::1", "fd00::1", "0.0.0.0"]
        {
            assert!(!p.allows(ip.parse().unwrap()), "{ip}");
        }
        assert!(p.allows("93.184.216.34".parse().unwrap()));
        assert!(!p.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(WebhookTargets::Loopback.allows("127.0.0.1".parse().unwrap()));
        assert!(!WebhookTargets::Loopback.allows("93.184.216.34".parse().unwrap()));
    }
}
