//! The request id: made fresh by the server for every request, carried in a task-local for the duration of the
//! request (so logs and audit rows carry it without threading it through every call), and returned as
//! `x-request-id`. A well-formed id the client sent in `x-request-id` is kept beside it (the log span and the audit
//! row record both) but never replaces it: the client chooses its own id, so it cannot be the only correlation.

use poem::{Endpoint, IntoResponse, Request, Response};

struct Ids {
    id: String,
    client: Option<String>,
}

tokio::task_local! {
    static REQUEST_ID: Ids;
}

pub const HEADER: &str = "x-request-id";

/// The current request's id, or "-" outside a request (start-up, background tasks).
pub fn current() -> String {
    REQUEST_ID.try_with(|ids| ids.id.clone()).unwrap_or_else(|_| "-".to_string())
}

/// The well-formed `x-request-id` the client sent with the current request, if any.
pub fn client() -> Option<String> {
    REQUEST_ID.try_with(|ids| ids.client.clone()).ok().flatten()
}

fn acceptable(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A new id: 128 random bits as 32 hex digits, from the thread's generator (no system call per request, unlike
/// `Uuid::new_v4`).
fn fresh() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Middleware function: assigns the id, opens the tracing span of the request and logs its outcome.
pub async fn middleware<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let client = req.headers().get(HEADER).and_then(|v| v.to_str().ok()).filter(|v| acceptable(v)).map(str::to_string);
    let id = fresh();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let span = match &client {
        Some(c) => tracing::info_span!("request", request_id = %id, client_request_id = %c, %method, %path),
        None => tracing::info_span!("request", request_id = %id, %method, %path),
    };
    let started = std::time::Instant::now();
    let ids = Ids { id: id.clone(), client };
    let result = REQUEST_ID.scope(ids, tracing::Instrument::instrument(next.call(req), span.clone())).await;
    let mut resp = match result {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    let _enter = span.enter();
    tracing::info!(status = resp.status().as_u16(), elapsed_us = started.elapsed().as_micros() as u64, "served");
    if let Ok(v) = id.parse() {
        resp.headers_mut().insert(HEADER, v);
    }
    Ok(resp)
}
