//! Bounded history: the schedules of system jobs (stored so every instance sees an
//! administrator's choice), and the purges that keep the audit log, the job queue and replication
//! and retention executions from growing without bound. Each purge works in batches, so a table of
//! hundreds of thousands of rows is never locked at once and a stopped purge stops between batches.

use crate::db::{LockScope, query, query_as, query_scalar};
use crate::{Meta, Result, now};

/// A job kind's schedule as an administrator set it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JobSchedule {
    pub kind: String,
    /// Hourly | Daily | Weekly | Custom | None
    #[sqlx(rename = "type")]
    pub schedule_type: String,
    pub cron: String,
    /// The runs' parameters, as JSON.
    pub parameters: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Which audit records a purge takes: older than `before`, and, when `include` is given, only
/// those whose operation (`create`) or operation and resource type (`create_artifact`) it names.
#[derive(Debug, Clone, Default)]
pub struct AuditPurge<'a> {
    pub before: i64,
    pub include: Option<&'a [String]>,
}

impl AuditPurge<'_> {
    /// The `WHERE` clause, its parameters numbered from `$1`.
    fn condition(&self) -> String {
        let Some(include) = self.include else { return "op_time < $1".to_owned() };
        if include.is_empty() {
            return "FALSE".to_owned();
        }
        let marks: Vec<String> = (2..include.len() + 2).map(|i| format!("${i}")).collect();
        let marks = marks.join(", ");
        format!("op_time < $1 AND (operation IN ({marks}) OR operation || '_' || resource_type IN ({marks}))")
    }
}

/// The executions of policies, each planned by a job and run as one job per task, whose history
/// the purge bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Executions {
    Replication,
    Retention,
}

impl Executions {
    /// Its executions' table and its tasks' table.
    fn tables(self) -> (&'static str, &'static str) {
        match self {
            Executions::Replication => ("replication_executions", "replication_tasks"),
            Executions::Retention => ("retention_executions", "retention_tasks"),
        }
    }
}

/// Where such an execution stands, from its planning job's status and its task jobs by state;
/// each API names the four states in its own words (replication: `InProgress`, `Succeed`, `Failed`,
/// `Stopped`; retention: `Running`, `Success`, `Error`, `Stopped`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionState {
    Running,
    Success,
    Error,
    Stopped,
}

impl ExecutionState {
    /// The planning job decides while it runs or if it failed or was stopped; then the tasks do,
    /// a running one first, a stopped one before a failed one.
    pub fn of(plan_status: Option<&str>, in_progress: i64, stopped: i64, failed: i64) -> ExecutionState {
        match plan_status {
            Some("Pending" | "Running") => ExecutionState::Running,
            Some("Error") => ExecutionState::Error,
            Some("Stopped") => ExecutionState::Stopped,
            _ if in_progress > 0 => ExecutionState::Running,
            _ if stopped > 0 => ExecutionState::Stopped,
            _ if failed > 0 => ExecutionState::Error,
            _ => ExecutionState::Success,
        }
    }

    /// When an execution in this state ended: its last job's end, else its start; `None` while it
    /// runs.
    pub fn end_time(self, tasks_finished: Option<i64>, plan_finished: Option<i64>, start_time: i64) -> Option<i64> {
        (self != ExecutionState::Running).then(|| tasks_finished.max(plan_finished).unwrap_or(start_time))
    }
}

/// Job states that are over: such a job is history.
const FINISHED: &str = "('Success', 'Error', 'Stopped')";

impl Meta {
    pub async fn job_schedule(&self, kind: &str) -> Result<Option<JobSchedule>> {
        Ok(query_as("SELECT kind, type, cron, parameters, created_at, updated_at FROM job_schedules WHERE kind = $1")
            .bind(kind)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Stores the schedule of `kind` (its creation time kept when it replaces one).
    pub async fn set_job_schedule(&self, kind: &str, schedule_type: &str, cron: &str, parameters: &str) -> Result<()> {
        query(
            "INSERT INTO job_schedules (kind, type, cron, parameters, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (kind) DO UPDATE SET type = excluded.type, cron = excluded.cron,
                                              parameters = excluded.parameters, updated_at = excluded.updated_at",
        )
        .bind(kind)
        .bind(schedule_type)
        .bind(cron)
        .bind(parameters)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How many audit records `purge` takes.
    pub async fn count_audit_purge(&self, purge: &AuditPurge<'_>) -> Result<i64> {
        let mut q = query_scalar(format!("SELECT count(*) FROM events WHERE {}", purge.condition())).bind(purge.before);
        for t in purge.include.unwrap_or_default() {
            q = q.bind(t.as_str());
        }
        Ok(q.fetch_one(&self.pool).await?)
    }

    /// Deletes at most `batch` of the audit records `purge` takes, oldest first; returns how many.
    pub async fn purge_audit_batch(&self, purge: &AuditPurge<'_>, batch: i64) -> Result<u64> {
        let n = purge.include.map_or(0, <[String]>::len) + 2;
        let mut q = query(format!(
            "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE {} ORDER BY op_time, id LIMIT ${n})",
            purge.condition()
        ))
        .bind(purge.before);
        for t in purge.include.unwrap_or_default() {
            q = q.bind(t.as_str());
        }
        Ok(q.bind(batch).execute(&self.pool).await?.rows_affected())
    }

    /// Deletes at most `batch` executions of `kind` that started before `before` and are over
    /// (no job of theirs pending or running), with their tasks and the tasks' and plan's jobs;
    /// each policy's latest execution stays, so its status still shows. Returns how many
    /// executions went.
    pub async fn purge_execution_batch(&self, kind: Executions, before: i64, batch: i64) -> Result<u64> {
        let (executions, tasks) = kind.tables();
        let mut tx = self.write_tx(LockScope::None).await?;
        let ids: Vec<i64> = query_scalar(format!(
            "SELECT e.id FROM {executions} e
             WHERE e.start_time < $1
               AND e.id <> (SELECT max(l.id) FROM {executions} l WHERE l.policy_id = e.policy_id)
               AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = e.plan_job_id AND j.status NOT IN {FINISHED})
               AND NOT EXISTS (SELECT 1 FROM {tasks} t JOIN jobs j ON j.id = t.job_id
                               WHERE t.execution_id = e.id AND j.status NOT IN {FINISHED})
             ORDER BY e.id LIMIT $2"
        ))
        .bind(before)
        .bind(batch)
        .fetch_all(&mut tx)
        .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        // Ids are numbers the database just gave: listing them in the statement is safe.
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        for sql in [
            format!("DELETE FROM jobs WHERE id IN (SELECT job_id FROM {tasks} WHERE execution_id IN ({list}))"),
            format!("DELETE FROM jobs WHERE id IN (SELECT plan_job_id FROM {executions} WHERE id IN ({list}))"),
            format!("DELETE FROM {tasks} WHERE execution_id IN ({list})"),
            format!("DELETE FROM {executions} WHERE id IN ({list})"),
        ] {
            query(sql).execute(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(ids.len() as u64)
    }

    /// Deletes at most `batch` jobs that finished before `before`, never a pending or running
    /// one, never the latest job of its kind (a schedule's last run still shows), never one a
    /// replication or retention task or execution still names (the execution purges take those).
    /// Returns how many went.
    pub async fn purge_job_batch(&self, before: i64, batch: i64) -> Result<u64> {
        let done = query(format!(
            "DELETE FROM jobs WHERE id IN (
                 SELECT j.id FROM jobs j
                 WHERE j.finished_at < $1 AND j.status IN {FINISHED}
                   AND j.id <> (SELECT max(l.id) FROM jobs l WHERE l.kind = j.kind)
                   AND NOT EXISTS (SELECT 1 FROM replication_tasks t WHERE t.job_id = j.id)
                   AND NOT EXISTS (SELECT 1 FROM replication_executions e WHERE e.plan_job_id = j.id)
                   AND NOT EXISTS (SELECT 1 FROM retention_tasks t WHERE t.job_id = j.id)
                   AND NOT EXISTS (SELECT 1 FROM retention_executions e WHERE e.plan_job_id = j.id)
                 ORDER BY j.id LIMIT $2)"
        ))
        .bind(before)
        .bind(batch)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

impl Meta {
    /// The runs of job `kind`, optionally of one `status`, in `sort` order, and how many there are.
    pub async fn job_history(
        &self,
        kind: &str,
        status: Option<&str>,
        sort: &crate::Sort,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<crate::JobRow>, i64)> {
        const WHERE: &str = "WHERE kind = $1 AND ($2 IS NULL OR status = $2)";
        let rows = query_as(format!(
            "SELECT {} FROM jobs {WHERE} ORDER BY {} LIMIT $3 OFFSET $4",
            crate::jobs::COLUMNS,
            sort.sql()
        ))
        .bind(kind)
        .bind(status)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total = query_scalar(format!("SELECT count(*) FROM jobs {WHERE}"))
            .bind(kind)
            .bind(status)
            .fetch_one(&self.pool)
            .await?;
        Ok((rows, total))
    }
}
