//! S3 `UploadPartCopy`: a part of a multipart upload whose bytes the server copies from an
//! existing object. `object_store` uses it internally but does not expose it, so this module
//! builds the request itself and signs it with `object_store`'s own SigV4 signer, sent through an
//! HTTP client made from the same client options (TLS roots, timeouts) as the store's.
//!
//! It is what lets a blob be assembled server-side from the part objects an upload session wrote
//! (see `state.rs`) without reading the bytes back through Berth.

use std::time::Duration;

use http::{Method, StatusCode};
use object_store::aws::{AwsAuthorizer, AwsCredentialProvider};
use object_store::client::{HttpClient, HttpRequestBody};
use object_store::multipart::PartId;
use object_store::path::Path;
use serde::Deserialize;

use crate::StorageError;

/// Attempts per part copy: transient failures (connection reset, 5xx, throttling) are retried
/// with exponential backoff, as `object_store` does for the requests it makes itself.
const ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub(crate) struct PartCopier {
    pub(crate) http: HttpClient,
    pub(crate) credentials: AwsCredentialProvider,
    /// Scheme, host and port, without a trailing slash (path-style addressing).
    pub(crate) endpoint: String,
    pub(crate) bucket: String,
    pub(crate) region: String,
}

/// What went wrong with one attempt, and whether another attempt may help.
struct Failure {
    message: String,
    retry: bool,
    missing_source: bool,
}

impl PartCopier {
    /// Makes part `part_number` (1-based) of multipart upload `upload_id` at `dest` a copy of
    /// object `source`; returns the part's id (its ETag) for completing the upload.
    pub(crate) async fn copy_part(
        &self,
        dest: &Path,
        upload_id: &str,
        part_number: u64,
        source: &Path,
    ) -> Result<PartId, StorageError> {
        // Object keys are restricted to URL-safe characters (see `S3Store::open`), so they go
        // into the URL and the copy-source header as they are; the upload id is the server's and
        // may be anything.
        let url = format!(
            "{}/{}/{}?partNumber={part_number}&uploadId={}",
            self.endpoint,
            self.bucket,
            dest,
            uri_encode(upload_id)
        );
        let copy_source = format!("{}/{}", self.bucket, source);
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            match self.attempt(&url, &copy_source).await {
                Ok(etag) => return Ok(PartId { content_id: etag }),
                Err(f) if f.missing_source => return Err(StorageError::UploadMissing),
                Err(f) if f.retry && attempt < ATTEMPTS => {
                    tracing::debug!(part_number, %source, error = %f.message, "retrying part copy");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    attempt += 1;
                }
                Err(f) => {
                    let message = format!("copying {source} into part {part_number} of {dest}: {}", f.message);
                    // What was worth retrying is the service being down or overloaded, not a refusal.
                    return Err(if f.retry {
                        StorageError::Unavailable(message)
                    } else {
                        StorageError::Backend(message)
                    });
                }
            }
        }
    }

    async fn attempt(&self, url: &str, copy_source: &str) -> Result<String, Failure> {
        let fail = |message: String, retry: bool| Failure { message, retry, missing_source: false };
        let credential = self.credentials.get_credential().await.map_err(|e| fail(e.to_string(), true))?;
        let mut request = http::Request::builder()
            .method(Method::PUT)
            .uri(url)
            .header("x-amz-copy-source", copy_source)
            .body(HttpRequestBody::empty())
            .map_err(|e| fail(format!("building request: {e}"), false))?;
        AwsAuthorizer::new(&credential, "s3", &self.region)
            .try_authorize(&mut request, None)
            .map_err(|e| fail(format!("signing request: {e}"), false))?;
        let response = self.http.execute(request).await.map_err(|e| fail(e.to_string(), true))?;
        let status = response.status();
        let body = response.into_body().bytes().await.map_err(|e| fail(e.to_string(), true))?;
        let body = String::from_utf8_lossy(&body);
        // S3 may answer a copy with 200 and an error document (the copy failed after the status
        // was sent), so the body decides, not just the status.
        if status.is_success()
            && let Ok(result) = quick_xml::de::from_str::<CopyPartResult>(&body)
        {
            return Ok(result.etag);
        }
        let error = quick_xml::de::from_str::<ErrorDocument>(&body).ok();
        let code = error.as_ref().map_or("", |e| e.code.as_str());
        let message = match &error {
            Some(e) => format!("{status}: {} ({})", e.code, e.message),
            None => format!("{status}: unexpected response {:?}", truncate(&body, 300)),
        };
        Err(Failure {
            retry: status.is_server_error()
                || status == StatusCode::TOO_MANY_REQUESTS
                || matches!(code, "InternalError" | "SlowDown" | "ServiceUnavailable"),
            missing_source: matches!(code, "NoSuchKey") || (status == StatusCode::NOT_FOUND && code.is_empty()),
            message,
        })
    }
}

#[derive(Deserialize)]
struct CopyPartResult {
    #[serde(rename = "ETag")]
    etag: String,
}

#[derive(Deserialize)]
struct ErrorDocument {
    #[serde(rename = "Code")]
    code: String,
    #[serde(rename = "Message", default)]
    message: String,
}

/// Percent-encodes everything but RFC 3986 unreserved characters, as SigV4 expects.
fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_upload_ids() {
        assert_eq!(uri_encode("abc-123_x.y~z"), "abc-123_x.y~z");
        assert_eq!(uri_encode("a+b/c=="), "a%2Bb%2Fc%3D%3D");
    }

    #[test]
    fn parses_copy_results_and_errors() {
        let ok = r#"<?xml version="1.0" encoding="UTF-8"?>
<CopyPartResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag></CopyPartResult>"#;
        let r: CopyPartResult = quick_xml::de::from_str(ok).unwrap();
        assert_eq!(r.etag, "\"9b2cf535f27731c974343645a3985328\"");
        let err = "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>";
        let e: ErrorDocument = quick_xml::de::from_str(err).unwrap();
        assert_eq!((e.code.as_str(), e.message.as_str()), ("NoSuchKey", "The specified key does not exist."));
        assert!(quick_xml::de::from_str::<CopyPartResult>(err).is_err());
    }
}
