//! Harbor's system jobs with a history, logs, stop and a schedule — `/system/purgeaudit*` (the
//! audit log purge) and `/system/gc*` (garbage collection) — for system administrators. Each run
//! is a job of the durable queue: one instance runs it, with a log, stoppable. The handlers are
//! the same for both; [`SystemJob`] says what differs (parameters, the default schedule).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_api_types::{ExecHistory, Freed, Schedule, ScheduleObj};
use berth_jobs::Job;
use berth_jobs::schedule;
use berth_meta::JobRow;
use berth_meta::time::{now, rfc3339};
use serde::Deserialize;

use crate::ApiState;
use crate::caller::Caller;
use crate::error::ApiError;
use crate::jobservice::{find_job, log_text};
use crate::page::PageQuery;
use crate::query::Term;

type PathRejection = axum::extract::rejection::PathRejection;
type JsonRejection = axum::extract::rejection::JsonRejection;
type QueryRejection = axum::extract::rejection::QueryRejection;

/// A kind of system job the API exposes.
pub(crate) trait SystemJob: Job + Sized {
    /// Where its runs are listed, e.g. `/api/v2.0/system/gc`.
    const PATH: &'static str;

    /// A run's parameters from Harbor's `parameters` object, each checked.
    fn parameters(map: serde_json::Map<String, serde_json::Value>) -> Result<Self, ApiError>;

    /// The schedule in force until an administrator sets one, with its run's parameters.
    fn default_schedule(state: &ApiState) -> (schedule::Schedule, Self);

    /// Refuses a manual run that must not start now.
    fn may_run(state: &ApiState) -> impl Future<Output = Result<(), ApiError>> + Send {
        let _ = state;
        async { Ok(()) }
    }

    /// What run `id` freed, for the jobs that free something.
    fn freed(state: &ApiState, id: i64) -> impl Future<Output = Result<Option<Freed>, ApiError>> + Send {
        let _ = (state, id);
        async { Ok(None) }
    }
}

fn history_model(j: &JobRow) -> ExecHistory {
    ExecHistory {
        id: j.id,
        job_name: j.kind.clone(),
        job_kind: if j.unique_key.is_some() { "SCHEDULE" } else { "MANUAL" }.to_owned(),
        job_parameters: j.payload.clone(),
        schedule: None,
        job_status: j.status.clone(),
        deleted: false,
        creation_time: rfc3339(j.created_at),
        update_time: rfc3339(j.updated_at),
        freed: None,
    }
}

/// Run `j` as Harbor shows it, with what it freed.
async fn run_model<J: SystemJob>(state: &ApiState, j: &JobRow) -> Result<ExecHistory, ApiError> {
    Ok(ExecHistory { freed: J::freed(state, j.id).await?, ..history_model(j) })
}

#[derive(Deserialize)]
pub(crate) struct HistoryQuery {
    #[serde(default)]
    q: Option<String>,
}

/// `GET /system/purgeaudit`: the runs, newest first; `q=job_status=...`, `sort=` by
/// creation_time, update_time or id.
pub(crate) async fn history<J: SystemJob>(
    State(state): State<ApiState>,
    caller: Caller,
    paging: Result<Query<PageQuery>, QueryRejection>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require_sysadmin()?;
    let paging = paging?.0;
    let page = paging.page()?;
    let raw = query?.0.q;
    let q = crate::query::Query::parse(raw.as_deref(), &["job_status"])?;
    let status = match q.get("job_status") {
        None => None,
        Some(Term::Exact(v)) => Some(v.as_str()),
        Some(_) => return Err(ApiError::bad_request("job_status supports exact matching only")),
    };
    let sort = paging.sort(
        &[("creation_time", "created_at"), ("update_time", "updated_at"), ("id", "id")],
        &[("id", true)],
        "id",
    )?;
    let (rows, total) = state.meta().job_history(J::KIND, status, &sort, page.offset(), page.size).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        items.push(run_model::<J>(&state, row).await?);
    }
    let query = raw.map(|q| format!("q={q}")).unwrap_or_default();
    Ok(page.respond(items, total, J::PATH, &query))
}

async fn find_run<J: SystemJob>(state: &ApiState, raw: &str) -> Result<JobRow, ApiError> {
    find_job(state, raw, Some(J::KIND)).await
}

/// `GET /system/purgeaudit/{id}`.
pub(crate) async fn get<J: SystemJob>(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<ExecHistory>, ApiError> {
    caller.require_sysadmin()?;
    let run = find_run::<J>(&state, &path?.0).await?;
    Ok(Json(run_model::<J>(&state, &run).await?))
}

/// `PUT /system/purgeaudit/{id}`: stops the run (a running one between two batches, at its next
/// lease renewal).
pub(crate) async fn stop<J: SystemJob>(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    caller.require_sysadmin()?;
    let run = find_run::<J>(&state, &path?.0).await?;
    // A run that already ended stays as it ended: stopping it is a no-op, as in Harbor.
    state.meta().stop_job(run.id).await?;
    Ok(StatusCode::OK)
}

/// `GET /system/purgeaudit/{id}/log`, as text.
pub(crate) async fn log<J: SystemJob>(
    State(state): State<ApiState>,
    caller: Result<Caller, ApiError>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    log_text(&state, caller, path, Some(J::KIND)).await
}

/// `GET /system/purgeaudit/schedule`: the schedule in force, as Harbor shows it (an
/// `ExecHistory` whose `schedule` says when the next run is).
pub(crate) async fn get_schedule<J: SystemJob>(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<ExecHistory>, ApiError> {
    caller.require_sysadmin()?;
    let (schedule, parameters, created, updated) = match state.meta().job_schedule(J::KIND).await? {
        Some(s) => {
            let checked = schedule::Schedule::new(&s.schedule_type, &s.cron).map_err(ApiError::bad_request)?;
            (checked, s.parameters, s.created_at, s.updated_at)
        }
        None => {
            let (schedule, run) = J::default_schedule(&state);
            (schedule, serde_json::to_string(&run).unwrap_or_default(), 0, 0)
        }
    };
    Ok(Json(ExecHistory {
        id: 0,
        job_name: J::KIND.to_owned(),
        job_kind: "SCHEDULE".to_owned(),
        job_parameters: parameters,
        schedule: Some(ScheduleObj {
            next_scheduled_time: schedule.next_after(now()).map(rfc3339),
            schedule_type: Some(schedule.schedule_type.to_owned()),
            cron: Some(schedule.cron),
        }),
        job_status: String::new(),
        deleted: false,
        creation_time: rfc3339(created),
        update_time: rfc3339(updated),
        freed: None,
    }))
}

/// `POST /system/purgeaudit/schedule`: sets the schedule, or with type `Manual` runs once now.
pub(crate) async fn create_schedule<J: SystemJob>(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<Schedule>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require_sysadmin()?;
    match apply_schedule::<J>(&state, body?.0).await? {
        Some(id) => {
            let location = format!("{}/{id}", J::PATH);
            Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
        }
        None => Ok(StatusCode::CREATED.into_response()),
    }
}

/// `PUT /system/purgeaudit/schedule`: as `POST`, answered 200.
pub(crate) async fn update_schedule<J: SystemJob>(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<Schedule>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    caller.require_sysadmin()?;
    apply_schedule::<J>(&state, body?.0).await?;
    Ok(StatusCode::OK)
}

/// Checks `body` whole before changing anything; stores the schedule, or for `Manual` enqueues
/// one run and returns its id.
async fn apply_schedule<J: SystemJob>(state: &ApiState, body: Schedule) -> Result<Option<i64>, ApiError> {
    let obj = body.schedule.ok_or_else(|| ApiError::bad_request("schedule is required"))?;
    let schedule_type = obj.schedule_type.unwrap_or_default();
    let run = J::parameters(body.parameters.unwrap_or_default())?;
    if schedule_type == "Manual" {
        J::may_run(state).await?;
        let id = state.meta().enqueue_job(&run.to_new()).await?;
        return Ok(id);
    }
    let checked = schedule::Schedule::new(&schedule_type, obj.cron.as_deref().unwrap_or_default())
        .map_err(ApiError::bad_request)?;
    let parameters = serde_json::to_string(&run).expect("parameters serialize to JSON");
    state.meta().set_job_schedule(J::KIND, checked.schedule_type, &checked.cron, &parameters).await?;
    Ok(None)
}
