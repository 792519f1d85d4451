//! `/labels` (global labels, which system administrators manage, and project labels, which a
//! project's maintainers and admins manage) and the labels of an artifact
//! (`.../artifacts/{reference}/labels`), as Harbor's label and artifact handlers answer.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_api_types::{GLOBAL_SCOPE, Label, PROJECT_SCOPE};
use berth_auth::Permission;
use berth_meta::time::rfc3339;
use berth_meta::{LabelFilter, LabelRow, NewLabel, Project};
use serde::Deserialize;

use crate::ApiState;
use crate::artifacts::artifact;
use crate::caller::Caller;
use crate::error::ApiError;
use crate::page::PageQuery;
use crate::projects::{find_visible, require};
use crate::query::parse_id;
use crate::repositories::locate;

type PathRejection = axum::extract::rejection::PathRejection;
type JsonRejection = axum::extract::rejection::JsonRejection;
type QueryRejection = axum::extract::rejection::QueryRejection;

/// Harbor's longest label name.
const MAX_NAME: usize = 128;

/// `l` as Harbor shows it.
pub(crate) fn label_model(l: &LabelRow) -> Label {
    Label {
        id: l.id,
        name: l.name.clone(),
        description: l.description.clone(),
        color: l.color.clone(),
        scope: l.scope.clone(),
        project_id: l.project_id.unwrap_or(0),
        creation_time: rfc3339(l.created_at),
        update_time: rfc3339(l.updated_at),
    }
}

/// The name, description and colour of a request, checked: a name of 1 to 128 characters, a
/// colour `#RRGGBB` or none.
fn checked(req: &Label) -> Result<NewLabel<'_>, ApiError> {
    if req.name.trim().is_empty() {
        return Err(ApiError::bad_request("label name is empty"));
    }
    if req.name.chars().count() > MAX_NAME {
        return Err(ApiError::bad_request(format!("label name is too long (more than {MAX_NAME} characters)")));
    }
    let hex = req.color.strip_prefix('#').filter(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if !req.color.is_empty() && hex.is_none() {
        return Err(ApiError::bad_request(format!("label color {:?} is not #RRGGBB", req.color)));
    }
    Ok(NewLabel { name: &req.name, description: &req.description, color: &req.color })
}

/// The project of a project label, once the caller may do `action` to its labels; `None` for a
/// global label, which everyone reads and only system administrators change.
async fn authorize(
    state: &ApiState,
    caller: &Caller,
    scope: &str,
    project_id: Option<i64>,
    action: &str,
) -> Result<Option<Project>, ApiError> {
    match (scope, project_id) {
        (GLOBAL_SCOPE, _) => {
            if !matches!(action, "read" | "list") {
                caller.require_sysadmin()?;
            }
            Ok(None)
        }
        (PROJECT_SCOPE, Some(id)) if id > 0 => {
            let (project, access) = find_visible(state, caller, &id.to_string(), &HeaderMap::new()).await?;
            require(caller, &access, "label", action)?;
            Ok(Some(project))
        }
        (PROJECT_SCOPE, _) => Err(ApiError::bad_request("a project label needs its project_id")),
        (other, _) => Err(ApiError::bad_request(format!(
            "invalid scope {other:?}: {GLOBAL_SCOPE:?} (global) or {PROJECT_SCOPE:?} (project)"
        ))),
    }
}

/// Label `raw` (a path's id) once the caller may do `action` to it, with its project.
async fn load(
    state: &ApiState,
    caller: &Caller,
    raw: &str,
    action: &str,
) -> Result<(LabelRow, Option<Project>), ApiError> {
    let id = parse_id(raw, "label")?;
    let label = state.meta().label(id).await?.ok_or_else(|| ApiError::not_found(format!("label {id} not found")))?;
    let project = authorize(state, caller, &label.scope, label.project_id, action).await?;
    Ok((label, project))
}

/// The project name an event of a label carries ("" for a global label).
fn project_name(project: &Option<Project>) -> &str {
    project.as_ref().map_or("", |p| p.name.as_str())
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    project_id: Option<i64>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    q: Option<String>,
}

/// `GET /labels?scope=g|p&project_id=`: the global labels, or one project's.
pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    paging: Result<Query<PageQuery>, QueryRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query?;
    let paging = paging?.0;
    let page = paging.page()?;
    let sort = paging.sort(
        &[("id", "l.id"), ("name", "l.name"), ("creation_time", "l.created_at"), ("update_time", "l.updated_at")],
        &[("l.name", false)],
        "l.id",
    )?;
    let scope = q.scope.as_deref().unwrap_or("");
    authorize(&state, &caller, scope, q.project_id, "list").await?;
    let q_name = crate::query::Query::parse(q.q.as_deref(), &["name"])?.substring("name")?;
    let name = q_name.as_deref().or(q.name.as_deref()).unwrap_or("");
    let project_id = if scope == PROJECT_SCOPE { q.project_id } else { None };
    let filter = LabelFilter { scope, project_id, name };
    let (rows, total) = state.meta().list_labels(&filter, &sort, page.offset(), page.size).await?;
    let mut kept = vec![format!("scope={scope}")];
    kept.extend(project_id.map(|id| format!("project_id={id}")));
    kept.extend(q.name.as_ref().map(|n| format!("name={n}")));
    kept.extend(q.q.as_ref().map(|expr| format!("q={expr}")));
    Ok(page.respond(rows.iter().map(label_model).collect(), total, "/api/v2.0/labels", &kept.join("&")))
}

/// `POST /labels`: 201 with the new label's `Location`.
pub(crate) async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<Label>, JsonRejection>,
) -> Result<Response, ApiError> {
    if !caller.principal.is_authenticated() {
        return Err(ApiError::unauthorized());
    }
    let Json(req) = body?;
    let project = authorize(&state, &caller, &req.scope, Some(req.project_id), "create").await?;
    let label = checked(&req)?;
    let event = caller.actor().change(project_name(&project), req.name.clone(), "label", "create");
    let id = state.meta().create_label(&label, &req.scope, project.as_ref().map(|p| p.id), &event).await?;
    Ok((StatusCode::CREATED, [("location", format!("/api/v2.0/labels/{id}"))]).into_response())
}

pub(crate) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Label>, ApiError> {
    let Path(raw) = path?;
    let (label, _) = load(&state, &caller, &raw, "read").await?;
    Ok(Json(label_model(&label)))
}

/// `PUT /labels/{id}`: a new name, description and colour; scope and project stay.
pub(crate) async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<Label>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(raw) = path?;
    let (stored, project) = load(&state, &caller, &raw, "update").await?;
    let Json(req) = body?;
    let label = checked(&req)?;
    let event = caller.actor().change(project_name(&project), req.name.clone(), "label", "update");
    if !state.meta().update_label(stored.id, &label, &event).await? {
        return Err(ApiError::not_found(format!("label {} not found", stored.id)));
    }
    Ok(StatusCode::OK)
}

/// `DELETE /labels/{id}`: the label, and so its place on every artifact.
pub(crate) async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(raw) = path?;
    let (stored, project) = load(&state, &caller, &raw, "delete").await?;
    let event = caller.actor().change(project_name(&project), stored.name.clone(), "label", "delete");
    if !state.meta().delete_label(stored.id, &event).await? {
        return Err(ApiError::not_found(format!("label {} not found", stored.id)));
    }
    Ok(StatusCode::OK)
}

/// `POST .../artifacts/{reference}/labels` with `{"id": N}`: a global label, or one of the
/// artifact's own project.
pub(crate) async fn add_to_artifact(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<Label>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Path((project, repository, reference)) = path?;
    let need = Permission::new("artifact-label", "create");
    let (project, repo) = locate(&state, &caller, &project, &repository, &headers, need).await?;
    let a = artifact(&state, &repo, &reference).await?;
    let Json(req) = body?;
    let label =
        state.meta().label(req.id).await?.ok_or_else(|| ApiError::not_found(format!("label {} not found", req.id)))?;
    if label.scope == PROJECT_SCOPE && label.project_id != Some(project.id) {
        return Err(ApiError::bad_request(format!(
            "label {} belongs to another project than {}: it cannot be added to its artifacts",
            label.id, project.name
        )));
    }
    let event = artifact_label_event(&caller, &project, &repo.name, &a.digest, &label, "create");
    if !state.meta().add_artifact_label(repo.id, a.id, label.id, &event).await? {
        return Err(ApiError::not_found(format!("artifact {reference} or label {} not found", label.id)));
    }
    Ok(StatusCode::OK)
}

/// `DELETE .../artifacts/{reference}/labels/{label_id}`.
pub(crate) async fn remove_from_artifact(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, String, String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let Path((project, repository, reference, raw)) = path?;
    let need = Permission::new("artifact-label", "delete");
    let (project, repo) = locate(&state, &caller, &project, &repository, &headers, need).await?;
    let a = artifact(&state, &repo, &reference).await?;
    let id = parse_id(&raw, "label")?;
    let not_carried = || ApiError::not_found(format!("artifact {reference} does not carry label {id}"));
    let label = state.meta().label(id).await?.ok_or_else(not_carried)?;
    let event = artifact_label_event(&caller, &project, &repo.name, &a.digest, &label, "delete");
    if !state.meta().remove_artifact_label(a.id, id, &event).await? {
        return Err(not_carried());
    }
    Ok(StatusCode::OK)
}

/// The event of a label put on (`create`) or taken off (`delete`) an artifact.
fn artifact_label_event(
    caller: &Caller,
    project: &Project,
    repository: &str,
    digest: &str,
    label: &LabelRow,
    operation: &'static str,
) -> berth_meta::Event {
    let resource = format!("{repository}@{digest}:{}", label.name);
    berth_meta::Event {
        repository: Some(repository.to_owned()),
        digest: Some(digest.to_owned()),
        ..caller.actor().change(&project.name, resource, "artifact_label", operation)
    }
}
