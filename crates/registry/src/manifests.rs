//! Manifests: push (validated against the repository's content), pull by tag or digest, delete.

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_meta::{ManifestRef, MetaError, NewManifest, Required};
use berth_oci::manifest::{self, MAX_MANIFEST_SIZE, ManifestError};
use berth_oci::{Digest, Reference, RepoName};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::access::{Action, Scope, project_of};
use crate::audit::{Actor, SUPERSEDED_HEADER, actor, event, event_by, replication_stamp};
use crate::error::RegistryError;
use crate::headers::header_str;
use crate::state::RegistryState;

fn too_large() -> RegistryError {
    RegistryError::size_invalid(StatusCode::PAYLOAD_TOO_LARGE, format!("manifest exceeds {MAX_MANIFEST_SIZE} bytes"))
}

pub(crate) async fn put(
    state: &RegistryState,
    req: &Parts,
    name: &RepoName,
    reference: &str,
    body: Body,
) -> Result<Response, RegistryError> {
    let operator = state.access.authorize(req, Scope::Repository(name, Action::Push)).await?;
    crate::proxy::refuse_changes(state, name).await?;
    let reference = Reference::parse(reference).map_err(|e| match e {
        berth_oci::ReferenceError::BadDigest(d) => RegistryError::digest_invalid(d.to_string()),
        e => RegistryError::manifest_invalid(format!("invalid tag: {e}")),
    })?;
    let bytes = read_manifest_body(body).await?;
    let content_type = header_str(&req.headers, "content-type");
    let how = Storing { check: Check::References, stamp: replication_stamp(req) };
    let stored = store(&state.meta, name, &reference, &bytes, content_type, how, actor(req, operator)).await?;
    let digest_str = stored.digest.to_string();
    let mut response = (
        StatusCode::CREATED,
        [
            ("location", state.location(&format!("/v2/{name}/manifests/{digest_str}"))),
            ("docker-content-digest", digest_str),
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
        response.headers_mut().insert(SUPERSEDED_HEADER, axum::http::HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// A manifest as stored: its digest, and the digest of its subject if it has one.
pub(crate) struct Stored {
    pub digest: Digest,
    pub subject: Option<String>,
    /// Whether the tag (if one was given) now points at the manifest.
    pub tagged: bool,
}

/// How a manifest is stored.
pub(crate) struct Storing {
    pub check: Check,
    /// For a tag written by a replicating Berth: when the change was made where it came from. It
    /// is applied only if newer than this registry's last change of the tag.
    pub stamp: Option<i64>,
}

/// What storing a manifest checks of the content it references.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Every blob and child manifest must be in the repository, with the declared size.
    References,
    /// Nothing: a proxy-cache project stores a manifest before its blobs and children, which are
    /// fetched from upstream when clients ask for them.
    Nothing,
}

/// Validates manifest `bytes` pushed as `reference` to `name` and stores it with its event, made
/// by `actor`, if everything it references is in the repository (unless
/// `check` is `Nothing`). Pushes over HTTP and content written by Berth itself (replication,
/// proxy cache) all come through here.
pub(crate) async fn store(
    meta: &berth_meta::Meta,
    name: &RepoName,
    reference: &Reference,
    bytes: &[u8],
    content_type: Option<&str>,
    how: Storing,
    actor: Actor,
) -> Result<Stored, RegistryError> {
    let parsed = manifest::parse(bytes, content_type).map_err(|e| match e {
        ManifestError::TooLarge => too_large(),
        e => RegistryError::manifest_invalid(e.to_string()),
    })?;
    // Stored under the digest it was pushed by (sha256 or sha512), else under its sha256: the
    // bytes are hashed once on the way in (and again only to explain a mismatch).
    let (digest, tag) = match reference {
        Reference::Digest(expected) => {
            if !expected.matches(bytes) {
                let actual = Digest::sha256_of(bytes);
                return Err(RegistryError::digest_invalid(format!("manifest digest is {actual}, not {expected}")));
            }
            (expected.clone(), None)
        }
        Reference::Tag(tag) => (Digest::sha256_of(bytes), Some(tag.as_str())),
    };

    let digest_str = digest.to_string();
    let blob_digests: Vec<String> = parsed.blobs.iter().map(|d| d.digest.to_string()).collect();
    let child_digests: Vec<String> = parsed.children.iter().map(|d| d.digest.to_string()).collect();
    let required = match how.check {
        Check::References => Required {
            blobs: blob_digests.iter().zip(&parsed.blobs).map(|(d, desc)| (d.as_str(), desc.size as i64)).collect(),
            manifests: child_digests
                .iter()
                .zip(&parsed.children)
                .map(|(d, desc)| (d.as_str(), desc.size as i64))
                .collect(),
        },
        Check::Nothing => Required { blobs: Vec::new(), manifests: Vec::new() },
    };
    let subject = parsed.subject.as_ref().map(|s| s.digest.to_string());
    let annotations = parsed.annotations.as_ref().map(|a| serde_json::Value::Object(a.clone()).to_string());
    let new = NewManifest {
        digest: &digest_str,
        media_type: &parsed.media_type,
        artifact_type: parsed.artifact_type.as_deref(),
        subject: subject.as_deref(),
        annotations: annotations.as_deref(),
        content: bytes,
        total_size: bytes.len() as i64 + parsed.blobs.iter().map(|b| b.size as i64).sum::<i64>(),
    };
    let resource = match tag {
        Some(t) => format!("{name}:{t}"),
        None => format!("{name}@{digest}"),
    };
    let event = event_by(actor, name, (resource, "artifact", "create"), Some(&digest), tag);
    let repo = meta.ensure_repository(name.as_str()).await?;
    let tagged = meta.put_manifest(repo, &new, &required, tag, how.stamp, &event).await.map_err(|e| match e {
        MetaError::MissingBlob(d) | MetaError::MissingManifest(d) => RegistryError::manifest_blob_unknown(&d),
        MetaError::SizeMismatch { .. } => RegistryError::manifest_invalid(e.to_string()),
        MetaError::QuotaExceeded { .. } => RegistryError::quota_exceeded(&e),
        e => e.into(),
    })?;
    Ok(Stored { digest, subject, tagged })
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
        return Err(too_large());
    }
    Ok(buf.freeze())
}

/// How the metadata names the manifest `reference` names.
pub(crate) fn manifest_ref(reference: &Reference) -> ManifestRef<'_> {
    match reference {
        Reference::Digest(d) => ManifestRef::Digest(d.to_string()),
        Reference::Tag(t) => ManifestRef::Tag(t.as_str()),
    }
}

pub(crate) async fn get(
    state: &RegistryState,
    req: &Parts,
    name: &RepoName,
    reference: &str,
    with_body: bool,
) -> Result<Response, RegistryError> {
    let parsed = lookup_reference(reference)?;
    // The project and the manifest come in one query, before the access decision that needs the
    // project; nothing of the manifest is used unless access is granted.
    let (project, mut found) =
        match state.meta.pull_manifest(project_of(name), name.as_str(), manifest_ref(&parsed)).await? {
            Some((project, found)) => (Some(project), found),
            None => (None, None),
        };
    let scope = Scope::Repository(name, Action::Pull);
    let operator = state.access.authorize_with(req, scope, project.as_ref()).await?;
    // A proxy-cache project checks tags upstream every time, digests only when not cached.
    if (found.is_none() || matches!(parsed, Reference::Tag(_)))
        && let Some(registry_id) = crate::proxy::registry_of(state, name).await?
    {
        found = crate::proxy::manifest(state, req, &operator, registry_id, name, &parsed, found).await?;
        if found.is_none() {
            return Err(RegistryError::manifest_unknown(reference));
        }
    }
    let Some(row) = found else {
        // Only a miss pays for telling an unknown repository from an unknown manifest.
        return Err(match state.meta.repository_id(name.as_str()).await? {
            None => RegistryError::name_unknown(name.as_str()),
            Some(_) => RegistryError::manifest_unknown(reference),
        });
    };
    let repo = row.repository_id;
    if with_body {
        let tag = match &parsed {
            Reference::Tag(t) => Some(t.as_str()),
            Reference::Digest(_) => None,
        };
        let digest = row.digest.parse().map_err(RegistryError::internal)?;
        let resource = format!("{name}:{reference}");
        state
            .recorder
            .record_pull(event(req, name, operator, (resource, "artifact", "pull"), Some(&digest), tag), repo)
            .await;
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
    req: &Parts,
    name: &RepoName,
    reference: &str,
) -> Result<Response, RegistryError> {
    let operator = state.access.authorize(req, Scope::Repository(name, Action::Delete)).await?;
    crate::proxy::refuse_changes(state, name).await?;
    let parsed = lookup_reference(reference)?;
    let repo =
        state.meta.repository_id(name.as_str()).await?.ok_or_else(|| RegistryError::name_unknown(name.as_str()))?;
    let deleted = match &parsed {
        Reference::Digest(d) => {
            let e = event(req, name, operator, (format!("{name}@{d}"), "artifact", "delete"), Some(d), None);
            state.meta.delete_manifest(repo, &d.to_string(), &e).await?
        }
        Reference::Tag(t) => {
            let e = event(req, name, operator, (format!("{name}:{t}"), "tag", "delete"), None, Some(t.as_str()));
            state.meta.delete_tag(repo, t.as_str(), replication_stamp(req), &e).await?
        }
    };
    if !deleted {
        return Err(RegistryError::manifest_unknown(reference));
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

/// A reference to look up: a malformed digest is a bad request; a malformed tag simply names
/// nothing.
fn lookup_reference(reference: &str) -> Result<Reference, RegistryError> {
    Reference::parse(reference).map_err(|e| match e {
        berth_oci::ReferenceError::BadDigest(d) => RegistryError::digest_invalid(d.to_string()),
        _ => RegistryError::manifest_unknown(reference),
    })
}
