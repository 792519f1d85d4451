//! Registry metadata in SQL: repositories, blob links, manifests, tags and upload sessions.
//!
//! Every operation that must be atomic is one transaction here, so callers cannot interleave
//! a check and a write (e.g. "all referenced blobs exist" and "insert the manifest").

/// SQL: repository `r` holds content (at least one manifest). Written as `IN`, not as a
/// correlated `EXISTS`: SQLite 3.51 (the bundled one) counts an `EXISTS` with several matching
/// rows more than once towards `OFFSET`, so a page of repositories skipped or repeated some
/// (`artifacts.rs`, `pages_of_repositories_skip_and_repeat_none`).
macro_rules! repository_has_content {
    () => {
        "r.id IN (SELECT m.repository_id FROM manifests m)"
    };
}

/// SQL: link `rb` counts towards its project's usage: a manifest of its repository references
/// the blob, or it was uploaded or mounted and nothing referenced it since (`pending`). The link
/// of a blob only a deleted artifact referenced no longer counts, so usage drops at the delete.
macro_rules! counted_link {
    () => {
        "(rb.pending OR EXISTS (SELECT 1 FROM manifest_refs mr JOIN manifests mm ON mm.id = mr.manifest_id
              WHERE mm.repository_id = rb.repository_id AND mr.digest = rb.digest AND mr.blob = TRUE))"
    };
}

mod artifacts;
mod db;
mod events;
mod gc;
mod history;
mod immutable;
mod inline;
mod jobs;
mod keys;
mod labels;
mod login_failures;
mod manifests;
mod members;
mod project_metadata;
mod projects;
mod replication;
mod repositories;
mod retention;
mod robots;
mod sessions;
mod settings;
mod sort;
mod statistics;
pub mod time;
mod uploads;
mod users;

pub use artifacts::{ArtifactRow, FoundRepository, ProjectRepositoryRow, RepositoryRow, TagRow};
pub use db::{Backend, Meta};
pub use events::{
    AUDIT_TOTAL_CAP, AuditEntry, AuditFilter, AuditPage, AuditRow, Cursor, Event, EventRow, RegistryEvent,
};
pub use gc::{GcBlob, GcResult, IdleUpload, UnrecordedManifest, UntaggedManifest};
pub use history::{AuditPurge, ExecutionState, Executions, JobSchedule};
pub use immutable::{ImmutableRuleRow, MAX_IMMUTABLE_RULES, NewImmutableRule};
pub use jobs::{ClaimedJob, JobRow, NewJob, QueueRow, WorkerRow};
pub use labels::{ArtifactLabel, LabelFilter, LabelRow, NewLabel};
pub use login_failures::LoginFailures;
pub use manifests::{ManifestPush, ManifestRef, ManifestRow, NewManifest, Referrer, Required};
pub use members::Member;
pub use projects::{Project, ProjectFilter, ProjectKey, ProjectVisibility};
pub use replication::{
    ExecutionRow, Handover, JobOf, NewPolicy, NewRegistry, NewTask, PolicyRow, RegistryRow, TaskRow,
};
pub use retention::{
    RETENTION_ID, RetentionCandidate, RetentionExecutionRow, RetentionPolicyRow, RetentionTaskRow,
    retention_schedule_kind,
};
pub use robots::{NewRobot, Robot, RobotUpdate};
pub use sessions::SessionRow;
pub use sort::Sort;
pub use statistics::{ArtifactCount, PoolUse, ProjectStatistics};
pub use uploads::{UploadAdvance, UploadLeaseRow, UploadRow};
pub use users::{NewUser, User};

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// A manifest references a blob the repository does not hold.
    #[error("blob {0} is not in the repository")]
    MissingBlob(String),
    /// Garbage collection is deleting the blob: it is absent, the client uploads it again.
    #[error("blob {0} is being garbage-collected; upload it again")]
    BlobCollected(String),
    /// An index references a manifest the repository does not hold.
    #[error("manifest {0} is not in the repository")]
    MissingManifest(String),
    /// A descriptor's size disagrees with the stored content.
    #[error("descriptor of {digest} says {declared} bytes but the content has {actual}")]
    SizeMismatch { digest: String, declared: i64, actual: i64 },
    /// The push would take the project past its storage quota.
    #[error(
        "adding {adding} bytes to project {project} (using {usage} of its {limit}-byte quota) would exceed its storage quota"
    )]
    QuotaExceeded { project: String, limit: i64, usage: i64, adding: i64 },
    /// A unique name is taken.
    #[error("{0}")]
    Conflict(&'static str),
    /// A tag an enabled immutability rule protects would be moved to another artifact or
    /// deleted (with its artifact or repository). `repository` is its full name.
    #[error("the tag {tag} configured as immutable, cannot be {}", if *deleting { "deleted" } else { "updated" })]
    TagImmutable { repository: String, tag: String, deleting: bool },
    /// A limit on how many of something there may be.
    #[error("{0}")]
    TooMany(String),
    /// The thing is still used by others and cannot go.
    #[error("{0}")]
    InUse(String),
    /// Stored data this version cannot read.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Text the database cannot hold: PostgreSQL refuses a NUL character in a value, even one
    /// only looked up. Raised by what a client sent, so it is the client's error.
    #[error("text must not contain a NUL character")]
    NulInText,
    #[error("database: {0}")]
    Db(sqlx::Error),
    /// The database cannot be reached now (stopped, restarting, unreachable, or no connection
    /// free within the pool's acquire timeout): nothing was changed, and the same request may
    /// succeed later.
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// PostgreSQL's SQLSTATE for a byte its text type cannot hold (a NUL character).
const CHARACTER_NOT_IN_REPERTOIRE: &str = "22021";

impl MetaError {
    /// `Conflict(what)` for a unique-constraint violation, any other error as it is.
    pub(crate) fn conflict_or(e: sqlx::Error, what: &'static str) -> MetaError {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => MetaError::Conflict(what),
            _ => e.into(),
        }
    }
}

/// Every database error passes here, so an outage is told apart from a failing statement once
/// (every caller can answer it as "try again later"), and text PostgreSQL cannot hold from a
/// failing statement.
impl From<sqlx::Error> for MetaError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.code().as_deref() == Some(CHARACTER_NOT_IN_REPERTOIRE) => {
                MetaError::NulInText
            }
            _ if db::is_unavailable(&e) => MetaError::Unavailable(e),
            _ => MetaError::Db(e),
        }
    }
}

pub(crate) use time::now;

pub type Result<T, E = MetaError> = std::result::Result<T, E>;
