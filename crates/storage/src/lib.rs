//! Blob storage: content-addressed blobs and resumable upload sessions, on the local file system
//! or on S3-compatible object storage. One type, [`BlobStore`], chosen at open time; the rest of
//! Berth does not know which backend it talks to.
//!
//! Layout, the same under a filesystem root and under an S3 key prefix:
//! - `blobs/<algorithm>/<first two hex>/<hex>`: committed, verified content, shared by all
//!   repositories (content-addressed: a second push of the same bytes stores nothing new);
//! - `uploads/<uuid>...`: the bytes of an upload session in progress.
//!
//! A blob becomes visible only after its bytes are verified against the digest and made durable:
//! on the file system, written, `fsync`ed, atomically renamed into `blobs/` and the directory
//! `fsync`ed; on S3, assembled by a multipart upload that appears atomically when it completes.
//!
//! The caller (the metadata store) records each session's [`UploadProgress`] — length, SHA-256
//! midstate and backend state — after every append, with a compare-and-set on the length. Data
//! that an append wrote but the caller did not record is garbage: the filesystem cuts it off on
//! the next append; on S3 it is simply never referenced and goes away with the session. So a
//! request that fails half-way changes nothing, and any instance can serve the next request.

mod fs;
mod hash_state;
mod s3;
mod upload;

pub use hash_state::HashState;
pub use s3::{PART_SIZE, S3Config};
pub use upload::{UploadId, UploadIdError};

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use berth_oci::Digest;
use bytes::Bytes;
use futures_util::Stream;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("upload session data is missing")]
    UploadMissing,
    #[error("upload data is shorter than recorded ({actual} < {expected} bytes)")]
    UploadTruncated { expected: u64, actual: u64 },
    /// Bytes of the upload from `from` on are not the ones received: a crash of the machine lost
    /// them before they reached the disk.
    #[error("upload data from byte {from} on was lost before it reached the disk")]
    UploadLost { from: u64 },
    #[error("content digest {actual} does not match {expected}")]
    DigestMismatch { expected: Digest, actual: Digest },
    /// The blob's bytes are not in storage (for example removed by hand, or a metadata row that
    /// outlived them): the registry answers as for an unknown blob.
    #[error("blob {0} is missing from storage")]
    BlobMissing(Digest),
    #[error("upload is too large: at most {max} bytes fit in one blob")]
    TooLarge { max: u64 },
    #[error("request body: {0}")]
    Body(String),
    #[error("storage I/O: {0}")]
    Io(#[from] io::Error),
    /// A failure of the object storage service (unreachable, denied, bad response), with what
    /// Berth was doing when it happened.
    #[error("object storage: {0}")]
    Backend(String),
    /// The object storage service cannot be reached now (refused, timed out, connection cut, or
    /// it answered 5xx after the retries): nothing was changed, and the same request may succeed
    /// later.
    #[error("object storage unavailable: {0}")]
    Unavailable(String),
}

impl StorageError {
    /// Whether the storage failed (I/O, the object storage service, data that should be there),
    /// rather than the client's input (a wrong digest, a body too large or cut short).
    fn is_fault(&self) -> bool {
        !matches!(self, StorageError::DigestMismatch { .. } | StorageError::TooLarge { .. } | StorageError::Body(_))
    }
}

/// `result` of storage `operation`, counted in the storage errors metric if the storage failed.
/// (A blob stream failing after it started is not counted here: the response ends short.)
fn counted<T>(operation: &'static str, result: Result<T, StorageError>) -> Result<T, StorageError> {
    if let Err(e) = &result
        && e.is_fault()
    {
        berth_metrics::metrics().storage_error(operation);
    }
    result
}

/// Progress of an upload session, persisted by the caller in the database between requests (any
/// instance may serve the next request).
#[derive(Debug, Clone)]
pub struct UploadProgress {
    /// Bytes received so far.
    pub length: u64,
    /// SHA-256 of those bytes, unfinished.
    pub hash: HashState,
    /// Where the backend keeps those bytes; opaque to the caller. Empty on the file system; on
    /// S3 a small JSON document (see `s3/state.rs`).
    pub backend: Vec<u8>,
}

/// Result of appending a request body to an upload.
#[derive(Debug)]
pub struct Appended {
    /// Bytes received in this request.
    pub received: u64,
    /// The session's progress after the append, for the caller to record.
    pub progress: UploadProgress,
}

/// The bytes of a blob (or of a range of it), streamed with bounded memory.
pub type BlobStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send + 'static>>;

/// Blob storage on one of the backends. Cheap to clone (a path or a shared client).
#[derive(Debug, Clone)]
pub struct BlobStore(Backend);

#[derive(Debug, Clone)]
enum Backend {
    Filesystem(fs::FsStore),
    S3(Arc<s3::S3Store>),
}

impl BlobStore {
    /// Opens (creating if needed) a store rooted at directory `root`.
    pub async fn open_filesystem(root: impl Into<PathBuf>) -> io::Result<BlobStore> {
        Ok(BlobStore(Backend::Filesystem(fs::FsStore::open(root.into()).await?)))
    }

    /// Opens a store in an S3 bucket. Makes one request to the bucket, so that wrong settings
    /// (endpoint, bucket, keys, region) fail at start with a clear message, not on first push.
    pub async fn open_s3(config: &S3Config) -> Result<BlobStore, StorageError> {
        Ok(BlobStore(Backend::S3(Arc::new(s3::S3Store::open(config).await?))))
    }

    /// `"filesystem"` or `"s3"`.
    pub fn kind(&self) -> &'static str {
        match &self.0 {
            Backend::Filesystem(_) => "filesystem",
            Backend::S3(_) => "s3",
        }
    }

    /// Starts the data of a new upload session; returns its progress (length 0).
    pub async fn create_upload(&self, id: &UploadId) -> Result<UploadProgress, StorageError> {
        counted(
            "create_upload",
            match &self.0 {
                Backend::Filesystem(s) => s.create_upload(id).await,
                Backend::S3(s) => s.create_upload(id).await,
            },
        )
    }

    /// Appends `body` to upload `id`, whose recorded progress is `progress`, hashing on the way.
    /// The bytes count as received once the caller records the returned progress. On S3 they are
    /// durable when this returns; on the file system the commit makes them so, and a crash of the
    /// machine before it loses the session (the commit, or the next append, says so).
    #[tracing::instrument(name = "storage.append", skip_all, fields(upload = id.as_str()))]
    pub async fn append<S, E>(&self, id: &UploadId, progress: UploadProgress, body: S) -> Result<Appended, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        counted(
            "append",
            match &self.0 {
                Backend::Filesystem(s) => s.append(id, progress, body).await,
                Backend::S3(s) => s.append(id, progress, body).await,
            },
        )
    }

    /// Verifies upload `id` against `expected` and makes it the blob `expected`; returns the
    /// blob's size. The upload's data is gone afterwards, whether or not the digest matched.
    #[tracing::instrument(name = "storage.commit", skip_all, fields(digest = %expected))]
    pub async fn commit(
        &self,
        id: &UploadId,
        progress: UploadProgress,
        expected: &Digest,
    ) -> Result<u64, StorageError> {
        counted(
            "commit",
            match &self.0 {
                Backend::Filesystem(s) => s.commit(id, progress, expected).await,
                Backend::S3(s) => s.commit(id, progress, expected).await,
            },
        )
    }

    /// Removes an upload session's data (whatever its progress: all of it). Idempotent.
    pub async fn delete_upload(&self, id: &UploadId) -> Result<(), StorageError> {
        counted(
            "delete_upload",
            match &self.0 {
                Backend::Filesystem(s) => s.delete_upload(id).await,
                Backend::S3(s) => s.delete_upload(id).await,
            },
        )
    }

    /// Deletes blobs `digests` (garbage collection, in batches: one request per 1,000 on S3).
    /// A blob already gone is fine.
    pub async fn delete_blobs(&self, digests: &[Digest]) -> Result<(), StorageError> {
        counted(
            "delete_blobs",
            match &self.0 {
                Backend::Filesystem(s) => s.delete_blobs(digests).await,
                Backend::S3(s) => s.delete_blobs(digests).await,
            },
        )
    }

    /// Every blob in storage, whether or not the metadata names it, with when it was written.
    pub async fn stored_blobs(&self) -> Result<Vec<Stored<Digest>>, StorageError> {
        counted(
            "stored_blobs",
            match &self.0 {
                Backend::Filesystem(s) => s.stored_blobs().await,
                Backend::S3(s) => s.stored_blobs().await,
            },
        )
    }

    /// Every upload session with data in storage, with when it was last written.
    pub async fn stored_uploads(&self) -> Result<Vec<Stored<UploadId>>, StorageError> {
        counted(
            "stored_uploads",
            match &self.0 {
                Backend::Filesystem(s) => s.stored_uploads().await,
                Backend::S3(s) => s.stored_uploads().await,
            },
        )
    }

    pub async fn blob_exists(&self, digest: &Digest) -> Result<bool, StorageError> {
        counted(
            "blob_exists",
            match &self.0 {
                Backend::Filesystem(s) => s.blob_exists(digest).await,
                Backend::S3(s) => s.blob_exists(digest).await,
            },
        )
    }

    /// Streams `len` bytes of blob `digest` from `start` (for `Range` requests). Bounded memory.
    pub async fn read_blob(&self, digest: &Digest, start: u64, len: u64) -> Result<BlobStream, StorageError> {
        counted(
            "read_blob",
            match &self.0 {
                Backend::Filesystem(s) => s.read_blob(digest, start, len).await,
                Backend::S3(s) => s.read_blob(digest, start, len).await,
            },
        )
    }

    /// A presigned GET URL for blob `digest`, valid for `ttl`, so clients can fetch the bytes
    /// from the object storage directly (S3 only; `None` on the file system).
    pub async fn presigned_blob_url(&self, digest: &Digest, ttl: Duration) -> Result<Option<String>, StorageError> {
        counted(
            "presigned_blob_url",
            match &self.0 {
                Backend::Filesystem(_) => Ok(None),
                Backend::S3(s) => s.presigned_blob_url(digest, ttl).await.map(Some),
            },
        )
    }

    /// One cheap round trip to the backend, for health checks.
    /// The size and free space of the volume the blobs are on; `None` for an S3-compatible
    /// bucket, which has no size a client can ask for.
    pub async fn volume(&self) -> Result<Option<Volume>, StorageError> {
        counted(
            "volume",
            match &self.0 {
                Backend::Filesystem(s) => s.volume().await.map(Some),
                Backend::S3(_) => Ok(None),
            },
        )
    }

    pub async fn check(&self) -> Result<(), StorageError> {
        counted(
            "check",
            match &self.0 {
                Backend::Filesystem(s) => s.check().await,
                Backend::S3(s) => s.check().await,
            },
        )
    }
}

/// Something found in storage and when it was last written (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored<T> {
    pub name: T,
    pub written: i64,
}

/// A file system's size and free space, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Volume {
    pub total: u64,
    pub free: u64,
}

/// `blobs/<algorithm>/<first two hex>/<hex>`, relative to the store's root.
fn blob_key(digest: &Digest) -> String {
    let hex = digest.hex();
    format!("blobs/{}/{}/{}", digest.algorithm().as_str(), &hex[..2], hex)
}
