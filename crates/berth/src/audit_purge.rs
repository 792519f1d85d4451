//! The audit log's retention: an hourly job deletes the records (events) older than
//! `audit_log_retention_days`, once cluster-wide.

use std::time::Duration;

use berth_jobs::{Job, JobContext};
use berth_meta::Meta;
use berth_meta::time::now;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// Deletes the audit records older than the retention period (its context).
#[derive(Debug, Serialize, Deserialize)]
pub struct PurgeAuditLog {}

impl Job for PurgeAuditLog {
    const KIND: &'static str = "PURGE_AUDIT_LOG";
    type Context = Duration;

    async fn run(self, retention: Duration, job: JobContext) -> anyhow::Result<()> {
        let before = now() - retention.as_secs() as i64;
        let purged = job.meta().purge_audit(before).await?;
        job.log(format!("purged {purged} audit records older than {} days", retention.as_secs() / 86_400)).await;
        Ok(())
    }
}

/// Schedules one purge per hour, cluster-wide: the hour is the job's unique key, so every
/// instance may schedule it and it is enqueued once.
pub async fn schedule(meta: Meta, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        let job = PurgeAuditLog {}.to_new();
        let key = format!("{}@{}", job.kind, job.run_at / 3600);
        if let Err(e) = meta.enqueue_job(&job.once(key)).await {
            tracing::warn!(error = %e, "scheduling the audit log purge");
        }
    }
}
