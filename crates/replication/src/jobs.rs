//! Replication's jobs: planning an execution (what differs between source and destination) and
//! running one of its tasks. Their payloads are the ids of the rows they work on, so a job
//! queued before an upgrade still runs after it.

use berth_jobs::{Job, JobContext};
use berth_meta::{Meta, MetaError, NewJob};
use serde::{Deserialize, Serialize};

use crate::Engine;

/// Plans execution `execution`: one task for every tag that differs.
#[derive(Debug, Serialize, Deserialize)]
pub struct PlanExecution {
    pub execution: i64,
}

impl Job for PlanExecution {
    const KIND: &'static str = "REPLICATION";
    type Context = Engine;

    async fn run(self, engine: Engine, job: JobContext) -> anyhow::Result<()> {
        engine.plan(self.execution, &job).await
    }
}

/// Runs task `task`: syncs one reference.
#[derive(Debug, Serialize, Deserialize)]
pub struct CopyTask {
    pub task: i64,
}

impl Job for CopyTask {
    const KIND: &'static str = "REPLICATION_TASK";
    /// Retries back off exponentially: a destination down for a while still gets the copy.
    const MAX_ATTEMPTS: i64 = 5;
    type Context = Engine;

    async fn run(self, engine: Engine, job: JobContext) -> anyhow::Result<()> {
        engine.run_task(self.task, &job).await
    }
}

/// The job that plans execution `id`.
pub(crate) fn plan_job(id: i64) -> NewJob {
    PlanExecution { execution: id }.to_new()
}

/// The job that runs task `id`.
pub(crate) fn task_job(id: i64) -> NewJob {
    CopyTask { task: id }.to_new()
}

/// Starts a manual execution of `policy`; its id.
pub async fn start_manual(meta: &Meta, policy: i64) -> Result<i64, MetaError> {
    let id = meta.create_execution(policy, "manual", &plan_job).await?;
    Ok(id.expect("a plan job without a unique key is always added"))
}
