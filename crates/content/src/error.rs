//! Why storing or reading content failed. Each variant is something a client can be told; only
//! [`ContentError::Meta`] and the I/O side of [`ContentError::Storage`] are the server's fault.

use berth_meta::MetaError;
use berth_oci::Digest;
use berth_oci::manifest::MAX_MANIFEST_SIZE;
use berth_storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("manifest exceeds {MAX_MANIFEST_SIZE} bytes")]
    ManifestTooLarge,
    /// Not a manifest Berth accepts, or one that contradicts the content it references.
    #[error("{0}")]
    ManifestInvalid(String),
    /// A digest that is malformed, or not one this operation can verify.
    #[error("{0}")]
    DigestInvalid(String),
    #[error("manifest digest is {actual}, not {expected}")]
    ManifestDigestMismatch { expected: Digest, actual: Digest },
    /// No such artifact: the one to copy, or a child or accessory of it.
    #[error("artifact {0} not found")]
    ArtifactUnknown(String),
    /// A manifest references a blob or child manifest the repository does not hold.
    #[error("manifest references {0}, which is not in the repository")]
    MissingReference(String),
    /// The change would take the project past its storage quota.
    #[error("{0}")]
    QuotaExceeded(String),
    /// An enabled immutability rule of the project protects tag `tag` of `repository` (its full
    /// name), which the change would move to another artifact or delete.
    #[error("the tag {tag} configured as immutable, cannot be {}", if *deleting { "deleted" } else { "updated" })]
    TagImmutable { repository: String, tag: String, deleting: bool },
    /// No such upload session in this repository.
    #[error("blob upload unknown to registry")]
    UploadUnknown,
    #[error("{0}")]
    UploadInvalid(String),
    /// A chunk that does not start where the session ends.
    #[error("chunk must start at offset {length}")]
    UploadOutOfOrder { length: u64 },
    /// Another request holds the session's lease and keeps renewing it.
    #[error("another request is still writing to this upload session")]
    UploadBusy,
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Meta(MetaError),
}

impl From<MetaError> for ContentError {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::MissingBlob(d) | MetaError::MissingManifest(d) => ContentError::MissingReference(d),
            MetaError::SizeMismatch { .. } => ContentError::ManifestInvalid(e.to_string()),
            MetaError::BlobCollected(_) => ContentError::UploadInvalid(e.to_string()),
            MetaError::QuotaExceeded { .. } => ContentError::QuotaExceeded(e.to_string()),
            MetaError::TagImmutable { repository, tag, deleting } => {
                ContentError::TagImmutable { repository, tag, deleting }
            }
            e => ContentError::Meta(e),
        }
    }
}
