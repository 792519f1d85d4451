//! Jobs that keep the database bounded: the audit log purge (Harbor's `/system/purgeaudit`) and
//! the purge of finished job history (jobs, replication and retention executions and their tasks).

use std::time::Duration;

use berth_meta::time::now;
use berth_meta::{AuditPurge, Executions};
use serde::{Deserialize, Serialize};

use crate::{Job, JobContext};

/// Rows deleted per statement: small enough that no purge holds a table for long, and a stopped
/// purge stops between batches.
pub const PURGE_BATCH: i64 = 1000;

/// Audit operations a purge may name in `include_event_types`, alone (`pull`) or with a resource
/// type (`pull_artifact`).
const OPERATIONS: &[&str] = &["create", "update", "delete", "pull", "copy", "login_failed"];

/// Deletes audit records older than its retention. Parameters as Harbor's purge schedule names
/// them; a missing one takes the configured default (`audit_log_retention_days`, every type).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgeAuditLog {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_retention_hour: Option<u64>,
    /// Comma-separated operations to purge; empty purges none (Harbor's rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_event_types: Option<String>,
    /// Counts what would go, deletes nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// The event types of `list` (comma-separated), checked: each an operation, or an operation and
/// a resource type joined by `_`.
pub fn parse_event_types(list: &str) -> Result<Vec<String>, String> {
    let known = |t: &str| {
        OPERATIONS.iter().any(|op| {
            t == *op
                || t.strip_prefix(op)
                    .and_then(|rest| rest.strip_prefix('_'))
                    .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_lowercase()))
        })
    };
    let types: Vec<String> = list.split(',').map(|t| t.trim().to_ascii_lowercase()).filter(|t| !t.is_empty()).collect();
    match types.iter().find(|t| !known(t)) {
        Some(bad) => Err(format!(
            "unknown event type {bad:?} in include_event_types: an operation ({}), optionally with a resource type (create_artifact)",
            OPERATIONS.join(", ")
        )),
        None => Ok(types),
    }
}

impl Job for PurgeAuditLog {
    const KIND: &'static str = "PURGE_AUDIT_LOG";
    /// The configured retention, for runs that do not name one.
    type Context = Duration;

    async fn run(self, retention: Duration, job: JobContext) -> anyhow::Result<()> {
        let hours = self.audit_retention_hour.unwrap_or(retention.as_secs() / 3600);
        let include =
            self.include_event_types.as_deref().map(parse_event_types).transpose().map_err(anyhow::Error::msg)?;
        let purge = AuditPurge { before: now() - (hours * 3600) as i64, include: include.as_deref() };
        let scope = match &include {
            None => "of every type".to_owned(),
            Some(types) => format!("of types [{}]", types.join(", ")),
        };
        if self.dry_run {
            let n = job.meta().count_audit_purge(&purge).await?;
            job.log(format!("dry run: would purge {n} audit records {scope} older than {hours} hours; deleted none"))
                .await;
            return Ok(());
        }
        let purged = in_batches(|| job.meta().purge_audit_batch(&purge, PURGE_BATCH)).await?;
        job.log(format!("purged {purged} audit records {scope} older than {hours} hours")).await;
        Ok(())
    }
}

/// Deletes finished history older than its context (`job_history_retention_days`): replication
/// and retention executions with their tasks and jobs, then finished jobs of every kind. Pending and running
/// jobs, and the latest run of each kind and of each replication policy, stay.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PurgeJobHistory {}

impl Job for PurgeJobHistory {
    const KIND: &'static str = "PURGE_JOB_HISTORY";
    type Context = Duration;

    async fn run(self, retention: Duration, job: JobContext) -> anyhow::Result<()> {
        let before = now() - retention.as_secs() as i64;
        let meta = job.meta();
        let replications =
            in_batches(|| meta.purge_execution_batch(Executions::Replication, before, PURGE_BATCH)).await?;
        let retentions = in_batches(|| meta.purge_execution_batch(Executions::Retention, before, PURGE_BATCH)).await?;
        let jobs = in_batches(|| meta.purge_job_batch(before, PURGE_BATCH)).await?;
        let days = retention.as_secs() / 86_400;
        job.log(format!(
            "purged {replications} replication executions, {retentions} retention executions and {jobs} other jobs \
             finished over {days} days ago"
        ))
        .await;
        Ok(())
    }
}

/// Runs `batch` until one deletes less than a full batch; how many rows went in all.
async fn in_batches<F: Future<Output = berth_meta::Result<u64>>>(batch: impl Fn() -> F) -> anyhow::Result<u64> {
    let mut total = 0;
    loop {
        let n = batch().await?;
        total += n;
        if n < PURGE_BATCH as u64 {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types() {
        assert_eq!(parse_event_types("create_artifact, Pull,").unwrap(), vec!["create_artifact", "pull"]);
        assert_eq!(parse_event_types("").unwrap(), Vec::<String>::new());
        assert!(parse_event_types("explode").is_err());
        assert!(parse_event_types("create_").is_err());
        assert!(parse_event_types("create_art1fact").is_err());
        assert!(parse_event_types("create'; DROP TABLE events").is_err());
    }
}
