//! The schedules of the housekeeping jobs, looked at every minute by every instance: the audit
//! log purge (an administrator's schedule from `/system/purgeaudit/schedule`, else hourly with
//! `audit_log_retention_days`), the job history purge (hourly, `job_history_retention_days`),
//! garbage collection (an administrator's schedule from `/system/gc/schedule`, else none) and
//! each tag retention policy's schedule (`job_schedules` kind `RETENTION#<policy id>`). Each run
//! is enqueued once cluster-wide (see `berth_jobs::schedule`).

use std::time::Duration;

use berth_jobs::Job;
use berth_jobs::gc::GarbageCollection;
use berth_jobs::housekeeping::{PurgeAuditLog, PurgeJobHistory};
use berth_jobs::retention::plan_job;
use berth_jobs::schedule::Schedule;
use berth_meta::{Meta, NewJob, retention_schedule_kind};
use tokio_util::sync::CancellationToken;

pub async fn schedule(meta: Meta, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        if let Err(e) = enqueue_due(&meta).await {
            tracing::warn!(error = %format!("{e:#}"), "scheduling the housekeeping jobs");
        }
    }
}

async fn enqueue_due(meta: &Meta) -> anyhow::Result<()> {
    let (audit, job, since) = audit_purge_schedule(meta).await?;
    audit.enqueue_due(meta, job, since).await?;
    Schedule::hourly().enqueue_due(meta, PurgeJobHistory {}.to_new(), 0).await?;
    if let Some(stored) = meta.job_schedule(GarbageCollection::KIND).await? {
        let schedule = Schedule::new(&stored.schedule_type, &stored.cron).map_err(anyhow::Error::msg)?;
        let job: GarbageCollection = serde_json::from_str(&stored.parameters)?;
        schedule.enqueue_due(meta, job.to_new(), stored.updated_at).await?;
    }
    for policy in meta.scheduled_retention_policies().await? {
        // One policy's trouble does not hold back the others.
        if let Err(e) = start_scheduled_retention(meta, policy).await {
            tracing::warn!(policy, error = %format!("{e:#}"), "scheduling a tag retention run");
        }
    }
    Ok(())
}

/// Starts the execution of retention policy `policy` due now, if any: the execution and its
/// planning job in one commit, keyed by policy and time so one instance starts it.
async fn start_scheduled_retention(meta: &Meta, policy: i64) -> anyhow::Result<()> {
    let kind = retention_schedule_kind(policy);
    let Some(stored) = meta.job_schedule(&kind).await? else { return Ok(()) };
    let schedule = Schedule::new(&stored.schedule_type, &stored.cron).map_err(anyhow::Error::msg)?;
    let Some(due) = schedule.due(stored.updated_at, berth_meta::time::now()) else { return Ok(()) };
    let job = |id| plan_job(id).at(due).once(format!("{kind}@{due}"));
    meta.create_retention_execution(policy, "SCHEDULE", false, &job).await?;
    Ok(())
}

/// The audit purge's schedule in force, the job each run enqueues and since when it holds.
async fn audit_purge_schedule(meta: &Meta) -> anyhow::Result<(Schedule, NewJob, i64)> {
    let Some(stored) = meta.job_schedule(PurgeAuditLog::KIND).await? else {
        return Ok((Schedule::hourly(), PurgeAuditLog::default().to_new(), 0));
    };
    let schedule = Schedule::new(&stored.schedule_type, &stored.cron).map_err(anyhow::Error::msg)?;
    let job: PurgeAuditLog = serde_json::from_str(&stored.parameters)?;
    Ok((schedule, job.to_new(), stored.updated_at))
}
