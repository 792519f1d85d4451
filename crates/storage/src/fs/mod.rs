//! The filesystem backend: one file per upload session under `uploads/`, `fsync`ed and renamed
//! into `blobs/` once verified.
//!
//! The upload file may hold bytes past the recorded length: leftovers of a request that wrote
//! but died before the caller recorded its progress. They are cut off before the next append and
//! at commit, so the recorded length is the truth. Appends do not wait for the disk; `state.rs`
//! says why that is safe.

mod read;
mod state;
mod sweep;
mod write;

use std::io;
use std::path::PathBuf;

use berth_oci::Digest;

use crate::{StorageError, UploadId, Volume};

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

impl FsStore {
    /// The size and free space of the file system the blobs are on, in bytes.
    pub(crate) async fn volume(&self) -> Result<Volume, StorageError> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || statvfs(&root)).await.map_err(join_error)?.map_err(Into::into)
    }
}

fn statvfs(path: &std::path::Path) -> io::Result<Volume> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a NUL-terminated string that outlives the call, and `stat` points at
    // memory the size of a `statvfs`, which the call fills when it returns 0.
    if unsafe { libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the call returned 0, so it filled `stat`.
    let stat = unsafe { stat.assume_init() };
    let block = stat.f_frsize;
    // What an unprivileged writer may still use (`f_bavail`), as `df` shows it.
    Ok(Volume { total: stat.f_blocks * block, free: stat.f_bavail * block })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlobStore, HashState, UploadProgress};
    use bytes::Bytes;
    use futures_util::{Stream, TryStreamExt, stream};

    // Helpers shared with the tests of `write.rs` and `read.rs`.

    pub(super) fn body(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, io::Error>> + Unpin + Send + use<> {
        stream::iter(parts.iter().map(|p| Ok(Bytes::from_static(p))).collect::<Vec<_>>())
    }

    pub(super) async fn open(dir: &tempfile::TempDir) -> (BlobStore, FsStore) {
        let store = BlobStore::open_filesystem(dir.path()).await.unwrap();
        let fs = FsStore { root: dir.path().to_owned(), boot: boot_id() };
        (store, fs)
    }

    pub(super) async fn read_all(store: &BlobStore, digest: &Digest, start: u64, len: u64) -> Vec<u8> {
        let chunks: Vec<Bytes> = store.read_blob(digest, start, len).await.unwrap().try_collect().await.unwrap();
        chunks.concat()
    }

    pub(super) fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[tokio::test]
    async fn the_volume_is_the_file_systems() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path().to_path_buf()).await.unwrap();
        let volume = store.volume().await.unwrap();
        assert!(volume.total > 0 && volume.free <= volume.total, "{volume:?}");
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
}
