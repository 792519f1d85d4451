//! Registry metadata in SQL: repositories, blob links, manifests, tags and upload sessions.
//!
//! Every operation that must be atomic is one transaction here, so callers cannot interleave
//! a check and a write (e.g. "all referenced blobs exist" and "insert the manifest").

mod db;
mod manifests;
mod repositories;
mod uploads;

pub use db::Meta;
pub use manifests::{ManifestRow, NewManifest, Referrer, Required};
pub use uploads::UploadRow;

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// A manifest references a blob the repository does not hold.
    #[error("blob {0} is not in the repository")]
    MissingBlob(String),
    /// An index references a manifest the repository does not hold.
    #[error("manifest {0} is not in the repository")]
    MissingManifest(String),
    /// A descriptor's size disagrees with the stored content.
    #[error("descriptor of {digest} says {declared} bytes but the content has {actual}")]
    SizeMismatch { digest: String, declared: i64, actual: i64 },
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = MetaError> = std::result::Result<T, E>;

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
