//! The durable job queue: jobs are rows, claimed by any instance with a lease, retried with
//! backoff, their log kept with them. On PostgreSQL concurrent claimers skip each other's rows
//! (`FOR UPDATE SKIP LOCKED`); SQLite serializes writers, so the same statement needs no lock
//! clause there.

use crate::db::{Backend, Exec, LockScope, query, query_as, query_scalar};
use crate::{Meta, Result, now};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: i64,
    pub worker: Option<String>,
    pub lease_until: i64,
    pub stop_requested: bool,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// Set on scheduled runs (one key per period), not on jobs enqueued on demand.
    pub unique_key: Option<String>,
}

/// A job to put in the queue: its kind, its payload (JSON), how often it may be tried, when it
/// may run, and optionally a key that makes it unique (a second job with the key is not added).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub kind: &'static str,
    pub payload: String,
    pub max_attempts: i64,
    pub run_at: i64,
    pub unique_key: Option<String>,
}

impl NewJob {
    /// Runs no earlier than `run_at` (unix seconds).
    pub fn at(self, run_at: i64) -> NewJob {
        NewJob { run_at, ..self }
    }

    /// Added only if no job with `key` was added before: a scheduled run uses one key per period,
    /// so N instances scheduling it add it once.
    pub fn once(self, key: impl Into<String>) -> NewJob {
        NewJob { unique_key: Some(key.into()), ..self }
    }
}

/// A job a worker has claimed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub attempts: i64,
    pub max_attempts: i64,
}

/// A job kind's queue as the jobservice API shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueueRow {
    pub kind: String,
    pub pending: i64,
    /// Seconds the oldest runnable pending job has waited.
    pub latency: i64,
    pub paused: bool,
}

/// An instance's worker pool.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkerRow {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub concurrency: i64,
    pub started_at: i64,
    pub heartbeat_at: i64,
}

pub(crate) const COLUMNS: &str =
    "id, kind, payload, status, attempts, max_attempts, run_at, worker, lease_until, stop_requested,
                       last_error, created_at, updated_at, started_at, finished_at, unique_key";

/// Log lines kept per job at most (the tail), so a chatty job cannot grow a row without bound.
const MAX_LOG_BYTES: usize = 256 * 1024;

impl Meta {
    /// Enqueues `job`; its id, or `None` if its unique key was taken.
    pub async fn enqueue_job(&self, job: &NewJob) -> Result<Option<i64>> {
        insert_job(&self.pool, job).await
    }

    /// Claims the next runnable job for `worker` until `lease_until`: a pending job whose time
    /// has come, or a running one whose lease ran out (its instance died). `None` if there is
    /// none. Jobs of paused kinds wait.
    pub async fn claim_job(&self, worker: &str, lease_until: i64) -> Result<Option<ClaimedJob>> {
        let skip_locked = match self.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        };
        let q = format!(
            "UPDATE jobs SET status = 'Running', worker = $1, lease_until = $2, attempts = attempts + 1,
                             started_at = $3, updated_at = $3
             WHERE id = (SELECT j.id FROM jobs j
                         WHERE ((j.status = 'Pending' AND j.run_at <= $3) OR (j.status = 'Running' AND j.lease_until < $3))
                           AND NOT EXISTS (SELECT 1 FROM job_queues q WHERE q.kind = j.kind AND q.paused = TRUE)
                         ORDER BY j.run_at, j.id LIMIT 1 {skip_locked})
             RETURNING id, kind, payload, attempts, max_attempts"
        );
        Ok(query_as(q).bind(worker).bind(lease_until).bind(now()).fetch_optional(&self.pool).await?)
    }

    /// How many jobs of `kind` wait or run now.
    pub async fn unfinished_jobs(&self, kind: &str) -> Result<i64> {
        Ok(query_scalar("SELECT count(*) FROM jobs WHERE kind = $1 AND status IN ('Pending', 'Running')")
            .bind(kind)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Extends `worker`'s lease on job `id`. `false` if the job is no longer `worker`'s (it was
    /// stopped, or its lease ran out and another instance took it): the worker must give up.
    pub async fn renew_job_lease(&self, id: i64, worker: &str, lease_until: i64) -> Result<bool> {
        let done = query(
            "UPDATE jobs SET lease_until = $1, updated_at = $2
             WHERE id = $3 AND worker = $4 AND status = 'Running' AND stop_requested = FALSE",
        )
        .bind(lease_until)
        .bind(now())
        .bind(id)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives `worker`'s running job `id` back to the queue, runnable at once by any instance, as
    /// if the interrupted attempt had not been made (it was this instance stopping, not the job
    /// failing). A job stopped meanwhile ends as Stopped. No-op if the job is no longer `worker`'s.
    pub async fn release_job(&self, id: i64, worker: &str) -> Result<()> {
        let now = now();
        query(
            "UPDATE jobs SET status = CASE WHEN stop_requested THEN 'Stopped' ELSE 'Pending' END,
                             attempts = CASE WHEN stop_requested THEN attempts ELSE attempts - 1 END,
                             finished_at = CASE WHEN stop_requested THEN $1 ELSE NULL END,
                             worker = NULL, run_at = $1, lease_until = 0, updated_at = $1
             WHERE id = $2 AND worker = $3 AND status = 'Running'",
        )
        .bind(now)
        .bind(id)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends `worker`'s run of job `id`: `Ok` → Success; an error → Pending again at `retry_at`
    /// if given, else Error. A job stopped meanwhile ends as Stopped. No-op if the job is no
    /// longer `worker`'s.
    pub async fn finish_job(&self, id: i64, worker: &str, outcome: Result<(), (String, Option<i64>)>) -> Result<()> {
        let now = now();
        let (status, error, run_at): (&str, Option<String>, Option<i64>) = match outcome {
            Ok(()) => ("Success", None, None),
            Err((error, Some(retry_at))) => ("Pending", Some(error), Some(retry_at)),
            Err((error, None)) => ("Error", Some(error), None),
        };
        query(
            "UPDATE jobs SET status = CASE WHEN stop_requested THEN 'Stopped' ELSE $1 END,
                             last_error = COALESCE($2, last_error),
                             run_at = COALESCE($3, run_at),
                             worker = CASE WHEN $1 = 'Pending' AND NOT stop_requested THEN NULL ELSE worker END,
                             finished_at = CASE WHEN $1 = 'Pending' AND NOT stop_requested THEN NULL ELSE $4 END,
                             lease_until = 0, updated_at = $4
             WHERE id = $5 AND worker = $6 AND status = 'Running'",
        )
        .bind(status)
        .bind(error)
        .bind(run_at)
        .bind(now)
        .bind(id)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Appends `line` to job `id`'s log (keeping its last 256 KiB).
    pub async fn append_job_log(&self, id: i64, line: &str) -> Result<()> {
        let mut tx = self.write_tx(LockScope::None).await?;
        let log: Option<String> =
            query_scalar("SELECT log FROM jobs WHERE id = $1").bind(id).fetch_optional(&mut tx).await?;
        let Some(mut log) = log else { return Ok(()) };
        log.push_str(line);
        log.push('\n');
        if log.len() > MAX_LOG_BYTES {
            let mut cut = log.len() - MAX_LOG_BYTES;
            while !log.is_char_boundary(cut) {
                cut += 1;
            }
            log.drain(..cut);
        }
        query("UPDATE jobs SET log = $1 WHERE id = $2").bind(log).bind(id).execute(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn job(&self, id: i64) -> Result<Option<JobRow>> {
        Ok(query_as(format!("SELECT {COLUMNS} FROM jobs WHERE id = $1")).bind(id).fetch_optional(&self.pool).await?)
    }

    pub async fn job_log(&self, id: i64) -> Result<Option<String>> {
        Ok(query_scalar("SELECT log FROM jobs WHERE id = $1").bind(id).fetch_optional(&self.pool).await?)
    }

    /// Jobs of `kind` (any kind if `None`), newest first.
    pub async fn list_jobs(&self, kind: Option<&str>, offset: i64, limit: i64) -> Result<(Vec<JobRow>, i64)> {
        let rows = query_as(format!(
            "SELECT {COLUMNS} FROM jobs WHERE ($1 IS NULL OR kind = $1) ORDER BY id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(kind)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total = query_scalar("SELECT count(*) FROM jobs WHERE ($1 IS NULL OR kind = $1)")
            .bind(kind)
            .fetch_one(&self.pool)
            .await?;
        Ok((rows, total))
    }

    /// Stops job `id`: a pending one at once, a running one when its worker next renews its
    /// lease. `false` if there is no such job or it already ended.
    pub async fn stop_job(&self, id: i64) -> Result<bool> {
        let now = now();
        let done = query(
            "UPDATE jobs SET stop_requested = TRUE, updated_at = $1,
                             status = CASE WHEN status = 'Pending' THEN 'Stopped' ELSE status END,
                             finished_at = CASE WHEN status = 'Pending' THEN $1 ELSE finished_at END
             WHERE id = $2 AND status IN ('Pending', 'Running')",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stops every pending job of `kind` (every kind if `None`); returns how many.
    pub async fn stop_pending_jobs(&self, kind: Option<&str>) -> Result<u64> {
        let done = query(
            "UPDATE jobs SET status = 'Stopped', stop_requested = TRUE, finished_at = $1, updated_at = $1
             WHERE status = 'Pending' AND ($2 IS NULL OR kind = $2)",
        )
        .bind(now())
        .bind(kind)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Pauses or resumes the queue of `kind`.
    pub async fn set_queue_paused(&self, kind: &str, paused: bool) -> Result<()> {
        query("INSERT INTO job_queues (kind, paused) VALUES ($1, $2) ON CONFLICT (kind) DO UPDATE SET paused = excluded.paused")
            .bind(kind)
            .bind(paused)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every job kind that has jobs or a queue setting, with its pending count.
    pub async fn job_queues(&self) -> Result<Vec<QueueRow>> {
        Ok(query_as(
            "SELECT k.kind,
                    (SELECT count(*) FROM jobs j WHERE j.kind = k.kind AND j.status = 'Pending') AS pending,
                    COALESCE((SELECT $1 - min(j.run_at) FROM jobs j
                              WHERE j.kind = k.kind AND j.status = 'Pending' AND j.run_at <= $1), 0) AS latency,
                    COALESCE((SELECT q.paused FROM job_queues q WHERE q.kind = k.kind), FALSE) AS paused
             FROM (SELECT kind FROM jobs UNION SELECT kind FROM job_queues) k ORDER BY k.kind",
        )
        .bind(now())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Registers (or refreshes) an instance's worker pool.
    pub async fn worker_heartbeat(&self, w: &WorkerRow) -> Result<()> {
        query(
            "INSERT INTO job_workers (id, host, pid, concurrency, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
        )
        .bind(&w.id)
        .bind(&w.host)
        .bind(w.pid)
        .bind(w.concurrency)
        .bind(w.started_at)
        .bind(w.heartbeat_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Worker pools that sent a heartbeat since `since`; older ones are forgotten.
    pub async fn live_workers(&self, since: i64) -> Result<Vec<WorkerRow>> {
        query("DELETE FROM job_workers WHERE heartbeat_at < $1").bind(since).execute(&self.pool).await?;
        Ok(query_as(
            "SELECT id, host, pid, concurrency, started_at, heartbeat_at FROM job_workers ORDER BY started_at, id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Jobs running on worker pool `worker`.
    pub async fn running_jobs_of(&self, worker: &str) -> Result<Vec<JobRow>> {
        Ok(query_as(format!("SELECT {COLUMNS} FROM jobs WHERE worker = $1 AND status = 'Running' ORDER BY id"))
            .bind(worker)
            .fetch_all(&self.pool)
            .await?)
    }
}

/// [`Meta::enqueue_job`] where `exec` says: inside a caller's transaction, a job exists exactly
/// when the change that asks for it does.
pub(crate) async fn insert_job<'e>(exec: impl Into<Exec<'e>>, job: &NewJob) -> Result<Option<i64>> {
    let now = now();
    Ok(query_scalar(
        "INSERT INTO jobs (kind, payload, status, unique_key, max_attempts, run_at, created_at, updated_at)
         VALUES ($1, $2, 'Pending', $3, $4, $5, $6, $6)
         ON CONFLICT (unique_key) DO NOTHING RETURNING id",
    )
    .bind(job.kind)
    .bind(&job.payload)
    .bind(&job.unique_key)
    .bind(job.max_attempts)
    .bind(job.run_at)
    .bind(now)
    .fetch_optional(exec)
    .await?)
}
