//! `/jobservice/...`: the durable job queue as Harbor's API shows it (worker pools, workers,
//! queues, stopping a job, a job's log), for system administrators. Every instance's worker pool
//! appears, since jobs and heartbeats live in the shared database. Berth adds `GET /jobservice/jobs`
//! and `GET /jobservice/jobs/{id}` to see jobs with their status, attempts and errors.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_api_types::{ActionRequest, Job, JobQueue, Worker, WorkerPool};
use berth_meta::JobRow;
use berth_meta::time::{rfc3339, rfc3339_or_zero};
use serde::Deserialize;

use crate::ApiState;
use crate::caller::Caller;
use crate::error::{ApiError, PLAIN_TEXT, plain_text};
use crate::page::PageQuery;
use crate::query::parse_id;

type PathRejection = axum::extract::rejection::PathRejection;
type JsonRejection = axum::extract::rejection::JsonRejection;
type QueryRejection = axum::extract::rejection::QueryRejection;

/// A pool whose last heartbeat is older than this is gone (heartbeats come every 10 s).
const POOL_TIMEOUT_SECS: i64 = 60;

fn job_model(j: &JobRow) -> Job {
    Job {
        id: j.id,
        job_kind: j.kind.clone(),
        status: j.status.clone(),
        attempts: j.attempts,
        max_attempts: j.max_attempts,
        worker_pool_id: j.worker.clone(),
        error: j.last_error.clone(),
        parameters: serde_json::from_str(&j.payload).unwrap_or_default(),
        creation_time: rfc3339(j.created_at),
        update_time: rfc3339(j.updated_at),
        run_at: rfc3339(j.run_at),
        start_time: rfc3339_or_zero(j.started_at),
        end_time: rfc3339_or_zero(j.finished_at),
    }
}

/// `GET /jobservice/pools`: one pool per running instance.
pub(crate) async fn pools(State(state): State<ApiState>, caller: Caller) -> Result<Json<Vec<WorkerPool>>, ApiError> {
    caller.require_sysadmin()?;
    let pools = state.meta().live_workers(berth_meta::time::now() - POOL_TIMEOUT_SECS).await?;
    Ok(Json(
        pools
            .iter()
            .map(|p| WorkerPool {
                pid: p.pid,
                worker_pool_id: p.id.clone(),
                start_at: rfc3339(p.started_at),
                heartbeat_at: rfc3339(p.heartbeat_at),
                concurrency: p.concurrency,
                host: p.host.clone(),
            })
            .collect(),
    ))
}

/// `GET /jobservice/pools/{pool_id}/workers` (`all`: every pool): each pool's workers, busy ones
/// with the job they run.
pub(crate) async fn workers(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<Worker>>, ApiError> {
    caller.require_sysadmin()?;
    let Path(pool_id) = path?;
    let pools = state.meta().live_workers(berth_meta::time::now() - POOL_TIMEOUT_SECS).await?;
    let chosen: Vec<_> = pools.iter().filter(|p| pool_id == "all" || p.id == pool_id).collect();
    if chosen.is_empty() && pool_id != "all" {
        return Err(ApiError::not_found(format!("worker pool {pool_id} not found")));
    }
    let mut workers = Vec::new();
    for pool in chosen {
        let running = state.meta().running_jobs_of(&pool.id).await?;
        for slot in 0..pool.concurrency.max(running.len() as i64) {
            let job = running.get(slot as usize);
            workers.push(Worker {
                id: format!("{}-{slot}", pool.id),
                pool_id: pool.id.clone(),
                job_name: job.map(|j| j.kind.clone()),
                job_id: job.map(|j| j.id.to_string()),
                start_at: job.map(|j| rfc3339_or_zero(j.started_at)),
                checkin_at: job.map(|j| rfc3339(j.updated_at)),
            });
        }
    }
    Ok(Json(workers))
}

/// `GET /jobservice/jobs`: jobs, newest first, optionally of one `kind`.
#[derive(Deserialize)]
pub(crate) struct JobsQuery {
    #[serde(default)]
    kind: Option<String>,
}

pub(crate) async fn list_jobs(
    State(state): State<ApiState>,
    caller: Caller,
    paging: Result<Query<PageQuery>, QueryRejection>,
    query: Result<Query<JobsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require_sysadmin()?;
    let page = paging?.0.page()?;
    let Query(q) = query?;
    let (jobs, total) = state.meta().list_jobs(q.kind.as_deref(), page.offset(), page.size).await?;
    let items: Vec<Job> = jobs.iter().map(job_model).collect();
    let query = q.kind.map(|k| format!("kind={k}")).unwrap_or_default();
    Ok(page.respond(items, total, "/api/v2.0/jobservice/jobs", &query))
}

pub(crate) async fn get_job(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Job>, ApiError> {
    caller.require_sysadmin()?;
    Ok(Json(job_model(&find_job(&state, &path?.0, None).await?)))
}

/// `PUT /jobservice/jobs/{job_id}`: stops the job (a running one at its next lease renewal).
pub(crate) async fn stop_job(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    caller.require_sysadmin()?;
    let id = parse_id(&path?.0, "job")?;
    if !state.meta().stop_job(id).await? {
        return Err(ApiError::not_found(format!("job {id} not found or already ended")));
    }
    Ok(StatusCode::OK)
}

/// `GET /jobservice/jobs/{job_id}/log`, as text.
pub(crate) async fn job_log(
    State(state): State<ApiState>,
    caller: Result<Caller, ApiError>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    log_text(&state, caller, path, None).await
}

/// The job a path names, for a system administrator; with `kind`, only a job of that kind
/// (another is not found, as the API of that kind knows no such run).
pub(crate) async fn find_job(state: &ApiState, raw: &str, kind: Option<&str>) -> Result<JobRow, ApiError> {
    let what = kind.map_or("job".to_owned(), |k| format!("{k} job"));
    let id = parse_id(raw, &what)?;
    match state.meta().job(id).await? {
        Some(j) if kind.is_none_or(|k| j.kind == k) => Ok(j),
        _ => Err(ApiError::not_found(format!("{what} {id} not found"))),
    }
}

/// The log of the job a path names ([`find_job`]), as text; errors as text too.
pub(crate) async fn log_text(
    state: &ApiState,
    caller: Result<Caller, ApiError>,
    path: Result<Path<String>, PathRejection>,
    kind: Option<&str>,
) -> Response {
    plain_text(
        async {
            caller?.require_sysadmin()?;
            let job = find_job(state, &path?.0, kind).await?;
            let log = state.meta().job_log(job.id).await?.unwrap_or_default();
            Ok(([(header::CONTENT_TYPE, PLAIN_TEXT)], log).into_response())
        }
        .await,
    )
}

/// `GET /jobservice/queues`.
pub(crate) async fn queues(State(state): State<ApiState>, caller: Caller) -> Result<Json<Vec<JobQueue>>, ApiError> {
    caller.require_sysadmin()?;
    let queues = state.meta().job_queues().await?;
    Ok(Json(
        queues
            .into_iter()
            .map(|q| JobQueue { job_type: q.kind, count: q.pending, latency: q.latency, paused: q.paused })
            .collect(),
    ))
}

/// `PUT /jobservice/queues/{job_type}` (`all`: every type) with `{"action": "stop" | "pause" |
/// "resume"}`: stop drops the pending jobs; pause keeps them waiting; resume lets them run.
pub(crate) async fn queue_action(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<ActionRequest>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    caller.require_sysadmin()?;
    let Path(job_type) = path?;
    // Harbor documents 422 here, not 400, for a body that is not an action.
    let Json(req) = body.map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.body_text()))?;
    let kinds: Vec<String> = if job_type == "all" {
        state.meta().job_queues().await?.into_iter().map(|q| q.kind).collect()
    } else {
        vec![job_type.clone()]
    };
    match req.action.as_str() {
        "stop" => {
            state.meta().stop_pending_jobs((job_type != "all").then_some(job_type.as_str())).await?;
        }
        "pause" | "resume" => {
            for kind in &kinds {
                state.meta().set_queue_paused(kind, req.action == "pause").await?;
            }
        }
        other => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("action {other:?} is not one of \"stop\", \"pause\", \"resume\""),
            ));
        }
    }
    Ok(StatusCode::OK)
}
