//! `/replication/policies` and `/replication/executions` (with tasks and their logs), in Harbor's
//! JSON shape. System administrators only. The policy's local side is Harbor's registry id 0.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_api_types::{
    Registry, ReplicationExecution, ReplicationFilter, ReplicationPolicy, ReplicationTask, ReplicationTrigger,
    ReplicationTriggerSettings, StartReplicationExecution,
};
use berth_meta::time::{rfc3339, rfc3339_or_zero};
use berth_meta::{ExecutionRow, NewPolicy, PolicyRow, TaskRow};
use berth_replication::policy::{Filter, Filters};
use serde::Deserialize;

use crate::ApiState;
use crate::caller::Caller;
use crate::error::{ApiError, PLAIN_TEXT, plain_text};
use crate::page::PageQuery;
use crate::query::parse_id;
use crate::registries::{local_registry, registry_model};

type PathRejection = axum::extract::rejection::PathRejection;
type JsonRejection = axum::extract::rejection::JsonRejection;
type QueryRejection = axum::extract::rejection::QueryRejection;

const TRIGGERS: [&str; 3] = ["manual", "scheduled", "event_based"];

/// One side of a policy: this registry, or a stored endpoint (just its id if it is gone).
async fn side(state: &ApiState, id: Option<i64>) -> Result<Registry, ApiError> {
    Ok(match id {
        None => local_registry(state),
        Some(id) => match state.meta().registry(id).await? {
            Some(r) => registry_model(&r),
            None => Registry { id, ..Registry::default() },
        },
    })
}

async fn policy_model(state: &ApiState, p: &PolicyRow) -> Result<ReplicationPolicy, ApiError> {
    // Stored as the replication crate wrote them, which is Harbor's shape.
    let filters: Vec<ReplicationFilter> = serde_json::from_str(&p.filters).unwrap_or_default();
    Ok(ReplicationPolicy {
        id: p.id,
        name: Some(p.name.clone()),
        description: Some(p.description.clone()),
        src_registry: Some(side(state, p.src_registry_id).await?),
        dest_registry: Some(side(state, p.dest_registry_id).await?),
        dest_namespace: Some(p.dest_namespace.clone()),
        dest_namespace_replace_count: Some(p.dest_namespace_replace_count),
        trigger: Some(ReplicationTrigger {
            kind: p.trigger_type.clone(),
            trigger_settings: Some(ReplicationTriggerSettings { cron: p.cron.clone() }),
        }),
        filters: Some(filters),
        replicate_deletion: Some(p.replicate_deletion),
        deletion: Some(p.replicate_deletion),
        override_existing: Some(p.override_existing),
        enabled: Some(p.enabled),
        speed: Some(p.speed),
        copy_by_chunk: Some(true),
        creation_time: Some(rfc3339(p.created_at)),
        update_time: Some(rfc3339(p.updated_at)),
    })
}

/// A policy's values, checked.
struct Checked {
    name: String,
    description: String,
    src: Option<i64>,
    dest: Option<i64>,
    dest_namespace: String,
    replace_count: i64,
    trigger: String,
    cron: String,
    filters: String,
    replicate_deletion: bool,
    override_existing: bool,
    enabled: bool,
    speed: i64,
}

impl Checked {
    fn as_new(&self) -> NewPolicy<'_> {
        NewPolicy {
            name: &self.name,
            description: &self.description,
            src_registry_id: self.src,
            dest_registry_id: self.dest,
            dest_namespace: &self.dest_namespace,
            dest_namespace_replace_count: self.replace_count,
            trigger_type: &self.trigger,
            cron: &self.cron,
            filters: &self.filters,
            replicate_deletion: self.replicate_deletion,
            override_existing: self.override_existing,
            enabled: self.enabled,
            speed: self.speed,
        }
    }
}

/// Checks `req` over `base` (the stored policy, on update): every field left out keeps its value.
async fn check(state: &ApiState, req: ReplicationPolicy, base: Option<&PolicyRow>) -> Result<Checked, ApiError> {
    fn bad(message: impl Into<String>) -> ApiError {
        ApiError::bad_request(message)
    }
    let name = req.name.or_else(|| base.map(|b| b.name.clone())).unwrap_or_default();
    if name.trim().is_empty() || name.len() > 255 {
        return Err(bad("name is required (at most 255 characters)"));
    }
    let registry = |r: Option<Registry>, stored: Option<i64>| match r {
        Some(r) => Some(r.id).filter(|id| *id > 0),
        None => stored,
    };
    let src = registry(req.src_registry, base.and_then(|b| b.src_registry_id));
    let dest = registry(req.dest_registry, base.and_then(|b| b.dest_registry_id));
    match (src, dest) {
        (Some(_), Some(_)) => {
            return Err(bad("one side must be this registry: give src_registry or dest_registry, not both"));
        }
        (None, None) => return Err(bad("give src_registry (pull-based) or dest_registry (push-based)")),
        _ => {}
    }
    for id in src.iter().chain(dest.iter()) {
        if state.meta().registry(*id).await?.is_none() {
            return Err(bad(format!("registry {id} does not exist")));
        }
    }
    let trigger = req.trigger.unwrap_or_else(|| ReplicationTrigger {
        kind: base.map_or("manual".to_owned(), |b| b.trigger_type.clone()),
        trigger_settings: base.map(|b| ReplicationTriggerSettings { cron: b.cron.clone() }),
    });
    if !TRIGGERS.contains(&trigger.kind.as_str()) {
        return Err(bad(format!("trigger type must be one of {}, not {:?}", TRIGGERS.join(", "), trigger.kind)));
    }
    let cron = trigger.trigger_settings.map(|s| s.cron).unwrap_or_default();
    if trigger.kind == "scheduled" {
        berth_replication::parse_cron(&cron).map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    if trigger.kind == "event_based" && src.is_some() {
        return Err(bad("event_based triggers need a push-based policy (the events are this registry's)"));
    }
    let filters: Vec<Filter> = match req.filters {
        Some(f) => f.into_iter().map(|f| Filter { kind: f.kind, value: f.value, decoration: f.decoration }).collect(),
        None => base.map_or(Ok(Vec::new()), |b| serde_json::from_str(&b.filters)).map_err(ApiError::internal)?,
    };
    Filters::parse(&filters).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let dest_namespace = req.dest_namespace.or_else(|| base.map(|b| b.dest_namespace.clone())).unwrap_or_default();
    if !dest_namespace.is_empty() && berth_oci::RepoName::parse(&format!("{dest_namespace}/x")).is_err() {
        return Err(bad(format!("dest_namespace {dest_namespace:?} is not a valid namespace")));
    }
    let replace_count = req.dest_namespace_replace_count.or(base.map(|b| b.dest_namespace_replace_count)).unwrap_or(-1);
    if replace_count < -1 {
        return Err(bad("dest_namespace_replace_count must be -1 or more"));
    }
    let speed = req.speed.or(base.map(|b| b.speed)).unwrap_or(-1);
    if speed < -1 {
        return Err(bad("speed must be -1 (no limit) or more (KB/s)"));
    }
    Ok(Checked {
        name,
        description: req.description.or_else(|| base.map(|b| b.description.clone())).unwrap_or_default(),
        src,
        dest,
        dest_namespace,
        replace_count,
        trigger: trigger.kind,
        cron,
        filters: serde_json::to_string(&filters).map_err(ApiError::internal)?,
        replicate_deletion: req
            .replicate_deletion
            .or(req.deletion)
            .or(base.map(|b| b.replicate_deletion))
            .unwrap_or(false),
        override_existing: req.override_existing.or(base.map(|b| b.override_existing)).unwrap_or(true),
        enabled: req.enabled.or(base.map(|b| b.enabled)).unwrap_or(true),
        speed,
    })
}

/// An event-based policy replicates what happens from now on: its cursor starts at the end of
/// the event stream.
async fn start_cursor_now(state: &ApiState, policy: i64) -> Result<(), ApiError> {
    let consumer = berth_replication::cursor_name(policy);
    let from = state.meta().cursor(&consumer).await?;
    let end = state.meta().stream_end().await?;
    if end != from {
        state.meta().advance_cursor(&consumer, from, end).await?;
    }
    Ok(())
}

async fn find_policy(state: &ApiState, id: i64) -> Result<PolicyRow, ApiError> {
    state.meta().policy(id).await?.ok_or_else(|| ApiError::not_found(format!("policy {id} not found")))
}

pub(crate) async fn create_policy(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<ReplicationPolicy>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require_sysadmin()?;
    let Json(req) = body?;
    let checked = check(&state, req, None).await?;
    let event = caller.actor().change("", checked.name.clone(), "replication_policy", "create");
    let id = state.meta().create_policy(&checked.as_new(), &event).await?;
    if checked.trigger == "event_based" {
        start_cursor_now(&state, id).await?;
    }
    Ok((StatusCode::CREATED, [(header::LOCATION, format!("/api/v2.0/replication/policies/{id}"))]).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct NameQuery {
    #[serde(default)]
    name: Option<String>,
}

pub(crate) async fn list_policies(
    State(state): State<ApiState>,
    caller: Caller,
    paging: Result<Query<PageQuery>, QueryRejection>,
    query: Result<Query<NameQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require_sysadmin()?;
    let page = paging?.0.page()?;
    let Query(q) = query?;
    let (rows, total) = state.meta().list_policies(q.name.as_deref(), page.offset(), page.size).await?;
    let mut items = Vec::with_capacity(rows.len());
    for p in &rows {
        items.push(policy_model(&state, p).await?);
    }
    let query = q.name.map(|n| format!("name={n}")).unwrap_or_default();
    Ok(page.respond(items, total, "/api/v2.0/replication/policies", &query))
}

pub(crate) async fn get_policy(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<ReplicationPolicy>, ApiError> {
    caller.require_sysadmin()?;
    let p = find_policy(&state, parse_id(&path?.0, "policy")?).await?;
    Ok(Json(policy_model(&state, &p).await?))
}

pub(crate) async fn update_policy(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<ReplicationPolicy>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    caller.require_sysadmin()?;
    let id = parse_id(&path?.0, "policy")?;
    let Json(req) = body?;
    let stored = find_policy(&state, id).await?;
    let checked = check(&state, req, Some(&stored)).await?;
    let event = caller.actor().change("", checked.name.clone(), "replication_policy", "update");
    if !state.meta().update_policy(id, &checked.as_new(), &event).await? {
        return Err(ApiError::not_found(format!("policy {id} not found")));
    }
    if checked.trigger == "event_based" && stored.trigger_type != "event_based" {
        start_cursor_now(&state, id).await?;
    }
    Ok(StatusCode::OK)
}

/// `DELETE /replication/policies/{id}`: 412 while an execution is in progress.
pub(crate) async fn delete_policy(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    caller.require_sysadmin()?;
    let id = parse_id(&path?.0, "policy")?;
    let p = find_policy(&state, id).await?;
    let event = caller.actor().change("", p.name.clone(), "replication_policy", "delete");
    if !state.meta().delete_policy(id, &event).await? {
        return Err(ApiError::not_found(format!("policy {id} not found")));
    }
    Ok(StatusCode::OK)
}

fn execution_model(e: &ExecutionRow) -> ReplicationExecution {
    ReplicationExecution {
        id: e.id,
        policy_id: e.policy_id,
        status: e.status().to_owned(),
        status_text: e.plan_error.clone().unwrap_or_default(),
        trigger: e.trigger.clone(),
        start_time: rfc3339(e.start_time),
        end_time: rfc3339_or_zero(e.end_time()),
        total: e.total,
        failed: e.failed,
        succeed: e.succeed,
        in_progress: e.in_progress,
        stopped: e.stopped,
    }
}

fn task_model(t: &TaskRow) -> ReplicationTask {
    ReplicationTask {
        id: t.id,
        execution_id: t.execution_id,
        status: t.status().to_owned(),
        job_id: t.job_id.to_string(),
        operation: t.operation.clone(),
        resource_type: t.resource_type.clone(),
        src_resource: t.src_resource.clone(),
        dst_resource: t.dst_resource.clone(),
        start_time: rfc3339_or_zero(t.started_at),
        end_time: rfc3339_or_zero(t.finished_at),
    }
}

/// `POST /replication/executions`: runs a policy now (manual trigger).
pub(crate) async fn start_execution(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<StartReplicationExecution>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require_sysadmin()?;
    let Json(req) = body?;
    let id = req.policy_id.ok_or_else(|| ApiError::bad_request("policy_id is required"))?;
    // What the body names is wrong, not the path: 400, the code Harbor documents here.
    let policy =
        state.meta().policy(id).await?.ok_or_else(|| ApiError::bad_request(format!("policy {id} not found")))?;
    if !policy.enabled {
        return Err(ApiError::bad_request(format!("policy {id} is disabled")));
    }
    let execution = berth_replication::jobs::start_manual(state.meta(), id).await?;
    let location = format!("/api/v2.0/replication/executions/{execution}");
    Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct ExecutionsQuery {
    #[serde(default)]
    policy_id: Option<i64>,
    #[serde(default)]
    trigger: Option<String>,
}

pub(crate) async fn list_executions(
    State(state): State<ApiState>,
    caller: Caller,
    paging: Result<Query<PageQuery>, QueryRejection>,
    query: Result<Query<ExecutionsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require_sysadmin()?;
    let page = paging?.0.page()?;
    let Query(q) = query?;
    let (rows, total) =
        state.meta().list_executions(q.policy_id, q.trigger.as_deref(), page.offset(), page.size).await?;
    let items: Vec<ReplicationExecution> = rows.iter().map(execution_model).collect();
    let mut query: Vec<String> = Vec::new();
    query.extend(q.policy_id.map(|p| format!("policy_id={p}")));
    query.extend(q.trigger.map(|t| format!("trigger={t}")));
    Ok(page.respond(items, total, "/api/v2.0/replication/executions", &query.join("&")))
}

async fn find_execution(state: &ApiState, raw: &str) -> Result<ExecutionRow, ApiError> {
    let id = parse_id(raw, "execution")?;
    state.meta().execution(id).await?.ok_or_else(|| ApiError::not_found(format!("execution {id} not found")))
}

pub(crate) async fn get_execution(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<ReplicationExecution>, ApiError> {
    caller.require_sysadmin()?;
    Ok(Json(execution_model(&find_execution(&state, &path?.0).await?)))
}

/// `PUT /replication/executions/{id}`: stops the execution (running copies at their next lease
/// renewal).
pub(crate) async fn stop_execution(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    caller.require_sysadmin()?;
    let e = find_execution(&state, &path?.0).await?;
    state.meta().stop_execution(e.id).await?;
    Ok(StatusCode::OK)
}

pub(crate) async fn list_tasks(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    paging: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require_sysadmin()?;
    let e = find_execution(&state, &path?.0).await?;
    let page = paging?.0.page()?;
    let (rows, total) = state.meta().list_tasks(e.id, page.offset(), page.size).await?;
    let items: Vec<ReplicationTask> = rows.iter().map(task_model).collect();
    Ok(page.respond(items, total, &format!("/api/v2.0/replication/executions/{}/tasks", e.id), ""))
}

/// `GET /replication/executions/{id}/tasks/{task_id}/log`, as text: the task job's log.
pub(crate) async fn task_log(
    State(state): State<ApiState>,
    caller: Result<Caller, ApiError>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    plain_text(
        async {
            caller?.require_sysadmin()?;
            let Path((execution, task)) = path?;
            let (execution, task) = (parse_id(&execution, "execution")?, parse_id(&task, "task")?);
            let missing = || ApiError::not_found(format!("task {task} of execution {execution} not found"));
            let t = state.meta().task(task).await?.filter(|t| t.execution_id == execution).ok_or_else(missing)?;
            let log = state.meta().job_log(t.job_id).await?.unwrap_or_default();
            Ok(([(header::CONTENT_TYPE, PLAIN_TEXT)], log).into_response())
        }
        .await,
    )
}
