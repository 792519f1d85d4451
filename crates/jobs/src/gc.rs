//! Garbage collection as a job (Harbor's `/system/gc`): one run at a time across every instance
//! and every `berth gc`, through the collection lock in the database, renewed while it runs.

use std::time::Duration;

use anyhow::bail;
use berth_content::{Content, GcLog, GcOptions};
use berth_meta::GcResult;
use berth_meta::time::now;
use serde::{Deserialize, Serialize};

use crate::{Job, JobContext};

/// How long the collection lock holds without renewal (it is renewed every third of it): a killed
/// collector blocks the next for at most this long.
const LOCK_LEASE: Duration = Duration::from_secs(15);

/// The most deletion batches a collection runs at once (Harbor's limit).
pub const MAX_WORKERS: u8 = 5;

/// A garbage collection run, with Harbor's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GarbageCollection {
    #[serde(default)]
    pub delete_untagged: bool,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default = "one")]
    pub workers: u8,
}

fn one() -> u8 {
    1
}

impl Default for GarbageCollection {
    fn default() -> Self {
        GarbageCollection { delete_untagged: false, dry_run: false, workers: 1 }
    }
}

/// What a collection needs: the content, and the configured windows.
#[derive(Clone)]
pub struct GcContext {
    pub content: Content,
    pub time_window: Duration,
    pub upload_idle: Duration,
    /// Tag tombstones older than this go: the audit log's retention, past which the event outbox
    /// no longer holds the change, so no replication can still deliver an older write it must
    /// refuse.
    pub tombstone_age: Duration,
}

impl GarbageCollection {
    /// Runs one collection as `holder` of the collection lock, logging to `log`; `job_id` names
    /// the run in the results (0 for a run outside the queue).
    pub async fn collect(
        &self,
        ctx: &GcContext,
        holder: &str,
        job_id: i64,
        log: &impl GcLog,
    ) -> anyhow::Result<GcResult> {
        if !(1..=MAX_WORKERS).contains(&self.workers) {
            bail!("workers must be from 1 to {MAX_WORKERS}, not {}", self.workers);
        }
        let meta = ctx.content.meta();
        if !meta.take_gc_lock(holder, lock_until()).await? {
            bail!("another garbage collection is running");
        }
        let options = GcOptions {
            dry_run: self.dry_run,
            delete_untagged: self.delete_untagged,
            workers: self.workers as usize,
            time_window: ctx.time_window,
            upload_idle: ctx.upload_idle,
            tombstone_age: ctx.tombstone_age,
        };
        log.line(format!(
            "collecting garbage: dry_run={}, delete_untagged={}, workers={}, time window {} s",
            self.dry_run,
            self.delete_untagged,
            self.workers,
            ctx.time_window.as_secs_f64()
        ))
        .await;
        let renew = async {
            loop {
                tokio::time::sleep(LOCK_LEASE / 3).await;
                match meta.take_gc_lock(holder, lock_until()).await {
                    Ok(true) => {}
                    Ok(false) => return anyhow::anyhow!("the collection lock was taken over"),
                    Err(e) => return e.into(),
                }
            }
        };
        let outcome = tokio::select! {
            done = ctx.content.collect_garbage(&options, log) => done.map_err(anyhow::Error::from),
            e = renew => Err(e),
        };
        meta.release_gc_lock(holder).await?;
        let result = GcResult { job_id, ..outcome? };
        meta.record_gc_result(&result).await?;
        log.line(format!(
            "{}: {} blobs, {} bytes, {} artifacts, {} upload sessions, {} tombstones, {} stray objects",
            if self.dry_run { "would free" } else { "freed" },
            result.blobs,
            result.bytes,
            result.manifests,
            result.uploads,
            result.tombstones,
            result.strays
        ))
        .await;
        Ok(result)
    }
}

fn lock_until() -> i64 {
    now() + LOCK_LEASE.as_secs() as i64
}

impl GcLog for JobContext {
    async fn line(&self, line: String) {
        self.log(line).await;
    }
}

impl Job for GarbageCollection {
    const KIND: &'static str = "GARBAGE_COLLECTION";
    /// Not retried: the next scheduled (or manual) run does the same work.
    const MAX_ATTEMPTS: i64 = 1;
    type Context = GcContext;

    async fn run(self, ctx: GcContext, job: JobContext) -> anyhow::Result<()> {
        self.collect(&ctx, &format!("job-{}", job.id), job.id, &job).await?;
        Ok(())
    }
}
