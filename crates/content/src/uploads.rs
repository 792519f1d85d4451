//! Upload sessions: started, appended to chunk by chunk (possibly on different instances, one
//! request at a time through the session's lease), committed as a blob once the digest checks
//! out, or cancelled. The session's length and hash state live in the metadata, its bytes in the
//! blob store, so a session survives a restart of the server.

use berth_meta::{UploadAdvance, UploadRow};
use berth_oci::digest::Algorithm;
use berth_oci::{Digest, RepoName};
use berth_storage::{Appended, HashState, StorageError, UploadId, UploadProgress};
use bytes::Bytes;
use futures_util::Stream;

use crate::upload_lease::UploadLease;
use crate::{Content, ContentError};

/// What a client declared of the chunk it sends (`Content-Range`): where it starts and how many
/// bytes it has. Without a declaration a chunk is appended wherever the session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    pub start: u64,
    pub length: u64,
}

/// Whether an append ends the request's turn on the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turn {
    /// A `PATCH`: the lease ends in the statement that records the bytes.
    Ends,
    /// The last chunk of a commit: the lease stays held until the blob is committed.
    Continues,
}

/// How long a commit waits for garbage collection to finish deleting an earlier copy of its blob.
const COLLECTION_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// Checks that uploads can verify `digest`: they are hashed with SHA-256 as they stream.
pub(crate) fn uploadable(digest: &Digest) -> Result<(), ContentError> {
    match digest.algorithm() {
        Algorithm::Sha256 => Ok(()),
        _ => Err(ContentError::DigestInvalid("blob uploads support sha256 digests only".into())),
    }
}

impl Content {
    /// A new, empty upload session for repository `name`.
    pub async fn start_upload(&self, name: &RepoName) -> Result<UploadId, ContentError> {
        let repo = self.meta.ensure_repository(name.as_str()).await?;
        let id = UploadId::new();
        let progress = self.store.create_upload(&id).await?;
        self.meta.create_upload(id.as_str(), repo, &progress.hash.to_bytes(), &progress.backend).await?;
        Ok(id)
    }

    /// How many bytes session `id` of `name` holds.
    pub async fn upload_length(&self, name: &RepoName, id: &UploadId) -> Result<u64, ContentError> {
        Ok(self.upload(name, id).await?.length as u64)
    }

    /// Appends `body` to session `id` of `name` (where `declared` says, if it does); returns the
    /// session's new length.
    pub async fn append_upload<S, E>(
        &self,
        name: &RepoName,
        id: &UploadId,
        declared: Option<Chunk>,
        body: S,
    ) -> Result<u64, ContentError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let lease = UploadLease::acquire(&self.meta, id.as_str()).await?;
        let upload = self.upload(name, id).await?;
        let appended = self.append(id, &upload, declared, body, &lease, Turn::Ends).await?;
        lease.released();
        Ok(appended.progress.length)
    }

    /// Appends the `last` chunk, if there is one, to session `id` of `name`, checks that the
    /// session's bytes are blob `digest` and commits them as that blob of the repository. A
    /// session whose bytes are another blob is over.
    pub async fn finish_upload<S, E>(
        &self,
        name: &RepoName,
        id: &UploadId,
        digest: &Digest,
        last: Option<(Option<Chunk>, S)>,
    ) -> Result<(), ContentError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        uploadable(digest)?;
        let lease = UploadLease::acquire(&self.meta, id.as_str()).await?;
        let upload = self.upload(name, id).await?;
        // Either way the session's length and hash state are then known without reading them back.
        let progress = match last {
            // The lease stays held until the commit below: no other request may append meanwhile.
            Some((declared, body)) => self.append(id, &upload, declared, body, &lease, Turn::Continues).await?.progress,
            None => progress_of(&upload)?,
        };
        self.before_commit(name, digest).await?;
        match self.store.commit(id, progress, digest).await {
            Ok(size) => {
                self.meta.finish_upload(id.as_str(), upload.repository_id, &digest.to_string(), size as i64).await?;
                self.after_commit(digest).await
            }
            Err(e) => {
                if matches!(e, StorageError::DigestMismatch { .. }) {
                    self.meta.delete_upload(id.as_str()).await?;
                }
                Err(e.into())
            }
        }
    }

    /// Before an upload's bytes become blob `digest`: waits while garbage collection finishes
    /// deleting an earlier copy (its bytes then go before its row, so the commit below writes
    /// them anew instead of keeping bytes about to vanish), and marks a live copy used now, so a
    /// collection that began earlier leaves it alone while the commit keeps it as the blob.
    pub(crate) async fn before_commit(&self, name: &RepoName, digest: &Digest) -> Result<(), ContentError> {
        let digest = digest.to_string();
        let deadline = tokio::time::Instant::now() + COLLECTION_PATIENCE;
        while self.meta.blob_deleting(&digest).await? {
            if tokio::time::Instant::now() > deadline {
                return Err(ContentError::UploadInvalid(format!(
                    "blob {digest} is still being garbage-collected; upload it again later"
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        self.meta.touch_blob(name.as_str(), &digest).await?;
        Ok(())
    }

    /// After the blob's row was written: its bytes must be there. Only a collection that deleted
    /// an earlier copy's bytes just as this commit kept or renamed them (with a time window of 0,
    /// see docs/architecture.md) leaves a row without bytes; the client is told to upload again,
    /// and that upload writes the bytes back.
    pub(crate) async fn after_commit(&self, digest: &Digest) -> Result<(), ContentError> {
        if self.store.blob_exists(digest).await? {
            return Ok(());
        }
        Err(ContentError::UploadInvalid(format!(
            "blob {digest} was garbage-collected while it was committed; upload it again"
        )))
    }

    /// Cancels session `id` of `name` and frees its bytes.
    pub async fn cancel_upload(&self, name: &RepoName, id: &UploadId) -> Result<(), ContentError> {
        let _lease = UploadLease::acquire(&self.meta, id.as_str()).await?;
        self.upload(name, id).await?;
        self.meta.delete_upload(id.as_str()).await?;
        self.store.delete_upload(id).await?;
        Ok(())
    }

    /// Session `id`, which must belong to repository `name`.
    async fn upload(&self, name: &RepoName, id: &UploadId) -> Result<UploadRow, ContentError> {
        let upload = self.meta.upload(id.as_str()).await?.ok_or(ContentError::UploadUnknown)?;
        let repo = self.meta.repository_id(name.as_str()).await?;
        if repo != Some(upload.repository_id) {
            return Err(ContentError::UploadUnknown);
        }
        Ok(upload)
    }

    /// Appends a chunk to the session, checking what was `declared` of it, and records the new
    /// length with the hash state after it; only while `lease` holds.
    async fn append<S, E>(
        &self,
        id: &UploadId,
        upload: &UploadRow,
        declared: Option<Chunk>,
        body: S,
        lease: &UploadLease,
        turn: Turn,
    ) -> Result<Appended, ContentError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let length = upload.length as u64;
        if declared.is_some_and(|chunk| chunk.start != length) {
            return Err(ContentError::UploadOutOfOrder { length });
        }
        let appended = self.store.append(id, progress_of(upload)?, lease.fence(body)).await?;
        if let Some(chunk) = declared
            && chunk.length != appended.received
        {
            return Err(ContentError::UploadInvalid(format!(
                "Content-Range announced {} bytes but {} arrived",
                chunk.length, appended.received
            )));
        }
        let new = &appended.progress;
        let advance = UploadAdvance {
            from: upload.length,
            to: new.length as i64,
            hash_state: &new.hash.to_bytes(),
            store_state: &new.backend,
            owner: lease.owner(),
            release: turn == Turn::Ends,
        };
        if !self.meta.advance_upload(id.as_str(), &advance).await? {
            return Err(ContentError::UploadOutOfOrder { length });
        }
        Ok(appended)
    }
}

/// Where the session stands, as the blob store needs it to continue.
fn progress_of(upload: &UploadRow) -> Result<UploadProgress, ContentError> {
    let hash = HashState::from_bytes(&upload.hash_state)
        .ok_or_else(|| ContentError::Meta(berth_meta::MetaError::Corrupt("unreadable upload hash state".into())))?;
    Ok(UploadProgress { length: upload.length as u64, hash, backend: upload.store_state.clone() })
}
