//! Blob storage on the local file system.
//!
//! Layout under the storage root:
//! - `blobs/<algorithm>/<first two hex>/<hex>`: committed, verified content, shared by all
//!   repositories (content-addressed: a second push of the same bytes stores nothing new);
//! - `uploads/<uuid>`: the bytes of an upload session in progress.
//!
//! A blob becomes visible only after its bytes are verified against the digest and made durable:
//! written to the upload file, `fsync`ed, atomically renamed into `blobs/`, and the directory
//! `fsync`ed. A crash at any point leaves either no blob or a complete one.
//!
//! The metadata store records the length and hash state of each upload session; bytes past that
//! length in an upload file are leftovers of an interrupted request and are cut off before the
//! next append. So a request that fails half-way changes nothing.

mod hash_state;
mod upload;

pub use hash_state::HashState;
pub use upload::{UploadId, UploadIdError};

use std::io;
use std::path::{Path, PathBuf};

use berth_oci::Digest;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("upload session data is missing")]
    UploadMissing,
    #[error("upload data is shorter than recorded ({actual} < {expected} bytes)")]
    UploadTruncated { expected: u64, actual: u64 },
    #[error("content digest {actual} does not match {expected}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("request body: {0}")]
    Body(String),
    #[error("storage I/O: {0}")]
    Io(#[from] io::Error),
}

/// Result of appending a request body to an upload.
#[derive(Debug)]
pub struct Appended {
    /// Bytes received in this request.
    pub received: u64,
    /// Upload length after the append.
    pub length: u64,
    pub state: HashState,
}

#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

/// Bytes queued between the request task and the writer thread: enough to keep the disk busy
/// while the network delivers more, small enough to bound memory per request.
const WRITE_QUEUE_CHUNKS: usize = 16;

impl BlobStore {
    /// Opens (creating if needed) a store rooted at `root`.
    pub async fn open(root: impl Into<PathBuf>) -> io::Result<BlobStore> {
        let root = root.into();
        tokio::fs::create_dir_all(root.join("blobs")).await?;
        tokio::fs::create_dir_all(root.join("uploads")).await?;
        Ok(BlobStore { root })
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root.join("blobs").join(digest.algorithm().as_str()).join(&hex[..2]).join(hex)
    }

    fn upload_path(&self, id: &UploadId) -> PathBuf {
        self.root.join("uploads").join(id.as_str())
    }

    /// Creates the empty data file of a new upload session.
    pub async fn create_upload(&self, id: &UploadId) -> Result<(), StorageError> {
        tokio::fs::File::create(self.upload_path(id)).await?;
        Ok(())
    }

    /// Appends `body` to upload `id`, whose recorded length is `length` and hash state `state`.
    /// Hashing runs on the request task while a blocking thread writes, so the two overlap. The
    /// data is `fsync`ed before returning: once the caller records the new length, it is durable.
    pub async fn append<S, E>(
        &self,
        id: &UploadId,
        length: u64,
        mut state: HashState,
        body: S,
    ) -> Result<Appended, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = self.upload_path(id);
        let file = match std::fs::OpenOptions::new().write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StorageError::UploadMissing);
            }
            Err(e) => return Err(e.into()),
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(WRITE_QUEUE_CHUNKS);
        let writer = tokio::task::spawn_blocking(move || -> Result<(), StorageError> {
            use std::io::{Seek, SeekFrom, Write};
            let mut file = file;
            let actual = file.metadata()?.len();
            if actual < length {
                return Err(StorageError::UploadTruncated { expected: length, actual });
            }
            // Cut off what an interrupted request left behind.
            file.set_len(length)?;
            file.seek(SeekFrom::Start(length))?;
            while let Some(chunk) = rx.blocking_recv() {
                file.write_all(&chunk)?;
            }
            file.sync_data()?;
            Ok(())
        });

        let mut received = 0u64;
        let mut body = body;
        let mut body_error = None;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => {
                    state.update(&chunk);
                    received += chunk.len() as u64;
                    if tx.send(chunk).await.is_err() {
                        break; // the writer failed; its error is reported below
                    }
                }
                Err(e) => {
                    body_error = Some(e.to_string());
                    break;
                }
            }
        }
        drop(tx);
        writer.await.map_err(|e| io::Error::other(e.to_string()))??;
        if let Some(e) = body_error {
            return Err(StorageError::Body(e));
        }
        Ok(Appended { received, length: length + received, state })
    }

    /// Verifies upload `id` (of recorded `length` and hash `state`) against `expected` and makes
    /// it the blob `expected`. Returns the blob's size. The upload file is gone afterwards,
    /// whether or not the digest matched.
    pub async fn commit(
        &self,
        id: &UploadId,
        length: u64,
        state: HashState,
        expected: &Digest,
    ) -> Result<u64, StorageError> {
        let path = self.upload_path(id);
        let actual = state.finish();
        if &actual != expected {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(StorageError::DigestMismatch { expected: expected.clone(), actual });
        }
        let file = match tokio::fs::OpenOptions::new().write(true).open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StorageError::UploadMissing);
            }
            Err(e) => return Err(e.into()),
        };
        let on_disk = file.metadata().await?.len();
        if on_disk < length {
            return Err(StorageError::UploadTruncated { expected: length, actual: on_disk });
        }
        file.set_len(length).await?;
        file.sync_all().await?;
        drop(file);

        let target = self.blob_path(expected);
        if tokio::fs::try_exists(&target).await? {
            // Same digest, same bytes: keep the copy we have.
            tokio::fs::remove_file(&path).await?;
            return Ok(length);
        }
        let dir = target.parent().expect("blob path has a parent");
        tokio::fs::create_dir_all(dir).await?;
        // rename() replaces atomically, so two uploads of one blob racing here both succeed
        // and one identical copy remains.
        tokio::fs::rename(&path, &target).await?;
        sync_dir(dir).await?;
        Ok(length)
    }

    /// Removes an upload session's data.
    pub async fn delete_upload(&self, id: &UploadId) -> Result<(), StorageError> {
        match tokio::fs::remove_file(self.upload_path(id)).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Opens a committed blob for reading.
    pub async fn open_blob(&self, digest: &Digest) -> Result<tokio::fs::File, StorageError> {
        Ok(tokio::fs::File::open(self.blob_path(digest)).await?)
    }
}

async fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
        .await
        .map_err(|e| io::Error::other(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    fn body(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, io::Error>> + Unpin {
        stream::iter(parts.iter().map(|p| Ok(Bytes::from_static(p))).collect::<Vec<_>>())
    }

    #[tokio::test]
    async fn chunked_upload_commits_verified_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).await.unwrap();
        let id = UploadId::new();
        store.create_upload(&id).await.unwrap();
        let a = store.append(&id, 0, HashState::new(), body(&[b"hello ", b"wor"])).await.unwrap();
        assert_eq!((a.received, a.length), (9, 9));
        // Resume from serialized state, as after a restart.
        let state = HashState::from_bytes(&a.state.to_bytes()).unwrap();
        let b = store.append(&id, a.length, state, body(&[b"ld"])).await.unwrap();
        let digest = Digest::sha256_of(b"hello world");
        assert_eq!(store.commit(&id, b.length, b.state, &digest).await.unwrap(), 11);
        let content = tokio::fs::read(store.blob_path(&digest)).await.unwrap();
        assert_eq!(content, b"hello world");
        assert!(!store.upload_path(&id).exists());
    }

    #[tokio::test]
    async fn leftovers_of_an_interrupted_append_are_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).await.unwrap();
        let id = UploadId::new();
        store.create_upload(&id).await.unwrap();
        let a = store.append(&id, 0, HashState::new(), body(&[b"abc"])).await.unwrap();
        // A request that died after writing but before its length was recorded.
        std::fs::write(store.upload_path(&id), b"abcGARBAGE").unwrap();
        let b = store.append(&id, a.length, a.state, body(&[b"def"])).await.unwrap();
        let digest = Digest::sha256_of(b"abcdef");
        store.commit(&id, b.length, b.state, &digest).await.unwrap();
        assert_eq!(tokio::fs::read(store.blob_path(&digest)).await.unwrap(), b"abcdef");
    }

    #[tokio::test]
    async fn digest_mismatch_leaves_no_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).await.unwrap();
        let id = UploadId::new();
        store.create_upload(&id).await.unwrap();
        let a = store.append(&id, 0, HashState::new(), body(&[b"abc"])).await.unwrap();
        let wrong = Digest::sha256_of(b"abd");
        let err = store.commit(&id, a.length, a.state, &wrong).await.unwrap_err();
        assert!(matches!(err, StorageError::DigestMismatch { .. }));
        assert!(!store.blob_path(&wrong).exists());
    }
}
