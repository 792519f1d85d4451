//! Executions of policies and their tasks, each task run by a job of the queue.

use crate::db::{LockScope, Tx, query, query_as, query_scalar};
use crate::events::move_cursor;
use crate::jobs::insert_job;
use crate::{Cursor, ExecutionState, Meta, NewJob, Result, now};

/// An execution with the counts of its tasks by state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExecutionRow {
    pub id: i64,
    pub policy_id: i64,
    pub trigger: String,
    pub start_time: i64,
    /// The planning job's status (`None` for event-based runs, which need no planning).
    pub plan_status: Option<String>,
    pub plan_error: Option<String>,
    pub plan_finished: Option<i64>,
    pub total: i64,
    pub failed: i64,
    pub succeed: i64,
    pub in_progress: i64,
    pub stopped: i64,
    pub tasks_finished: Option<i64>,
}

impl ExecutionRow {
    /// Harbor's execution status: `InProgress`, `Succeed`, `Failed` or `Stopped`.
    pub fn status(&self) -> &'static str {
        match self.state() {
            ExecutionState::Running => "InProgress",
            ExecutionState::Success => "Succeed",
            ExecutionState::Error => "Failed",
            ExecutionState::Stopped => "Stopped",
        }
    }

    /// When it ended, if it did.
    pub fn end_time(&self) -> Option<i64> {
        self.state().end_time(self.tasks_finished, self.plan_finished, self.start_time)
    }

    fn state(&self) -> ExecutionState {
        ExecutionState::of(self.plan_status.as_deref(), self.in_progress, self.stopped, self.failed)
    }
}

/// A task as the API lists it: its row and its job's state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaskRow {
    pub id: i64,
    pub execution_id: i64,
    pub job_id: i64,
    pub operation: String,
    pub resource_type: String,
    pub src_resource: String,
    pub dst_resource: String,
    pub spec: String,
    pub job_status: String,
    pub attempts: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

impl TaskRow {
    /// Harbor's task status. A job waiting for a retry is still in progress.
    pub fn status(&self) -> &'static str {
        match self.job_status.as_str() {
            "Pending" if self.attempts == 0 => "Pending",
            "Pending" | "Running" => "InProgress",
            "Success" => "Succeed",
            "Stopped" => "Stopped",
            _ => "Failed",
        }
    }
}

/// A task to add to an execution, run by a job of its own.
#[derive(Debug)]
pub struct NewTask {
    pub operation: &'static str,
    pub resource_type: &'static str,
    pub src_resource: String,
    pub dst_resource: String,
    /// What exactly to do, as JSON, for the job.
    pub spec: String,
}

/// The job that runs the task, execution or planning with the given id: replication's job types
/// live above this crate, so they are given as a function of the row they run.
pub type JobOf<'a> = &'a (dyn Fn(i64) -> NewJob + Sync);

/// Events handed over to replication: the consumer's cursor moves from `from` to `to`, and the
/// tasks the events ask for (if any) start an event-based execution of `policy`.
pub struct Handover<'a> {
    pub consumer: &'a str,
    pub from: Cursor,
    pub to: Cursor,
    pub policy: i64,
    pub tasks: &'a [NewTask],
    pub task_job: JobOf<'a>,
}

const EXECUTION_SELECT: &str = "SELECT e.id, e.policy_id, e.trigger, e.start_time,
       pj.status AS plan_status, pj.last_error AS plan_error, pj.finished_at AS plan_finished,
       COUNT(t.id) AS total,
       COALESCE(SUM(CASE WHEN j.status = 'Error' THEN 1 ELSE 0 END), 0) AS failed,
       COALESCE(SUM(CASE WHEN j.status = 'Success' THEN 1 ELSE 0 END), 0) AS succeed,
       COALESCE(SUM(CASE WHEN j.status IN ('Pending', 'Running') THEN 1 ELSE 0 END), 0) AS in_progress,
       COALESCE(SUM(CASE WHEN j.status = 'Stopped' THEN 1 ELSE 0 END), 0) AS stopped,
       MAX(j.finished_at) AS tasks_finished
     FROM replication_executions e
     LEFT JOIN jobs pj ON pj.id = e.plan_job_id
     LEFT JOIN replication_tasks t ON t.execution_id = e.id
     LEFT JOIN jobs j ON j.id = t.job_id";
const EXECUTION_GROUP: &str =
    "GROUP BY e.id, e.policy_id, e.trigger, e.start_time, pj.status, pj.last_error, pj.finished_at";
const TASK_SELECT: &str = "SELECT t.id, t.execution_id, t.job_id, t.operation, t.resource_type, t.src_resource,
       t.dst_resource, t.spec, j.status AS job_status, j.attempts, j.started_at, j.finished_at
     FROM replication_tasks t JOIN jobs j ON j.id = t.job_id";

impl Meta {
    /// Starts an execution of `policy`, planned by the job `plan` makes of its id; returns its id,
    /// or `None` if the plan job's unique key was taken (scheduled runs: every instance asks, one
    /// execution starts). The execution and its job are one commit.
    pub async fn create_execution(&self, policy: i64, trigger: &str, plan: JobOf<'_>) -> Result<Option<i64>> {
        let mut tx = self.write_tx(LockScope::None).await?;
        let id = insert_execution(&mut tx, policy, trigger).await?;
        let Some(job) = insert_job(&mut tx, &plan(id)).await? else {
            return Ok(None);
        };
        query("UPDATE replication_executions SET plan_job_id = $1 WHERE id = $2")
            .bind(job)
            .bind(id)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Adds `tasks` to `execution`, each with the job `task_job` makes of its id, in one commit.
    pub async fn add_tasks(&self, execution: i64, tasks: &[NewTask], task_job: JobOf<'_>) -> Result<()> {
        let mut tx = self.write_tx(LockScope::None).await?;
        insert_tasks(&mut tx, execution, tasks, task_job).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Hands events over to replication ([`Handover`]), in one commit; the execution started, if
    /// any. `None` (and nothing changed) if another instance moved the cursor first.
    pub async fn consume_events(&self, handover: &Handover<'_>) -> Result<Option<Option<i64>>> {
        let mut tx = self.write_tx(LockScope::None).await?;
        if !move_cursor(&mut tx, handover.consumer, handover.from, handover.to).await? {
            return Ok(None);
        }
        let mut execution = None;
        if !handover.tasks.is_empty() {
            let id = insert_execution(&mut tx, handover.policy, "event_based").await?;
            insert_tasks(&mut tx, id, handover.tasks, handover.task_job).await?;
            execution = Some(id);
        }
        tx.commit().await?;
        Ok(Some(execution))
    }

    pub async fn execution(&self, id: i64) -> Result<Option<ExecutionRow>> {
        let q = format!("{EXECUTION_SELECT} WHERE e.id = $1 {EXECUTION_GROUP}");
        Ok(query_as(q).bind(id).fetch_optional(&self.pool).await?)
    }

    /// One page of executions, newest first, of one policy and/or trigger; and the total.
    pub async fn list_executions(
        &self,
        policy: Option<i64>,
        trigger: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ExecutionRow>, i64)> {
        const WHERE: &str = "WHERE ($1 IS NULL OR e.policy_id = $1) AND ($2 IS NULL OR e.trigger = $2)";
        let q = format!("{EXECUTION_SELECT} {WHERE} {EXECUTION_GROUP} ORDER BY e.id DESC LIMIT $3 OFFSET $4");
        let rows = query_as(q).bind(policy).bind(trigger).bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let total = query_scalar(format!("SELECT count(*) FROM replication_executions e {WHERE}"))
            .bind(policy)
            .bind(trigger)
            .fetch_one(&self.pool)
            .await?;
        Ok((rows, total))
    }

    /// Stops an execution: its planning and every task not yet ended (running ones stop at their
    /// next lease renewal). `false` if there is no such execution.
    pub async fn stop_execution(&self, id: i64) -> Result<bool> {
        let Some(plan) = query_scalar::<Option<i64>>("SELECT plan_job_id FROM replication_executions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(false);
        };
        let jobs: Vec<i64> = query_scalar("SELECT job_id FROM replication_tasks WHERE execution_id = $1")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        for job in plan.into_iter().chain(jobs) {
            self.stop_job(job).await?;
        }
        Ok(true)
    }

    /// One page of the tasks of `execution`, by id; and the total.
    pub async fn list_tasks(&self, execution: i64, offset: i64, limit: i64) -> Result<(Vec<TaskRow>, i64)> {
        let q = format!("{TASK_SELECT} WHERE t.execution_id = $1 ORDER BY t.id LIMIT $2 OFFSET $3");
        let rows = query_as(q).bind(execution).bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let total = query_scalar("SELECT count(*) FROM replication_tasks WHERE execution_id = $1")
            .bind(execution)
            .fetch_one(&self.pool)
            .await?;
        Ok((rows, total))
    }

    pub async fn task(&self, id: i64) -> Result<Option<TaskRow>> {
        let q = format!("{TASK_SELECT} WHERE t.id = $1");
        Ok(query_as(q).bind(id).fetch_optional(&self.pool).await?)
    }
}

async fn insert_execution(tx: &mut Tx, policy: i64, trigger: &str) -> Result<i64> {
    Ok(query_scalar(
        "INSERT INTO replication_executions (policy_id, trigger, start_time) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(policy)
    .bind(trigger)
    .bind(now())
    .fetch_one(tx)
    .await?)
}

async fn insert_tasks(tx: &mut Tx, execution: i64, tasks: &[NewTask], task_job: JobOf<'_>) -> Result<()> {
    for t in tasks {
        let id: i64 = query_scalar(
            "INSERT INTO replication_tasks (execution_id, job_id, operation, resource_type, src_resource, dst_resource, spec)
             VALUES ($1, 0, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(execution)
        .bind(t.operation)
        .bind(t.resource_type)
        .bind(&t.src_resource)
        .bind(&t.dst_resource)
        .bind(&t.spec)
        .fetch_one(&mut *tx)
        .await?;
        let job = insert_job(&mut *tx, &task_job(id)).await?;
        query("UPDATE replication_tasks SET job_id = $1 WHERE id = $2").bind(job).bind(id).execute(&mut *tx).await?;
    }
    Ok(())
}
