//! Blob reads (with `Range`) and deletes.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_content::Removal;
use berth_oci::range::{RangeSpec, parse_range};
use berth_oci::{Digest, RepoName};
use futures_util::StreamExt;

use crate::call::Call;
use crate::error::RegistryError;
use crate::state::RegistryState;

/// How long a redirect to the bucket stays valid: long enough to start a slow download.
const REDIRECT_TTL: std::time::Duration = std::time::Duration::from_secs(20 * 60);

pub(crate) fn parse_digest(raw: &str) -> Result<Digest, RegistryError> {
    raw.parse().map_err(|e: berth_oci::DigestError| RegistryError::digest_invalid(e.to_string()))
}

pub(crate) async fn get(
    state: &RegistryState,
    call: &Call,
    name: &RepoName,
    digest: &str,
    with_body: bool,
) -> Result<Response, RegistryError> {
    let digest = parse_digest(digest)?;
    // A HEAD is how clients decide to skip an upload: it marks the blob used (see check_blob).
    let known = match with_body {
        true => state.content.blob_size(name.as_str(), &digest.to_string()).await?,
        false => state.content.check_blob(name.as_str(), &digest.to_string()).await?,
    };
    let size = match known {
        Some(size) => size,
        None => match crate::proxy::registry_of(state, name).await? {
            Some(registry_id) => match crate::proxy::blob(state, registry_id, name, &digest, with_body).await? {
                crate::proxy::BlobOutcome::Cached(size) => size,
                crate::proxy::BlobOutcome::Response(response) => return Ok(response),
            },
            None => return Err(RegistryError::blob_unknown(&digest.to_string())),
        },
    };

    let (status, start, len) = match call.header("range").map(|r| parse_range(r, size)) {
        None | Some(RangeSpec::Ignore) => (StatusCode::OK, 0, size),
        Some(RangeSpec::Satisfiable(start, end)) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        Some(RangeSpec::Unsatisfiable) => {
            return Err(RegistryError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "BLOB_UNKNOWN",
                "requested range not satisfiable",
            )
            .with_header("content-range", format!("bytes */{size}")));
        }
    };
    if with_body
        && state.redirect_blobs
        && let Some(url) = state.content.store().presigned_blob_url(&digest, REDIRECT_TTL).await?
    {
        // The bytes come from the bucket itself; the presigned URL honours Range too.
        return Ok((StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, url)]).into_response());
    }
    let mut response = if with_body {
        let stream = state.content.read_blob(&digest, start, len).await?;
        // Counted as chunks leave: a client that goes away early pulled only what it took.
        let counted = stream.inspect(|chunk| {
            if let Ok(bytes) = chunk {
                berth_metrics::metrics().blob_bytes_pulled(bytes.len() as u64);
            }
        });
        Body::from_stream(counted).into_response()
    } else {
        Response::new(Body::empty())
    };
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, len.into());
    h.insert(header::CONTENT_TYPE, "application/octet-stream".parse().expect("static"));
    h.insert(header::ACCEPT_RANGES, "bytes".parse().expect("static"));
    h.insert("docker-content-digest", digest.to_string().parse().expect("digest is a header value"));
    h.insert(header::ETAG, format!("\"{digest}\"").parse().expect("digest is a header value"));
    h.insert(header::CACHE_CONTROL, "max-age=31536000".parse().expect("static"));
    if status == StatusCode::PARTIAL_CONTENT {
        let range = format!("bytes {start}-{}/{size}", start + len - 1);
        h.insert(header::CONTENT_RANGE, range.parse().expect("numbers are a header value"));
    }
    Ok(response)
}

pub(crate) async fn delete(
    state: &RegistryState,
    call: &Call,
    name: &RepoName,
    digest: &str,
) -> Result<Response, RegistryError> {
    crate::proxy::refuse_changes(state, name).await?;
    let digest = parse_digest(digest)?;
    match state.content.unlink_blob(name, &digest, &call.actor).await? {
        Removal::Removed => Ok((StatusCode::ACCEPTED, [("docker-content-digest", digest.to_string())]).into_response()),
        Removal::Absent | Removal::NoRepository => Err(RegistryError::blob_unknown(&digest.to_string())),
    }
}
