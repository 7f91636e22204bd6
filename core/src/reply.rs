//! The answers of a plugin operation: one `ApiResponse` shape for every plugin, listing the statuses an operation
//! can return, with the plugin's own success envelope `S` and error body `E`. The status of a failure comes from
//! `CoreError::status`, its body from the plugin's `ErrorEnvelope`, so each plugin maps errors in exactly one place.

use poem_openapi::payload::Json;
use poem_openapi::types::{ParseFromJSON, ToJSON};
use poem_openapi::ApiResponse;

use crate::error::{CoreError, CoreResult};

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
    /// No such object among those the caller may see.
    #[oai(status = 404)]
    NotFound(Json<E>),
    /// Conflicts with the current state (already exists, limit reached, not settled, already used).
    #[oai(status = 409)]
    Conflict(Json<E>),
    /// Too many requests, or a login blocked after repeated failures; the Retry-After header says how long to wait.
    #[oai(status = 429)]
    TooManyRequests(Json<E>),
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
        let body = Json(E::from_error(&e));
        match e.status().as_u16() {
            400 | 413 => Reply::BadRequest(body),
            401 => Reply::Unauthorized(body),
            403 => Reply::Forbidden(body),
            404 => Reply::NotFound(body),
            409 => Reply::Conflict(body),
            429 => Reply::TooManyRequests(body),
            _ => Reply::Internal(body),
        }
    }
}

fn bad_request<S: ToJSON + ParseFromJSON, E: ErrorEnvelope>(err: poem::Error) -> Reply<S, E> {
    Reply::error(CoreError::from_poem(err))
}
