//! The S3 backend: blobs and upload sessions in a bucket of any S3-compatible service (AWS S3,
//! Garage, MinIO, Ceph...), through `object_store`.
//!
//! An upload session writes its bytes as part-sized objects plus a small tail object under
//! `uploads/<id>/` (see `state.rs`): S3 parts must be at least 5 MiB but a registry chunk may be
//! any size, and a session may continue on another instance, so the bytes that do not yet fill a
//! part live in the tail, which the next append reads back and carries forward. Every request
//! writes objects with fresh names, so a request that loses a race (two instances appending to
//! one session from the same recorded state; the caller records only one, by compare-and-set)
//! cannot overwrite the winner's bytes.
//!
//! Commit verifies the digest from the recorded hash state first, then assembles the blob at its
//! final key with one multipart upload whose parts are server-side copies of the part objects
//! (`UploadPartCopy`): the blob appears atomically, complete, only when that upload completes,
//! and its bytes never travel back through Berth. Then the session's objects are deleted.
//!
//! Every part object is uploaded with a signed payload, so the service checks its SHA-256: the
//! stored bytes are the bytes Berth hashed, and the digest verified at commit covers them.

mod part_copy;
mod state;
mod sweep;

use std::ffi::OsString;
use std::time::Duration;

use berth_oci::Digest;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::client::{HttpConnector, ReqwestConnector};
use object_store::list::{PaginatedListOptions, PaginatedListStore};
use object_store::multipart::MultipartStore;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{
    BackoffConfig, Certificate, ClientOptions, GetOptions, GetRange, MultipartId, ObjectStore, ObjectStoreExt,
    PutPayload, RetryConfig,
};

use crate::{Appended, BlobStream, HashState, StorageError, UploadId, UploadProgress, blob_key};
use part_copy::PartCopier;
use state::{MAX_BLOB_SIZE, MAX_PARTS, Run, Tail, UploadState, new_nonce};

/// Size of the parts an upload is cut into. S3 wants at least 5 MiB for all but the last part;
/// each append request holds at most two parts in memory (one filling while the previous one
/// uploads). A blob of more than S3's 10,000 parts is assembled in two steps (`assemble`).
pub const PART_SIZE: u64 = 8 * 1024 * 1024;

/// Part copies run concurrently at commit: the service does the work, Berth only waits.
const COPY_CONCURRENCY: usize = 8;

/// Object deletions in flight at once when a session's objects are removed.
const DELETE_CONCURRENCY: usize = 8;

/// How long blob and upload traffic waits for a connection to the service.
const DATA_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long blob and upload traffic waits for the service to send anything (the answer's head,
/// the next bytes of a body) before the attempt counts as timed out: a service that accepts
/// connections and then hangs (a wedged host, a stopped process) costs a request this, not
/// until its TCP connection fails. S3 answers a GET or a part PUT in well under a second.
const DATA_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The same for a server-side part copy (`UploadPartCopy`), which sends nothing until the part
/// is copied.
const COPY_READ_TIMEOUT: Duration = Duration::from_secs(120);

/// How long after a request's first attempt a failed one is still retried.
const DATA_RETRY_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest validity S3's SigV4 allows for a presigned URL.
const MAX_PRESIGN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Settings of the S3 backend; also the `storage.s3` section of Berth's configuration file.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// `http(s)://host[:port]` of the service; buckets are addressed path-style under it.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    /// Key prefix for everything Berth stores (`""` for the bucket's root), so one bucket can
    /// hold several registries.
    pub root_directory: String,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: String::new(),
            bucket: String::new(),
            region: "us-east-1".to_owned(),
            access_key: String::new(),
            secret_key: String::new(),
            root_directory: String::new(),
        }
    }
}

impl std::fmt::Debug for S3Config {
    // By hand, so the secret key never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("root_directory", &self.root_directory)
            .finish()
    }
}

#[derive(Debug)]
pub(crate) struct S3Store {
    /// For blob and upload traffic: no overall request timeout (a blob download to a slow
    /// client may take long), an idle timeout instead, and patient retries.
    store: AmazonS3,
    /// For start-up and health checks: short timeouts and few retries, so a wrong or dead
    /// endpoint is reported in seconds, not after minutes of backoff.
    probe: AmazonS3,
    copier: PartCopier,
    /// `root_directory` with a trailing `/`, or empty.
    prefix: String,
    /// "bucket B at E", for error messages.
    location: String,
}

impl S3Store {
    pub(crate) async fn open(config: &S3Config) -> Result<S3Store, StorageError> {
        let invalid = |what: &str| Err(StorageError::Backend(format!("invalid S3 settings: {what}")));
        let endpoint = config.endpoint.trim().trim_end_matches('/').to_string();
        let http = endpoint.starts_with("http://");
        if !http && !endpoint.starts_with("https://") {
            return invalid(&format!("endpoint {endpoint:?} must start with http:// or https://"));
        }
        if config.bucket.is_empty() {
            return invalid("bucket is empty");
        }
        if config.region.is_empty() {
            return invalid("region is empty (Garage's default is \"garage\", MinIO's \"us-east-1\")");
        }
        let prefix = match root_prefix(&config.root_directory) {
            Some(p) => p,
            None => {
                return invalid(&format!(
                    "root_directory {:?} must be /-separated names of letters, digits, '.', '-' and '_'",
                    config.root_directory
                ));
            }
        };
        let location = format!("bucket {:?} at {endpoint}", config.bucket);

        let mut options = ClientOptions::new().with_allow_http(http);
        if !http {
            for certificate in extra_root_certificates(std::env::var_os("AWS_CA_BUNDLE")) {
                options = options.with_root_certificate(certificate);
            }
        }
        let builder = |options: ClientOptions, retry: RetryConfig| {
            // `new()`, not `from_env()`: the configuration is Berth's, not whatever AWS_*
            // variables happen to be set on the machine.
            AmazonS3Builder::new()
                .with_endpoint(&endpoint)
                .with_region(&config.region)
                .with_bucket_name(&config.bucket)
                .with_access_key_id(&config.access_key)
                .with_secret_access_key(&config.secret_key)
                .with_allow_http(http)
                .with_virtual_hosted_style_request(false)
                .with_client_options(options)
                .with_retry(retry)
                .build()
                .map_err(|e| StorageError::Backend(format!("invalid S3 settings: {e}")))
        };
        // A service that is down must cost a request seconds, not a minute of retries: a refused
        // or unanswered connection fails within DATA_CONNECT_TIMEOUT, a silent one within
        // DATA_READ_TIMEOUT, and retries stop starting after DATA_RETRY_TIMEOUT (the client is
        // answered 503 and may try again).
        let data_options = options
            .clone()
            .with_timeout_disabled()
            .with_connect_timeout(DATA_CONNECT_TIMEOUT)
            .with_read_timeout(DATA_READ_TIMEOUT);
        let data_retry =
            RetryConfig { backoff: BackoffConfig::default(), max_retries: 3, retry_timeout: DATA_RETRY_TIMEOUT };
        let store = builder(data_options.clone(), data_retry)?;
        let probe_options = options.with_timeout(Duration::from_secs(10)).with_connect_timeout(Duration::from_secs(5));
        let probe_retry =
            RetryConfig { backoff: BackoffConfig::default(), max_retries: 1, retry_timeout: Duration::from_secs(10) };
        let probe = builder(probe_options, probe_retry)?;
        let copier = PartCopier {
            http: ReqwestConnector::default()
                .connect(&data_options.clone().with_read_timeout(COPY_READ_TIMEOUT))
                .map_err(|e| StorageError::Backend(format!("S3 HTTP client: {e}")))?,
            credentials: store.credentials().clone(),
            endpoint: endpoint.clone(),
            bucket: config.bucket.clone(),
            region: config.region.clone(),
        };
        let s3 = S3Store { store, probe, copier, prefix, location };
        s3.check().await?;
        Ok(s3)
    }

    fn path(&self, key: &str) -> Path {
        Path::from(format!("{}{key}", self.prefix))
    }

    fn upload_dir(&self, id: &UploadId) -> Path {
        self.path(&format!("uploads/{id}"))
    }

    fn part_path(&self, id: &UploadId, index: u64, nonce: &str) -> Path {
        self.path(&format!("uploads/{id}/part-{index:05}-{nonce}"))
    }

    fn tail_path(&self, id: &UploadId, nonce: &str) -> Path {
        self.path(&format!("uploads/{id}/tail-{nonce}"))
    }

    fn error(&self, doing: impl std::fmt::Display, e: object_store::Error) -> StorageError {
        failure(format!("{doing} in {}: {e}", self.location), &e)
    }

    /// Nothing to create in the bucket: a session's first append writes its first objects.
    pub(crate) async fn create_upload(&self, _id: &UploadId) -> Result<UploadProgress, StorageError> {
        Ok(UploadProgress { length: 0, hash: HashState::new(), backend: UploadState::new(PART_SIZE).encode() })
    }

    pub(crate) async fn append<S, E>(
        &self,
        id: &UploadId,
        progress: UploadProgress,
        mut body: S,
    ) -> Result<Appended, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let UploadProgress { length, mut hash, backend } = progress;
        let mut state = UploadState::decode(&backend, length, PART_SIZE)?;
        let part_size = state.part_size as usize;
        let mut parts = PartWriter::new(self, id, state.part_count());
        let mut buffer = BytesMut::new();
        let mut tail_loaded = false;
        let mut received = 0u64;

        let streamed: Result<(), StorageError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| StorageError::Body(e.to_string()))?;
                if chunk.is_empty() {
                    continue;
                }
                if !tail_loaded {
                    // Only once bytes arrive: an empty request costs no round trip.
                    buffer = self.read_tail(id, &state, part_size).await?;
                    tail_loaded = true;
                }
                received += chunk.len() as u64;
                if length + received > MAX_BLOB_SIZE {
                    return Err(StorageError::TooLarge { max: MAX_BLOB_SIZE });
                }
                hash.update(&chunk);
                let mut rest = &chunk[..];
                while !rest.is_empty() {
                    let n = rest.len().min(part_size - buffer.len());
                    buffer.extend_from_slice(&rest[..n]);
                    rest = &rest[n..];
                    if buffer.len() == part_size {
                        let full = std::mem::replace(&mut buffer, BytesMut::with_capacity(part_size));
                        parts.put(full.freeze()).await?;
                    }
                }
            }
            parts.flush().await
        }
        .await;
        if let Err(e) = streamed {
            parts.discard().await;
            return Err(e);
        }
        if received == 0 {
            // Nothing new: the recorded state still describes the session exactly.
            return Ok(Appended { received, progress: UploadProgress { length, hash, backend } });
        }

        let tail = if buffer.is_empty() {
            None
        } else {
            let size = buffer.len() as u64;
            let path = self.tail_path(id, &parts.nonce);
            if let Err(e) = self.store.put(&path, PutPayload::from(buffer.freeze())).await {
                parts.discard().await;
                return Err(self.error(format_args!("writing {path}"), e));
            }
            Some(Tail { nonce: parts.nonce.clone(), size })
        };
        // The previous tail, and whatever requests that lost a race wrote, stay until the session
        // ends: this request may itself lose, so deleting them here could delete what the
        // recorded state still references.
        if parts.count > 0 {
            state.runs.push(Run { nonce: parts.nonce.clone(), first: parts.first, count: parts.count });
        }
        state.tail = tail;
        debug_assert_eq!(state.len(), length + received);
        Ok(Appended { received, progress: UploadProgress { length: length + received, hash, backend: state.encode() } })
    }

    /// The session's tail bytes, in a buffer with room for a full part.
    async fn read_tail(&self, id: &UploadId, state: &UploadState, part_size: usize) -> Result<BytesMut, StorageError> {
        let mut buffer = BytesMut::with_capacity(part_size);
        let Some(tail) = &state.tail else {
            return Ok(buffer);
        };
        let path = self.tail_path(id, &tail.nonce);
        let bytes = match self.store.get(&path).await {
            Ok(result) => result.bytes().await.map_err(|e| self.error(format_args!("reading {path}"), e))?,
            Err(object_store::Error::NotFound { .. }) => return Err(StorageError::UploadMissing),
            Err(e) => return Err(self.error(format_args!("reading {path}"), e)),
        };
        if bytes.len() as u64 != tail.size {
            return Err(StorageError::UploadTruncated { expected: tail.size, actual: bytes.len() as u64 });
        }
        buffer.extend_from_slice(&bytes);
        Ok(buffer)
    }

    pub(crate) async fn commit(
        &self,
        id: &UploadId,
        progress: UploadProgress,
        expected: &Digest,
    ) -> Result<u64, StorageError> {
        let UploadProgress { length, hash, backend } = progress;
        // The digest comes from the hash state saved with the session: no re-read of the bytes.
        let actual = hash.finish();
        if &actual != expected {
            if let Err(e) = self.remove_upload(id).await {
                tracing::warn!(upload = %id, error = %e, "could not remove the data of a rejected upload");
            }
            return Err(StorageError::DigestMismatch { expected: expected.clone(), actual });
        }
        let state = UploadState::decode(&backend, length, PART_SIZE)?;
        let blob = self.path(&blob_key(expected));
        match self.store.head(&blob).await {
            // Same digest, same bytes: keep the copy we have.
            Ok(meta) if meta.size == length => {
                self.remove_upload_after_commit(id).await;
                return Ok(length);
            }
            Ok(meta) => tracing::warn!(
                %blob, stored = meta.size, verified = length,
                "stored blob has the wrong size; replacing it with the verified upload"
            ),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(self.error(format_args!("looking up {blob}"), e)),
        }

        self.assemble(id, &state, &blob, MAX_PARTS as usize).await?;
        let stored = self.store.head(&blob).await.map_err(|e| self.error(format_args!("looking up {blob}"), e))?;
        if stored.size != length {
            // Never leave a blob whose bytes are not the verified ones.
            let _ = self.store.delete(&blob).await;
            return Err(StorageError::Backend(format!(
                "{blob} in {} has {} bytes after assembly, {length} expected",
                self.location, stored.size
            )));
        }
        self.remove_upload_after_commit(id).await;
        Ok(length)
    }

    /// Writes the session's bytes to `blob`, visible only once complete. An object has at most
    /// `max_parts` parts ([`MAX_PARTS`] but in tests); a session with more is assembled in two
    /// steps: consecutive runs of its parts into group objects under the session, then the blob
    /// from the groups. The parts written by requests stay 8 MiB, so an append never holds more
    /// in memory, while the blob's own parts grow with it: 5 TiB, S3's largest object, is 655,360
    /// parts in 9,930 groups of 66 (528 MiB each, within the 5 GiB a part copy may move).
    async fn assemble(
        &self,
        id: &UploadId,
        state: &UploadState,
        blob: &Path,
        max_parts: usize,
    ) -> Result<(), StorageError> {
        let full: Vec<Path> = state.parts().map(|(i, nonce)| self.part_path(id, i, nonce)).collect();
        let tail = state.tail.as_ref().map(|t| self.tail_path(id, &t.nonce));
        if full.len() + usize::from(tail.is_some()) <= max_parts {
            return self.assemble_from(blob, &full, tail.as_ref()).await;
        }
        // The tail joins the last group: a group must be at least S3's 5 MiB part minimum to be
        // copied into the blob, and a tail alone is shorter than a part.
        let group_size = full.len().div_ceil(max_parts);
        let runs: Vec<&[Path]> = full.chunks(group_size).collect();
        let nonce = new_nonce();
        let mut groups = Vec::with_capacity(runs.len());
        for (index, run) in runs.iter().enumerate() {
            let group = self.path(&format!("uploads/{id}/group-{index:05}-{nonce}"));
            let last = index + 1 == runs.len();
            self.assemble_from(&group, run, tail.as_ref().filter(|_| last)).await?;
            groups.push(group);
        }
        self.assemble_from(blob, &groups, None).await
    }

    /// Writes the objects `full` (each at least S3's part minimum) then `tail` (any size) to
    /// `dest`, visible only once complete.
    async fn assemble_from(&self, dest: &Path, full: &[Path], tail: Option<&Path>) -> Result<(), StorageError> {
        match (full, tail) {
            ([], None) => self
                .store
                .put(dest, PutPayload::default())
                .await
                .map(drop)
                .map_err(|e| self.error(format_args!("writing {dest}"), e)),
            // One object (a small blob): a plain server-side copy, itself atomic.
            ([single], None) | ([], Some(single)) => match self.store.copy(single, dest).await {
                Ok(()) => Ok(()),
                Err(object_store::Error::NotFound { .. }) => Err(StorageError::UploadMissing),
                Err(e) => Err(self.error(format_args!("copying {single} to {dest}"), e)),
            },
            _ => {
                let upload_id = self
                    .store
                    .create_multipart(dest)
                    .await
                    .map_err(|e| self.error(format_args!("starting multipart upload of {dest}"), e))?;
                let completed = self.complete_from(dest, &upload_id, full, tail).await;
                if completed.is_err()
                    && let Err(e) = self.store.abort_multipart(dest, &upload_id).await
                {
                    tracing::warn!(%dest, error = %e, "could not abort a failed multipart upload");
                }
                completed
            }
        }
    }

    /// The parts of multipart upload `upload_id` of `dest`: server-side copies of `full`, then
    /// `tail`'s bytes; completes the upload.
    async fn complete_from(
        &self,
        dest: &Path,
        upload_id: &MultipartId,
        full: &[Path],
        tail: Option<&Path>,
    ) -> Result<(), StorageError> {
        // The copies are built up front (futures do nothing until polled): a stream that maps
        // borrowed items to futures is not provably `Send`, and the registry's handlers must be.
        let copies: Vec<_> = full
            .iter()
            .enumerate()
            .map(|(i, source)| self.copier.copy_part(dest, upload_id, i as u64 + 1, source))
            .collect();
        let mut part_ids: Vec<_> = futures_util::stream::iter(copies).buffered(COPY_CONCURRENCY).try_collect().await?;
        if let Some(tail) = tail {
            // Servers may refuse a server-side copy smaller than the 5 MiB part minimum even as
            // the last part (Garage does), so the tail's bytes — less than one part — are sent
            // instead.
            let bytes = match self.store.get(tail).await {
                Ok(found) => found.bytes().await,
                Err(e) => Err(e),
            }
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => StorageError::UploadMissing,
                e => self.error(format_args!("reading {tail}"), e),
            })?;
            let part = self
                .store
                .put_part(dest, upload_id, part_ids.len(), bytes.into())
                .await
                .map_err(|e| self.error(format_args!("sending the last part of {dest}"), e))?;
            part_ids.push(part);
        }
        self.store
            .complete_multipart(dest, upload_id, part_ids)
            .await
            .map(drop)
            .map_err(|e| self.error(format_args!("completing multipart upload of {dest}"), e))
    }

    /// After a successful commit the session's objects are garbage; failing to delete them must
    /// not fail the push (they stay under `uploads/<id>/`, where cleanup of abandoned sessions
    /// finds them).
    async fn remove_upload_after_commit(&self, id: &UploadId) {
        if let Err(e) = self.remove_upload(id).await {
            tracing::warn!(upload = %id, error = %e, "could not remove the data of a committed upload");
        }
    }

    pub(crate) async fn delete_upload(&self, id: &UploadId) -> Result<(), StorageError> {
        self.remove_upload(id).await
    }

    /// Deletes every object under `uploads/<id>/`: the recorded ones, stale tails and whatever
    /// requests that lost a race left. Listing (rather than naming what the progress records)
    /// is what finds the latter.
    async fn remove_upload(&self, id: &UploadId) -> Result<(), StorageError> {
        let dir = self.upload_dir(id);
        let keys: Vec<Path> = self
            .store
            .list(Some(&dir))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(|e| self.error(format_args!("listing {dir}"), e))?;
        futures_util::stream::iter(keys)
            .map(|key| async move {
                match self.store.delete(&key).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(self.error(format_args!("deleting {key}"), e)),
                }
            })
            .buffer_unordered(DELETE_CONCURRENCY)
            .try_collect::<()>()
            .await
    }

    pub(crate) async fn blob_exists(&self, digest: &Digest) -> Result<bool, StorageError> {
        let blob = self.path(&blob_key(digest));
        match self.store.head(&blob).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.error(format_args!("looking up {blob}"), e)),
        }
    }

    pub(crate) async fn read_blob(&self, digest: &Digest, start: u64, len: u64) -> Result<BlobStream, StorageError> {
        let blob = self.path(&blob_key(digest));
        let missing = |e: object_store::Error| match e {
            object_store::Error::NotFound { .. } => StorageError::BlobMissing(digest.clone()),
            e => self.error(format_args!("reading {blob}"), e),
        };
        if len == 0 {
            // S3 refuses empty ranges; an existence check is all there is to do.
            self.store.head(&blob).await.map_err(missing)?;
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        let options = GetOptions { range: Some(GetRange::Bounded(start..start + len)), ..GetOptions::default() };
        let result = self.store.get_opts(&blob, options).await.map_err(missing)?;
        Ok(Box::pin(result.into_stream().map_err(std::io::Error::other)))
    }

    pub(crate) async fn presigned_blob_url(&self, digest: &Digest, ttl: Duration) -> Result<String, StorageError> {
        let blob = self.path(&blob_key(digest));
        let url = self
            .store
            .signed_url(http::Method::GET, &blob, ttl.min(MAX_PRESIGN_TTL))
            .await
            .map_err(|e| self.error(format_args!("signing a URL for {blob}"), e))?;
        Ok(url.to_string())
    }

    /// Lists at most one key under the root: proves the endpoint answers, the bucket exists and
    /// the keys may read it, in one small request.
    pub(crate) async fn check(&self) -> Result<(), StorageError> {
        let options = PaginatedListOptions { max_keys: Some(1), ..PaginatedListOptions::default() };
        let prefix = (!self.prefix.is_empty()).then_some(self.prefix.as_str());
        self.probe
            .list_paginated(prefix, options)
            .await
            .map(drop)
            .map_err(|e| failure(format!("{} is not usable: {e}", self.location), &e))
    }
}

/// Uploads one request's full parts, one at a time in the background while the next part fills,
/// so receiving and sending overlap with at most two parts in memory.
struct PartWriter<'a> {
    store: &'a S3Store,
    id: &'a UploadId,
    nonce: String,
    first: u64,
    count: u64,
    in_flight: Option<tokio::task::JoinHandle<Result<(), StorageError>>>,
    written: Vec<Path>,
}

impl<'a> PartWriter<'a> {
    fn new(store: &'a S3Store, id: &'a UploadId, first: u64) -> PartWriter<'a> {
        PartWriter { store, id, nonce: new_nonce(), first, count: 0, in_flight: None, written: Vec::new() }
    }

    async fn put(&mut self, part: Bytes) -> Result<(), StorageError> {
        self.flush().await?;
        let index = self.first + self.count;
        let path = self.store.part_path(self.id, index, &self.nonce);
        self.written.push(path.clone());
        self.count += 1;
        let store = self.store.store.clone();
        let location = self.store.location.clone();
        self.in_flight = Some(tokio::spawn(async move {
            store
                .put(&path, PutPayload::from(part))
                .await
                .map(drop)
                .map_err(|e| failure(format!("writing {path} in {location}: {e}"), &e))
        }));
        Ok(())
    }

    /// Waits for the part upload in flight, if any.
    async fn flush(&mut self) -> Result<(), StorageError> {
        match self.in_flight.take() {
            Some(task) => task.await.map_err(|e| StorageError::Backend(format!("part upload task: {e}")))?,
            None => Ok(()),
        }
    }

    /// Best-effort removal of what this request wrote, after it failed: nothing references it.
    async fn discard(&mut self) {
        let _ = self.flush().await;
        for path in std::mem::take(&mut self.written) {
            if let Err(e) = self.store.store.delete(&path).await {
                tracing::debug!(%path, error = %e, "could not remove a part of a failed append");
            }
        }
    }
}

impl Drop for PartWriter<'_> {
    /// A request dropped half-way (the client went away) stops its part upload too; whatever it
    /// wrote is unreferenced and goes with the session.
    fn drop(&mut self) {
        if let Some(task) = self.in_flight.take() {
            task.abort();
        }
    }
}

/// `root_directory` as a key prefix (`""` or `"a/b/"`); `None` if it holds characters that
/// would need escaping in URLs (keeping keys URL-safe keeps request signing simple) or empty,
/// `.` or `..` segments.
fn root_prefix(root: &str) -> Option<String> {
    let root = root.trim_matches('/');
    if root.is_empty() {
        return Some(String::new());
    }
    let valid_segment = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    };
    root.split('/').all(valid_segment).then(|| format!("{root}/"))
}

/// Extra trusted CA certificates from `AWS_CA_BUNDLE`, the variable AWS tools use for a private
/// CA in front of S3. A value that cannot be used is reported and ignored, never fatal: the
/// system's trusted roots still apply, and some machines set it to a file that does not exist.
fn extra_root_certificates(value: Option<OsString>) -> Vec<Certificate> {
    let Some(path) = value.filter(|v| !v.is_empty()) else {
        return Vec::new();
    };
    let pem = match std::fs::read(&path) {
        Ok(pem) => pem,
        Err(e) => {
            tracing::warn!(path = %path.to_string_lossy(), error = %e, "AWS_CA_BUNDLE cannot be read; ignoring it");
            return Vec::new();
        }
    };
    match Certificate::from_pem_bundle(&pem) {
        Ok(certificates) if !certificates.is_empty() => certificates,
        Ok(_) => {
            tracing::warn!(path = %path.to_string_lossy(), "AWS_CA_BUNDLE holds no certificate; ignoring it");
            Vec::new()
        }
        Err(e) => {
            tracing::warn!(path = %path.to_string_lossy(), error = %e, "AWS_CA_BUNDLE is not a PEM bundle; ignoring it");
            Vec::new()
        }
    }
}

/// `message` as the error `e` is: [`StorageError::Unavailable`] when the service could not be
/// reached or said it cannot serve now, else [`StorageError::Backend`].
fn failure(message: String, e: &object_store::Error) -> StorageError {
    if is_unavailable(e) { StorageError::Unavailable(message) } else { StorageError::Backend(message) }
}

/// Whether `e` says the service cannot serve now, rather than that it refused the request: a
/// connection refused, timed out or cut, or a 5xx answer (S3's `SlowDown` and
/// `ServiceUnavailable`, a load balancer in front of it with no backend left), after the retries.
fn is_unavailable(e: &object_store::Error) -> bool {
    use object_store::client::{HttpError, HttpErrorKind};
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = source {
        if let Some(http) = error.downcast_ref::<HttpError>() {
            return matches!(
                http.kind(),
                HttpErrorKind::Connect | HttpErrorKind::Request | HttpErrorKind::Timeout | HttpErrorKind::Interrupted
            );
        }
        if is_server_error_answer(&error.to_string()) {
            return true;
        }
        source = error.source();
    }
    false
}

/// Whether `text` is object_store's message for a 5xx answer. Its error type, which holds the
/// status, is private to it, so this reads the message it is made into
/// ("Server returned non-2xx status code: 503 Service Unavailable: <body>").
fn is_server_error_answer(text: &str) -> bool {
    text.strip_prefix("Server returned non-2xx status code: 5")
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests;
