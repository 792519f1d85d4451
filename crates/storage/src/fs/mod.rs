//! The filesystem backend: one file per upload session under `uploads/`, `fsync`ed and renamed
//! into `blobs/` once verified.
//!
//! The upload file may hold bytes past the recorded length: leftovers of a request that wrote
//! but died before the caller recorded its progress. They are cut off before the next append and
//! at commit, so the recorded length is the truth. Appends do not wait for the disk; `state.rs`
//! says why that is safe.

mod state;

use std::io;
use std::io::SeekFrom;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use berth_oci::Digest;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::{Appended, BlobStream, HashState, StorageError, UploadId, UploadProgress};
use state::FsUploadState;

/// Chunks queued between the request task and each of its hashing and writing threads: enough
/// to keep the disk busy while the network delivers more, small enough to bound memory per
/// request (the two queues share their chunks).
const WRITE_QUEUE_CHUNKS: usize = 16;

/// Bytes written to an upload's file per `write`, at offsets that are multiples of it. The kernel
/// sizes the page cache's folios by the writes that fill them, and a blob in larger folios is
/// sent from the page cache with less CPU: per GiB pulled, ~330 ms written in 8 KiB writes (as
/// the network delivers a body), ~295 in 64 KiB, ~265 in 256 KiB, and 200–270 from 512 KiB to
/// 2 MiB, with no difference left between those (see BENCHMARKS.md). Each push holds up to one
/// step of received chunks, so the smallest of those sizes.
const WRITE_STEP: u64 = 512 * 1024;

/// Bytes written between two requests to the kernel to start writing them to disk.
const WRITEBACK_STEP: u64 = 2 * 1024 * 1024;

/// Bytes mapped at a time when streaming a blob out: large enough for few syscalls and thread
/// hand-offs, small per connection (with the read-ahead, at most 6 MiB of page cache mapped per
/// stream). One stream here: 1 MiB chunks ~4.2 GB/s, 2 MiB ~5.5 GB/s, 4 MiB no better.
const READ_CHUNK: usize = 2 * 1024 * 1024;

/// Chunks mapped ahead of the one being sent.
const READ_AHEAD: usize = 2;

/// Bytes read at a time when hashing an upload's bytes again (see [`make_durable`]).
const VERIFY_BUFFER: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub(crate) struct FsStore {
    root: PathBuf,
    /// This machine's boot: whose page cache holds the bytes appends write (see `state.rs`).
    boot: String,
}

impl FsStore {
    pub(crate) async fn open(root: PathBuf) -> io::Result<FsStore> {
        tokio::fs::create_dir_all(root.join("blobs")).await?;
        tokio::fs::create_dir_all(root.join("uploads")).await?;
        Ok(FsStore { root, boot: boot_id() })
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join(crate::blob_key(digest))
    }

    fn upload_path(&self, id: &UploadId) -> PathBuf {
        self.root.join("uploads").join(id.as_str())
    }

    /// Creates the empty data file of a new upload session.
    pub(crate) async fn create_upload(&self, id: &UploadId) -> Result<UploadProgress, StorageError> {
        tokio::fs::File::create(self.upload_path(id)).await?;
        Ok(UploadProgress { length: 0, hash: HashState::new(), backend: FsUploadState::new(&self.boot).encode() })
    }

    /// The request task receives the body and hands each chunk to two blocking threads, one
    /// hashing it and one writing it, so receiving, hashing and copying into the page cache run
    /// side by side. The bytes are left to the page cache, their writeback started as they go;
    /// the commit makes them durable (see `state.rs`).
    pub(crate) async fn append<S, E>(
        &self,
        id: &UploadId,
        progress: UploadProgress,
        mut body: S,
    ) -> Result<Appended, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let UploadProgress { length, hash, backend } = progress;
        let mut state = FsUploadState::decode(&backend, length, &hash)?;
        let path = self.upload_path(id);
        let mut file = open_upload(&path)?;
        let boot = self.boot.clone();
        let (to_writer, mut writer_queue) = tokio::sync::mpsc::channel::<Bytes>(WRITE_QUEUE_CHUNKS);
        let (to_hasher, mut hasher_queue) = tokio::sync::mpsc::channel::<Bytes>(WRITE_QUEUE_CHUNKS);
        let before = hash.clone();
        let writer = tokio::task::spawn_blocking(move || -> Result<(u64, FsUploadState), StorageError> {
            use std::io::Seek;
            cut_to_recorded(&file, length)?;
            if state.boot != boot && state.durable < length {
                make_durable(&file, &path, &mut state, &boot, length, &before)?;
            }
            state.boot = boot;
            file.seek(SeekFrom::Start(length))?;
            let mut step = Step { start: length, chunks: Vec::new(), len: 0, flushed: length };
            while let Some(chunk) = writer_queue.blocking_recv() {
                step.add(chunk, &mut file)?;
            }
            step.finish(&mut file)?;
            Ok((step.start - length, state))
        });
        let hasher = tokio::task::spawn_blocking(move || {
            let mut hash = hash;
            let mut hashed = 0u64;
            while let Some(chunk) = hasher_queue.blocking_recv() {
                hash.update(&chunk);
                hashed += chunk.len() as u64;
            }
            (hash, hashed)
        });

        let mut body_error = None;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => {
                    // A clone of `Bytes` shares the buffer. The hasher never fails; a writer that
                    // failed closed its queue, and its error is reported below.
                    if to_hasher.send(chunk.clone()).await.is_err() || to_writer.send(chunk).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    body_error = Some(e.to_string());
                    break;
                }
            }
        }
        drop((to_writer, to_hasher));
        let written = writer.await.map_err(join_error)?;
        let (hash, hashed) = hasher.await.map_err(join_error)?;
        let (received, state) = written?;
        if let Some(e) = body_error {
            return Err(StorageError::Body(e));
        }
        // Both saw every chunk the request task passed on, unless the writer failed (above).
        debug_assert_eq!(received, hashed);
        Ok(Appended { received, progress: UploadProgress { length: length + received, hash, backend: state.encode() } })
    }

    pub(crate) async fn commit(
        &self,
        id: &UploadId,
        progress: UploadProgress,
        expected: &Digest,
    ) -> Result<u64, StorageError> {
        let UploadProgress { length, hash, backend } = progress;
        let mut state = FsUploadState::decode(&backend, length, &hash)?;
        let path = self.upload_path(id);
        // The digest comes from the hash state saved with the session: no re-read of the bytes
        // (unless another boot wrote them, see `state.rs`).
        let actual = hash.clone().finish();
        if &actual != expected {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(StorageError::DigestMismatch { expected: expected.clone(), actual });
        }
        let target = self.blob_path(expected);
        // Same digest, same bytes: a blob already there is kept, and the upload need not reach
        // the disk.
        let duplicate = tokio::fs::try_exists(&target).await?;
        let (boot, upload) = (self.boot.clone(), path.clone());
        tokio::task::spawn_blocking(move || -> Result<(), StorageError> {
            let file = open_upload(&upload)?;
            cut_to_recorded(&file, length)?;
            if duplicate { Ok(()) } else { make_durable(&file, &upload, &mut state, &boot, length, &hash) }
        })
        .await
        .map_err(join_error)??;
        if duplicate {
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

    pub(crate) async fn delete_upload(&self, id: &UploadId) -> Result<(), StorageError> {
        match tokio::fs::remove_file(self.upload_path(id)).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    pub(crate) async fn blob_exists(&self, digest: &Digest) -> Result<bool, StorageError> {
        Ok(tokio::fs::try_exists(self.blob_path(digest)).await?)
    }

    pub(crate) async fn read_blob(&self, digest: &Digest, start: u64, len: u64) -> Result<BlobStream, StorageError> {
        let path = self.blob_path(digest);
        let first_len = len.min(READ_CHUNK as u64) as usize;
        // The file is opened and its first chunk mapped before the response starts: a small blob
        // then leaves with its headers in one write, and one that cannot be read gets an error
        // status instead of a 200 cut short.
        let opened = tokio::task::spawn_blocking(move || -> io::Result<_> {
            let file = std::sync::Arc::new(std::fs::File::open(path)?);
            let first = match map_range(&file, start, first_len)? {
                Some(map) => {
                    populate(&map)?;
                    Bytes::from_owner(map)
                }
                None => Bytes::new(),
            };
            Ok((file, first))
        })
        .await
        .map_err(join_error)?;
        let (file, first) = match opened {
            Ok(opened) => opened,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(StorageError::BlobMissing(digest.clone())),
            Err(e) => return Err(e.into()),
        };
        // Each chunk is mapped and handed over as it is, so its bytes are copied once, from the
        // page cache into the socket. The next chunks are mapped while one is sent.
        let end = start + len;
        let rest = futures_util::stream::iter((start + first_len as u64..end).step_by(READ_CHUNK))
            .map(move |offset| {
                let want = (end - offset).min(READ_CHUNK as u64) as usize;
                next_chunk(file.clone(), offset, want)
            })
            .buffered(READ_AHEAD);
        let chunks = futures_util::stream::once(std::future::ready(Ok(first)))
            .chain(rest)
            // A file shorter than asked for ends the stream early, which the HTTP layer reports
            // as a truncated body (Content-Length was promised).
            .take_while(|chunk| std::future::ready(!matches!(chunk, Ok(c) if c.is_empty())));
        Ok(Box::pin(chunks))
    }

    /// The folders exist and a new file can be written where uploads go: a full disk, a
    /// read-only remount or a lost network mount show up here. The file is removed at once.
    pub(crate) async fn check(&self) -> Result<(), StorageError> {
        let blobs = tokio::fs::metadata(self.root.join("blobs")).await?;
        if !blobs.is_dir() {
            return Err(io::Error::other("the blobs folder is not a directory").into());
        }
        let probe = self.root.join("uploads").join(format!(".health-{}", uuid::Uuid::new_v4()));
        tokio::fs::write(&probe, b"berth health check").await?;
        tokio::fs::remove_file(&probe).await?;
        Ok(())
    }
}

/// The data file of upload `path`, open for appending to and for reading back.
fn open_upload(path: &Path) -> Result<std::fs::File, StorageError> {
    match std::fs::OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StorageError::UploadMissing),
        Err(e) => Err(e.into()),
    }
}

/// Checks the upload holds the `length` bytes recorded, and cuts off what an interrupted request
/// left behind them.
fn cut_to_recorded(file: &std::fs::File, length: u64) -> Result<(), StorageError> {
    let actual = file.metadata()?.len();
    if actual < length {
        return Err(StorageError::UploadTruncated { expected: length, actual });
    }
    if actual > length {
        file.set_len(length)?;
    }
    Ok(())
}

/// Makes the upload's first `length` bytes, whose hash state is `hash`, durable, and records it
/// in `state`. Bytes past `state.durable` that another boot wrote are hashed again first, to
/// check a crash did not lose them (see `state.rs`).
///
/// On failure the upload is removed: after a failed `fsync` the page cache may hold bytes the disk
/// does not, and the next `fsync` would not say so; bytes that no longer give their hash are lost.
/// Either way the client must start again.
fn make_durable(
    file: &std::fs::File,
    path: &Path,
    state: &mut FsUploadState,
    boot: &str,
    length: u64,
    hash: &HashState,
) -> Result<(), StorageError> {
    let synced = file.sync_data().map_err(StorageError::from).and_then(|()| {
        if state.boot == boot || state.durable == length {
            return Ok(());
        }
        let mut rehash = state.durable_hash()?;
        let mut buf = vec![0u8; VERIFY_BUFFER];
        let mut offset = state.durable;
        while offset < length {
            let n = (length - offset).min(VERIFY_BUFFER as u64) as usize;
            file.read_exact_at(&mut buf[..n], offset)?;
            rehash.update(&buf[..n]);
            offset += n as u64;
        }
        if rehash.to_bytes() != hash.to_bytes() {
            return Err(StorageError::UploadLost { from: state.durable });
        }
        Ok(())
    });
    if let Err(e) = synced {
        tracing::error!(upload = %path.display(), error = %e, "upload data not durable; the upload is dropped");
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    state.mark_durable(length, hash);
    Ok(())
}

/// This machine's boot id: the kernel draws it at random at each boot. Where there is none, a
/// random id per process: every process then checks bytes another one wrote, which is safe.
fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|id| id.trim().to_owned())
        .ok()
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// A blocking task that panicked or was cancelled, as the I/O error it stands for.
fn join_error(e: tokio::task::JoinError) -> io::Error {
    io::Error::other(e.to_string())
}

async fn sync_dir(dir: &Path) -> io::Result<()> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all()).await.map_err(join_error)?
}

/// Asks the kernel to start writing `len` bytes of `file` from `offset` to disk, without
/// waiting. The `fsync` that makes an append durable then finds most of the body on disk already,
/// instead of writing all of it while the client waits: the disk works while the network delivers.
/// Only a hint: durability still comes from that `fsync`.
fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is open for as long as `file` is borrowed; the call only
        // schedules writeback of the file's own pages.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

/// Received chunks gathered for one write at `start`, up to the next multiple of [`WRITE_STEP`].
struct Step {
    start: u64,
    chunks: Vec<Bytes>,
    len: u64,
    /// Where the bytes not yet handed to writeback begin.
    flushed: u64,
}

impl Step {
    /// Gathers `chunk`, writing each step it completes: the chunk that crosses a step's end is
    /// split there (which copies nothing), and a step is written with one `writev`.
    fn add(&mut self, mut chunk: Bytes, file: &mut std::fs::File) -> io::Result<()> {
        while !chunk.is_empty() {
            let room = WRITE_STEP - (self.start + self.len) % WRITE_STEP;
            let piece =
                if chunk.len() as u64 > room { chunk.split_to(room as usize) } else { std::mem::take(&mut chunk) };
            let ends_step = piece.len() as u64 == room;
            self.len += piece.len() as u64;
            self.chunks.push(piece);
            if ends_step {
                self.write(file)?;
            }
        }
        Ok(())
    }

    /// Writes the gathered chunks, begins the next step after them, and starts the writeback of
    /// each [`WRITEBACK_STEP`] written.
    fn write(&mut self, file: &mut std::fs::File) -> io::Result<()> {
        use std::io::{IoSlice, Write};
        if self.len == 0 {
            return Ok(());
        }
        let mut slices: Vec<IoSlice<'_>> = self.chunks.iter().map(|c| IoSlice::new(c)).collect();
        let mut unwritten = &mut slices[..];
        while !unwritten.is_empty() {
            match file.write_vectored(unwritten) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut unwritten, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.start += self.len;
        self.chunks.clear();
        self.len = 0;
        if self.start - self.flushed >= WRITEBACK_STEP {
            self.hand_to_writeback(file);
        }
        Ok(())
    }

    /// Writes what is gathered and starts the writeback of everything written: a chunked push
    /// would otherwise leave up to a writeback step per request for the commit's fsync to write,
    /// after the last byte instead of beside the others.
    fn finish(&mut self, file: &mut std::fs::File) -> io::Result<()> {
        self.write(file)?;
        self.hand_to_writeback(file);
        Ok(())
    }

    /// Starts the writeback of what was written since the last call.
    fn hand_to_writeback(&mut self, file: &std::fs::File) {
        if self.start > self.flushed {
            start_writeback(file, self.flushed, self.start - self.flushed);
            self.flushed = self.start;
        }
    }
}

/// The chunk of a blob being sent at `offset`, mapped. When its pages are all in the page cache,
/// the common case for a blob pulled again or just pushed, it is sent as it is: the copy into
/// the socket faults its pages in, 16 at a time, and that cannot wait for the disk, so it runs
/// here. (On this host's kernel, 6.18, mapping them all first with `MADV_POPULATE_READ` cost
/// more than those faults: 1 GiB pulls ~12% slower on one stream at 267 against 235 ms of CPU
/// per GiB, and 240 against 195 ms with eight at once. On an earlier host it was 15–20% faster;
/// see BENCHMARKS.md.) Pages that must come from the disk are read in by [`populate`] on a
/// blocking thread. (Handing every chunk to a blocking thread would cost two thread wake-ups per
/// chunk: a single-stream pull ran ~10% faster without them.)
async fn next_chunk(file: std::sync::Arc<std::fs::File>, offset: u64, want: usize) -> io::Result<Bytes> {
    match map_range(&file, offset, want)? {
        None => Ok(Bytes::new()),
        Some(map) if in_page_cache(&map) => Ok(Bytes::from_owner(map)),
        Some(map) => {
            tokio::task::spawn_blocking(move || {
                populate(&map)?;
                Ok(Bytes::from_owner(map))
            })
            .await?
        }
    }
}

/// Up to `want` bytes of `file` from `offset`, mapped rather than read into a buffer; fewer only
/// at the end of the file, and `None` past it. Mapping reads nothing: pages not in the page
/// cache are read in by [`populate`].
///
/// A mapping faults (SIGBUS) where its pages cannot be read. That is avoided, not handled:
/// only bytes the file holds are mapped, committed blobs are never written or truncated again
/// (a new copy is renamed over an old one, and GC unlinks, which leaves mapped pages readable),
/// and pages not in the page cache are read from the disk by `populate`, where a disk error
/// comes back as an error. A cached page evicted before the kernel copies it into the socket is
/// read in by that copy; a disk error there fails the write (`EFAULT`: the fault is the
/// kernel's, not the process's), which ends the response short.
fn map_range(file: &std::fs::File, offset: u64, want: usize) -> io::Result<Option<memmap2::Mmap>> {
    let len = file.metadata()?.len().saturating_sub(offset).min(want as u64) as usize;
    if len == 0 {
        return Ok(None);
    }
    // SAFETY: the mapping is read-only and covers bytes the file holds; see above for why they
    // stay there while it lives.
    Ok(Some(unsafe { memmap2::MmapOptions::new().offset(offset).len(len).map(file)? }))
}

/// Maps every page of `map`, reading from the disk those not in the page cache, so a disk error
/// comes back here as an error, not as a fault while the bytes are sent. Blocks while it reads.
fn populate(map: &memmap2::Mmap) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    match map.advise(memmap2::Advice::PopulateRead) {
        // Kernels before 5.14 lack it: the pages then fault in as they are sent.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
        populated => populated?,
    }
    Ok(())
}

/// Whether every page of `map` is in the page cache (`mincore`), so faulting them in cannot
/// wait for the disk. A page evicted right after the check is read in while the chunk is sent,
/// on a runtime thread: rare, and only slower.
fn in_page_cache(map: &memmap2::Mmap) -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        // memmap2 maps from the page that holds the offset and points past the slack.
        let slack = map.as_ptr() as usize % page;
        let mut resident = vec![0u8; (map.len() + slack).div_ceil(page)];
        // SAFETY: the range is the live mapping, from its page-aligned start, and the vector
        // holds a byte per page of it.
        let status = unsafe {
            libc::mincore(map.as_ptr().sub(slack) as *mut libc::c_void, map.len() + slack, resident.as_mut_ptr())
        };
        status == 0 && resident.iter().all(|b| b & 1 == 1)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = map;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BlobStore;
    use futures_util::{TryStreamExt, stream};

    fn body(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, io::Error>> + Unpin + Send + use<> {
        stream::iter(parts.iter().map(|p| Ok(Bytes::from_static(p))).collect::<Vec<_>>())
    }

    async fn open(dir: &tempfile::TempDir) -> (BlobStore, FsStore) {
        let store = BlobStore::open_filesystem(dir.path()).await.unwrap();
        let fs = FsStore { root: dir.path().to_owned(), boot: boot_id() };
        (store, fs)
    }

    /// The same folder as seen after a reboot, or from another host sharing it.
    fn after_reboot(fs: &FsStore) -> FsStore {
        FsStore { root: fs.root.clone(), boot: uuid::Uuid::new_v4().to_string() }
    }

    async fn read_all(store: &BlobStore, digest: &Digest, start: u64, len: u64) -> Vec<u8> {
        let chunks: Vec<Bytes> = store.read_blob(digest, start, len).await.unwrap().try_collect().await.unwrap();
        chunks.concat()
    }

    #[tokio::test]
    async fn chunked_upload_commits_verified_blob() {
        let dir = tempfile::tempdir().unwrap();
        let (store, fs) = open(&dir).await;
        assert_eq!(store.kind(), "filesystem");
        let id = UploadId::new();
        let p = store.create_upload(&id).await.unwrap();
        assert_eq!(p.length, 0);
        let a = store.append(&id, p, body(&[b"hello ", b"wor"])).await.unwrap();
        assert_eq!((a.received, a.progress.length), (9, 9));
        // Resume from serialized state, as after a restart.
        let p = UploadProgress {
            length: a.progress.length,
            hash: HashState::from_bytes(&a.progress.hash.to_bytes()).unwrap(),
            backend: a.progress.backend.clone(),
        };
        let b = store.append(&id, p, body(&[b"ld"])).await.unwrap();
        let digest = Digest::sha256_of(b"hello world");
        assert_eq!(store.commit(&id, b.progress, &digest).await.unwrap(), 11);
        assert_eq!(tokio::fs::read(fs.blob_path(&digest)).await.unwrap(), b"hello world");
        assert!(!fs.upload_path(&id).exists());
        assert!(store.blob_exists(&digest).await.unwrap());
        assert_eq!(read_all(&store, &digest, 0, 11).await, b"hello world");
        assert_eq!(read_all(&store, &digest, 6, 3).await, b"wor");
        assert_eq!(read_all(&store, &digest, 10, 1).await, b"d");
        assert_eq!(store.presigned_blob_url(&digest, std::time::Duration::from_secs(60)).await.unwrap(), None);
        store.check().await.unwrap();
    }

    /// Commits `data` as one blob through the store.
    async fn commit_blob(store: &BlobStore, data: &[u8]) -> Digest {
        let id = UploadId::new();
        let p = store.create_upload(&id).await.unwrap();
        let body = stream::iter([Ok::<_, io::Error>(Bytes::copy_from_slice(data))]);
        let a = store.append(&id, p, body).await.unwrap();
        let digest = Digest::sha256_of(data);
        store.commit(&id, a.progress, &digest).await.unwrap();
        digest
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[tokio::test]
    async fn blobs_of_several_chunks_read_back_from_any_offset() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = open(&dir).await;
        let data = pattern(2 * READ_CHUNK + 12_345);
        let digest = commit_blob(&store, &data).await;
        // Whole, from unaligned offsets, across chunk boundaries, and the last byte alone.
        for (start, len) in
            [(0, data.len()), (1, data.len() - 1), (READ_CHUNK - 3, 10), (4097, READ_CHUNK + 5000), (data.len() - 1, 1)]
        {
            let got = read_all(&store, &digest, start as u64, len as u64).await;
            assert!(got == data[start..start + len], "{len} bytes from {start}");
        }
    }

    #[tokio::test]
    async fn chunks_of_any_size_are_written_whole_across_write_steps() {
        let dir = tempfile::tempdir().unwrap();
        let (store, fs) = open(&dir).await;
        let step = WRITE_STEP as usize;
        let data = Bytes::from(pattern(4 * step + 777));
        // Chunks smaller than a step, empty, crossing a step's end, ending on one, larger than
        // two steps; the second append starts off a step's end, as a chunked push's do.
        let cut = |ends: &[usize]| {
            let mut start = ends[0];
            let parts: Vec<_> = ends[1..]
                .iter()
                .map(|&end| {
                    let part = data.slice(start..end);
                    start = end;
                    Ok::<_, io::Error>(part)
                })
                .collect();
            stream::iter(parts)
        };
        let id = UploadId::new();
        let p = store.create_upload(&id).await.unwrap();
        let a = store.append(&id, p, cut(&[0, 1, 1, 12_345, step, step + 5])).await.unwrap();
        let b = store
            .append(&id, a.progress, cut(&[step + 5, 2 * step - 1, 2 * step + 2, 4 * step + 700, data.len()]))
            .await
            .unwrap();
        assert_eq!(b.progress.length, data.len() as u64);
        let digest = Digest::sha256_of(&data);
        store.commit(&id, b.progress, &digest).await.unwrap();
        assert!(std::fs::read(fs.blob_path(&digest)).unwrap() == data, "the file holds every byte, in order");
    }

    #[test]
    fn writes_end_on_multiples_of_the_step_and_all_are_handed_to_writeback() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let mut file = std::fs::File::create(dir.path().join("upload")).unwrap();
        file.write_all(b"12345").unwrap();
        let mut step = Step { start: 5, chunks: Vec::new(), len: 0, flushed: 5 };
        let step_len = WRITE_STEP as usize;
        let mut sent = 5;
        for len in [1, 100, step_len - 50, step_len, 3 * step_len + 7, 10] {
            step.add(Bytes::from(pattern(len)), &mut file).unwrap();
            sent += len as u64;
            // Everything sent is written or gathered; what is written ends on a step's end.
            assert_eq!(step.start + step.len, sent);
            assert!(step.start == 5 || step.start.is_multiple_of(WRITE_STEP), "wrote up to {}", step.start);
            assert!(step.len < WRITE_STEP);
            assert_eq!(file.metadata().unwrap().len(), step.start);
            // Writeback was started for all but the last writeback step at most.
            assert!(step.start - step.flushed < WRITEBACK_STEP);
        }
        step.finish(&mut file).unwrap();
        assert_eq!((file.metadata().unwrap().len(), step.flushed), (sent, sent));
    }

    #[tokio::test]
    async fn chunks_in_the_page_cache_and_chunks_read_from_disk_both_come_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (store, fs) = open(&dir).await;
        let data = pattern(3 * READ_CHUNK + 1);
        let digest = commit_blob(&store, &data).await;
        let file = std::fs::File::open(fs.blob_path(&digest)).unwrap();
        let cached = |offset| in_page_cache(&map_range(&file, offset, READ_CHUNK).unwrap().unwrap());
        assert!(cached(READ_CHUNK as u64), "just written, so cached");

        // Dropped from the cache (the blob was synced, so its pages are clean and can go): the
        // chunks are then faulted in on a blocking thread, from the disk.
        use std::os::fd::AsRawFd;
        // SAFETY: a hint about the open descriptor's own pages.
        assert_eq!(unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) }, 0);
        assert!(!cached(READ_CHUNK as u64) && !cached(3 * READ_CHUNK as u64 - 5));
        assert!(read_all(&store, &digest, 0, data.len() as u64).await == data);
        // Read once, they are cached again, unaligned ranges and the one-byte tail included.
        assert!(cached(READ_CHUNK as u64 + 4097) && cached(3 * READ_CHUNK as u64));
        assert!(read_all(&store, &digest, 5, data.len() as u64 - 5).await == data[5..]);
    }

    #[tokio::test]
    async fn a_blob_removed_while_streaming_is_sent_whole_and_one_cut_short_ends_early() {
        let dir = tempfile::tempdir().unwrap();
        let (store, fs) = open(&dir).await;
        let data = pattern(3 * READ_CHUNK);
        let len = data.len() as u64;

        // Unlinked mid-stream (as garbage collection does): the open file still serves every byte.
        let digest = commit_blob(&store, &data).await;
        let mut chunks = store.read_blob(&digest, 0, len).await.unwrap();
        let first = chunks.try_next().await.unwrap().unwrap();
        std::fs::remove_file(fs.blob_path(&digest)).unwrap();
        let rest: Vec<Bytes> = chunks.try_collect().await.unwrap();
        assert!([first, rest.concat().into()].concat() == data);

        // Shorter on disk than recorded (damaged outside Berth): only what is there is mapped, so
        // the stream ends early (the HTTP layer reports a truncated body) instead of faulting.
        let digest = commit_blob(&store, &data).await;
        let kept = READ_CHUNK as u64 + 100;
        std::fs::OpenOptions::new().write(true).open(fs.blob_path(&digest)).unwrap().set_len(kept).unwrap();
        let got = read_all(&store, &digest, 0, len).await;
        assert!(got == data[..kept as usize], "{} bytes", got.len());
    }

    #[tokio::test]
    async fn leftovers_of_an_interrupted_append_are_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let (store, fs) = open(&dir).await;
        let id = UploadId::new();
        let p = store.create_upload(&id).await.unwrap();
        let a = store.append(&id, p, body(&[b"abc"])).await.unwrap();
        // A request that died after writing but before its length was recorded.
        std::fs::write(fs.upload_path(&id), b"abcGARBAGE").unwrap();
        let b = store.append(&id, a.progress, body(&[b"def"])).await.unwrap();
        // And one that died the same way before the commit.
        std::fs::write(fs.upload_path(&id), b"abcdefMORE").unwrap();
        let digest = Digest::sha256_of(b"abcdef");
        store.commit(&id, b.progress, &digest).await.unwrap();
        assert_eq!(tokio::fs::read(fs.blob_path(&digest)).await.unwrap(), b"abcdef");
    }

    #[tokio::test]
    async fn bytes_appended_under_another_boot_are_synced_and_checked_before_they_count() {
        let dir = tempfile::tempdir().unwrap();
        let (_, fs) = open(&dir).await;
        let id = UploadId::new();
        let p = fs.create_upload(&id).await.unwrap();
        let a = fs.append(&id, p, body(&[b"hello ", b"wor"])).await.unwrap();
        let state = FsUploadState::decode(&a.progress.backend, 9, &a.progress.hash).unwrap();
        assert_eq!((state.boot.as_str(), state.durable), (fs.boot.as_str(), 0), "appends do not wait for the disk");

        // Continued under another boot: the 9 bytes are synced, hashed again and found intact.
        let rebooted = after_reboot(&fs);
        let b = rebooted.append(&id, a.progress, body(&[b"ld"])).await.unwrap();
        let state = FsUploadState::decode(&b.progress.backend, 11, &b.progress.hash).unwrap();
        assert_eq!((state.boot.as_str(), state.durable), (rebooted.boot.as_str(), 9));
        assert_eq!(state.durable_hash().unwrap().finish(), Digest::sha256_of(b"hello wor"));

        // Committed under a third: only the last 2 bytes are hashed again, and they too are intact.
        let digest = Digest::sha256_of(b"hello world");
        assert_eq!(after_reboot(&fs).commit(&id, b.progress, &digest).await.unwrap(), 11);
        assert_eq!(std::fs::read(fs.blob_path(&digest)).unwrap(), b"hello world");
    }

    #[tokio::test]
    async fn bytes_a_crash_of_the_machine_lost_end_the_session() {
        let dir = tempfile::tempdir().unwrap();
        let (_, fs) = open(&dir).await;
        // As a power cut may leave a file: its length on disk, but not its last bytes.
        let lose_last_bytes = |id: &UploadId| {
            let file = std::fs::OpenOptions::new().write(true).open(fs.upload_path(id)).unwrap();
            file.write_all_at(b"\0\0", 7).unwrap();
        };
        for commit in [false, true] {
            let id = UploadId::new();
            let p = fs.create_upload(&id).await.unwrap();
            let a = fs.append(&id, p, body(&[b"hello wor"])).await.unwrap();
            lose_last_bytes(&id);
            let rebooted = after_reboot(&fs);
            let err = if commit {
                rebooted.commit(&id, a.progress, &Digest::sha256_of(b"hello wor")).await.unwrap_err()
            } else {
                rebooted.append(&id, a.progress, body(&[b"ld"])).await.unwrap_err()
            };
            assert!(matches!(err, StorageError::UploadLost { from: 0 }), "{err}");
            assert!(!fs.upload_path(&id).exists(), "a lost session's data goes");
            assert!(!fs.blob_path(&Digest::sha256_of(b"hello wor")).exists());
        }
    }

    #[tokio::test]
    async fn a_session_an_older_version_recorded_continues() {
        let dir = tempfile::tempdir().unwrap();
        let (_, fs) = open(&dir).await;
        let id = UploadId::new();
        let p = fs.create_upload(&id).await.unwrap();
        let a = fs.append(&id, p, body(&[b"hello "])).await.unwrap();
        // Versions that synced every append recorded no backend state.
        let older = UploadProgress { backend: Vec::new(), ..a.progress };
        let b = after_reboot(&fs).append(&id, older, body(&[b"world"])).await.unwrap();
        let digest = Digest::sha256_of(b"hello world");
        assert_eq!(fs.commit(&id, b.progress, &digest).await.unwrap(), 11);
    }

    #[tokio::test]
    async fn digest_mismatch_leaves_no_blob() {
        let dir = tempfile::tempdir().unwrap();
        let (store, fs) = open(&dir).await;
        let id = UploadId::new();
        let p = store.create_upload(&id).await.unwrap();
        let a = store.append(&id, p, body(&[b"abc"])).await.unwrap();
        let wrong = Digest::sha256_of(b"abd");
        let err = store.commit(&id, a.progress, &wrong).await.unwrap_err();
        assert!(matches!(err, StorageError::DigestMismatch { .. }));
        assert!(!fs.blob_path(&wrong).exists());
        assert!(!fs.upload_path(&id).exists());
        assert!(!store.blob_exists(&wrong).await.unwrap());
    }

    #[tokio::test]
    async fn zero_length_blob_dedupe_and_missing_blob() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = open(&dir).await;
        let empty = Digest::sha256_of(b"");
        for _ in 0..2 {
            let id = UploadId::new();
            let p = store.create_upload(&id).await.unwrap();
            let a = store.append(&id, p, body(&[])).await.unwrap();
            assert_eq!(store.commit(&id, a.progress, &empty).await.unwrap(), 0);
        }
        assert_eq!(read_all(&store, &empty, 0, 0).await, b"");
        let missing = Digest::sha256_of(b"never pushed");
        assert!(matches!(store.read_blob(&missing, 0, 1).await, Err(StorageError::BlobMissing(_))));
    }

    #[tokio::test]
    async fn deleted_upload_is_missing_and_delete_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = open(&dir).await;
        let id = UploadId::new();
        let p = store.create_upload(&id).await.unwrap();
        store.delete_upload(&id, &p).await.unwrap();
        store.delete_upload(&id, &p).await.unwrap();
        let err = store.append(&id, p, body(&[b"x"])).await.unwrap_err();
        assert!(matches!(err, StorageError::UploadMissing));
    }
}
