//! OCI vocabulary with no I/O: digests, repository names, references, media types, the byte
//! ranges of upload and blob headers, and manifest parsing/validation. Everything here is pure so
//! it can be unit-tested and fuzzed in isolation (`fuzz/`, checks in `berth-fuzz-checks`).

pub mod digest;
pub mod escape;
pub mod manifest;
pub mod media_type;
pub mod name;
pub mod range;
pub mod reference;

pub use digest::{Digest, DigestError};
pub use manifest::{Descriptor, ManifestError, ManifestKind, ParsedManifest};
pub use name::{NameError, RepoName};
pub use reference::{Reference, ReferenceError, Tag};
