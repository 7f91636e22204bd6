//! The request id: taken from a well-formed incoming `x-request-id` or made fresh, carried in a task-local for the
//! duration of the request (so logs and audit rows carry it without threading it through every call), and returned
//! as `x-request-id`.

use poem::{Endpoint, IntoResponse, Request, Response};

tokio::task_local! {
    static REQUEST_ID: String;
}

pub const HEADER: &str = "x-request-id";

/// The current request's id, or "-" outside a request (start-up, background tasks).
pub fn current() -> String {
    REQUEST_ID.try_with(|id| id.clone()).unwrap_or_else(|_| "-".to_string())
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
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_string)
        .unwrap_or_else(fresh);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    let started = std::time::Instant::now();
    let result = REQUEST_ID.scope(id.clone(), tracing::Instrument::instrument(next.call(req), span.clone())).await;
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
