//! Blob uploads: sessions (POST, PATCH, PUT, GET, DELETE), monolithic pushes and cross-repository
//! mounts. The session's length and hash state live in the metadata store, its bytes in storage,
//! so a session survives a restart of the server.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use berth_meta::UploadRow;
use berth_oci::{Digest, RepoName, digest::Algorithm};
use berth_storage::{Appended, HashState, UploadId, UploadProgress};

use crate::access::{Action, Scope};
use crate::blobs::parse_digest;
use crate::error::RegistryError;
use crate::headers::{content_length, header_str, upload_range};
use crate::state::RegistryState;
use crate::upload_lease::UploadLease;

/// `POST /v2/<name>/blobs/uploads/`: mount, monolithic upload, or a new session.
pub(crate) async fn start(
    state: &RegistryState,
    req: &Parts,
    name: &RepoName,
    query: &HashMap<String, String>,
    body: Body,
) -> Result<Response, RegistryError> {
    state.access.authorize(req, Scope::Repository(name, Action::Push)).await?;
    crate::proxy::refuse_changes(state, name).await?;
    if let (Some(mount), Some(from)) = (query.get("mount"), query.get("from")) {
        if let Some(response) = try_mount(state, req, name, mount, from).await? {
            return Ok(response);
        }
    } else if let Some(digest) = query.get("digest") {
        let digest = uploadable_digest(digest)?;
        state.local().write_blob(name, &digest, body.into_data_stream()).await?;
        return Ok(blob_created(state, name, &digest));
    }
    let repo = state.meta.ensure_repository(name.as_str()).await?;
    let id = UploadId::new();
    let progress = state.store.create_upload(&id).await?;
    state.meta.create_upload(id.as_str(), repo, &progress.hash.to_bytes(), &progress.backend).await?;
    Ok(session_response(state, StatusCode::ACCEPTED, name, &id, 0))
}

/// Links blob `mount` from repository `from` into `name` if the caller may read it there.
/// `None` means the mount is not possible and a normal upload session should be started.
async fn try_mount(
    state: &RegistryState,
    req: &Parts,
    name: &RepoName,
    mount: &str,
    from: &str,
) -> Result<Option<Response>, RegistryError> {
    let digest = parse_digest(mount)?;
    let Ok(from) = RepoName::parse(from) else {
        return Ok(None);
    };
    if state.access.authorize(req, Scope::Repository(&from, Action::Pull)).await.is_err() {
        return Ok(None);
    }
    let Some(size) = state.meta.repository_blob(from.as_str(), &digest.to_string()).await? else {
        return Ok(None);
    };
    let repo = state.meta.ensure_repository(name.as_str()).await?;
    state.meta.link_blob(repo, &digest.to_string(), size).await?;
    Ok(Some(blob_created(state, name, &digest)))
}

/// `PATCH`: appends a chunk. With `Content-Range`, the chunk must start exactly where the session
/// ends; without, it is appended (streamed upload).
pub(crate) async fn patch(
    state: &RegistryState,
    req: &Parts,
    name: &RepoName,
    id: &str,
    body: Body,
) -> Result<Response, RegistryError> {
    state.access.authorize(req, Scope::Repository(name, Action::Push)).await?;
    let id = UploadId::parse(id).map_err(|_| RegistryError::upload_unknown())?;
    let lease = UploadLease::acquire(&state.meta, id.as_str()).await?;
    let upload = load(state, name, &id).await?;
    let appended = append_checked(state, req, name, &id, &upload, body, (&lease, true)).await?;
    lease.released();
    Ok(session_response(state, StatusCode::ACCEPTED, name, &id, appended.progress.length))
}

/// `PUT ?digest=`: appends an optional last chunk, verifies the digest and commits the blob.
pub(crate) async fn finish(
    state: &RegistryState,
    req: &Parts,
    name: &RepoName,
    id: &str,
    query: &HashMap<String, String>,
    body: Body,
) -> Result<Response, RegistryError> {
    state.access.authorize(req, Scope::Repository(name, Action::Push)).await?;
    let id = UploadId::parse(id).map_err(|_| RegistryError::upload_unknown())?;
    let digest = uploadable_digest(
        query.get("digest").ok_or_else(|| RegistryError::digest_invalid("digest parameter is required"))?,
    )?;
    let lease = UploadLease::acquire(&state.meta, id.as_str()).await?;
    let upload = load(state, name, &id).await?;
    // The last chunk, if any, comes with the PUT; either way the session's length and hash state
    // are then known without reading them back.
    let progress = if content_length(&req.headers) != Some(0) {
        // The lease stays held until the commit below: no other request may append meanwhile.
        append_checked(state, req, name, &id, &upload, body, (&lease, false)).await?.progress
    } else {
        progress_of(&upload)?
    };
    match state.store.commit(&id, progress, &digest).await {
        Ok(size) => {
            state.meta.finish_upload(id.as_str(), upload.repository_id, &digest.to_string(), size as i64).await?;
            Ok(blob_created(state, name, &digest))
        }
        Err(e) => {
            // The session's bytes are not the blob the client meant: the session is over.
            if matches!(e, berth_storage::StorageError::DigestMismatch { .. }) {
                state.meta.delete_upload(id.as_str()).await?;
            }
            Err(e.into())
        }
    }
}

/// `GET`: where the session stands.
pub(crate) async fn status(
    state: &RegistryState,
    req: &Parts,
    name: &RepoName,
    id: &str,
) -> Result<Response, RegistryError> {
    state.access.authorize(req, Scope::Repository(name, Action::Push)).await?;
    let id = UploadId::parse(id).map_err(|_| RegistryError::upload_unknown())?;
    let upload = load(state, name, &id).await?;
    Ok(session_response(state, StatusCode::NO_CONTENT, name, &id, upload.length as u64))
}

/// `DELETE`: cancels the session and frees its data.
pub(crate) async fn cancel(
    state: &RegistryState,
    req: &Parts,
    name: &RepoName,
    id: &str,
) -> Result<Response, RegistryError> {
    state.access.authorize(req, Scope::Repository(name, Action::Push)).await?;
    let id = UploadId::parse(id).map_err(|_| RegistryError::upload_unknown())?;
    let _lease = UploadLease::acquire(&state.meta, id.as_str()).await?;
    let upload = load(state, name, &id).await?;
    state.meta.delete_upload(id.as_str()).await?;
    state.store.delete_upload(&id, &progress_of(&upload)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The session `id`, which must belong to repository `name`.
async fn load(state: &RegistryState, name: &RepoName, id: &UploadId) -> Result<UploadRow, RegistryError> {
    let upload = state.meta.upload(id.as_str()).await?.ok_or_else(RegistryError::upload_unknown)?;
    let repo = state.meta.repository_id(name.as_str()).await?;
    if repo != Some(upload.repository_id) {
        return Err(RegistryError::upload_unknown());
    }
    Ok(upload)
}

/// Where the session stands, as the blob store needs it to continue.
fn progress_of(upload: &UploadRow) -> Result<UploadProgress, RegistryError> {
    let hash = HashState::from_bytes(&upload.hash_state)
        .ok_or_else(|| RegistryError::internal("unreadable upload hash state"))?;
    Ok(UploadProgress { length: upload.length as u64, hash, backend: upload.store_state.clone() })
}

/// Appends `body` to the session, enforcing `Content-Range`, records the new length and returns
/// it with the hash state after it. Only while `lease` holds; with `release`, it ends with the
/// recording.
async fn append_checked(
    state: &RegistryState,
    req: &Parts,
    name: &RepoName,
    id: &UploadId,
    upload: &UploadRow,
    body: Body,
    (lease, release): (&UploadLease, bool),
) -> Result<Appended, RegistryError> {
    let length = upload.length as u64;
    let out_of_order = || {
        RegistryError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "BLOB_UPLOAD_INVALID",
            format!("chunk must start at offset {length}"),
        )
        .with_header("range", upload_range(length))
        .with_header("location", state.location(&session_path(name, id)))
        .with_header("docker-upload-uuid", id.to_string())
    };
    let declared = match header_str(&req.headers, "content-range") {
        None => None,
        Some(value) => {
            let (start, end) = parse_content_range(value)
                .ok_or_else(|| RegistryError::upload_invalid(format!("malformed Content-Range {value:?}")))?;
            if start != length {
                return Err(out_of_order());
            }
            let chunk = end - start + 1;
            if content_length(&req.headers).is_some_and(|cl| cl != chunk) {
                return Err(RegistryError::upload_invalid("Content-Length does not match Content-Range"));
            }
            Some(chunk)
        }
    };
    let appended = state.store.append(id, progress_of(upload)?, lease.fence(body.into_data_stream())).await?;
    if declared.is_some_and(|d| d != appended.received) {
        return Err(RegistryError::upload_invalid(format!(
            "Content-Range announced {} bytes but {} arrived",
            declared.unwrap_or(0),
            appended.received
        )));
    }
    let new = &appended.progress;
    let recorded = state
        .meta
        .advance_upload(
            id.as_str(),
            (upload.length, new.length as i64),
            &new.hash.to_bytes(),
            &new.backend,
            (lease.owner(), release),
        )
        .await?;
    if !recorded {
        return Err(out_of_order());
    }
    Ok(appended)
}

/// `start-end` (inclusive), also accepted with a `bytes ` or `bytes=` prefix.
fn parse_content_range(value: &str) -> Option<(u64, u64)> {
    let v = value.trim();
    let v = v.strip_prefix("bytes=").or_else(|| v.strip_prefix("bytes ")).unwrap_or(v);
    let v = v.split('/').next()?;
    let (start, end) = v.split_once('-')?;
    let (start, end) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    (end >= start).then_some((start, end))
}

/// A digest the upload path can verify: uploads are hashed with SHA-256 as they stream.
fn uploadable_digest(raw: &str) -> Result<Digest, RegistryError> {
    let digest = parse_digest(raw)?;
    if digest.algorithm() != Algorithm::Sha256 {
        return Err(RegistryError::digest_invalid("blob uploads support sha256 digests only"));
    }
    Ok(digest)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("0-9"), Some((0, 9)));
        assert_eq!(parse_content_range("bytes 10-19/*"), Some((10, 19)));
        assert_eq!(parse_content_range("bytes=10-19"), Some((10, 19)));
        assert_eq!(parse_content_range("9-0"), None);
        assert_eq!(parse_content_range("x-1"), None);
        assert_eq!(parse_content_range(""), None);
    }
}
