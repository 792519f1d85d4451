//! Small helpers for request headers and query strings.

use std::collections::HashMap;

use axum::http::{HeaderMap, Uri};

pub(crate) fn query(uri: &Uri) -> HashMap<String, String> {
    axum::extract::Query::<HashMap<String, String>>::try_from_uri(uri).map(|q| q.0).unwrap_or_default()
}

pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `Content-Length`, if present and a number.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    header_str(headers, "content-length").and_then(|v| v.trim().parse().ok())
}

/// The `Range` header value describing `length` bytes received: `0-<last byte>`. For an empty
/// upload this is `0-0`, as distribution reports it.
pub(crate) fn upload_range(length: u64) -> String {
    format!("0-{}", length.saturating_sub(1))
}
