//! The one error type of the core, shared by every plugin.
//!
//! Policy:
//! - Every failure a caller can cause or fix is a specific variant with a message written for that caller: bad input
//!   names the field and the reason (`Invalid`), missing or wrong credentials are `Unauthenticated`, rights are
//!   `Forbidden`, unknown objects `NotFound`, state conflicts `Conflict`. A request the HTTP layer refuses before an
//!   operation runs is one of these too: a method the path does not serve (`MethodNotAllowed`, with the methods it
//!   does), a body in another format than JSON or a form (`UnsupportedMediaType`), a body too large
//!   (`PayloadTooLarge`), or one that cannot be read (`Invalid`, naming `body`).
//! - `NotFound` is also the answer where `Forbidden` would reveal that an object of another tenant exists.
//! - Everything else is `Internal`: answered without detail, and logged once, with its cause and the request id, at
//!   the edge that turns it into an answer (`Reply`, the admin API's problem, the server's own answers). Secrets
//!   never appear in a message.
//! - `from_poem` is the one place a poem or poem-openapi error becomes a `CoreError`, so nothing the HTTP layer
//!   refuses is answered in plain text.
//! - `failure()` is the single, exhaustive mapping to an HTTP answer (`status()` derives from it). Each plugin turns a
//!   `CoreError` into its seed's envelope in exactly one function; the core admin API turns it into
//!   application/problem+json.

use poem::http::StatusCode;

#[derive(Debug, Clone, thiserror::Error)]
pub enum CoreError {
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("the tenant of this account is suspended")]
    TenantSuspended,
    #[error("the {0} service is not available for this account")]
    PluginDisabled(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// `allow` is the value of the Allow header: the methods the path serves, comma-separated.
    #[error("{method} is not served at this path; it serves {allow}")]
    MethodNotAllowed { method: String, allow: String },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("too many requests; retry in {0} seconds")]
    RateLimited(u64),
    #[error("login blocked after too many failed attempts; try again in {0} seconds")]
    LoginBlocked(u64),
    #[error("internal error")]
    Internal(String),
}

pub type CoreResult<T> = Result<T, CoreError>;

/// The HTTP answer a `CoreError` gets: every response enum of the core and the plugins has one variant per case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    /// With the value of the Allow header.
    MethodNotAllowed(String),
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    /// With the seconds for the Retry-After header.
    TooManyRequests(u64),
    Internal,
}

impl CoreError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CoreError::Invalid { field: field.into(), reason: reason.into() }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        CoreError::NotFound(what.into())
    }

    pub fn forbidden(why: impl Into<String>) -> Self {
        CoreError::Forbidden(why.into())
    }

    pub fn conflict(why: impl Into<String>) -> Self {
        CoreError::Conflict(why.into())
    }

    /// The opaque internal error; its cause is logged where it is answered (`log_internal`).
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        CoreError::Internal(cause.to_string())
    }

    /// The one mapping of an error to its HTTP answer.
    pub fn failure(&self) -> Failure {
        match self {
            CoreError::Invalid { .. } => Failure::BadRequest,
            CoreError::Unauthenticated(_) => Failure::Unauthorized,
            CoreError::Forbidden(_) | CoreError::TenantSuspended | CoreError::PluginDisabled(_) => Failure::Forbidden,
            CoreError::NotFound(_) => Failure::NotFound,
            CoreError::Conflict(_) => Failure::Conflict,
            CoreError::PayloadTooLarge(_) => Failure::PayloadTooLarge,
            CoreError::MethodNotAllowed { allow, .. } => Failure::MethodNotAllowed(allow.clone()),
            CoreError::UnsupportedMediaType(_) => Failure::UnsupportedMediaType,
            CoreError::RateLimited(s) | CoreError::LoginBlocked(s) => Failure::TooManyRequests(*s),
            CoreError::Internal(_) => Failure::Internal,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self.failure() {
            Failure::BadRequest => StatusCode::BAD_REQUEST,
            Failure::Unauthorized => StatusCode::UNAUTHORIZED,
            Failure::Forbidden => StatusCode::FORBIDDEN,
            Failure::NotFound => StatusCode::NOT_FOUND,
            Failure::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Failure::Conflict => StatusCode::CONFLICT,
            Failure::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Failure::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Failure::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Failure::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// At the edge where an error becomes an answer: logs an internal error's cause with the request id, once.
    pub fn log_internal(&self) {
        if let CoreError::Internal(cause) = self {
            tracing::error!(request_id = %crate::request_id::current(), "internal error: {cause}");
        }
    }

    /// One value of every variant, for tests that check a mapping is complete. The match below stops compiling when
    /// a variant is added, so the list cannot fall behind.
    pub fn examples() -> Vec<CoreError> {
        let all = vec![
            CoreError::invalid("amount", "must be a number"),
            CoreError::Unauthenticated("invalid API key".into()),
            CoreError::forbidden("not allowed"),
            CoreError::TenantSuspended,
            CoreError::PluginDisabled("example".into()),
            CoreError::not_found("thing 7 not found"),
            CoreError::conflict("already exists"),
            CoreError::PayloadTooLarge("the request body is too large".into()),
            CoreError::MethodNotAllowed { method: "DELETE".into(), allow: "GET, HEAD, POST".into() },
            CoreError::UnsupportedMediaType("content-type: text/plain is not accepted".into()),
            CoreError::RateLimited(3),
            CoreError::LoginBlocked(900),
            CoreError::internal("disk on fire"),
        ];
        for e in &all {
            match e {
                CoreError::Invalid { .. }
                | CoreError::Unauthenticated(_)
                | CoreError::Forbidden(_)
                | CoreError::TenantSuspended
                | CoreError::PluginDisabled(_)
                | CoreError::NotFound(_)
                | CoreError::Conflict(_)
                | CoreError::PayloadTooLarge(_)
                | CoreError::MethodNotAllowed { .. }
                | CoreError::UnsupportedMediaType(_)
                | CoreError::RateLimited(_)
                | CoreError::LoginBlocked(_)
                | CoreError::Internal(_) => {}
            }
        }
        all
    }

    /// The message a caller may see: the internal cause is never shown.
    pub fn public_message(&self) -> String {
        self.to_string()
    }

    /// The field a validation error names, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            CoreError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The one conversion of a poem / poem-openapi error into a `CoreError`: an extractor's (the input of every
    /// `bad_request_handler`) and the router's (in the server's guard of each mount), keeping the field-level detail
    /// of [`crate::wire`]. The router's 404 and 405 know neither the path nor the methods it serves; the guard, which
    /// does, completes them.
    pub fn from_poem(err: poem::Error) -> Self {
        if let Some(e) = err.downcast_ref::<crate::wire::InputError>() {
            return CoreError::invalid(e.field.clone(), e.reason.clone());
        }
        if let Some(e) = err.downcast_ref::<crate::wire::CredentialError>() {
            return CoreError::Unauthenticated(e.0.clone());
        }
        if let Some(e) = err.downcast_ref::<poem_openapi::error::ParseParamError>() {
            return CoreError::invalid(e.name, e.reason.clone());
        }
        if let Some(e) = err.downcast_ref::<poem_openapi::error::ParsePathError>() {
            return CoreError::invalid(e.name, e.reason.clone());
        }
        if err.downcast_ref::<poem_openapi::error::AuthorizationError>().is_some() {
            return CoreError::Unauthenticated("missing or malformed credentials".into());
        }
        match err.status() {
            StatusCode::PAYLOAD_TOO_LARGE => CoreError::PayloadTooLarge(err.to_string()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => CoreError::UnsupportedMediaType(err.to_string()),
            StatusCode::NOT_FOUND => CoreError::not_found("no operation at this path"),
            StatusCode::METHOD_NOT_ALLOWED => {
                CoreError::MethodNotAllowed { method: "this method".into(), allow: String::new() }
            }
            s if s.is_client_error() => CoreError::invalid("body", err.to_string()),
            _ => CoreError::internal(err),
        }
    }
}

impl From<sqlx::Error> for CoreError {
    /// A unique-index violation is a conflict the caller caused (a concurrent duplicate); anything else is internal.
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                CoreError::Conflict("a record with these values already exists".into())
            }
            _ => CoreError::internal(format!("database: {e}")),
        }
    }
}
