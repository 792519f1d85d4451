//! Writing uploads: a session's file, the request bodies appended to it in aligned steps, and
//! the commit that makes it a blob once its digest is verified and its bytes are durable.

use std::io;
use std::io::SeekFrom;
use std::os::unix::fs::FileExt;
use std::path::Path;

use berth_oci::Digest;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::state::FsUploadState;
use super::{FsStore, join_error};
use crate::{Appended, HashState, StorageError, UploadId, UploadProgress};

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

/// Bytes read at a time when hashing an upload's bytes again (see [`make_durable`]).
const VERIFY_BUFFER: usize = 1024 * 1024;

impl FsStore {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::tests::{body, open, pattern};
    use futures_util::stream;

    /// The same folder as seen after a reboot, or from another host sharing it.
    fn after_reboot(fs: &FsStore) -> FsStore {
        FsStore { root: fs.root.clone(), boot: uuid::Uuid::new_v4().to_string() }
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
    async fn deleted_upload_is_missing_and_delete_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = open(&dir).await;
        let id = UploadId::new();
        let p = store.create_upload(&id).await.unwrap();
        store.delete_upload(&id).await.unwrap();
        store.delete_upload(&id).await.unwrap();
        let err = store.append(&id, p, body(&[b"x"])).await.unwrap_err();
        assert!(matches!(err, StorageError::UploadMissing));
    }
}
