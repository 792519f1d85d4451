//! Manifests: read (verified against their digest), looked up without their bytes, stored and
//! deleted, by tag or digest.

use berth_oci::media_type::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use berth_oci::{Digest, Reference};
use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, Response, StatusCode};

use crate::error::invalid;
use crate::http::{content_length, extra_headers, header_str, ok};
use crate::names::{parse_reference, pull_scope, push_scope, reference_str, repo_name};
use crate::{Descriptor, Manifest, Remote, RemoteError};

/// Media types asked for when reading manifests: images and indexes, OCI and Docker schema2.
/// Schema1 is left out: Berth does not store it, and listing it would invite a registry to
/// serve a converted schema1 manifest instead of a 404.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

impl Remote {
    /// The manifest `reference` (tag or digest) points to, or `None` if there is none. Its bytes
    /// are checked against the digest asked for, else against the one the registry announces.
    pub async fn manifest(&self, repo: &str, reference: &str) -> Result<Option<Manifest>, RemoteError> {
        let repo = repo_name(repo)?;
        let reference = parse_reference(reference)?;
        let url = self.endpoint(&format!("/v2/{repo}/manifests/{}", reference_str(&reference)))?;
        let scopes = [pull_scope(&repo)];
        let resp = self
            .send(&scopes, || self.request(Method::GET, url.clone()).header(header::ACCEPT, MANIFEST_ACCEPT))
            .await?;
        let resp = self.follow(resp, &scopes, Method::GET, HeaderMap::new()).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = ok(resp).await?;
        let announced = header_str(&resp, DOCKER_CONTENT_DIGEST).map(str::to_owned);
        let content_type = header_str(&resp, header::CONTENT_TYPE.as_str()).map(str::to_owned);
        let bytes = read_manifest(resp).await?;
        let digest = match (&reference, announced) {
            (Reference::Digest(d), _) => d.clone(),
            (Reference::Tag(_), Some(d)) => {
                d.parse::<Digest>().map_err(|e| invalid(format!("registry sent digest {d:?}: {e}")))?
            }
            (Reference::Tag(_), None) => Digest::sha256_of(&bytes),
        };
        if !digest.matches(&bytes) {
            return Err(invalid(format!(
                "manifest {repo}:{} does not match digest {digest}",
                reference_str(&reference)
            )));
        }
        let media_type = manifest_media_type(content_type.as_deref(), &bytes)?;
        Ok(Some(Manifest { digest: digest.to_string(), media_type, bytes }))
    }

    /// The descriptor of the manifest `reference` points to, or `None`, without its bytes (unless
    /// the registry does not announce the digest: then the manifest is read to compute it).
    pub async fn head_manifest(&self, repo: &str, reference: &str) -> Result<Option<Descriptor>, RemoteError> {
        let name = repo_name(repo)?;
        let parsed = parse_reference(reference)?;
        let url = self.endpoint(&format!("/v2/{name}/manifests/{}", reference_str(&parsed)))?;
        let scopes = [pull_scope(&name)];
        let resp = self
            .send(&scopes, || self.request(Method::HEAD, url.clone()).header(header::ACCEPT, MANIFEST_ACCEPT))
            .await?;
        let resp = self.follow(resp, &scopes, Method::HEAD, HeaderMap::new()).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = ok(resp).await?;
        let digest = match &parsed {
            Reference::Digest(d) => Some(d.to_string()),
            Reference::Tag(_) => {
                header_str(&resp, DOCKER_CONTENT_DIGEST).filter(|d| d.parse::<Digest>().is_ok()).map(str::to_owned)
            }
        };
        let size = content_length(&resp);
        let media_type = header_str(&resp, header::CONTENT_TYPE.as_str())
            .map(berth_oci::manifest::bare_media_type)
            .filter(|m| is_manifest_media_type(m))
            .map(str::to_owned);
        match (digest, size, media_type) {
            (Some(digest), Some(size), Some(media_type)) => Ok(Some(Descriptor { digest, media_type, size })),
            _ => Ok(self.manifest(repo, reference).await?.map(|m| Descriptor {
                digest: m.digest,
                media_type: m.media_type,
                size: m.bytes.len() as u64,
            })),
        }
    }

    /// Stores a manifest under `reference` (a tag, or its digest).
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<(), RemoteError> {
        self.put_manifest_with(repo, reference, media_type, bytes, &[]).await
    }

    /// [`Remote::put_manifest`] with `extra` headers on this request only (a replicating Berth
    /// says when the change it copies was made).
    pub async fn put_manifest_with(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
        extra: &[(&str, String)],
    ) -> Result<(), RemoteError> {
        let repo = repo_name(repo)?;
        let reference = parse_reference(reference)?;
        let content_type =
            HeaderValue::from_str(media_type).map_err(|_| invalid(format!("bad media type {media_type:?}")))?;
        let extra = extra_headers(extra)?;
        let url = self.endpoint(&format!("/v2/{repo}/manifests/{}", reference_str(&reference)))?;
        let resp = self
            .send(&[push_scope(&repo)], || {
                self.request(Method::PUT, url.clone())
                    .headers(extra.clone())
                    .header(header::CONTENT_TYPE, content_type.clone())
                    .body(bytes.clone())
            })
            .await?;
        ok(resp).await.map(drop)
    }

    /// Deletes the manifest `reference` points to; `false` if there was none.
    pub async fn delete_manifest(&self, repo: &str, reference: &str) -> Result<bool, RemoteError> {
        self.delete_manifest_with(repo, reference, &[]).await
    }

    /// [`Remote::delete_manifest`] with `extra` headers on this request only.
    pub async fn delete_manifest_with(
        &self,
        repo: &str,
        reference: &str,
        extra: &[(&str, String)],
    ) -> Result<bool, RemoteError> {
        let repo = repo_name(repo)?;
        let reference = parse_reference(reference)?;
        let extra = extra_headers(extra)?;
        let url = self.endpoint(&format!("/v2/{repo}/manifests/{}", reference_str(&reference)))?;
        let delete = |scope: String| {
            let (url, extra) = (url.clone(), extra.clone());
            async move { self.send(&[scope], || self.request(Method::DELETE, url.clone()).headers(extra.clone())).await }
        };
        // Berth and Harbor grant deletes as the `delete` action; token services that predate it
        // (distribution's own examples) know only `*`.
        let mut resp = delete(format!("repository:{repo}:delete")).await?;
        if matches!(resp.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) && self.uses_tokens() {
            resp = delete(format!("repository:{repo}:*")).await?;
        }
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        ok(resp).await.map(|_| true)
    }
}

fn is_manifest_media_type(m: &str) -> bool {
    matches!(m, OCI_MANIFEST | OCI_INDEX | DOCKER_MANIFEST | DOCKER_MANIFEST_LIST)
}

/// The manifest's media type: the Content-Type, unless it is a generic one (some registries
/// serve `application/json`), then the `mediaType` the manifest declares.
fn manifest_media_type(content_type: Option<&str>, bytes: &[u8]) -> Result<String, RemoteError> {
    let header = content_type.map(berth_oci::manifest::bare_media_type).unwrap_or("");
    if !header.is_empty() && header != "application/json" && header != "text/plain" {
        return Ok(header.to_owned());
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Declared {
        media_type: Option<String>,
    }
    serde_json::from_slice::<Declared>(bytes)
        .ok()
        .and_then(|d| d.media_type)
        .ok_or_else(|| invalid("manifest has no media type"))
}

/// Reads a manifest body, refusing more than a manifest may be.
async fn read_manifest(mut resp: Response) -> Result<Bytes, RemoteError> {
    let max = berth_oci::manifest::MAX_MANIFEST_SIZE;
    if content_length(&resp).is_some_and(|n| n > max as u64) {
        return Err(invalid(format!("manifest larger than {max} bytes")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > max {
            return Err(invalid(format!("manifest larger than {max} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_from_header_or_body() {
        assert_eq!(
            manifest_media_type(Some("application/vnd.oci.image.index.v1+json; charset=utf-8"), b"").unwrap(),
            OCI_INDEX
        );
        let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#;
        assert_eq!(manifest_media_type(Some("application/json"), body).unwrap(), DOCKER_MANIFEST);
        assert!(manifest_media_type(None, b"{}").is_err());
    }
}
