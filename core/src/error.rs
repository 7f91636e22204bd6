//! The one error type of the core, shared by every plugin.
//!
//! Policy:
//! - Every failure a caller can cause or fix is a specific variant with a message written for that caller: bad input
//!   names the field and the reason (`Invalid`), missing or wrong credentials are `Unauthenticated`, rights are
//!   `Forbidden`, unknown objects `NotFound`, state conflicts `Conflict`.
//! - `NotFound` is also the answer where `Forbidden` would reveal that an object of another tenant exists.
//! - Everything else is `Internal`: logged once with the request id where it happens, and answered without detail.
//!   Secrets never appear in a message.
//! - Each plugin turns a `CoreError` into its seed's envelope in exactly one function; the core admin API turns it into
//!   application/problem+json. `status()` is the single mapping to HTTP.

use poem::http::StatusCode;

#[derive(Debug, thiserror::Error)]
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
    #[error("too many requests; retry in {0} seconds")]
    RateLimited(u64),
    #[error("login blocked after too many failed attempts; try again in {0} seconds")]
    LoginBlocked(u64),
    #[error("internal error")]
    Internal(String),
}

pub type CoreResult<T> = Result<T, CoreError>;

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

    /// Logs the cause with the current request id and returns the opaque internal error.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(request_id = %crate::request_id::current(), "internal error: {cause}");
        CoreError::Internal(cause.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            CoreError::Invalid { .. } => StatusCode::BAD_REQUEST,
            CoreError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            CoreError::Forbidden(_) | CoreError::TenantSuspended | CoreError::PluginDisabled(_) => {
                StatusCode::FORBIDDEN
            }
            CoreError::NotFound(_) => StatusCode::NOT_FOUND,
            CoreError::Conflict(_) => StatusCode::CONFLICT,
            CoreError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            CoreError::RateLimited(_) | CoreError::LoginBlocked(_) => StatusCode::TOO_MANY_REQUESTS,
            CoreError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
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

    /// Turns a request-parsing failure of poem / poem-openapi (the `bad_request_handler` input) into a `CoreError`,
    /// keeping the field-level detail produced by [`crate::wire`].
    pub fn from_poem(err: poem::Error) -> Self {
        if let Some(e) = err.downcast_ref::<crate::wire::InputError>() {
            return CoreError::invalid(e.field.clone(), e.reason.clone());
        }
        if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return CoreError::PayloadTooLarge("the request body is too large".into());
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
        if err.status().is_client_error() {
            return CoreError::invalid("body", err.to_string());
        }
        CoreError::internal(err)
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
