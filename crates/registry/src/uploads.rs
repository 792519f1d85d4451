//! Blob uploads over HTTP: sessions (POST, PATCH, PUT, GET, DELETE), monolithic pushes and
//! cross-repository mounts. What a session is lives in `berth_content`; this reads the headers
//! and answers with the session's `Location` and `Range`.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_content::{Chunk, ContentError};
use berth_oci::range::{ContentRange, parse_content_range};
use berth_oci::{Digest, RepoName};
use berth_storage::UploadId;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::access::{Action, Scope};
use crate::blobs::parse_digest;
use crate::call::Call;
use crate::error::RegistryError;
use crate::state::RegistryState;

/// `POST /v2/<name>/blobs/uploads/`: mount, monolithic upload, or a new session.
pub(crate) async fn start(
    state: &RegistryState,
    call: &Call,
    name: &RepoName,
    body: Body,
) -> Result<Response, RegistryError> {
    crate::proxy::refuse_changes(state, name).await?;
    if let (Some(mount), Some(from)) = (call.query.get("mount"), call.query.get("from")) {
        if let Some(response) = try_mount(state, call, name, mount, from).await? {
            return Ok(response);
        }
    } else if let Some(digest) = call.query.get("digest") {
        let digest = parse_digest(digest)?;
        state.content.write_blob(name, &digest, received(body)).await?;
        return Ok(blob_created(state, name, &digest));
    }
    let id = state.content.start_upload(name).await?;
    Ok(session_response(state, StatusCode::ACCEPTED, name, &id, 0))
}

/// Links blob `mount` from repository `from` into `name` if the caller may read it there.
/// `None` means the mount is not possible and a normal upload session should be started.
async fn try_mount(
    state: &RegistryState,
    call: &Call,
    name: &RepoName,
    mount: &str,
    from: &str,
) -> Result<Option<Response>, RegistryError> {
    let digest = parse_digest(mount)?;
    let Ok(from) = RepoName::parse(from) else {
        return Ok(None);
    };
    // Not a second refusal of the request (it was authorized to push): only whether its blob
    // may come from `from` or must be uploaded.
    if !state.access.allows(&call.parts, Scope::Repository(&from, Action::Pull)).await {
        return Ok(None);
    }
    if !state.content.mount_blob_from(name, &from, &digest).await? {
        return Ok(None);
    }
    Ok(Some(blob_created(state, name, &digest)))
}

/// `PATCH`: appends a chunk. With `Content-Range`, the chunk must start exactly where the session
/// ends; without, it is appended (streamed upload).
pub(crate) async fn patch(
    state: &RegistryState,
    call: &Call,
    name: &RepoName,
    id: &str,
    body: Body,
) -> Result<Response, RegistryError> {
    let id = session_id(id)?;
    let declared = declared_chunk(call)?;
    let length = state
        .content
        .append_upload(name, &id, declared, received(body))
        .await
        .map_err(|e| session_error(state, name, &id, e))?;
    Ok(session_response(state, StatusCode::ACCEPTED, name, &id, length))
}

/// `PUT ?digest=`: appends an optional last chunk, verifies the digest and commits the blob.
pub(crate) async fn finish(
    state: &RegistryState,
    call: &Call,
    name: &RepoName,
    id: &str,
    body: Body,
) -> Result<Response, RegistryError> {
    let id = session_id(id)?;
    let digest =
        call.query.get("digest").ok_or_else(|| RegistryError::digest_invalid("digest parameter is required"))?;
    let digest = parse_digest(digest)?;
    // The last chunk, if any, comes with the PUT.
    let last = match call.content_length() {
        Some(0) => None,
        _ => Some((declared_chunk(call)?, received(body))),
    };
    state.content.finish_upload(name, &id, &digest, last).await.map_err(|e| session_error(state, name, &id, e))?;
    Ok(blob_created(state, name, &digest))
}

/// `GET`: where the session stands.
pub(crate) async fn status(state: &RegistryState, name: &RepoName, id: &str) -> Result<Response, RegistryError> {
    let id = session_id(id)?;
    let length = state.content.upload_length(name, &id).await?;
    Ok(session_response(state, StatusCode::NO_CONTENT, name, &id, length))
}

/// `DELETE`: cancels the session and frees its data.
pub(crate) async fn cancel(state: &RegistryState, name: &RepoName, id: &str) -> Result<Response, RegistryError> {
    let id = session_id(id)?;
    state.content.cancel_upload(name, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn session_id(id: &str) -> Result<UploadId, RegistryError> {
    UploadId::parse(id).map_err(|_| ContentError::UploadUnknown.into())
}

/// The chunk `Content-Range` announces, checked against `Content-Length`.
fn declared_chunk(call: &Call) -> Result<Option<Chunk>, RegistryError> {
    let Some(value) = call.header("content-range") else {
        return Ok(None);
    };
    let ContentRange { start, length } = parse_content_range(value)
        .ok_or_else(|| RegistryError::upload_invalid(format!("malformed Content-Range {value:?}")))?;
    if call.content_length().is_some_and(|cl| cl != length) {
        return Err(RegistryError::upload_invalid("Content-Length does not match Content-Range"));
    }
    Ok(Some(Chunk { start, length }))
}

/// An error of an append, with what a client needs to resume where the session stands.
fn session_error(state: &RegistryState, name: &RepoName, id: &UploadId, e: ContentError) -> RegistryError {
    match e {
        ContentError::UploadOutOfOrder { length } => RegistryError::from(e)
            .with_header("range", upload_range(length))
            .with_header("location", state.location(&session_path(name, id)))
            .with_header("docker-upload-uuid", id.to_string()),
        e => e.into(),
    }
}

/// The `Range` header value describing `length` bytes received: `0-<last byte>`. For an empty
/// upload this is `0-0`, as distribution reports it.
fn upload_range(length: u64) -> String {
    format!("0-{}", length.saturating_sub(1))
}

fn session_path(name: &RepoName, id: &UploadId) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

fn session_response(
    state: &RegistryState,
    status: StatusCode,
    name: &RepoName,
    id: &UploadId,
    length: u64,
) -> Response {
    (
        status,
        [
            ("location", state.location(&session_path(name, id))),
            ("range", upload_range(length)),
            ("docker-upload-uuid", id.to_string()),
            ("content-length", "0".to_owned()),
        ],
    )
        .into_response()
}

fn blob_created(state: &RegistryState, name: &RepoName, digest: &Digest) -> Response {
    (
        StatusCode::CREATED,
        [
            ("location", state.location(&format!("/v2/{name}/blobs/{digest}"))),
            ("docker-content-digest", digest.to_string()),
            ("content-length", "0".to_owned()),
        ],
    )
        .into_response()
}

/// A request body's bytes, counted in the metrics as they arrive (so bytes of an upload that
/// fails count too: they were received).
fn received(body: Body) -> impl Stream<Item = Result<Bytes, axum::Error>> + Unpin + Send {
    body.into_data_stream().inspect(|chunk| {
        if let Ok(bytes) = chunk {
            berth_metrics::metrics().blob_bytes_pushed(bytes.len() as u64);
        }
    })
}
