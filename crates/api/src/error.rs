//! Harbor's error JSON: `{"errors":[{"code","message"}]}` with Harbor's codes.

use axum::Json;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_api_types::Errors;
use berth_api_types::query::QueryError;
use berth_auth::AuthError;
use berth_content::ContentError;
use berth_meta::MetaError;
use berth_storage::StorageError;

/// An error an API request ends with. An internal failure keeps its cause, which is logged when
/// the error becomes a response and never shown.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    /// What went wrong inside, for the log.
    cause: Option<String>,
    /// `Retry-After` of a 429.
    retry_after: Option<std::time::Duration>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into(), cause: None, retry_after: None }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn unauthorized() -> ApiError {
        Self::new(StatusCode::UNAUTHORIZED, "authentication required")
    }
    pub fn forbidden() -> ApiError {
        Self::new(StatusCode::FORBIDDEN, "forbidden")
    }
    pub fn not_found(what: impl Into<String>) -> ApiError {
        Self::new(StatusCode::NOT_FOUND, what)
    }
    pub fn conflict(message: impl Into<String>) -> ApiError {
        Self::new(StatusCode::CONFLICT, message)
    }
    /// Too many requests from this client (or failed logins): retry after `wait`.
    pub fn too_many_requests(message: impl Into<String>, wait: std::time::Duration) -> ApiError {
        ApiError { retry_after: Some(wait), ..Self::new(StatusCode::TOO_MANY_REQUESTS, message) }
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    pub fn with_message(mut self, message: impl Into<String>) -> ApiError {
        self.message = message.into();
        self
    }
    /// The database or the blob store cannot be reached now: 503 with `Retry-After`, saying
    /// which; `cause` goes to the log.
    pub fn unavailable(what: &str, cause: impl std::fmt::Display) -> ApiError {
        ApiError {
            cause: Some(cause.to_string()),
            retry_after: Some(RETRY_AFTER),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, format!("{what} is unavailable; try again later"))
        }
    }
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        ApiError {
            cause: Some(cause.to_string()),
            ..Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
        }
    }

    fn code(&self) -> &'static str {
        match self.status {
            StatusCode::BAD_REQUEST => "BAD_REQUEST",
            StatusCode::UNAUTHORIZED => "UNAUTHORIZED",
            StatusCode::FORBIDDEN => "FORBIDDEN",
            StatusCode::NOT_FOUND => "NOT_FOUND",
            StatusCode::METHOD_NOT_ALLOWED => "METHOD_NOT_ALLOWED",
            StatusCode::CONFLICT => "CONFLICT",
            StatusCode::PRECONDITION_FAILED => "PRECONDITION",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
            StatusCode::UNPROCESSABLE_ENTITY => "UNPROCESSABLE_ENTITY",
            StatusCode::SERVICE_UNAVAILABLE => "SERVICE_UNAVAILABLE",
            StatusCode::PAYLOAD_TOO_LARGE => "PAYLOAD_TOO_LARGE",
            StatusCode::TOO_MANY_REQUESTS => "TOO_MANY_REQUESTS",
            _ => "INTERNAL_SERVER_ERROR",
        }
    }
}

impl From<MetaError> for ApiError {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::Conflict(what) => ApiError::conflict(what),
            MetaError::InUse(why) => ApiError::new(StatusCode::PRECONDITION_FAILED, why),
            e @ MetaError::TagImmutable { .. } => ApiError::new(StatusCode::PRECONDITION_FAILED, e.to_string()),
            MetaError::TooMany(why) => ApiError::bad_request(why),
            e @ MetaError::Unavailable(_) => ApiError::unavailable("the database", e),
            MetaError::NulInText => ApiError::bad_request(e.to_string()),
            e => ApiError::internal(e),
        }
    }
}

impl From<ContentError> for ApiError {
    fn from(e: ContentError) -> Self {
        use ContentError as C;
        match e {
            C::QuotaExceeded(m) => ApiError::forbidden().with_message(m),
            // Harbor's words and status for a tag its immutability rules protect.
            e @ C::TagImmutable { .. } => ApiError::new(StatusCode::PRECONDITION_FAILED, e.to_string()),
            C::Meta(e) => e.into(),
            C::Storage(e) => e.into(),
            C::UploadBusy => ApiError::conflict(e.to_string()),
            C::UploadUnknown | C::ArtifactUnknown(_) => ApiError::not_found(e.to_string()),
            e => ApiError::bad_request(e.to_string()),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Unavailable(_) => ApiError::unavailable("blob storage", e),
            e => ApiError::internal(e),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::BadCredentials => ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()),
            AuthError::Throttled(wait) => ApiError::too_many_requests(e.to_string(), wait),
            AuthError::Meta(m) => m.into(),
        }
    }
}

/// A refused `q=` is the caller's mistake: 400 with the parser's message.
impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        ApiError::bad_request(e.0)
    }
}

/// A body that is not JSON, is not the operation's model, or is sent as another media type: 400,
/// the code Harbor documents for a bad request body (axum would answer 415 or 422). One over the
/// size limit keeps its 413.
impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.body_text()),
            _ => ApiError::bad_request(e.body_text()),
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(e: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::bad_request(e.body_text())
    }
}

/// A path whose id is not a number names nothing: 404, as for an id that names no row.
impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(e: axum::extract::rejection::PathRejection) -> Self {
        ApiError::not_found(e.body_text())
    }
}

impl ApiError {
    /// `Retry-After` for an answer that asks the client to wait (429, 503).
    fn retry_header(&self) -> Option<[(header::HeaderName, HeaderValue); 1]> {
        self.retry_after.map(|wait| [(header::RETRY_AFTER, berth_auth::throttle::retry_after_secs(wait).into())])
    }

    fn log(&self) {
        match &self.cause {
            // An outage is reported once per request, not as the server's own failure.
            Some(cause) if self.status == StatusCode::SERVICE_UNAVAILABLE => {
                tracing::warn!(status = 503, error = %cause, "request failed")
            }
            Some(cause) => tracing::error!(status = self.status.as_u16(), error = %cause, "request failed"),
            None => {}
        }
    }
}

/// What a 503 asks a client to wait before it tries again.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let retry = self.retry_header();
        (self.status, retry, Json(Errors::one(self.code(), self.message))).into_response()
    }
}

/// The answer of an operation that Harbor documents as plain text (a log): its error too is
/// plain text, the message alone, so a client reading the log reads why there is none.
pub(crate) fn plain_text(result: Result<Response, ApiError>) -> Response {
    match result {
        Ok(response) => response,
        Err(e) => {
            e.log();
            let retry = e.retry_header();
            (e.status, retry, [(header::CONTENT_TYPE, PLAIN_TEXT)], e.message).into_response()
        }
    }
}

/// The media type of logs.
pub(crate) const PLAIN_TEXT: &str = "text/plain; charset=utf-8";

/// Harbor's API speaks JSON: an answer without a body of its own (an empty 200, a `HEAD`) says
/// so too, as the operations document it.
pub(crate) async fn json_by_default(mut response: Response) -> Response {
    if !response.headers().contains_key(header::CONTENT_TYPE) {
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    response
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("no such API endpoint")
}

/// A path of the API asked with a method it does not take: Harbor's error body rather than an
/// empty one (the router adds `Allow` with the methods it takes).
pub(crate) async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("method {method} is not allowed on this path"))
}
