//! Tag retention: one policy per project (linked from the project's metadata `retention_id`), its
//! executions (a planning job each) and their tasks (one job per repository), and the artifacts
//! a task decides on. The policy's schedule is the `job_schedules` row [`retention_schedule_kind`]
//! names.

use crate::JobOf;
use crate::db::{LockScope, Tx, query, query_as, query_scalar};
use crate::jobs::insert_job;
use crate::{ExecutionState, Meta, Result, now};

/// The project metadata naming a project's retention policy.
pub const RETENTION_ID: &str = "retention_id";

/// The `job_schedules` kind of policy `id`'s schedule.
pub fn retention_schedule_kind(id: i64) -> String {
    format!("RETENTION#{id}")
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RetentionPolicyRow {
    pub id: i64,
    pub project_id: i64,
    pub algorithm: String,
    /// Harbor's rule list, as JSON.
    pub rules: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An execution with the counts of its tasks' jobs by state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RetentionExecutionRow {
    pub id: i64,
    pub policy_id: i64,
    pub trigger: String,
    pub dry_run: bool,
    pub start_time: i64,
    pub plan_status: Option<String>,
    pub plan_finished: Option<i64>,
    pub failed: i64,
    pub in_progress: i64,
    pub stopped: i64,
    pub tasks_finished: Option<i64>,
}

impl RetentionExecutionRow {
    /// Harbor's execution status: `Running`, `Success`, `Error` or `Stopped`.
    pub fn status(&self) -> &'static str {
        match self.state() {
            ExecutionState::Running => "Running",
            ExecutionState::Success => "Success",
            ExecutionState::Error => "Error",
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

/// A task with its job's state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RetentionTaskRow {
    pub id: i64,
    pub execution_id: i64,
    pub job_id: i64,
    pub repository: String,
    pub total: i64,
    pub retained: i64,
    pub job_status: String,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// An artifact a retention task decides on.
#[derive(Debug, Clone, Default)]
pub struct RetentionCandidate {
    pub digest: String,
    pub tags: Vec<String>,
    pub pushed: i64,
    pub pulled: i64,
    pub labels: Vec<String>,
}

const POLICY_SELECT: &str = "SELECT id, project_id, algorithm, rules, created_at, updated_at FROM retention_policies";
const EXECUTION_SELECT: &str = "SELECT e.id, e.policy_id, e.trigger, e.dry_run, e.start_time,
       pj.status AS plan_status, pj.finished_at AS plan_finished,
       COALESCE(SUM(CASE WHEN j.status = 'Error' THEN 1 ELSE 0 END), 0) AS failed,
       COALESCE(SUM(CASE WHEN j.status IN ('Pending', 'Running') THEN 1 ELSE 0 END), 0) AS in_progress,
       COALESCE(SUM(CASE WHEN j.status = 'Stopped' THEN 1 ELSE 0 END), 0) AS stopped,
       MAX(j.finished_at) AS tasks_finished
     FROM retention_executions e
     LEFT JOIN jobs pj ON pj.id = e.plan_job_id
     LEFT JOIN retention_tasks t ON t.execution_id = e.id
     LEFT JOIN jobs j ON j.id = t.job_id";
const EXECUTION_GROUP: &str =
    "GROUP BY e.id, e.policy_id, e.trigger, e.dry_run, e.start_time, pj.status, pj.finished_at";
const TASK_SELECT: &str = "SELECT t.id, t.execution_id, t.job_id, t.repository, t.total, t.retained,
       j.status AS job_status, j.started_at, j.finished_at
     FROM retention_tasks t JOIN jobs j ON j.id = t.job_id";

impl Meta {
    /// Creates project `project`'s policy and links the project to it, in one commit; its id.
    pub async fn create_retention_policy(&self, project: i64, algorithm: &str, rules: &str) -> Result<i64> {
        let mut tx = self.write_tx(LockScope::None).await?;
        let id: i64 = query_scalar(
            "INSERT INTO retention_policies (project_id, algorithm, rules, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(project)
        .bind(algorithm)
        .bind(rules)
        .bind(now())
        .fetch_one(&mut tx)
        .await?;
        query(
            "INSERT INTO project_metadata (project_id, name, value, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (project_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(project)
        .bind(RETENTION_ID)
        .bind(id.to_string())
        .bind(now())
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn retention_policy(&self, id: i64) -> Result<Option<RetentionPolicyRow>> {
        Ok(query_as(format!("{POLICY_SELECT} WHERE id = $1")).bind(id).fetch_optional(&self.pool).await?)
    }

    /// The policy of project `project`, if it has one.
    pub async fn project_retention_policy(&self, project: i64) -> Result<Option<RetentionPolicyRow>> {
        Ok(query_as(format!("{POLICY_SELECT} WHERE project_id = $1")).bind(project).fetch_optional(&self.pool).await?)
    }

    pub async fn update_retention_policy(&self, id: i64, algorithm: &str, rules: &str) -> Result<()> {
        query("UPDATE retention_policies SET algorithm = $1, rules = $2, updated_at = $3 WHERE id = $4")
            .bind(algorithm)
            .bind(rules)
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes a policy with its executions, tasks and schedule, and unlinks its project, in one
    /// commit (the tasks' jobs stay until the job history purge takes them).
    pub async fn delete_retention_policy(&self, id: i64) -> Result<()> {
        let mut tx = self.write_tx(LockScope::None).await?;
        query(
            "DELETE FROM project_metadata WHERE name = $1
               AND project_id = (SELECT project_id FROM retention_policies WHERE id = $2)",
        )
        .bind(RETENTION_ID)
        .bind(id)
        .execute(&mut tx)
        .await?;
        query("DELETE FROM job_schedules WHERE kind = $1").bind(retention_schedule_kind(id)).execute(&mut tx).await?;
        query("DELETE FROM retention_policies WHERE id = $1").bind(id).execute(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The ids of the policies with a schedule row (a deleted project's policy went with it;
    /// its row, if left, names nothing).
    pub async fn scheduled_retention_policies(&self) -> Result<Vec<i64>> {
        Ok(query_scalar(
            "SELECT p.id FROM retention_policies p
             JOIN job_schedules s ON s.kind = 'RETENTION#' || p.id ORDER BY p.id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Starts an execution of `policy`, planned by the job `plan` makes of its id; its id, or
    /// `None` if the job's unique key was taken (a scheduled run another instance started).
    pub async fn create_retention_execution(
        &self,
        policy: i64,
        trigger: &str,
        dry_run: bool,
        plan: JobOf<'_>,
    ) -> Result<Option<i64>> {
        let mut tx = self.write_tx(LockScope::None).await?;
        let id: i64 = query_scalar(
            "INSERT INTO retention_executions (policy_id, trigger, dry_run, start_time) VALUES ($1, $2, $3, $4)
             RETURNING id",
        )
        .bind(policy)
        .bind(trigger)
        .bind(dry_run)
        .bind(now())
        .fetch_one(&mut tx)
        .await?;
        let Some(job) = insert_job(&mut tx, &plan(id)).await? else { return Ok(None) };
        query("UPDATE retention_executions SET plan_job_id = $1 WHERE id = $2")
            .bind(job)
            .bind(id)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Adds one task per repository to `execution`, each with the job `task_job` makes of its
    /// id, in one commit.
    pub async fn add_retention_tasks(
        &self,
        execution: i64,
        repositories: &[String],
        task_job: JobOf<'_>,
    ) -> Result<()> {
        let mut tx = self.write_tx(LockScope::None).await?;
        for repository in repositories {
            insert_task(&mut tx, execution, repository, task_job).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn retention_execution(&self, id: i64) -> Result<Option<RetentionExecutionRow>> {
        let q = format!("{EXECUTION_SELECT} WHERE e.id = $1 {EXECUTION_GROUP}");
        Ok(query_as(q).bind(id).fetch_optional(&self.pool).await?)
    }

    /// One page of the executions of `policy`, newest first; and the total.
    pub async fn list_retention_executions(
        &self,
        policy: i64,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<RetentionExecutionRow>, i64)> {
        let q = format!(
            "{EXECUTION_SELECT} WHERE e.policy_id = $1 {EXECUTION_GROUP} ORDER BY e.id DESC LIMIT $2 OFFSET $3"
        );
        let rows = query_as(q).bind(policy).bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let total = query_scalar("SELECT count(*) FROM retention_executions WHERE policy_id = $1")
            .bind(policy)
            .fetch_one(&self.pool)
            .await?;
        Ok((rows, total))
    }

    /// Stops an execution: its planning and every task not yet ended (running ones stop at their
    /// next lease renewal).
    pub async fn stop_retention_execution(&self, id: i64) -> Result<()> {
        let jobs: Vec<i64> = query_scalar(
            "SELECT plan_job_id FROM retention_executions WHERE id = $1 AND plan_job_id IS NOT NULL
             UNION ALL SELECT job_id FROM retention_tasks WHERE execution_id = $1",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        for job in jobs {
            self.stop_job(job).await?;
        }
        Ok(())
    }

    /// One page of the tasks of `execution`, by id; and the total.
    pub async fn list_retention_tasks(
        &self,
        execution: i64,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<RetentionTaskRow>, i64)> {
        let q = format!("{TASK_SELECT} WHERE t.execution_id = $1 ORDER BY t.id LIMIT $2 OFFSET $3");
        let rows = query_as(q).bind(execution).bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let total = query_scalar("SELECT count(*) FROM retention_tasks WHERE execution_id = $1")
            .bind(execution)
            .fetch_one(&self.pool)
            .await?;
        Ok((rows, total))
    }

    pub async fn retention_task(&self, id: i64) -> Result<Option<RetentionTaskRow>> {
        Ok(query_as(format!("{TASK_SELECT} WHERE t.id = $1")).bind(id).fetch_optional(&self.pool).await?)
    }

    /// Records what task `id` decided: of `total` artifacts, `retained` kept.
    pub async fn set_retention_task_counts(&self, id: i64, total: i64, retained: i64) -> Result<()> {
        query("UPDATE retention_tasks SET total = $1, retained = $2 WHERE id = $3")
            .bind(total)
            .bind(retained)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The artifacts of repository `repo` with their tags and label names, oldest first.
    pub async fn retention_candidates(&self, repo: i64) -> Result<Vec<RetentionCandidate>> {
        let rows: Vec<(String, i64, i64)> = query_as(
            "SELECT digest, created_at, pull_time FROM manifests WHERE repository_id = $1 ORDER BY created_at, id",
        )
        .bind(repo)
        .fetch_all(&self.pool)
        .await?;
        let tags: Vec<(String, String)> =
            query_as("SELECT digest, name FROM tags WHERE repository_id = $1 ORDER BY name")
                .bind(repo)
                .fetch_all(&self.pool)
                .await?;
        let labels: Vec<(String, String)> = query_as(
            "SELECT m.digest, l.name FROM artifact_labels al
             JOIN manifests m ON m.id = al.manifest_id JOIN labels l ON l.id = al.label_id
             WHERE m.repository_id = $1 ORDER BY l.name",
        )
        .bind(repo)
        .fetch_all(&self.pool)
        .await?;
        let of = |pairs: &[(String, String)], digest: &str| {
            pairs.iter().filter(|(d, _)| d == digest).map(|(_, n)| n.clone()).collect()
        };
        Ok(rows
            .into_iter()
            .map(|(digest, pushed, pulled)| RetentionCandidate {
                tags: of(&tags, &digest),
                labels: of(&labels, &digest),
                digest,
                pushed,
                pulled,
            })
            .collect())
    }
}

async fn insert_task(tx: &mut Tx, execution: i64, repository: &str, task_job: JobOf<'_>) -> Result<()> {
    let id: i64 =
        query_scalar("INSERT INTO retention_tasks (execution_id, job_id, repository) VALUES ($1, 0, $2) RETURNING id")
            .bind(execution)
            .bind(repository)
            .fetch_one(&mut *tx)
            .await?;
    let job = insert_job(&mut *tx, &task_job(id)).await?;
    query("UPDATE retention_tasks SET job_id = $1 WHERE id = $2").bind(job).bind(id).execute(&mut *tx).await?;
    Ok(())
}
