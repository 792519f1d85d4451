//! This registry's content as Berth itself reads and writes it, without HTTP: replication copies
//! from and to it, the proxy cache fills it. Writes take the same path as a client's push (the
//! same validation, quota and events), recorded as done by an [`Actor`].

use berth_meta::{Meta, Referrer};
use berth_oci::{Digest, Reference, RepoName};
use berth_storage::{BlobStore, BlobStream, UploadId};
use bytes::Bytes;
use futures_util::Stream;

use crate::audit::{Actor, event_by};
use crate::error::RegistryError;
use crate::manifests;

/// A manifest of this registry.
#[derive(Debug, Clone)]
pub struct LocalManifest {
    pub digest: String,
    pub media_type: String,
    pub bytes: Bytes,
}

/// This registry's content. Cheap to clone.
#[derive(Clone)]
pub struct Local {
    meta: Meta,
    store: BlobStore,
}

impl Local {
    pub fn new(meta: Meta, store: BlobStore) -> Local {
        Local { meta, store }
    }

    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Manifest `reference` (a tag or a digest) of repository `name`.
    pub async fn manifest(&self, name: &str, reference: &str) -> Result<Option<LocalManifest>, RegistryError> {
        let Ok(parsed) = Reference::parse(reference) else { return Ok(None) };
        let project = name.split('/').next().unwrap_or("");
        let row = self
            .meta
            .pull_manifest(project, name, manifests::manifest_ref(&parsed))
            .await?
            .and_then(|(_, manifest)| manifest);
        Ok(row.map(|r| LocalManifest { digest: r.digest, media_type: r.media_type, bytes: r.content.into() }))
    }

    /// Tags of repository `name`, in lexical order (none if there is no such repository).
    pub async fn tags(&self, name: &str) -> Result<Vec<String>, RegistryError> {
        let Some(repo) = self.meta.repository_id(name).await? else {
            return Ok(Vec::new());
        };
        Ok(self.meta.list_tags(repo, None, i64::MAX).await?)
    }

    /// Manifests of repository `name` whose subject is `digest` (signatures, SBOMs...).
    pub async fn referrers(&self, name: &str, digest: &str) -> Result<Vec<Referrer>, RegistryError> {
        let Some(repo) = self.meta.repository_id(name).await? else {
            return Ok(Vec::new());
        };
        Ok(self.meta.referrers(repo, digest, None).await?)
    }

    /// The size of blob `digest` if repository `name` holds it.
    pub async fn blob_size(&self, name: &str, digest: &str) -> Result<Option<u64>, RegistryError> {
        Ok(self.meta.repository_blob(name, digest).await?.map(|s| s as u64))
    }

    /// Streams blob `digest` from `offset`; its size must be known (from [`Local::blob_size`]).
    pub async fn read_blob(&self, digest: &str, offset: u64, size: u64) -> Result<BlobStream, RegistryError> {
        let digest: Digest = digest.parse().map_err(|_| RegistryError::digest_invalid(digest))?;
        Ok(self.store.read_blob(&digest, offset, size.saturating_sub(offset)).await?)
    }

    /// Links blob `digest` into repository `name` if this registry already holds it in any
    /// repository (a cross-repository mount); `false` if it holds it nowhere.
    pub async fn mount_blob(&self, name: &RepoName, digest: &str) -> Result<bool, RegistryError> {
        let Some(size) = self.meta.blob_size(digest).await? else {
            return Ok(false);
        };
        let repo = self.meta.ensure_repository(name.as_str()).await?;
        self.meta.link_blob(repo, digest, size).await?;
        Ok(true)
    }

    /// Stores `body` as blob `digest` of repository `name`, verifying the digest on the way;
    /// returns its size. Nothing is kept if the bytes are not the blob.
    pub async fn write_blob<S, E>(&self, name: &RepoName, digest: &Digest, body: S) -> Result<u64, RegistryError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let repo = self.meta.ensure_repository(name.as_str()).await?;
        // A one-request upload: its data exists only while this call runs.
        let id = UploadId::new();
        let progress = self.store.create_upload(&id).await?;
        let appended = match self.store.append(&id, progress.clone(), body).await {
            Ok(a) => a,
            Err(e) => {
                self.store.delete_upload(&id, &progress).await?;
                return Err(e.into());
            }
        };
        let size = self.store.commit(&id, appended.progress, digest).await?;
        self.meta.link_blob(repo, &digest.to_string(), size as i64).await?;
        Ok(size)
    }

    /// Stores manifest `bytes` of `media_type` as `reference` of repository `name`, as `actor`.
    pub async fn put_manifest(
        &self,
        name: &RepoName,
        reference: &Reference,
        media_type: &str,
        bytes: &[u8],
        actor: &Actor,
    ) -> Result<Digest, RegistryError> {
        self.store_manifest(name, reference, media_type, bytes, actor, manifests::Check::References).await
    }

    /// Stores a manifest fetched by the proxy cache of `name`'s project, as `actor`: like
    /// [`Local::put_manifest`], but without requiring the blobs and child manifests it references
    /// to be cached already (they are fetched when clients ask for them).
    pub async fn put_proxied_manifest(
        &self,
        name: &RepoName,
        reference: &Reference,
        media_type: &str,
        bytes: &[u8],
        actor: &Actor,
    ) -> Result<Digest, RegistryError> {
        self.store_manifest(name, reference, media_type, bytes, actor, manifests::Check::Nothing).await
    }

    async fn store_manifest(
        &self,
        name: &RepoName,
        reference: &Reference,
        media_type: &str,
        bytes: &[u8],
        actor: &Actor,
        check: manifests::Check,
    ) -> Result<Digest, RegistryError> {
        let how = manifests::Storing { check, stamp: None };
        Ok(manifests::store(&self.meta, name, reference, bytes, Some(media_type), how, actor.clone()).await?.digest)
    }

    /// Deletes manifest `reference` of `name` (a digest: the artifact and its tags; a tag: only
    /// the tag), as `actor`. `false` if there was none.
    pub async fn delete(&self, name: &RepoName, reference: &Reference, actor: &Actor) -> Result<bool, RegistryError> {
        let Some(repo) = self.meta.repository_id(name.as_str()).await? else {
            return Ok(false);
        };
        Ok(match reference {
            Reference::Digest(d) => {
                let e = event_by(actor.clone(), name, (format!("{name}@{d}"), "artifact", "delete"), Some(d), None);
                self.meta.delete_manifest(repo, &d.to_string(), &e).await?
            }
            Reference::Tag(t) => {
                let e = event_by(actor.clone(), name, (format!("{name}:{t}"), "tag", "delete"), None, Some(t.as_str()));
                self.meta.delete_tag(repo, t.as_str(), None, &e).await?
            }
        })
    }
}
