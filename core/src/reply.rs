//! The answers of a plugin operation: one `ApiResponse` shape for every plugin, listing the statuses an operation
//! can return, with the plugin's own success envelope `S` and error body `E`. Which variant a failure takes comes
//! from `CoreError::failure` (exhaustive, no fallback), its body from the plugin's `ErrorEnvelope`, so each plugin
//! maps errors in exactly one place.

use poem_openapi::payload::Json;
use poem_openapi::types::{ParseFromJSON, ToJSON};
use poem_openapi::ApiResponse;

use crate::error::{CoreError, CoreResult, Failure};

/// A plugin's error body, as its seed writes failures.
pub trait ErrorEnvelope: ToJSON + ParseFromJSON + Send + Sync {
    fn from_error(e: &CoreError) -> Self;
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "bad_request")]
pub enum Reply<S: ToJSON + ParseFromJSON, E: ErrorEnvelope> {
    /// Success.
    #[oai(status = 200)]
    Ok(Json<S>),
    /// Invalid input: a missing or malformed parameter, or a change the rules do not allow; the message names it.
    #[oai(status = 400)]
    BadRequest(Json<E>),
    /// Missing, wrong, expired or revoked credentials.
    #[oai(status = 401)]
    Unauthorized(Json<E>),
    /// Not allowed, the caller's tenant is suspended, or the service is not enabled for it.
    #[oai(status = 403)]
    Forbidden(Json<E>),
    /// No such object among those the caller may see, or no operation at this path.
    #[oai(status = 404)]
    NotFound(Json<E>),
    /// The path does not serve this method; Allow lists the methods it serves.
    #[oai(status = 405)]
    MethodNotAllowed(Json<E>, #[oai(header = "Allow")] String),
    /// Conflicts with the current state (already exists, limit reached, not settled, already used).
    #[oai(status = 409)]
    Conflict(Json<E>),
    /// The request body is larger than the server accepts.
    #[oai(status = 413)]
    PayloadTooLarge(Json<E>),
    /// The body is neither JSON (application/json) nor a form (application/x-www-form-urlencoded).
    #[oai(status = 415)]
    UnsupportedMediaType(Json<E>),
    /// Too many requests, or a login blocked after repeated failures; Retry-After says how many seconds to wait.
    #[oai(status = 429)]
    TooManyRequests(Json<E>, #[oai(header = "Retry-After")] u64),
    /// Unexpected failure; the x-request-id header identifies it in the server log.
    #[oai(status = 500)]
    Internal(Json<E>),
}

impl<S: ToJSON + ParseFromJSON, E: ErrorEnvelope> Reply<S, E> {
    /// The answer to a result: `ok` wraps a success in the plugin's envelope.
    pub fn from_result<T>(result: CoreResult<T>, ok: impl FnOnce(T) -> S) -> Self {
        match result {
            Ok(v) => Reply::Ok(Json(ok(v))),
            Err(e) => Self::error(e),
        }
    }

    pub fn error(e: CoreError) -> Self {
        e.log_internal();
        let body = Json(E::from_error(&e));
        match e.failure() {
            Failure::BadRequest => Reply::BadRequest(body),
            Failure::Unauthorized => Reply::Unauthorized(body),
            Failure::Forbidden => Reply::Forbidden(body),
            Failure::NotFound => Reply::NotFound(body),
            Failure::MethodNotAllowed(allow) => Reply::MethodNotAllowed(body, allow),
            Failure::Conflict => Reply::Conflict(body),
            Failure::PayloadTooLarge => Reply::PayloadTooLarge(body),
            Failure::UnsupportedMediaType => Reply::UnsupportedMediaType(body),
            Failure::TooManyRequests(seconds) => Reply::TooManyRequests(body, seconds),
            Failure::Internal => Reply::Internal(body),
        }
    }
}

fn bad_request<S: ToJSON + ParseFromJSON, E: ErrorEnvelope>(err: poem::Error) -> Reply<S, E> {
    Reply::error(CoreError::from_poem(err))
}

/// A plugin's error envelope as a plain poem response, for failures the core answers before an operation runs
/// (an unknown path or method under the plugin's mount, a body declared too large, a panic).
pub fn error_response<E: ErrorEnvelope>(e: CoreError) -> poem::Response {
    use poem::IntoResponse;
    Reply::<String, E>::error(e).into_response()
}

#[cfg(test)]
mod tests {
    use poem::IntoResponse;
    use poem_openapi::Object;

    use super::*;

    #[derive(Object)]
    struct Body {
        message: String,
    }

    impl ErrorEnvelope for Body {
        fn from_error(e: &CoreError) -> Self {
            Body { message: e.public_message() }
        }
    }

    /// Every error variant answers with its own status, in the envelope, and a wait where there is one.
    #[tokio::test]
    async fn every_error_maps_to_its_status_and_envelope() {
        for e in CoreError::examples() {
            let status = e.status();
            let message = e.public_message();
            let failure = e.failure();
            let resp = Reply::<String, Body>::error(e).into_response();
            assert_eq!(resp.status(), status, "{message}");
            let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            match &failure {
                Failure::TooManyRequests(s) => assert_eq!(header("retry-after"), Some(s.to_string())),
                _ => assert!(header("retry-after").is_none()),
            }
            match &failure {
                Failure::MethodNotAllowed(allow) => assert_eq!(header("allow").as_ref(), Some(allow)),
                _ => assert!(header("allow").is_none()),
            }
            let body: serde_json::Value =
                serde_json::from_slice(&resp.into_body().into_bytes().await.unwrap()).unwrap();
            assert_eq!(body["message"], message.as_str());
            if failure == Failure::Internal {
                assert_eq!(body["message"], "internal error", "an internal cause is never shown");
            }
        }
    }
}
