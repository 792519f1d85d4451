//! Where an S3 upload session's bytes are: the backend part of [`crate::UploadProgress`], stored
//! by the caller as JSON, e.g.
//!
//! ```json
//! {"v":1,"part_size":8388608,
//!  "runs":[{"nonce":"3f0c…","first":0,"count":2},{"nonce":"9a41…","first":2,"count":1}],
//!  "tail":{"nonce":"77be…","size":1234}}
//! ```
//!
//! The session's bytes, in order, are its full parts — objects `uploads/<id>/part-<index>-<nonce>`
//! of exactly `part_size` bytes, written in runs of consecutive indexes by one request each —
//! then the tail, `uploads/<id>/tail-<nonce>`, shorter than a part. Every request picks a fresh
//! random nonce, so two requests racing from the same recorded state write different objects:
//! whichever the caller records, the other's objects are never referenced and cannot overwrite
//! anything that is.

use serde::{Deserialize, Serialize};

use crate::StorageError;

const VERSION: u32 = 1;

/// S3's smallest allowed part (all but the last part of a multipart upload).
pub(crate) const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// S3's largest part number: an object is assembled from at most this many parts.
pub(crate) const MAX_PARTS: u64 = 10_000;

/// S3's largest object, and so the largest blob: 5 TiB.
pub(crate) const MAX_BLOB_SIZE: u64 = 5 << 40;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UploadState {
    v: u32,
    /// Size of every full part. Recorded, not assumed, so a session started by a version of
    /// Berth with another part size finishes with the one it started with.
    pub(crate) part_size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) runs: Vec<Run>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tail: Option<Tail>,
}

/// Full parts `first .. first + count`, written by one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Run {
    pub(crate) nonce: String,
    pub(crate) first: u64,
    pub(crate) count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Tail {
    pub(crate) nonce: String,
    pub(crate) size: u64,
}

impl UploadState {
    pub(crate) fn new(part_size: u64) -> UploadState {
        UploadState { v: VERSION, part_size, runs: Vec::new(), tail: None }
    }

    /// Reads the state recorded for a session of `length` bytes, checking that it describes
    /// exactly that many bytes in well-formed object names (the bytes come from the database;
    /// they must never steer us to other keys). `part_size` is for a session without state.
    pub(crate) fn decode(bytes: &[u8], length: u64, part_size: u64) -> Result<UploadState, StorageError> {
        if bytes.is_empty() {
            // No state: a session that holds nothing yet is fine whoever created it; one that
            // holds bytes was started on the filesystem backend (storage switched mid-session),
            // and its bytes are not in this bucket.
            return if length == 0 { Ok(UploadState::new(part_size)) } else { Err(StorageError::UploadMissing) };
        }
        let state: UploadState = serde_json::from_slice(bytes)
            .map_err(|e| StorageError::Backend(format!("unreadable upload state: {e}")))?;
        let invalid = |why: &str| Err(StorageError::Backend(format!("invalid upload state: {why}")));
        if state.v != VERSION {
            return invalid(&format!("unknown version {}", state.v));
        }
        if state.part_size < MIN_PART_SIZE {
            return invalid("part size below S3's minimum");
        }
        let mut next = 0u64;
        for run in &state.runs {
            if run.first != next || run.count == 0 || !is_nonce(&run.nonce) {
                return invalid("malformed run of parts");
            }
            next += run.count;
        }
        if next.saturating_mul(state.part_size) > MAX_BLOB_SIZE {
            return invalid("more parts than the largest blob has");
        }
        if let Some(tail) = &state.tail
            && (tail.size == 0 || tail.size >= state.part_size || !is_nonce(&tail.nonce))
        {
            return invalid("malformed tail");
        }
        if state.len() != length {
            return invalid(&format!("describes {} bytes, {length} recorded", state.len()));
        }
        Ok(state)
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("upload state serializes")
    }

    pub(crate) fn part_count(&self) -> u64 {
        self.runs.last().map_or(0, |r| r.first + r.count)
    }

    /// Bytes described: full parts plus tail.
    pub(crate) fn len(&self) -> u64 {
        self.part_count() * self.part_size + self.tail.as_ref().map_or(0, |t| t.size)
    }

    /// `(index, nonce)` of every full part, in order.
    pub(crate) fn parts(&self) -> impl Iterator<Item = (u64, &str)> {
        self.runs.iter().flat_map(|r| (r.first..r.first + r.count).map(move |i| (i, r.nonce.as_str())))
    }
}

/// A fresh random name component for the objects one request writes.
pub(crate) fn new_nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn is_nonce(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PS: u64 = MIN_PART_SIZE;

    #[test]
    fn round_trip_and_length() {
        let mut s = UploadState::new(PS);
        assert_eq!(UploadState::decode(&s.encode(), 0, PS).unwrap(), s);
        s.runs.push(Run { nonce: new_nonce(), first: 0, count: 2 });
        s.runs.push(Run { nonce: new_nonce(), first: 2, count: 1 });
        s.tail = Some(Tail { nonce: new_nonce(), size: 7 });
        assert_eq!(s.len(), 3 * PS + 7);
        assert_eq!(UploadState::decode(&s.encode(), 3 * PS + 7, PS).unwrap(), s);
        let indexes: Vec<u64> = s.parts().map(|(i, _)| i).collect();
        assert_eq!(indexes, [0, 1, 2]);
        assert_eq!(s.parts().nth(2).unwrap().1, s.runs[1].nonce);
    }

    #[test]
    fn rejects_inconsistent_or_hostile_states() {
        let mut s = UploadState::new(PS);
        s.tail = Some(Tail { nonce: new_nonce(), size: 7 });
        // Length disagrees with the database.
        assert!(matches!(UploadState::decode(&s.encode(), 8, PS), Err(StorageError::Backend(_))));
        // A nonce that would name another key.
        s.tail = Some(Tail { nonce: "../../blobs/sha256/ab/x".into(), size: 7 });
        assert!(UploadState::decode(&s.encode(), 7, PS).is_err());
        // A gap between runs.
        let mut s = UploadState::new(PS);
        s.runs.push(Run { nonce: new_nonce(), first: 1, count: 1 });
        assert!(UploadState::decode(&s.encode(), PS, PS).is_err());
        // More parts than the largest blob holds.
        let mut s = UploadState::new(PS);
        let count = MAX_BLOB_SIZE / PS + 1;
        s.runs.push(Run { nonce: new_nonce(), first: 0, count });
        assert!(UploadState::decode(&s.encode(), count * PS, PS).is_err());
        // Parts too small for S3.
        assert!(UploadState::decode(&UploadState::new(1024).encode(), 0, PS).is_err());
        // Garbage, and a filesystem session's empty state (fine while it holds nothing).
        assert!(matches!(UploadState::decode(b"{", 0, PS), Err(StorageError::Backend(_))));
        assert_eq!(UploadState::decode(b"", 0, PS).unwrap(), UploadState::new(PS));
        assert!(matches!(UploadState::decode(b"", 1, PS), Err(StorageError::UploadMissing)));
    }
}
