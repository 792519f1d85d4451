//! Chunks of blobs being sent, mapped from their files, and where each came from.
//!
//! A chunk leaves as ordinary bytes, so any connection can send it. A plain TCP connection
//! can do better: given the file and offset behind the bytes it is asked to write, it lets the
//! kernel send the page-cache pages themselves (`sendfile`) instead of copying them into the
//! socket, which takes the server's copy out of a pull. The HTTP layer only ever passes byte
//! slices down to the connection, so the connection finds the file here, by address.
//!
//! An address names one chunk for exactly as long as the chunk lives: a chunk is registered
//! when it is mapped and removed before it is unmapped, and no other memory can share the
//! addresses of a live mapping. A slice being written belongs to a live chunk (the writer
//! borrows it), so what a lookup finds for it is its own file and offset.

use std::collections::BTreeMap;
use std::fs::File;
use std::sync::{Arc, LazyLock, RwLock};

use bytes::Bytes;

/// Live chunks by the address of their first byte.
static CHUNKS: LazyLock<RwLock<BTreeMap<usize, Source>>> = LazyLock::new(Default::default);

struct Source {
    len: usize,
    file: Arc<File>,
    offset: u64,
}

/// A mapped range of a blob file, as the owner of the bytes handed to the HTTP layer.
struct MappedChunk {
    map: memmap2::Mmap,
}

impl AsRef<[u8]> for MappedChunk {
    fn as_ref(&self) -> &[u8] {
        &self.map
    }
}

impl Drop for MappedChunk {
    fn drop(&mut self) {
        // Before the mapping goes (when `map` drops, right after this): its addresses may then
        // be handed out again.
        chunks_mut().remove(&(self.map.as_ptr() as usize));
    }
}

/// `map`, which maps `file` from `offset`, as bytes to send.
pub(super) fn chunk(map: memmap2::Mmap, file: Arc<File>, offset: u64) -> Bytes {
    let source = Source { len: map.len(), file, offset };
    chunks_mut().insert(map.as_ptr() as usize, source);
    Bytes::from_owner(MappedChunk { map })
}

/// The file and offset that hold `bytes`, if they are (all) part of a blob chunk being sent.
pub fn mapped_file_range(bytes: &[u8]) -> Option<(Arc<File>, u64)> {
    let start = bytes.as_ptr() as usize;
    let chunks = CHUNKS.read().unwrap_or_else(|poisoned| poisoned.into_inner());
    let (&base, source) = chunks.range(..=start).next_back()?;
    let skip = start - base;
    (skip + bytes.len() <= source.len).then(|| (source.file.clone(), source.offset + skip as u64))
}

fn chunks_mut() -> std::sync::RwLockWriteGuard<'static, BTreeMap<usize, Source>> {
    // The map is consistent after any panic (single insert or remove), so a poisoned lock is
    // still good to use.
    CHUNKS.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn file_of(len: usize) -> (tempfile::NamedTempFile, Arc<File>) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&(0..len).map(|i| (i % 251) as u8).collect::<Vec<_>>()).unwrap();
        let file = Arc::new(File::open(f.path()).unwrap());
        (f, file)
    }

    fn map(file: &File, offset: u64, len: usize) -> memmap2::Mmap {
        // SAFETY: the test's file is not changed while mapped.
        unsafe { memmap2::MmapOptions::new().offset(offset).len(len).map(file).unwrap() }
    }

    #[test]
    fn slices_of_a_chunk_name_their_place_in_the_file_until_it_is_dropped() {
        let (_tmp, file) = file_of(3 * 4096 + 100);
        let bytes = chunk(map(&file, 4096, 2 * 4096 + 50), file.clone(), 4096);
        assert_eq!(bytes[0], (4096 % 251) as u8);

        let (found, offset) = mapped_file_range(&bytes).unwrap();
        assert!(Arc::ptr_eq(&found, &file));
        assert_eq!(offset, 4096);
        let (_, offset) = mapped_file_range(&bytes[10..20]).unwrap();
        assert_eq!(offset, 4106);
        let (_, offset) = mapped_file_range(&bytes[bytes.len() - 1..]).unwrap();
        assert_eq!(offset, 4096 + bytes.len() as u64 - 1);

        // A slice of a clone is still the chunk; once the last handle goes, nothing is found.
        let tail = bytes.slice(100..);
        drop(bytes);
        assert_eq!(mapped_file_range(&tail).unwrap().1, 4196);
        let ptr = tail.as_ptr();
        drop(tail);
        // SAFETY: only the address is used, never read through. (Another test may map the same
        // addresses meanwhile, hence the check on the file.)
        let gone = unsafe { std::slice::from_raw_parts(ptr, 0) };
        assert!(mapped_file_range(gone).is_none_or(|(f, _)| !Arc::ptr_eq(&f, &file)));
    }

    #[test]
    fn other_memory_is_not_a_chunk() {
        let (_tmp, file) = file_of(4096);
        let bytes = chunk(map(&file, 0, 4096), file, 0);
        assert!(mapped_file_range(&vec![1u8; 4096]).is_none());
        assert!(mapped_file_range(b"static bytes").is_none());
        assert!(mapped_file_range(&bytes).is_some());
    }
}
