//! The running SHA-256 of an upload, serializable so a session can continue after a restart (or,
//! later, on another instance) without re-reading the bytes already received.

use berth_oci::Digest;
use sha2::digest::common::hazmat::{SerializableState, SerializedState};
use sha2::{Digest as _, Sha256};

#[derive(Clone, Default)]
pub struct HashState(Sha256);

impl std::fmt::Debug for HashState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashState")
    }
}

impl HashState {
    pub fn new() -> HashState {
        HashState(Sha256::new())
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub fn finish(self) -> Digest {
        Digest::from_sha256_output(&self.0.finalize())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.serialize().to_vec()
    }

    /// `None` if `bytes` is not a state this version wrote.
    pub fn from_bytes(bytes: &[u8]) -> Option<HashState> {
        let state = SerializedState::<Sha256>::try_from(bytes).ok()?;
        Sha256::deserialize(&state).ok().map(HashState)
    }
}
