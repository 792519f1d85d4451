//! Blobs: looked up and read within a repository, linked in from elsewhere, written whole by
//! Berth itself, unlinked.

use berth_meta::MetaError;
use berth_oci::{Digest, RepoName};
use berth_storage::{BlobStream, UploadId};
use bytes::Bytes;
use futures_util::Stream;

use crate::manifests::Removal;
use crate::{About, Actor, Content, ContentError};

impl Content {
    /// The size of blob `digest` if repository `name` holds it. A blob of another repository is
    /// not visible here, so a digest never reveals another project's content.
    pub async fn blob_size(&self, name: &str, digest: &str) -> Result<Option<u64>, ContentError> {
        Ok(self.meta.repository_blob(name, digest).await?.map(|s| s as u64))
    }

    /// As [`Content::blob_size`], for a client checking whether it must upload the blob: the blob
    /// counts as used now, so garbage collection leaves it alone until the manifest that
    /// references it is pushed (within the collection's time window).
    pub async fn check_blob(&self, name: &str, digest: &str) -> Result<Option<u64>, ContentError> {
        self.meta.touch_blob(name, digest).await?;
        self.blob_size(name, digest).await
    }

    /// Streams `len` bytes of blob `digest` from `offset`. Only for a blob a repository the caller
    /// may read holds ([`Content::blob_size`]).
    pub async fn read_blob(&self, digest: &Digest, offset: u64, len: u64) -> Result<BlobStream, ContentError> {
        Ok(self.store.read_blob(digest, offset, len).await?)
    }

    /// Links blob `digest` into repository `name` if this registry holds it in any repository;
    /// `false` if it holds it nowhere. For Berth's own copies (replication, the proxy cache once
    /// the upstream confirmed it has the blob), never for a client's request.
    pub async fn mount_blob(&self, name: &RepoName, digest: &str) -> Result<bool, ContentError> {
        let Some(size) = self.meta.blob_size(digest).await? else {
            return Ok(false);
        };
        let repo = self.meta.ensure_repository(name.as_str()).await?;
        linked(self.meta.link_blob(repo, digest, size).await)
    }

    /// Links blob `digest` of repository `from` into `name` (a client's cross-repository mount,
    /// once it was allowed to read `from`); `false` if `from` does not hold it.
    pub async fn mount_blob_from(
        &self,
        name: &RepoName,
        from: &RepoName,
        digest: &Digest,
    ) -> Result<bool, ContentError> {
        let digest = digest.to_string();
        let Some(size) = self.meta.repository_blob(from.as_str(), &digest).await? else {
            return Ok(false);
        };
        let repo = self.meta.ensure_repository(name.as_str()).await?;
        linked(self.meta.link_blob(repo, &digest, size).await)
    }

    /// Stores `body` as blob `digest` of repository `name`, verifying the digest on the way;
    /// returns its size. Nothing is kept if the bytes are not the blob.
    pub async fn write_blob<S, E>(&self, name: &RepoName, digest: &Digest, body: S) -> Result<u64, ContentError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        crate::uploads::uploadable(digest)?;
        let repo = self.meta.ensure_repository(name.as_str()).await?;
        // A one-request upload: its data exists only while this call runs.
        let id = UploadId::new();
        let progress = self.store.create_upload(&id).await?;
        let appended = match self.store.append(&id, progress, body).await {
            Ok(a) => a,
            Err(e) => {
                self.store.delete_upload(&id).await?;
                return Err(e.into());
            }
        };
        self.before_commit(name, digest).await?;
        let size = self.store.commit(&id, appended.progress, digest).await?;
        self.meta.link_blob(repo, &digest.to_string(), size as i64).await?;
        self.after_commit(digest).await?;
        Ok(size)
    }

    /// Unlinks blob `digest` from repository `name`, as `actor`. Its bytes stay in storage, where
    /// other repositories may link them.
    pub async fn unlink_blob(&self, name: &RepoName, digest: &Digest, actor: &Actor) -> Result<Removal, ContentError> {
        let Some(repo) = self.meta.repository_id(name.as_str()).await? else {
            return Ok(Removal::NoRepository);
        };
        let event = actor.event(name, "delete", About::Blob(digest));
        Ok(if self.meta.unlink_blob(repo, &digest.to_string(), &event).await? {
            Removal::Removed
        } else {
            Removal::Absent
        })
    }
}

/// Whether a mount linked the blob: one garbage collection is deleting is not there to mount
/// (the client uploads it instead).
fn linked(done: Result<(), MetaError>) -> Result<bool, ContentError> {
    match done {
        Ok(()) => Ok(true),
        Err(MetaError::BlobCollected(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
