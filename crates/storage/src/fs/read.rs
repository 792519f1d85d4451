//! Reading blobs: whether one is there, and its bytes as a stream of chunks mapped from its file.

use std::io;

use berth_oci::Digest;
use bytes::Bytes;
use futures_util::StreamExt;

use super::{FsStore, join_error};
use crate::{BlobStream, StorageError};

/// Bytes mapped at a time when streaming a blob out: large enough for few syscalls and thread
/// hand-offs, small per connection (with the read-ahead, at most 6 MiB of page cache mapped per
/// stream). One stream here: 1 MiB chunks ~4.2 GB/s, 2 MiB ~5.5 GB/s, 4 MiB no better.
const READ_CHUNK: usize = 2 * 1024 * 1024;

/// Chunks mapped ahead of the one being sent.
const READ_AHEAD: usize = 2;

impl FsStore {
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
    use crate::fs::tests::{open, pattern, read_all};
    use crate::{BlobStore, UploadId};
    use futures_util::{TryStreamExt, stream};

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
}
