//! Replication's rows: registry endpoints, policies, executions and tasks, and the deployment's
//! own values (`system_values`). A task is run by a job of the queue; the task's status, times
//! and log are its job's, so there is one truth about where a copy stands.

use crate::db::{LockScope, Tx, query, query_as, query_scalar};
use crate::events::{insert_event, move_cursor};
use crate::jobs::insert_job;
use crate::{Cursor, Event, Meta, MetaError, NewJob, Result, now};

/// A remote registry endpoint. `access_secret` is sealed (see the replication crate).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RegistryRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub kind: String,
    pub url: String,
    pub access_key: Option<String>,
    pub access_secret: Option<String>,
    pub insecure: bool,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An endpoint to create or the new values of one.
#[derive(Debug)]
pub struct NewRegistry<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub kind: &'a str,
    pub url: &'a str,
    pub access_key: Option<&'a str>,
    pub access_secret: Option<&'a str>,
    pub insecure: bool,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PolicyRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub src_registry_id: Option<i64>,
    pub dest_registry_id: Option<i64>,
    pub dest_namespace: String,
    pub dest_namespace_replace_count: i64,
    pub trigger_type: String,
    pub cron: String,
    pub filters: String,
    pub replicate_deletion: bool,
    pub override_existing: bool,
    pub enabled: bool,
    pub speed: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A policy to create or the new values of one.
#[derive(Debug)]
pub struct NewPolicy<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub src_registry_id: Option<i64>,
    pub dest_registry_id: Option<i64>,
    pub dest_namespace: &'a str,
    pub dest_namespace_replace_count: i64,
    pub trigger_type: &'a str,
    pub cron: &'a str,
    pub filters: &'a str,
    pub replicate_deletion: bool,
    pub override_existing: bool,
    pub enabled: bool,
    pub speed: i64,
}

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
        match self.plan_status.as_deref() {
            Some("Pending" | "Running") => return "InProgress",
            Some("Error") => return "Failed",
            Some("Stopped") => return "Stopped",
            _ => {}
        }
        if self.in_progress > 0 {
            "InProgress"
        } else if self.stopped > 0 {
            "Stopped"
        } else if self.failed > 0 {
            "Failed"
        } else {
            "Succeed"
        }
    }

    /// When it ended, if it did.
    pub fn end_time(&self) -> Option<i64> {
        if self.status() == "InProgress" {
            return None;
        }
        self.tasks_finished.max(self.plan_finished).or(Some(self.start_time))
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

const REGISTRY_COLUMNS: &str =
    "id, name, description, kind, url, access_key, access_secret, insecure, status, created_at, updated_at";
const POLICY_COLUMNS: &str = "id, name, description, src_registry_id, dest_registry_id, dest_namespace,
     dest_namespace_replace_count, trigger_type, cron, filters, replicate_deletion, override_existing, enabled, speed,
     created_at, updated_at";
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
    /// The value `name` of this deployment, or `generate()`'s, stored first. Instances starting
    /// together all end up with the one stored first.
    pub async fn system_value(&self, name: &str, generate: impl FnOnce() -> String) -> Result<String> {
        const Q: &str = "SELECT value FROM system_values WHERE name = $1";
        if let Some(v) = query_scalar(Q).bind(name).fetch_optional(&self.pool).await? {
            return Ok(v);
        }
        let value = generate();
        query("INSERT INTO system_values (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(&value)
            .execute(&self.pool)
            .await?;
        Ok(query_scalar(Q).bind(name).fetch_one(&self.pool).await?)
    }

    pub async fn create_registry(&self, r: &NewRegistry<'_>, event: &Event) -> Result<i64> {
        let now = now();
        let statement = query_scalar(
            "INSERT INTO registries (name, description, kind, url, access_key, access_secret, insecure, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
        )
        .bind(r.name)
        .bind(r.description)
        .bind(r.kind)
        .bind(r.url)
        .bind(r.access_key)
        .bind(r.access_secret)
        .bind(r.insecure)
        .bind(now);
        self.create(statement, event, "a registry with this name already exists").await
    }

    pub async fn registry(&self, id: i64) -> Result<Option<RegistryRow>> {
        let q = format!("SELECT {REGISTRY_COLUMNS} FROM registries WHERE id = $1");
        Ok(query_as(q).bind(id).fetch_optional(&self.pool).await?)
    }

    /// One page of endpoints whose name contains `name`, by id; and the total.
    pub async fn list_registries(
        &self,
        name: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<RegistryRow>, i64)> {
        let q = format!(
            "SELECT {REGISTRY_COLUMNS} FROM registries WHERE ($1 IS NULL OR instr(name, $1) > 0)
             ORDER BY id LIMIT $2 OFFSET $3"
        );
        let rows = query_as(q).bind(name).bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let total = query_scalar("SELECT count(*) FROM registries WHERE ($1 IS NULL OR instr(name, $1) > 0)")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok((rows, total))
    }

    pub async fn update_registry(&self, id: i64, r: &NewRegistry<'_>, event: &Event) -> Result<bool> {
        let statement = query(
            "UPDATE registries SET name = $1, description = $2, url = $3, access_key = $4, access_secret = $5,
                                   insecure = $6, updated_at = $7, status = 'unknown'
             WHERE id = $8",
        )
        .bind(r.name)
        .bind(r.description)
        .bind(r.url)
        .bind(r.access_key)
        .bind(r.access_secret)
        .bind(r.insecure)
        .bind(now())
        .bind(id);
        Ok(self.change(statement, event, "a registry with this name already exists").await? == 1)
    }

    pub async fn set_registry_status(&self, id: i64, status: &str) -> Result<()> {
        query("UPDATE registries SET status = $1 WHERE id = $2").bind(status).bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// Deletes an endpoint no policy and no proxy-cache project uses: `InUse` otherwise,
    /// `false` if there is none. The check and the delete are one transaction.
    pub async fn delete_registry(&self, id: i64, event: &Event) -> Result<bool> {
        let mut tx = self.write_tx(LockScope::Named("registries")).await?;
        let policies: i64 = query_scalar(
            "SELECT count(*) FROM replication_policies WHERE src_registry_id = $1 OR dest_registry_id = $1",
        )
        .bind(id)
        .fetch_one(&mut tx)
        .await?;
        let projects: i64 =
            query_scalar("SELECT count(*) FROM projects WHERE registry_id = $1").bind(id).fetch_one(&mut tx).await?;
        if policies + projects > 0 {
            return Err(MetaError::InUse(format!(
                "the registry is used by {policies} replication policies and {projects} proxy-cache projects"
            )));
        }
        let done = query("DELETE FROM registries WHERE id = $1").bind(id).execute(&mut tx).await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn create_policy(&self, p: &NewPolicy<'_>, event: &Event) -> Result<i64> {
        let now = now();
        let statement = query_scalar(
            "INSERT INTO replication_policies
               (name, description, src_registry_id, dest_registry_id, dest_namespace, dest_namespace_replace_count,
                trigger_type, cron, filters, replicate_deletion, override_existing, enabled, speed, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING id",
        )
        .bind(p.name)
        .bind(p.description)
        .bind(p.src_registry_id)
        .bind(p.dest_registry_id)
        .bind(p.dest_namespace)
        .bind(p.dest_namespace_replace_count)
        .bind(p.trigger_type)
        .bind(p.cron)
        .bind(p.filters)
        .bind(p.replicate_deletion)
        .bind(p.override_existing)
        .bind(p.enabled)
        .bind(p.speed)
        .bind(now);
        self.create(statement, event, "a policy with this name already exists").await
    }

    pub async fn policy(&self, id: i64) -> Result<Option<PolicyRow>> {
        let q = format!("SELECT {POLICY_COLUMNS} FROM replication_policies WHERE id = $1");
        Ok(query_as(q).bind(id).fetch_optional(&self.pool).await?)
    }

    /// One page of policies whose name contains `name`, by id; and the total.
    pub async fn list_policies(&self, name: Option<&str>, offset: i64, limit: i64) -> Result<(Vec<PolicyRow>, i64)> {
        let q = format!(
            "SELECT {POLICY_COLUMNS} FROM replication_policies WHERE ($1 IS NULL OR instr(name, $1) > 0)
             ORDER BY id LIMIT $2 OFFSET $3"
        );
        let rows = query_as(q).bind(name).bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let total = query_scalar("SELECT count(*) FROM replication_policies WHERE ($1 IS NULL OR instr(name, $1) > 0)")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok((rows, total))
    }

    /// Enabled policies with trigger `trigger_type`.
    pub async fn enabled_policies(&self, trigger_type: &str) -> Result<Vec<PolicyRow>> {
        let q = format!(
            "SELECT {POLICY_COLUMNS} FROM replication_policies WHERE enabled = TRUE AND trigger_type = $1 ORDER BY id"
        );
        Ok(query_as(q).bind(trigger_type).fetch_all(&self.pool).await?)
    }

    pub async fn update_policy(&self, id: i64, p: &NewPolicy<'_>, event: &Event) -> Result<bool> {
        let statement = query(
            "UPDATE replication_policies SET name = $1, description = $2, src_registry_id = $3, dest_registry_id = $4,
                dest_namespace = $5, dest_namespace_replace_count = $6, trigger_type = $7, cron = $8, filters = $9,
                replicate_deletion = $10, override_existing = $11, enabled = $12, speed = $13, updated_at = $14
             WHERE id = $15",
        )
        .bind(p.name)
        .bind(p.description)
        .bind(p.src_registry_id)
        .bind(p.dest_registry_id)
        .bind(p.dest_namespace)
        .bind(p.dest_namespace_replace_count)
        .bind(p.trigger_type)
        .bind(p.cron)
        .bind(p.filters)
        .bind(p.replicate_deletion)
        .bind(p.override_existing)
        .bind(p.enabled)
        .bind(p.speed)
        .bind(now())
        .bind(id);
        Ok(self.change(statement, event, "a policy with this name already exists").await? == 1)
    }

    /// Deletes a policy with no execution in progress (`InUse` otherwise), its executions with it.
    pub async fn delete_policy(&self, id: i64, event: &Event) -> Result<bool> {
        let running = self.list_executions(Some(id), None, 0, i64::MAX).await?.0;
        if running.iter().any(|e| e.status() == "InProgress") {
            return Err(MetaError::InUse("the policy has an execution in progress; stop it first".into()));
        }
        let statement = query("DELETE FROM replication_policies WHERE id = $1").bind(id);
        Ok(self.change(statement, event, "policy").await? == 1)
    }

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
