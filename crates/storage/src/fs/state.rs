//! What the filesystem backend records with an upload session: the backend part of
//! [`crate::UploadProgress`], stored by the caller as JSON, e.g.
//!
//! ```json
//! {"v":1,"boot":"5f1c0e2a-…","durable":10485760,"durable_hash":"6a09e667…"}
//! ```
//!
//! An append leaves its bytes in the page cache (writeback started, not waited for); the commit
//! `fsync`s the file once. Waiting for the disk at the end of every chunk made each `PATCH` of a
//! chunked push wait for its last megabytes and a journal commit.
//!
//! The caller records the session's length and hash state after each append, so the recorded hash
//! may cover bytes still only in the page cache. A crash of Berth loses none of them: the page
//! cache belongs to the kernel. A crash of the machine can, and a commit after it would then store
//! a blob whose bytes do not give its digest. So the state names the boot of the machine whose
//! page cache took the bytes (the kernel's random boot id, shared by every process and container
//! on that kernel), and how many bytes are known durable, with their hash state. A request served
//! under another boot — after a reboot, or on another host sharing the volume — first `fsync`s the
//! file and hashes the bytes past the durable ones again. If they no longer give the recorded hash
//! state, the session is lost and the client starts again, as it would had the crash come a moment
//! earlier; if they do, they are durable now, and the count moves up to them.

use serde::{Deserialize, Serialize};

use crate::{HashState, StorageError};

const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FsUploadState {
    v: u32,
    /// The boot whose page cache took the bytes past [`Self::durable`].
    pub(crate) boot: String,
    /// Bytes known to be on disk and to give [`Self::durable_hash`].
    pub(crate) durable: u64,
    /// Hex of the hash state after the first `durable` bytes.
    durable_hash: String,
}

impl FsUploadState {
    /// The state of a new, empty session on `boot`.
    pub(crate) fn new(boot: &str) -> FsUploadState {
        FsUploadState::durable_at(boot, 0, &HashState::new())
    }

    fn durable_at(boot: &str, durable: u64, hash: &HashState) -> FsUploadState {
        FsUploadState { v: VERSION, boot: boot.to_owned(), durable, durable_hash: hex::encode(hash.to_bytes()) }
    }

    /// Reads the state recorded for a session of `length` bytes whose hash state is `hash`.
    pub(crate) fn decode(bytes: &[u8], length: u64, hash: &HashState) -> Result<FsUploadState, StorageError> {
        if bytes.is_empty() {
            // Recorded by a version of Berth that synced every append before its progress was
            // recorded: every recorded byte is durable.
            return Ok(FsUploadState::durable_at("", length, hash));
        }
        // Not ours (the state of an S3 session: storage switched mid-session), so the bytes are
        // not in this folder.
        let state: FsUploadState = serde_json::from_slice(bytes).map_err(|_| StorageError::UploadMissing)?;
        if state.v != VERSION {
            return Err(StorageError::Backend(format!("invalid upload state: unknown version {}", state.v)));
        }
        if state.durable > length {
            return Err(StorageError::Backend(format!(
                "invalid upload state: {} bytes durable of {length} recorded",
                state.durable
            )));
        }
        state.durable_hash()?;
        Ok(state)
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("upload state serializes")
    }

    pub(crate) fn durable_hash(&self) -> Result<HashState, StorageError> {
        hex::decode(&self.durable_hash)
            .ok()
            .and_then(|bytes| HashState::from_bytes(&bytes))
            .ok_or_else(|| StorageError::Backend("invalid upload state: unreadable hash state".into()))
    }

    /// Records that the first `length` bytes, giving `hash`, are on disk.
    pub(crate) fn mark_durable(&mut self, length: u64, hash: &HashState) {
        *self = FsUploadState::durable_at(&self.boot, length, hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of(bytes: &[u8]) -> HashState {
        let mut h = HashState::new();
        h.update(bytes);
        h
    }

    #[test]
    fn round_trips_and_checks_what_it_reads() {
        let mut state = FsUploadState::new("boot-a");
        state.mark_durable(5, &hash_of(b"hello"));
        let decoded = FsUploadState::decode(&state.encode(), 9, &hash_of(b"hello wor")).unwrap();
        assert_eq!(decoded, state);
        assert_eq!(decoded.durable_hash().unwrap().to_bytes(), hash_of(b"hello").to_bytes());

        // More durable bytes than the session holds: not a state this backend writes.
        assert!(matches!(FsUploadState::decode(&state.encode(), 4, &hash_of(b"hell")), Err(StorageError::Backend(_))));
        let mut bad = state.clone();
        bad.durable_hash = "zz".into();
        assert!(matches!(FsUploadState::decode(&bad.encode(), 9, &hash_of(b"x")), Err(StorageError::Backend(_))));
        let mut future = state.clone();
        future.v = 2;
        assert!(matches!(FsUploadState::decode(&future.encode(), 9, &hash_of(b"x")), Err(StorageError::Backend(_))));
        // An S3 session's state: its bytes are not here.
        let s3 = br#"{"v":1,"part_size":8388608,"tail":{"nonce":"00","size":3}}"#;
        assert!(matches!(FsUploadState::decode(s3, 3, &hash_of(b"abc")), Err(StorageError::UploadMissing)));
    }

    #[test]
    fn a_session_recorded_without_state_is_durable_to_its_length() {
        let state = FsUploadState::decode(b"", 3, &hash_of(b"abc")).unwrap();
        assert_eq!(state.durable, 3);
        assert_eq!(state.durable_hash().unwrap().to_bytes(), hash_of(b"abc").to_bytes());
        assert_ne!(state.boot, FsUploadState::new("boot-a").boot);
    }
}
