//! OCI error responses: `{"errors":[{"code","message","detail"}]}` with the spec's codes.

use axum::Json;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_content::ContentError;
use berth_storage::StorageError;
use serde_json::{Value, json};

/// What a 503 asks a client to wait before it tries again: the pool's reconnection or the
/// store's retries take about this long to notice the service is back.
const RETRY_AFTER_SECONDS: u32 = 5;

/// An error a `/v2/` request ends with. An internal failure keeps its cause, which is logged
/// when the error becomes a response and never shown; everything else tells the client exactly
/// what was wrong.
#[derive(Debug)]
pub struct RegistryError {
    status: StatusCode,
    code: &'static str,
    message: String,
    detail: Option<Box<Value>>,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// What went wrong inside, for the log.
    cause: Option<Box<str>>,
}

impl RegistryError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> RegistryError {
        RegistryError { status, code, message: message.into(), detail: None, headers: Vec::new(), cause: None }
    }

    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = Some(Box::new(detail));
        self
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        if let Ok(v) = HeaderValue::try_from(value) {
            self.headers.push((HeaderName::from_static(name), v));
        }
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn blob_unknown(digest: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "BLOB_UNKNOWN", "blob unknown to registry")
            .with_detail(json!({ "digest": digest }))
    }
    pub fn upload_unknown() -> Self {
        Self::new(StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
    }
    pub fn upload_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID", message)
    }
    pub fn digest_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", message)
    }
    pub fn manifest_unknown(reference: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN", "manifest unknown to registry")
            .with_detail(json!({ "reference": reference }))
    }
    pub fn manifest_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", message)
    }
    pub fn manifest_blob_unknown(digest: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MANIFEST_BLOB_UNKNOWN",
            "manifest references a blob unknown to the repository",
        )
        .with_detail(json!({ "digest": digest }))
    }
    pub fn name_invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "NAME_INVALID", message)
    }
    pub fn name_unknown(name: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NAME_UNKNOWN", "repository name not known to registry")
            .with_detail(json!({ "name": name }))
    }
    pub fn size_invalid(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(status, "SIZE_INVALID", message)
    }
    pub fn unsupported(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(status, "UNSUPPORTED", message)
    }
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "DENIED", message)
    }
    pub fn method_not_allowed(method: &Method) -> Self {
        Self::unsupported(StatusCode::METHOD_NOT_ALLOWED, format!("method {method} is not supported on this endpoint"))
    }
    /// The database or the blob store cannot be reached now: 503 `UNAVAILABLE` (distribution's
    /// code for it) with `Retry-After`, saying which; `cause` goes to the log.
    pub fn unavailable(what: &str, cause: impl std::fmt::Display) -> Self {
        RegistryError {
            cause: Some(cause.to_string().into()),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                format!("{what} is unavailable; try again later"),
            )
        }
        .with_header("retry-after", RETRY_AFTER_SECONDS.to_string())
    }
    /// Too many requests from this client (or failed logins): retry after `wait`.
    pub fn too_many_requests(message: impl Into<String>, wait: std::time::Duration) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "TOOMANYREQUESTS", message)
            .with_header("retry-after", berth_auth::throttle::retry_after_secs(wait).to_string())
    }
    /// A failure that is the server's fault; `cause` goes to the log, not to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        RegistryError {
            cause: Some(cause.to_string().into()),
            ..Self::new(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", "internal server error")
        }
    }
}

/// `CODE: message`, as logs and Berth's own callers (replication, proxy cache) report it.
impl std::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<berth_meta::MetaError> for RegistryError {
    fn from(e: berth_meta::MetaError) -> Self {
        ContentError::from(e).into()
    }
}

impl From<berth_auth::AuthError> for RegistryError {
    fn from(e: berth_auth::AuthError) -> Self {
        use berth_auth::AuthError as A;
        match e {
            A::Throttled(wait) => RegistryError::too_many_requests(e.to_string(), wait),
            A::BadCredentials => RegistryError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", e.to_string()),
            A::Meta(e) => e.into(),
        }
    }
}

impl From<ContentError> for RegistryError {
    fn from(e: ContentError) -> Self {
        use ContentError as C;
        match e {
            C::ManifestTooLarge => RegistryError::size_invalid(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
            C::ManifestInvalid(m) => RegistryError::manifest_invalid(m),
            C::DigestInvalid(m) => RegistryError::digest_invalid(m),
            C::ManifestDigestMismatch { .. } => RegistryError::digest_invalid(e.to_string()),
            C::ArtifactUnknown(r) => RegistryError::manifest_unknown(&r),
            C::MissingReference(d) => RegistryError::manifest_blob_unknown(&d),
            C::QuotaExceeded(m) => RegistryError::denied(m),
            C::TagImmutable { repository, tag, deleting: false } => RegistryError::new(
                StatusCode::PRECONDITION_FAILED,
                "PRECONDITION",
                // Harbor's words for a push onto an immutable tag.
                format!(
                    "Failed to process request due to '{}:{tag}' configured as immutable.",
                    repository.split_once('/').map_or(repository.as_str(), |(_, path)| path)
                ),
            ),
            e @ C::TagImmutable { .. } => {
                RegistryError::new(StatusCode::PRECONDITION_FAILED, "PRECONDITION", e.to_string())
            }
            C::UploadUnknown => RegistryError::upload_unknown(),
            C::UploadInvalid(m) => RegistryError::upload_invalid(m),
            C::UploadOutOfOrder { .. } => {
                RegistryError::new(StatusCode::RANGE_NOT_SATISFIABLE, "BLOB_UPLOAD_INVALID", e.to_string())
            }
            C::UploadBusy => RegistryError::new(StatusCode::CONFLICT, "BLOB_UPLOAD_INVALID", e.to_string()),
            C::Storage(e) => e.into(),
            C::Meta(e @ berth_meta::MetaError::Unavailable(_)) => RegistryError::unavailable("the database", e),
            C::Meta(e @ berth_meta::MetaError::NulInText) => {
                RegistryError::unsupported(StatusCode::BAD_REQUEST, e.to_string())
            }
            C::Meta(e) => RegistryError::internal(e),
        }
    }
}

impl From<StorageError> for RegistryError {
    fn from(e: StorageError) -> Self {
        use StorageError as S;
        match e {
            // The client starts the upload again; why its bytes are gone is for the log.
            S::UploadMissing | S::UploadTruncated { .. } | S::UploadLost { .. } => RegistryError {
                cause: Some(format!("upload data lost: {e}").into()),
                ..RegistryError::upload_unknown()
            },
            S::DigestMismatch { expected, actual } => RegistryError::digest_invalid(format!(
                "provided digest {expected} does not match the content's digest {actual}"
            ))
            .with_detail(json!({ "expected": expected, "actual": actual })),
            S::Body(msg) => RegistryError::upload_invalid(format!("reading request body: {msg}")),
            S::BlobMissing(ref digest) => {
                RegistryError { cause: Some(e.to_string().into()), ..RegistryError::blob_unknown(&digest.to_string()) }
            }
            S::TooLarge { .. } => RegistryError::size_invalid(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
            S::Unavailable(_) => RegistryError::unavailable("blob storage", e),
            S::Io(_) | S::Backend(_) => RegistryError::internal(e),
        }
    }
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        match &self.cause {
            // An outage is reported once per request, not as the server's own failure.
            Some(cause) if self.status == StatusCode::SERVICE_UNAVAILABLE => {
                tracing::warn!(status = 503, code = self.code, error = %cause, "request failed")
            }
            Some(cause) => {
                tracing::error!(status = self.status.as_u16(), code = self.code, error = %cause, "request failed")
            }
            None => {}
        }
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(detail) = self.detail {
            error["detail"] = *detail;
        }
        let mut response = (self.status, Json(json!({ "errors": [error] }))).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}
