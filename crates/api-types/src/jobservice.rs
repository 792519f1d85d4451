//! `/jobservice/...`: worker pools, workers, queues, and Berth's own job listing.

use serde::{Deserialize, Serialize};

/// One running instance's pool of workers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerPool {
    pub pid: i64,
    pub worker_pool_id: String,
    pub start_at: String,
    pub heartbeat_at: String,
    pub concurrency: i64,
    pub host: String,
}

/// One worker of a pool; a busy one names the job it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Worker {
    pub id: String,
    pub pool_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkin_at: Option<String>,
}

/// The jobs of one kind waiting to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobQueue {
    pub job_type: String,
    /// Pending jobs.
    pub count: i64,
    /// Seconds the oldest runnable pending job has waited.
    pub latency: i64,
    pub paused: bool,
}

/// The body of `PUT /jobservice/queues/{job_type}`: `stop`, `pause` or `resume`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRequest {
    pub action: String,
}

/// Berth's own (`GET /jobservice/jobs`, `GET /jobservice/jobs/{id}`): a job with its attempts
/// and last error. Harbor has no model for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: i64,
    pub job_kind: String,
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    /// The pool running it, or that ran it last.
    pub worker_pool_id: Option<String>,
    /// The last attempt's error.
    pub error: Option<String>,
    /// The job's payload, as its kind defines it.
    pub parameters: serde_json::Value,
    pub creation_time: String,
    pub update_time: String,
    pub run_at: String,
    pub start_time: String,
    pub end_time: String,
}
