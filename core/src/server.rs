//! Start-up and the HTTP server: connect, migrate, load permissions, bootstrap the platform tenant, build every API,
//! merge the OpenAPI document, and serve with request ids, panic isolation, body limits and graceful shutdown.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use poem::endpoint::BoxEndpoint;
use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::middleware::CatchPanic;
use poem::web::Html;
use poem::{EndpointExt, IntoResponse, Response, Route};
use serde_json::Value;

use crate::authz::{PLATFORM_ADMIN, TENANT_ADMIN};
use crate::config::Config;
use crate::db::Backend;
use crate::error::{CoreError, CoreResult};
use crate::plugin::{Plugin, PluginApi, PluginContext};
use crate::{admin, openapi, outbox, store, Core, Db, Migrations, VERSION};

/// A started (migrated, bootstrapped, routed) Tessera, ready to serve.
pub struct Tessera {
    pub core: Core,
    pub app: BoxEndpoint<'static>,
    pub document: Value,
    /// The platform admin's key when this start created it (to be shown once), else None.
    pub bootstrap_key: Option<String>,
    /// The background jobs `serve` runs (the outbox's delivery, and plugins' jobs).
    pub jobs: Vec<crate::jobs::Job>,
    /// How `serve` bounds connections.
    pub connections: crate::conn::ConnectionSettings,
    plugins: Vec<Arc<dyn Plugin>>,
}

fn check_plugins(plugins: &[Arc<dyn Plugin>]) -> CoreResult<()> {
    let mut seen = std::collections::HashSet::new();
    for p in plugins {
        let name = p.manifest().name;
        let well_formed = !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-' || b == b'_');
        if !well_formed || name == "core" {
            return Err(CoreError::internal(format!("plugin name `{name}` is not allowed")));
        }
        if !seen.insert(name) {
            return Err(CoreError::internal(format!("two plugins are named `{name}`")));
        }
    }
    Ok(())
}

/// Applies the core's and every plugin's migrations.
pub async fn migrate(db: &Db, plugins: &[Arc<dyn Plugin>]) -> CoreResult<()> {
    let core = crate::migrations();
    let sets: Vec<(&str, Migrations)> = plugins.iter().map(|p| (p.manifest().name, p.migrations())).collect();
    let mut all: Vec<(&str, &Migrations)> = vec![("core", &core)];
    all.extend(sets.iter().map(|(n, m)| (*n, m)));
    db.migrate(&all).await
}

/// Migrations, roles and bootstrap: everything a start does to the database before serving.
async fn prepare(db: &Db, config: &Config, plugins: &[Arc<dyn Plugin>]) -> CoreResult<(Core, Option<String>)> {
    migrate(db, plugins).await?;
    let core = Core::new(db.clone(), plugins, config.limits).await?;
    core.authz.define(PLATFORM_ADMIN, "*", "*").await?;
    core.authz.define(TENANT_ADMIN, "*", "*").await?;
    for p in plugins {
        let name = p.manifest().name;
        for perm in p.permissions() {
            let own_role = perm.role == TENANT_ADMIN || perm.role.starts_with(&format!("{name}_"));
            if !own_role || !perm.object.starts_with(&format!("{name}:")) {
                return Err(CoreError::internal(format!(
                    "plugin {name} declares {} on {}: roles must be `{name}_…` and objects `{name}:…`",
                    perm.role, perm.object
                )));
            }
            core.authz.define(perm.role, perm.object, perm.action).await?;
        }
    }

    let key = bootstrap(&core, config).await?;
    Ok((core, key))
}

pub async fn start(config: &Config, plugins: Vec<Arc<dyn Plugin>>) -> CoreResult<Tessera> {
    check_plugins(&plugins)?;
    let db = Db::connect(&config.database_url.0, config.max_connections).await?;
    // Instances starting together on one PostgreSQL take turns: the first migrates and bootstraps, the others find
    // it done. The lock is held by one connection for the whole preparation and released with it.
    let mut start_lock = match db.backend {
        Backend::Postgres => {
            let mut conn = db.pool.acquire().await?;
            sqlx::query("SELECT pg_advisory_lock(7300001)").execute(&mut *conn).await?;
            Some(conn)
        }
        Backend::Sqlite => None,
    };
    let prepared = prepare(&db, config, &plugins).await;
    if let Some(conn) = start_lock.as_mut() {
        let _ = sqlx::query("SELECT pg_advisory_unlock(7300001)").execute(&mut **conn).await;
    }
    drop(start_lock);
    let (core, bootstrap_key) = prepared?;
    core.events.listen(config.database_url.0.clone(), core.clone());
    let mut route = Route::new();

    let max_body = config.max_body_bytes;
    let outbox_settings = outbox::OutboxSettings { smtp: config.smtp.clone(), webhook_targets: config.webhook_targets };
    let outbox = outbox::Outbox::new(core.db.clone(), event_catalogue(&plugins)?, &outbox_settings)?;
    let mut jobs = outbox.jobs();
    if config.test_jobs {
        tracing::warn!("test_jobs is on: probe jobs run and the platform admin can queue them (tests only)");
        jobs.extend(crate::jobs::test_probes());
        let jobs_core = core.clone();
        route = route.at(
            "/_test/jobs/enqueue",
            poem::endpoint::make(move |mut req: poem::Request| {
                let core = jobs_core.clone();
                async move {
                    let body = req.take_body().into_vec().await.unwrap_or_default();
                    Ok::<_, poem::Error>(crate::jobs::test_enqueue_endpoint(&core, req, body).await)
                }
            }),
        );
    }
    let admin_api = admin::api(core.clone(), outbox);
    let mut specs = vec![("core".to_string(), "/core/v1".to_string(), admin_api.spec.clone())];
    route = route.nest("/core/v1", guard(admin_api, max_body));
    let mut contexts = Vec::new();
    for p in &plugins {
        let manifest = p.manifest();
        let settings = config.plugins.get(manifest.name).cloned().unwrap_or(Value::Null);
        let ctx = PluginContext::new(manifest.name, core.clone(), settings);
        let api = p.api(ctx.clone()).map_err(|e| start_error(manifest.name, e))?;
        let mount = format!("/{}", manifest.name);
        specs.push((manifest.name.to_string(), mount.clone(), api.spec.clone()));
        route = route.nest(&mount, guard(api, max_body));
        for job in p.jobs(&ctx) {
            if !job.name.starts_with(&format!("{}.", manifest.name)) {
                return Err(start_error(
                    manifest.name,
                    CoreError::internal(format!("job `{}` must be named `{}.…`", job.name, manifest.name)),
                ));
            }
            jobs.push(job);
        }
        contexts.push(ctx);
    }
    let parts: Vec<openapi::Part<'_>> =
        specs.iter().map(|(owner, mount, spec)| openapi::Part { owner, mount, spec }).collect();
    let document = openapi::merge(VERSION, &parts).map_err(|e| CoreError::internal(format!("OpenAPI merge: {e}")))?;
    let document_text = serde_json::to_string_pretty(&document).map_err(CoreError::internal)?;
    let docs_html = openapi::swagger_html(&document_text);

    if config.test_clock {
        tracing::warn!("test_clock is on: the platform admin can move this server's clock (tests only)");
        let clock_core = core.clone();
        route = route.at(
            "/_test/clock/advance",
            poem::endpoint::make(move |req: poem::Request| {
                let core = clock_core.clone();
                async move { advance_clock_endpoint(&core, &req).await }
            }),
        );
    }
    for (p, ctx) in plugins.iter().zip(&contexts) {
        p.on_start(ctx).await.map_err(|e| start_error(ctx.plugin(), e))?;
    }
    let ready_core = core.clone();
    let ready_plugins = plugins.clone();
    let app = route
        .at("/healthz", handler_fn(|| async { (StatusCode::OK, "ok").into_response() }))
        .at(
            "/readyz",
            handler_fn(move || {
                let core = ready_core.clone();
                let plugins = ready_plugins.clone();
                async move { readiness(&core, &plugins).await }
            }),
        )
        .at("/metrics", handler_fn(|| async { metrics_text().into_response() }))
        .at(
            "/openapi.json",
            handler_fn(move || {
                let text = document_text.clone();
                async move { Response::builder().content_type("application/json").body(text) }
            }),
        )
        .nest(
            "/docs",
            handler_fn(move || {
                let html = docs_html.clone();
                async move { Html(html).into_response() }
            }),
        )
        .with(CatchPanic::new())
        .around(count_requests)
        .around(crate::request_id::middleware)
        .boxed();
    Ok(Tessera { core, app, document, bootstrap_key, jobs, plugins, connections: config.connections })
}

/// The event types webhooks may subscribe to: the core's and those each plugin declares, every one named
/// `<plugin>.…` and declared once.
fn event_catalogue(plugins: &[Arc<dyn Plugin>]) -> CoreResult<Vec<outbox::EventType>> {
    let mut all = outbox::core_event_types();
    for p in plugins {
        let name = p.manifest().name;
        for event in p.events() {
            if !event.name.starts_with(&format!("{name}.")) {
                let e = CoreError::internal(format!("event type `{}` must be named `{name}.…`", event.name));
                return Err(start_error(name, e));
            }
            if all.iter().any(|known| known.name == event.name) {
                return Err(start_error(
                    name,
                    CoreError::internal(format!("event type `{}` is declared twice", event.name)),
                ));
            }
            all.push(event);
        }
    }
    Ok(all)
}

/// A plugin's start-up failure, with the plugin's name and the full cause (this is the operator's terminal).
fn start_error(plugin: &str, e: CoreError) -> CoreError {
    let detail = match e {
        CoreError::Internal(cause) => cause,
        other => other.to_string(),
    };
    CoreError::internal(format!("plugin {plugin}: {detail}"))
}

/// Wraps a mounted API so that every failure the core answers for it comes in its own envelope, never in plain text:
/// a body declared larger than the limit (refused before it is read; `wire::Input` enforces the same limit on bodies
/// of undeclared length), a path under the mount that no operation serves (404), a method its path does not serve
/// (405, with the methods it does in Allow, from the API's own document), and a panic in a handler (500, logged with
/// its message and the request id; the answer says nothing of it).
fn guard(api: PluginApi, max: usize) -> BoxEndpoint<'static> {
    let render = api.error_response;
    let allowed = Arc::new(openapi::Allowed::from_spec(&api.spec));
    api.endpoint
        .around(move |next, mut req| {
            let allowed = allowed.clone();
            async move {
                let declared = req
                    .headers()
                    .get(poem::http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                if declared.is_some_and(|n| n > max as u64) {
                    let e = CoreError::PayloadTooLarge(format!("the request body is larger than {max} bytes"));
                    return Ok(render(e));
                }
                if let Some(field) = req.uri().query().and_then(crate::wire::control_in_query) {
                    return Ok(render(CoreError::invalid(field, "must not contain control characters")));
                }
                req.set_data(crate::wire::BodyLimit(max));
                if let Some(uri) = without_trailing_slash(req.uri()) {
                    *req.uri_mut() = uri;
                }
                let method = req.method().to_string();
                let (path, inner) = (req.original_uri().path().to_string(), req.uri().path().to_string());
                let answer = match AssertUnwindSafe(next.call(req)).catch_unwind().await {
                    Ok(Ok(resp)) => return Ok(resp),
                    Ok(Err(e)) => match CoreError::from_poem(e) {
                        CoreError::NotFound(_) => CoreError::not_found(format!("no operation at {method} {path}")),
                        CoreError::MethodNotAllowed { .. } => {
                            CoreError::MethodNotAllowed { method, allow: allowed.allow(&inner) }
                        }
                        other => other,
                    },
                    Err(panic) => {
                        let message = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        CoreError::internal(format!("panic in {method} {path}: {message}"))
                    }
                };
                Ok(render(answer))
            }
        })
        .boxed()
}

/// The same URI without the slash that ends its path, if it has one. Seeds write paths with one (`auth/access/`),
/// poem-openapi routes and documents them without: under a mount both spellings reach the same operation.
fn without_trailing_slash(uri: &poem::http::Uri) -> Option<poem::http::Uri> {
    let trimmed = uri.path().trim_end_matches('/');
    if trimmed.is_empty() || trimmed.len() == uri.path().len() {
        return None;
    }
    let path_and_query = match uri.query() {
        Some(q) => format!("{trimmed}?{q}"),
        None => trimmed.to_string(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    poem::http::Uri::from_parts(parts).ok()
}

/// A poem endpoint from an async closure without arguments.
fn handler_fn<F, Fut, R>(f: F) -> impl poem::Endpoint<Output = Response>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = R> + Send,
    R: IntoResponse,
{
    poem::endpoint::make(move |_req| {
        let fut = f();
        async move { Ok::<_, poem::Error>(fut.await.into_response()) }
    })
    .map_to_response()
}

/// Whether the request's bearer key is a platform admin's (the test-only endpoints).
pub(crate) async fn platform_admin(core: &Core, req: &poem::Request) -> bool {
    let key = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    match core.identity.authenticate_key(key).await {
        Ok(caller) => core
            .authz
            .grants_of(caller.principal_id())
            .await
            .is_ok_and(|grants| grants.iter().any(|(role, _)| role == PLATFORM_ADMIN)),
        Err(_) => false,
    }
}

/// Test clock: `POST /_test/clock/advance?seconds=N` with the platform admin's bearer key.
async fn advance_clock_endpoint(core: &Core, req: &poem::Request) -> Response {
    if !platform_admin(core, req).await {
        return (StatusCode::FORBIDDEN, "platform admin only").into_response();
    }
    let seconds = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("seconds=")))
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|s| *s >= 0);
    match seconds {
        Some(s) => {
            crate::db::advance_clock(s * 1000);
            (StatusCode::OK, format!("{}", crate::now_ms())).into_response()
        }
        None => (StatusCode::BAD_REQUEST, "seconds: must be a non-negative whole number").into_response(),
    }
}

async fn readiness(core: &Core, plugins: &[Arc<dyn Plugin>]) -> Response {
    let core_set = crate::migrations();
    let sets: Vec<(&str, Migrations)> = plugins.iter().map(|p| (p.manifest().name, p.migrations())).collect();
    let mut all: Vec<(&str, &Migrations)> = vec![("core", &core_set)];
    all.extend(sets.iter().map(|(n, m)| (*n, m)));
    match core.db.migrations_applied(&all).await {
        Ok(true) => (StatusCode::OK, "ready").into_response(),
        Ok(false) => (StatusCode::SERVICE_UNAVAILABLE, "migrations not applied").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response(),
    }
}

static REQUESTS: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

async fn count_requests<E: poem::Endpoint>(next: E, req: poem::Request) -> poem::Result<Response> {
    let resp = next.call(req).await.map(IntoResponse::into_response).unwrap_or_else(|e| e.into_response());
    let class = (resp.status().as_u16() / 100).clamp(1, 5) as usize - 1;
    REQUESTS[class].fetch_add(1, Ordering::Relaxed);
    Ok(resp)
}

fn metrics_text() -> String {
    let mut out = String::from(
        "# HELP tessera_http_requests_total HTTP requests answered, by status class.\n# TYPE tessera_http_requests_total counter\n",
    );
    for (i, counter) in REQUESTS.iter().enumerate() {
        out.push_str(&format!(
            "tessera_http_requests_total{{class=\"{}xx\"}} {}\n",
            i + 1,
            counter.load(Ordering::Relaxed)
        ));
    }
    out.push_str(&crate::jobs::metrics_text());
    out
}

/// On an empty database: the platform tenant, its admin, the admin role and an API key. Never runs twice: the platform
/// tenant's existence is the marker, and its unique slug stops a concurrent second start.
async fn bootstrap(core: &Core, config: &Config) -> CoreResult<Option<String>> {
    if store::platform_exists(&core.db.pool).await? {
        return Ok(None);
    }
    let mut tx = core.db.begin().await?;
    let now = crate::now_ms();
    let platform =
        store::insert_tenant(&mut tx, None, crate::TenantKind::Platform, "Platform", "platform", now).await?;
    let admin =
        store::insert_principal(&mut tx, platform.id, "admin@platform.local", "Platform admin", None, now).await?;
    crate::audit::record(&mut tx, None, &platform, "core.bootstrap", &format!("principal:{admin}")).await?;
    tx.commit().await?;
    core.authz.grant(admin, PLATFORM_ADMIN, &platform.path).await?;
    let given = config.admin_api_key.as_ref().map(|s| s.0.clone()).filter(|k| !k.is_empty());
    let (_, key) = core.identity.create_key(admin, platform.id, "bootstrap", None, given).await?;
    tracing::info!(principal_id = admin, "created the platform tenant and its admin");
    Ok(Some(key))
}

/// Serves (and runs the jobs) until SIGINT/SIGTERM, then finishes the requests and job runs in flight (up to 10 s
/// each).
pub async fn serve(tessera: Tessera, listen: &str, on_bound: impl FnOnce(&str)) -> std::io::Result<()> {
    let runner = crate::jobs::JobRunner::start(tessera.core.db.clone(), tessera.jobs)
        .await
        .map_err(|e| std::io::Error::other(format!("cannot start the jobs: {e:?}")))?;
    let acceptor = TcpListener::bind(listen.to_string()).into_acceptor().await?;
    let addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().map(|s| s.to_string()))
        .unwrap_or_else(|| listen.to_string());
    on_bound(&addr);
    tracing::info!(%addr, "listening");
    let acceptor = crate::conn::Guarded::new(acceptor, tessera.connections);
    let served = poem::Server::new_with_acceptor(acceptor)
        .idle_timeout(tessera.connections.idle_timeout)
        .run_with_graceful_shutdown(tessera.app, shutdown_signal(), Some(Duration::from_secs(10)))
        .await;
    runner.shutdown().await;
    for p in &tessera.plugins {
        p.on_shutdown().await;
    }
    served
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use poem::http::{Method, StatusCode};
    use poem::{Endpoint, Request};
    use poem_openapi::param::Query;
    use poem_openapi::{Object, OpenApi};

    use super::*;
    use crate::plugin::Manifest;
    use crate::reply::ErrorEnvelope;
    use crate::wire::Input;

    #[derive(Object)]
    struct Body {
        message: String,
    }

    impl ErrorEnvelope for Body {
        fn from_error(e: &CoreError) -> Self {
            Body { message: e.public_message() }
        }
    }

    #[derive(Object)]
    struct Named {
        name: String,
    }

    struct Api;

    #[OpenApi]
    impl Api {
        /// Answers, or panics when asked to.
        #[oai(path = "/things/:id", method = "get", operation_id = "test_things_get")]
        async fn get(&self, id: poem_openapi::param::Path<i64>, panic: Query<Option<bool>>) -> crate::Reply<i64, Body> {
            if panic.0 == Some(true) {
                panic!("the handler broke with secret tsk_do_not_show");
            }
            crate::Reply::from_result(Ok(*id), |v| v)
        }

        /// Takes a body.
        #[oai(path = "/things", method = "post", operation_id = "test_things_create")]
        async fn create(&self, body: Input<Named>) -> crate::Reply<String, Body> {
            crate::Reply::from_result(Ok(body.name.clone()), |v| v)
        }
    }

    fn app() -> BoxEndpoint<'static> {
        let manifest = Manifest { name: "test", version: "0", title: "test", description: "test" };
        Route::new().nest("/test", guard(PluginApi::new::<Body, _>(Api, &manifest), 64)).boxed()
    }

    async fn call(
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        body: &str,
    ) -> (StatusCode, Option<String>, String) {
        // As the server makes it: the original URI is the whole path, not what the mount leaves of it.
        let mut head = poem::http::Request::builder().method(method).uri(uri);
        if let Some(ct) = content_type {
            head = head.header("content-type", ct);
        }
        let (parts, ()) = head.body(()).unwrap().into_parts();
        let parts =
            poem::RequestParts::from((parts, Default::default(), Default::default(), poem::http::uri::Scheme::HTTP));
        let req = Request::from_parts(parts, body.to_string().into());
        let resp = app().call(req).await.map(IntoResponse::into_response).unwrap();
        let allow = resp.headers().get("allow").and_then(|v| v.to_str().ok()).map(str::to_string);
        let status = resp.status();
        let body: Value = serde_json::from_slice(&resp.into_body().into_bytes().await.unwrap()).unwrap();
        (status, allow, body["message"].as_str().unwrap_or_default().to_string())
    }

    /// What the router and the extractors refuse, and a handler's panic, answer in the mounted API's envelope.
    #[tokio::test]
    async fn the_guard_answers_in_the_envelope() {
        let (status, _, message) = call(Method::GET, "/test/things/7", None, "").await;
        assert_eq!((status, message.as_str()), (StatusCode::OK, ""));

        let (status, allow, message) = call(Method::GET, "/test/nothing", None, "").await;
        assert_eq!((status, allow), (StatusCode::NOT_FOUND, None));
        assert_eq!(message, "no operation at GET /test/nothing");

        let (status, allow, message) = call(Method::DELETE, "/test/things/7", None, "").await;
        assert_eq!((status, allow.as_deref()), (StatusCode::METHOD_NOT_ALLOWED, Some("GET, HEAD")));
        assert_eq!(message, "DELETE is not served at this path; it serves GET, HEAD");
        let (status, allow, _) = call(Method::GET, "/test/things", None, "").await;
        assert_eq!((status, allow.as_deref()), (StatusCode::METHOD_NOT_ALLOWED, Some("POST")));

        let (status, _, message) = call(Method::POST, "/test/things", Some("text/plain"), "name=x").await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(message.starts_with("content-type: text/plain is not accepted"), "{message}");
        let (status, _, message) =
            call(Method::POST, "/test/things", Some("application/json"), "{\"name\":\"x\"}").await;
        assert_eq!((status, message.as_str()), (StatusCode::OK, ""));
        let long = format!("name={}", "x".repeat(100));
        let (status, _, message) = call(Method::POST, "/test/things", None, &long).await;
        assert_eq!(
            (status, message.as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, "the request body is larger than 64 bytes")
        );

        // A seed's trailing slash reaches the same operation; the root of a mount stays a path no operation serves.
        let (status, _, message) = call(Method::GET, "/test/things/7/", None, "").await;
        assert_eq!((status, message.as_str()), (StatusCode::OK, ""));
        let (status, _, _) =
            call(Method::POST, "/test/things/?x=1", Some("application/json"), "{\"name\":\"x\"}").await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, message) = call(Method::GET, "/test/", None, "").await;
        assert_eq!((status, message.as_str()), (StatusCode::NOT_FOUND, "no operation at GET /test/"));

        let (status, _, message) = call(Method::GET, "/test/things/7?panic=true", None, "").await;
        assert_eq!((status, message.as_str()), (StatusCode::INTERNAL_SERVER_ERROR, "internal error"));
    }
}
