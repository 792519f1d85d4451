//! `/retentions`: a project's tag retention policy (linked from the project's metadata
//! `retention_id`), its schedule, and its executions with their tasks and logs. Project admins
//! (and system administrators) manage their project's policy; the decision and the deletions are
//! the jobs' (`berth_jobs::retention`).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_api_types::{
    ActionRequest, RetentionExecution, RetentionExecutionTask, RetentionMetadata, RetentionPolicy,
    RetentionPolicyScope, RetentionRule, RetentionRuleMetadata, RetentionRuleParamMetadata, RetentionRuleTrigger,
    RetentionSelectorMetadata, RetentionTriggerSettings, StartRetentionExecution,
};
use berth_jobs::retention::{ALGORITHM, LABEL, RETAIN, parse_rules, plan_job};
use berth_jobs::schedule::Schedule;
use berth_meta::time::{rfc3339, rfc3339_or_zero};
use berth_meta::{RetentionExecutionRow, RetentionPolicyRow, RetentionTaskRow, retention_schedule_kind};
use berth_rules::DOUBLESTAR;
use berth_rules::retention::TEMPLATES;

use crate::ApiState;
use crate::caller::Caller;
use crate::error::{ApiError, PLAIN_TEXT, plain_text};
use crate::page::PageQuery;
use crate::projects::{find_visible, refusal, require};
use crate::query::parse_id;

type PathRejection = axum::extract::rejection::PathRejection;
type JsonRejection = axum::extract::rejection::JsonRejection;
type QueryRejection = axum::extract::rejection::QueryRejection;

const RESOURCE: &str = "tag-retention";
/// Harbor's trigger kind and scope level.
const SCHEDULE: &str = "Schedule";
const PROJECT: &str = "project";

fn require_signed_in(caller: &Caller) -> Result<(), ApiError> {
    if caller.principal.is_authenticated() { Ok(()) } else { Err(refusal(caller)) }
}

/// `GET /retentions/metadatas`: the templates and selectors a policy may use.
pub(crate) async fn metadatas(caller: Caller) -> Result<Json<RetentionMetadata>, ApiError> {
    require_signed_in(&caller)?;
    let display = |t: &str| match t {
        "latestPushedK" => "retain the most recently pushed # artifacts",
        "latestPulledN" => "retain the most recently pulled # artifacts",
        "nDaysSinceLastPush" => "retain the artifacts pushed within the last # days",
        "nDaysSinceLastPull" => "retain the artifacts pulled within the last # days",
        _ => "retain always",
    };
    let templates = TEMPLATES
        .iter()
        .map(|&(name, counted)| RetentionRuleMetadata {
            rule_template: name.to_owned(),
            display_text: display(name).to_owned(),
            action: RETAIN.to_owned(),
            params: counted
                .then(|| RetentionRuleParamMetadata {
                    param_type: "int".to_owned(),
                    unit: if name.starts_with("nDays") { "days" } else { "count" }.to_owned(),
                    required: true,
                })
                .into_iter()
                .collect(),
        })
        .collect();
    let selector = |text: &str, kind: &str, decorations: &[&str]| RetentionSelectorMetadata {
        display_text: text.to_owned(),
        kind: kind.to_owned(),
        decorations: decorations.iter().map(|d| d.to_string()).collect(),
    };
    Ok(Json(RetentionMetadata {
        templates,
        scope_selectors: vec![selector("Repositories", DOUBLESTAR, &["repoMatches", "repoExcludes"])],
        tag_selectors: vec![
            selector("Labels", LABEL, &["withLabels", "withoutLabels"]),
            selector("Tags", DOUBLESTAR, &["matches", "excludes"]),
        ],
    }))
}

/// Checks a policy as a request gives it; the rules to store (as JSON) and its schedule.
fn check(policy: &RetentionPolicy) -> Result<(String, Schedule), ApiError> {
    if policy.algorithm != ALGORITHM {
        return Err(ApiError::bad_request(format!("algorithm {:?} is not {ALGORITHM:?}", policy.algorithm)));
    }
    if policy.scope.level != PROJECT {
        return Err(ApiError::bad_request(format!("scope level {:?} is not {PROJECT:?}", policy.scope.level)));
    }
    parse_rules(&policy.rules).map_err(ApiError::bad_request)?;
    if policy.trigger.kind != SCHEDULE {
        return Err(ApiError::bad_request(format!("trigger kind {:?} is not {SCHEDULE:?}", policy.trigger.kind)));
    }
    let cron = policy.trigger.settings.cron.trim();
    let schedule = if cron.is_empty() { Schedule::new("None", "") } else { Schedule::new("Custom", cron) }
        .map_err(ApiError::bad_request)?;
    // Rules are numbered as Harbor numbers them: by position, from 1.
    let rules: Vec<RetentionRule> =
        policy.rules.iter().enumerate().map(|(i, r)| RetentionRule { id: i as i64 + 1, ..r.clone() }).collect();
    Ok((serde_json::to_string(&rules).map_err(ApiError::internal)?, schedule))
}

async fn set_schedule(state: &ApiState, id: i64, schedule: &Schedule) -> Result<(), ApiError> {
    let kind = retention_schedule_kind(id);
    state.meta().set_job_schedule(&kind, schedule.schedule_type, &schedule.cron, "{}").await?;
    Ok(())
}

/// Refuses unless the caller may do `action` on retention in project `project`.
async fn require_access(state: &ApiState, caller: &Caller, project: i64, action: &str) -> Result<(), ApiError> {
    let (_, access) = find_visible(state, caller, &project.to_string(), &HeaderMap::new()).await?;
    require(caller, &access, RESOURCE, action)
}

/// Policy `raw` if the caller may do `action` on it: anonymous callers 401, an unknown id 404,
/// a policy of a project the caller does not administer 403.
async fn policy_for(
    state: &ApiState,
    caller: &Caller,
    raw: &str,
    action: &str,
) -> Result<RetentionPolicyRow, ApiError> {
    require_signed_in(caller)?;
    let id = parse_id(raw, "retention policy")?;
    let policy = state
        .meta()
        .retention_policy(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("retention {id} not found")))?;
    require_access(state, caller, policy.project_id, action).await?;
    Ok(policy)
}

async fn policy_model(state: &ApiState, p: &RetentionPolicyRow) -> Result<RetentionPolicy, ApiError> {
    let rules = serde_json::from_str(&p.rules).map_err(ApiError::internal)?;
    let schedule = state.meta().job_schedule(&retention_schedule_kind(p.id)).await?;
    Ok(RetentionPolicy {
        id: p.id,
        algorithm: p.algorithm.clone(),
        rules,
        trigger: RetentionRuleTrigger {
            kind: SCHEDULE.to_owned(),
            settings: RetentionTriggerSettings { cron: schedule.map(|s| s.cron).unwrap_or_default() },
            references: Default::default(),
        },
        scope: RetentionPolicyScope { level: PROJECT.to_owned(), reference: p.project_id },
    })
}

/// `POST /retentions`: a project's first policy (400 if it has one); 201 with its location.
pub(crate) async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<RetentionPolicy>, JsonRejection>,
) -> Result<Response, ApiError> {
    require_signed_in(&caller)?;
    let Json(req) = body?;
    let (rules, schedule) = check(&req)?;
    let project = req.scope.reference;
    if state.meta().project_by_id(project).await?.is_none() {
        return Err(ApiError::bad_request(format!("project {project} not found")));
    }
    require_access(&state, &caller, project, "create").await?;
    if let Some(p) = state.meta().project_retention_policy(project).await? {
        return Err(ApiError::bad_request(format!("project {project} already has retention policy {}", p.id)));
    }
    let id = state.meta().create_retention_policy(project, &req.algorithm, &rules).await?;
    set_schedule(&state, id, &schedule).await?;
    Ok((StatusCode::CREATED, [(header::LOCATION, format!("/api/v2.0/retentions/{id}"))]).into_response())
}

pub(crate) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<RetentionPolicy>, ApiError> {
    let p = policy_for(&state, &caller, &path?.0, "read").await?;
    Ok(Json(policy_model(&state, &p).await?))
}

/// `PUT /retentions/{id}`: replaces the rules and the schedule (the project stays).
pub(crate) async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<RetentionPolicy>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let p = policy_for(&state, &caller, &path?.0, "update").await?;
    let Json(req) = body?;
    let (rules, schedule) = check(&req)?;
    state.meta().update_retention_policy(p.id, &req.algorithm, &rules).await?;
    set_schedule(&state, p.id, &schedule).await?;
    Ok(StatusCode::OK)
}

pub(crate) async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let p = policy_for(&state, &caller, &path?.0, "delete").await?;
    state.meta().delete_retention_policy(p.id).await?;
    Ok(StatusCode::OK)
}

fn execution_model(e: &RetentionExecutionRow) -> RetentionExecution {
    RetentionExecution {
        id: e.id,
        policy_id: e.policy_id,
        start_time: rfc3339(e.start_time),
        end_time: e.end_time().map(rfc3339).unwrap_or_default(),
        status: e.status().to_owned(),
        trigger: e.trigger.clone(),
        dry_run: e.dry_run,
    }
}

fn task_model(t: &RetentionTaskRow) -> RetentionExecutionTask {
    let status = match t.job_status.as_str() {
        "Success" | "Error" | "Stopped" | "Running" => t.job_status.clone(),
        _ => "Pending".to_owned(),
    };
    RetentionExecutionTask {
        id: t.id,
        execution_id: t.execution_id,
        repository: t.repository.clone(),
        job_id: t.job_id.to_string(),
        status,
        status_code: 0,
        status_revision: 0,
        start_time: rfc3339_or_zero(t.started_at),
        end_time: rfc3339_or_zero(t.finished_at),
        total: t.total,
        retained: t.retained,
    }
}

/// `POST /retentions/{id}/executions`: runs the policy now, or only decides (`dry_run`). Harbor
/// documents text here, so errors are text too.
pub(crate) async fn start_execution(
    State(state): State<ApiState>,
    caller: Result<Caller, ApiError>,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<StartRetentionExecution>, JsonRejection>,
) -> Response {
    plain_text(
        async {
            let p = policy_for(&state, &caller?, &path?.0, "update").await?;
            let Json(req) = body?;
            let id = state
                .meta()
                .create_retention_execution(p.id, "MANUAL", req.dry_run, &plan_job)
                .await?
                .expect("a plan job without a unique key is always added");
            let location = format!("/api/v2.0/retentions/{}/executions/{id}", p.id);
            Ok((StatusCode::CREATED, [(header::LOCATION, location)]).into_response())
        }
        .await,
    )
}

pub(crate) async fn list_executions(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    paging: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = policy_for(&state, &caller, &path?.0, "list").await?;
    let page = paging?.0.page()?;
    let (rows, total) = state.meta().list_retention_executions(p.id, page.offset(), page.size).await?;
    let items: Vec<RetentionExecution> = rows.iter().map(execution_model).collect();
    Ok(page.respond(items, total, &format!("/api/v2.0/retentions/{}/executions", p.id), ""))
}

/// Execution `raw` of policy `policy` (404 if it is another's).
async fn find_execution(state: &ApiState, policy: i64, raw: &str) -> Result<RetentionExecutionRow, ApiError> {
    let id = parse_id(raw, "execution")?;
    state
        .meta()
        .retention_execution(id)
        .await?
        .filter(|e| e.policy_id == policy)
        .ok_or_else(|| ApiError::not_found(format!("execution {id} of retention {policy} not found")))
}

/// `PATCH /retentions/{id}/executions/{eid}` with `{"action": "stop"}`.
pub(crate) async fn stop_execution(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Json<ActionRequest>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Path((policy, execution)) = path?;
    let p = policy_for(&state, &caller, &policy, "update").await?;
    let e = find_execution(&state, p.id, &execution).await?;
    let Json(req) = body?;
    if req.action != "stop" {
        return Err(ApiError::bad_request(format!("action {:?} is not \"stop\"", req.action)));
    }
    state.meta().stop_retention_execution(e.id).await?;
    Ok(StatusCode::OK)
}

pub(crate) async fn list_tasks(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    paging: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path((policy, execution)) = path?;
    let p = policy_for(&state, &caller, &policy, "list").await?;
    let e = find_execution(&state, p.id, &execution).await?;
    let page = paging?.0.page()?;
    let (rows, total) = state.meta().list_retention_tasks(e.id, page.offset(), page.size).await?;
    let items: Vec<RetentionExecutionTask> = rows.iter().map(task_model).collect();
    Ok(page.respond(items, total, &format!("/api/v2.0/retentions/{}/executions/{}/tasks", p.id, e.id), ""))
}

/// `GET /retentions/{id}/executions/{eid}/tasks/{tid}`, as text: the task job's log.
pub(crate) async fn task_log(
    State(state): State<ApiState>,
    caller: Result<Caller, ApiError>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Response {
    plain_text(
        async {
            let caller = caller?;
            let Path((policy, execution, task)) = path?;
            let p = policy_for(&state, &caller, &policy, "read").await?;
            let e = find_execution(&state, p.id, &execution).await?;
            let id = parse_id(&task, "task")?;
            let missing = || ApiError::not_found(format!("task {id} of execution {} not found", e.id));
            let t = state.meta().retention_task(id).await?.filter(|t| t.execution_id == e.id).ok_or_else(missing)?;
            let log = state.meta().job_log(t.job_id).await?.unwrap_or_default();
            Ok(([(header::CONTENT_TYPE, PLAIN_TEXT)], log).into_response())
        }
        .await,
    )
}
