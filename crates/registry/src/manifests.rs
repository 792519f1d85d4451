//! Manifests: push (validated against the repository's content), pull by tag or digest, delete.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_content::{Check, Removal, Storing, peer};
use berth_meta::{ManifestRow, ProjectKey};
use berth_oci::manifest::MAX_MANIFEST_SIZE;
use berth_oci::{Reference, RepoName};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::call::Call;
use crate::error::RegistryError;
use crate::state::RegistryState;

pub(crate) async fn put(
    state: &RegistryState,
    call: &Call,
    name: &RepoName,
    reference: &str,
    body: Body,
) -> Result<Response, RegistryError> {
    crate::proxy::refuse_changes(state, name).await?;
    let reference = Reference::parse(reference).map_err(|e| match e {
        berth_oci::ReferenceError::BadDigest(d) => RegistryError::digest_invalid(d.to_string()),
        e => RegistryError::manifest_invalid(format!("invalid tag: {e}")),
    })?;
    let bytes = read_manifest_body(body).await?;
    let how = Storing { check: Check::References, stamp: call.change_time() };
    let content_type = call.header("content-type");
    let stored = state.content.store_manifest(name, &reference, &bytes, content_type, how, &call.actor).await?;
    let digest = stored.digest.to_string();
    let mut response = (
        StatusCode::CREATED,
        [
            ("location", state.location(&format!("/v2/{name}/manifests/{digest}"))),
            ("docker-content-digest", digest),
            ("content-length", "0".to_owned()),
        ],
    )
        .into_response();
    if let Some(subject) = stored.subject {
        response.headers_mut().insert("oci-subject", subject.parse().expect("digest is a header value"));
    }
    if !stored.tagged {
        // A replicated tag write older than this registry's last change of the tag: the
        // manifest is stored, the tag left as it is.
        response.headers_mut().insert(peer::SUPERSEDED_HEADER, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Past this many bytes an oversize manifest's body is no longer drained: the connection is
/// dropped instead of read to the end.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// Reads a manifest body of at most [`MAX_MANIFEST_SIZE`] bytes. An oversize body is drained (up
/// to [`DRAIN_LIMIT`]) before answering 413, so the client, still sending, reads the error
/// instead of a reset connection.
async fn read_manifest_body(body: Body) -> Result<Bytes, RegistryError> {
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| RegistryError::manifest_invalid(format!("reading manifest: {e}")))?;
        seen += chunk.len();
        if seen > DRAIN_LIMIT {
            break;
        }
        if seen <= MAX_MANIFEST_SIZE {
            buf.extend_from_slice(&chunk);
        }
    }
    if seen > MAX_MANIFEST_SIZE {
        return Err(berth_content::ContentError::ManifestTooLarge.into());
    }
    Ok(buf.freeze())
}

/// What a manifest pull found before its access check: the reference, the project's access key
/// (`None`: no such project) and the manifest, if the project has it.
pub(crate) struct Found {
    reference: Reference,
    project: Option<ProjectKey>,
    manifest: Option<ManifestRow>,
}

impl Found {
    pub(crate) fn project(&self) -> Option<&ProjectKey> {
        self.project.as_ref()
    }
}

/// Looks manifest `reference` of `name` up with its project's access key, in one query.
pub(crate) async fn look_up(state: &RegistryState, name: &RepoName, reference: &str) -> Result<Found, RegistryError> {
    let reference = lookup_reference(reference)?;
    let (project, manifest) = match state.content.pull_manifest(name, &reference).await? {
        Some((project, manifest)) => (Some(project), manifest),
        None => (None, None),
    };
    Ok(Found { reference, project, manifest })
}

/// Answers a pull of what [`look_up`] found, once access was granted; records the pull.
pub(crate) async fn get(
    state: &RegistryState,
    call: &Call,
    name: &RepoName,
    found: Found,
    with_body: bool,
) -> Result<Response, RegistryError> {
    let Found { reference, mut manifest, .. } = found;
    // A proxy-cache project checks tags upstream every time, digests only when not cached.
    if (manifest.is_none() || matches!(reference, Reference::Tag(_)))
        && let Some(registry_id) = crate::proxy::registry_of(state, name).await?
    {
        manifest = crate::proxy::manifest(state, call, registry_id, name, &reference, manifest).await?;
        if manifest.is_none() {
            return Err(RegistryError::manifest_unknown(&reference.to_string()));
        }
    }
    let Some(row) = manifest else {
        // Only a miss pays for telling an unknown repository from an unknown manifest.
        return Err(match state.content.meta().repository_id(name.as_str()).await? {
            None => RegistryError::name_unknown(name.as_str()),
            Some(_) => RegistryError::manifest_unknown(&reference.to_string()),
        });
    };
    if with_body {
        let tag = match &reference {
            Reference::Tag(t) => Some(t.as_str()),
            Reference::Digest(_) => None,
        };
        let digest = row.digest.parse().map_err(RegistryError::internal)?;
        let resource = format!("{name}:{reference}");
        let about = berth_content::About::Artifact { resource: &resource, digest: &digest, tag };
        state.pulls.record_pull(call.actor.event(name, "pull", about), row.repository_id).await;
    }
    let length = row.content.len();
    let mut response = if with_body { Response::new(Body::from(row.content)) } else { Response::new(Body::empty()) };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, row.media_type.parse().map_err(RegistryError::internal)?);
    h.insert(header::CONTENT_LENGTH, length.into());
    h.insert("docker-content-digest", row.digest.parse().map_err(RegistryError::internal)?);
    h.insert(header::ETAG, format!("\"{}\"", row.digest).parse().map_err(RegistryError::internal)?);
    Ok(response)
}

pub(crate) async fn delete(
    state: &RegistryState,
    call: &Call,
    name: &RepoName,
    reference: &str,
) -> Result<Response, RegistryError> {
    crate::proxy::refuse_changes(state, name).await?;
    let parsed = lookup_reference(reference)?;
    match state.content.delete_manifest(name, &parsed, &call.actor, call.change_time()).await? {
        Removal::Removed => Ok(StatusCode::ACCEPTED.into_response()),
        Removal::Absent => Err(RegistryError::manifest_unknown(reference)),
        Removal::NoRepository => Err(RegistryError::name_unknown(name.as_str())),
    }
}

/// A reference to look up: a malformed digest is a bad request; a malformed tag simply names
/// nothing.
fn lookup_reference(reference: &str) -> Result<Reference, RegistryError> {
    Reference::parse(reference).map_err(|e| match e {
        berth_oci::ReferenceError::BadDigest(d) => RegistryError::digest_invalid(d.to_string()),
        _ => RegistryError::manifest_unknown(reference),
    })
}
