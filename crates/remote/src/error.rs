//! Errors of a remote registry, and how an HTTP error response becomes one.

use std::time::Duration;

use reqwest::{Response, StatusCode, header};

/// What went wrong talking to a remote registry. Cloneable because one failure of a blob's source
/// stream is both reported to the HTTP body it feeds and kept to decide whether to resume.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("too many requests (retry after {retry_after:?})")]
    TooManyRequests { retry_after: Option<Duration> },
    #[error("HTTP {status}: {message}")]
    Status { status: u16, message: String },
    #[error("transport: {0}")]
    Transport(String),
    #[error("invalid: {0}")]
    Invalid(String),
}

impl RemoteError {
    /// Whether trying again later may succeed: the network failed, the registry is overloaded or
    /// had an internal error. Everything else needs a change (credentials, input, the remote).
    pub fn is_retryable(&self) -> bool {
        match self {
            RemoteError::Transport(_) | RemoteError::TooManyRequests { .. } => true,
            RemoteError::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

impl From<reqwest::Error> for RemoteError {
    fn from(e: reqwest::Error) -> Self {
        // reqwest's own message ("error sending request") hides the cause; the chain names it.
        let mut msg = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            source = s.source();
        }
        RemoteError::Transport(msg)
    }
}

pub(crate) fn invalid(msg: impl Into<String>) -> RemoteError {
    RemoteError::Invalid(msg.into())
}

/// Error bodies are read only this far: a message, not a download.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Turns a response with an error status into a `RemoteError`, its message taken from the OCI
/// error JSON (`{"errors":[{"code","message"}]}`) when the body is one.
pub(crate) async fn from_response(mut resp: Response) -> RemoteError {
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY {
        match resp.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(MAX_ERROR_BODY);
    let message = error_message(status, &body);
    match status {
        StatusCode::UNAUTHORIZED => RemoteError::Unauthorized(message),
        StatusCode::FORBIDDEN => RemoteError::Forbidden(message),
        StatusCode::NOT_FOUND => RemoteError::NotFound(message),
        StatusCode::TOO_MANY_REQUESTS => RemoteError::TooManyRequests { retry_after },
        _ => RemoteError::Status { status: status.as_u16(), message },
    }
}

fn error_message(status: StatusCode, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(parsed) = serde_json::from_slice::<Errors>(body)
        && !parsed.errors.is_empty()
    {
        return parsed
            .errors
            .iter()
            .map(|e| match (e.code.is_empty(), e.message.is_empty()) {
                (false, false) => format!("{}: {}", e.code, e.message),
                (false, true) => e.code.clone(),
                _ => e.message.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ");
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text.chars().take(300).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_error_json_becomes_the_message() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(error_message(StatusCode::NOT_FOUND, body), "MANIFEST_UNKNOWN: manifest unknown");
        assert_eq!(error_message(StatusCode::BAD_GATEWAY, b""), "Bad Gateway");
        assert_eq!(error_message(StatusCode::BAD_REQUEST, b" oops \n"), "oops");
    }

    #[test]
    fn retryable_errors() {
        assert!(RemoteError::Transport("reset".into()).is_retryable());
        assert!(RemoteError::TooManyRequests { retry_after: None }.is_retryable());
        assert!(RemoteError::Status { status: 503, message: String::new() }.is_retryable());
        assert!(!RemoteError::Status { status: 400, message: String::new() }.is_retryable());
        assert!(!RemoteError::Unauthorized(String::new()).is_retryable());
        assert!(!RemoteError::Invalid(String::new()).is_retryable());
    }
}
