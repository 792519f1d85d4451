//! Job workers. Jobs are rows of the database's job queue; each kind of job is a type
//! implementing [`Job`]: its kind's name, its payload (the type itself, as JSON) and how it runs.
//! Every instance runs a [`Runner`] that claims runnable jobs with a lease, runs the kind's
//! [`Job::run`], renews the lease while it runs, and records the outcome: success, a retry later
//! with exponential backoff, or failure after the last attempt. An instance that dies holding a
//! job simply stops renewing; when the lease runs out any instance takes the job again. So any
//! instance can run any job, and none is lost.

pub mod gc;
pub mod housekeeping;
pub mod retention;
pub mod schedule;

use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use berth_meta::{ClaimedJob, Meta, NewJob, WorkerRow};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// A kind of job. The type is the job's payload: it is stored as JSON when the job is enqueued
/// and read back when a worker runs it, on whichever instance.
pub trait Job: Serialize + DeserializeOwned + Send + 'static {
    /// The kind's name in the queue (and in the jobservice API).
    const KIND: &'static str;
    /// How often a job of this kind is tried before it fails for good.
    const MAX_ATTEMPTS: i64 = 3;
    /// What jobs of this kind need to run, given when the kind is registered with a [`Runner`].
    type Context: Clone + Send + Sync + 'static;

    /// Runs the job. An error (with its context chain) goes to the job's log and `last_error`;
    /// the job is then tried again later, until [`Job::MAX_ATTEMPTS`].
    fn run(self, ctx: Self::Context, job: JobContext) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// This job as a queue row, to run as soon as a worker is free.
    fn to_new(&self) -> NewJob {
        NewJob {
            kind: Self::KIND,
            payload: serde_json::to_string(self).expect("a job's payload serializes to JSON"),
            max_attempts: Self::MAX_ATTEMPTS,
            run_at: berth_meta::time::now(),
            unique_key: None,
        }
    }
}

type JobFuture = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// Runs jobs of one kind: reads the payload as the kind's type and runs it.
trait Handler: Send + Sync + 'static {
    fn run(&self, job: JobContext) -> JobFuture;
}

struct Kind<J: Job> {
    ctx: J::Context,
}

impl<J: Job> Handler for Kind<J> {
    fn run(&self, job: JobContext) -> JobFuture {
        let ctx = self.ctx.clone();
        Box::pin(async move {
            let payload: J = serde_json::from_str(&job.payload)
                .map_err(|e| anyhow::anyhow!("unreadable {} payload {:?}: {e}", J::KIND, job.payload))?;
            payload.run(ctx, job).await
        })
    }
}

/// The job being run, and its log.
#[derive(Clone)]
pub struct JobContext {
    pub id: i64,
    /// The job's payload as stored; [`Job::run`] gets it as its own type.
    payload: String,
    /// 1 on the first run.
    pub attempt: i64,
    meta: Meta,
}

impl JobContext {
    /// Appends a line to the job's stored log (visible through the API). Logging never fails
    /// a job: a line that cannot be stored is reported in the process log instead.
    pub async fn log(&self, line: impl Display + Send) {
        let line = format!("{} {line}", berth_meta::time::rfc3339(berth_meta::time::now()));
        if let Err(e) = self.meta.append_job_log(self.id, &line).await {
            tracing::warn!(job = self.id, error = %e, "job log line not stored: {line}");
        }
    }

    pub fn meta(&self) -> &Meta {
        &self.meta
    }
}

/// Timing of a runner; the defaults suit production, tests shorten them.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long a claim holds without renewal: a dead instance's jobs wait at most this long.
    pub lease: Duration,
    /// How often an idle runner looks for work.
    pub poll: Duration,
    /// Delay before the first retry; doubled for each further one, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            lease: Duration::from_secs(60),
            poll: Duration::from_secs(1),
            backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(3600),
        }
    }
}

/// One instance's worker pool.
pub struct Runner {
    meta: Meta,
    id: String,
    concurrency: usize,
    timing: Timing,
    handlers: HashMap<String, Arc<dyn Handler>>,
}

impl Runner {
    /// A pool named `id` (unique per instance) running up to `concurrency` jobs at once.
    pub fn new(meta: Meta, id: impl Into<String>, concurrency: usize) -> Runner {
        Runner {
            meta,
            id: id.into(),
            concurrency: concurrency.max(1),
            timing: Timing::default(),
            handlers: HashMap::new(),
        }
    }

    pub fn timing(mut self, timing: Timing) -> Runner {
        self.timing = timing;
        self
    }

    /// Runs jobs of kind `J`, with `ctx`.
    pub fn register<J: Job>(mut self, ctx: J::Context) -> Runner {
        self.handlers.insert(J::KIND.to_owned(), Arc::new(Kind::<J> { ctx }));
        self
    }

    /// Runs the pool until `stop` is cancelled; then claims nothing more, gives the jobs it is
    /// running back to the queue (runnable at once by another instance, see
    /// [`Meta::release_job`]) and returns when they are. If the process dies instead, its jobs
    /// are taken again when their lease runs out.
    pub async fn run(self, stop: CancellationToken) {
        let runner = Arc::new(self);
        let slots = Arc::new(Semaphore::new(runner.concurrency));
        let mut running = tokio::task::JoinSet::new();
        let started = berth_meta::time::now();
        let mut last_heartbeat = 0;
        loop {
            // Reap the finished, so the set holds only what runs.
            while running.try_join_next().is_some() {}
            let now = berth_meta::time::now();
            if now - last_heartbeat >= 10 {
                let pool = WorkerRow {
                    id: runner.id.clone(),
                    host: hostname(),
                    pid: std::process::id() as i64,
                    concurrency: runner.concurrency as i64,
                    started_at: started,
                    heartbeat_at: now,
                };
                match runner.meta.worker_heartbeat(&pool).await {
                    Ok(()) => last_heartbeat = now,
                    Err(e) => tracing::warn!(error = %e, "job worker heartbeat"),
                }
            }
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                // Every slot busy: wait for one (or the stop signal).
                tokio::select! {
                    () = stop.cancelled() => break,
                    permit = slots.clone().acquire_owned() => drop(permit),
                }
                continue;
            };
            let lease_until = berth_meta::time::now() + runner.timing.lease.as_secs() as i64;
            match runner.meta.claim_job(&runner.id, lease_until).await {
                Ok(Some(job)) => {
                    let (runner, stop) = (runner.clone(), stop.clone());
                    running.spawn(async move {
                        runner.execute(job, stop).await;
                        drop(slot);
                    });
                    continue; // there may be more work right away
                }
                Ok(None) => drop(slot),
                Err(e) => {
                    drop(slot);
                    tracing::warn!(error = %e, "claiming a job");
                }
            }
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tokio::time::sleep(runner.timing.poll) => {}
            }
        }
        running.join_all().await;
    }

    /// Runs one claimed job to its recorded outcome, renewing the lease meanwhile; when `stop`
    /// comes first, hands it back to the queue.
    async fn execute(&self, job: ClaimedJob, stop: CancellationToken) {
        let ctx =
            JobContext { id: job.id, payload: job.payload.clone(), attempt: job.attempts, meta: self.meta.clone() };
        tracing::info!(job = job.id, kind = %job.kind, attempt = job.attempts, "job started");
        ctx.log(format!("attempt {} of {} on {}", job.attempts, job.max_attempts, self.id)).await;
        let Some(handler) = self.handlers.get(&job.kind).cloned() else {
            let error = format!("no handler for jobs of kind {}", job.kind);
            ctx.log(&error).await;
            self.record(&job, "failed", Err((error, None))).await;
            return;
        };
        let work = handler.run(ctx.clone());
        let renew_every = self.timing.lease / 3;
        let outcome = tokio::select! {
            result = work => Some(result),
            () = self.keep_lease(job.id, renew_every) => None,
            () = stop.cancelled() => return self.hand_back(&job, &ctx).await,
        };
        match outcome {
            Some(Ok(())) => {
                ctx.log("succeeded").await;
                self.record(&job, "succeeded", Ok(())).await;
            }
            Some(Err(error)) => {
                // With its causes: `{:#}` joins anyhow's context chain.
                let error = format!("{error:#}");
                ctx.log(format!("failed: {error}")).await;
                let retry_at = (job.attempts < job.max_attempts).then(|| {
                    let delay = self.backoff(job.attempts);
                    berth_meta::time::now() + delay.as_secs().max(1) as i64
                });
                if let Some(at) = retry_at {
                    ctx.log(format!("retrying in {} s", at - berth_meta::time::now())).await;
                }
                self.record(&job, "failed", Err((error, retry_at))).await;
            }
            None => {
                // Stopped by an administrator, or the lease was lost to another instance: the
                // work was abandoned by leaving the select.
                ctx.log("stopped").await;
                self.record(&job, "stopped", Err(("stopped".to_owned(), None))).await;
            }
        }
    }

    /// This instance stops: the job's work was abandoned by leaving the select; the queue gets
    /// it back for the next instance to run now rather than when the lease would run out.
    async fn hand_back(&self, job: &ClaimedJob, ctx: &JobContext) {
        ctx.log(format!("handed back: {} is shutting down", self.id)).await;
        match self.meta.release_job(job.id, &self.id).await {
            Ok(()) => tracing::info!(job = job.id, kind = %job.kind, "job handed back at shutdown"),
            // Its lease runs out instead, and another instance takes it then.
            Err(e) => tracing::warn!(job = job.id, error = %e, "handing a job back at shutdown"),
        }
    }

    /// Renews the lease of job `id` until a renewal is refused (the job was stopped or taken).
    async fn keep_lease(&self, id: i64, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            let until = berth_meta::time::now() + self.timing.lease.as_secs() as i64;
            match self.meta.renew_job_lease(id, &self.id, until).await {
                Ok(true) => {}
                Ok(false) => return,
                // A database hiccup: try again at the next tick; the lease still has time.
                Err(e) => tracing::warn!(job = id, error = %e, "renewing a job lease"),
            }
        }
    }

    /// Records how an attempt `ended` (succeeded, failed, stopped): in the job's row and in the
    /// instance's metrics.
    async fn record(&self, job: &ClaimedJob, ended: &'static str, outcome: Result<(), (String, Option<i64>)>) {
        berth_metrics::metrics().job_ended(&job.kind, ended);
        let ok = outcome.is_ok();
        if let Err((error, _)) = &outcome {
            tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempts, error = %error, "job failed");
        }
        if let Err(e) = self.meta.finish_job(job.id, &self.id, outcome).await {
            // The lease will run out and the job will run again: at least once, never lost.
            tracing::warn!(job = job.id, error = %e, "recording a job outcome");
        }
        tracing::info!(job = job.id, kind = %job.kind, ok, "job ended");
    }

    fn backoff(&self, attempts: i64) -> Duration {
        let doublings = attempts.saturating_sub(1).clamp(0, 20) as u32;
        self.timing.backoff.saturating_mul(1 << doublings).min(self.timing.max_backoff)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default()
}
