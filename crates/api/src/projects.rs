//! `/projects`: the namespaces repositories live in, public or private.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_api_types::headers::{X_IS_RESOURCE_NAME, X_RESOURCE_NAME_IN_LOCATION};
use berth_api_types::{
    ProjectDeletable, ProjectMetadata, ProjectReq, ProjectSummary, ProjectSummaryQuota, ResourceList,
};
use berth_auth::{ProjectAccess, Role};
use berth_meta::time::rfc3339;
use berth_meta::{Project, ProjectFilter, ProjectVisibility, Sort};
use serde::Deserialize;

use crate::caller::Caller;
use crate::error::ApiError;
use crate::metadata::MetadataChange;
use crate::page::PageQuery;
use crate::{ApiState, ProjectCreation};

type PathRejection = axum::extract::rejection::PathRejection;
type JsonRejection = axum::extract::rejection::JsonRejection;
type QueryRejection = axum::extract::rejection::QueryRejection;

/// The project named (or numbered) `key`, as `/projects/{project_name_or_id}` addresses it.
/// A numeric key is an id unless `by_name` (Harbor's `X-Is-Resource-Name: true`).
pub(crate) async fn find(state: &ApiState, key: &str, by_name: bool) -> Result<Project, ApiError> {
    let found = match key.parse::<i64>() {
        Ok(id) if !by_name => state.meta().project_by_id(id).await?,
        _ => state.meta().project_by_name(key).await?,
    };
    found.ok_or_else(|| ApiError::not_found(format!("project {key} not found")))
}

/// The project `key` and the caller's access to it. A private project the caller has no access
/// to is refused as Harbor refuses it: 403 for a signed-in caller, 401 for an anonymous one.
pub(crate) async fn find_visible(
    state: &ApiState,
    caller: &Caller,
    key: &str,
    headers: &HeaderMap,
) -> Result<(Project, ProjectAccess), ApiError> {
    let project = find(state, key, header_is_true(headers, X_IS_RESOURCE_NAME)).await?;
    let access = state.auth.access_to(&caller.principal, &project.key()).await?;
    if access == ProjectAccess::None {
        return Err(refusal(caller));
    }
    Ok((project, access))
}

/// Whether the boolean header `name` is `true`.
fn header_is_true(headers: &HeaderMap, name: &str) -> bool {
    headers.get(name).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Harbor's answer to a caller without the access asked for: 401 to anonymous callers, who may
/// sign in, 403 to the others.
pub(crate) fn refusal(caller: &Caller) -> ApiError {
    if caller.principal.is_authenticated() { ApiError::forbidden() } else { ApiError::unauthorized() }
}

/// Refuses with 403 (or 401 for anonymous callers) unless `access` allows `resource`/`action`.
pub(crate) fn require(caller: &Caller, access: &ProjectAccess, resource: &str, action: &str) -> Result<(), ApiError> {
    if access.allows(resource, action) { Ok(()) } else { Err(refusal(caller)) }
}

/// `p` as Harbor shows a project to a caller with `access`, with its metadata.
pub(crate) async fn project_model(
    state: &ApiState,
    p: &Project,
    access: ProjectAccess,
) -> Result<berth_api_types::Project, ApiError> {
    let role = match access {
        ProjectAccess::Member(r) => Some(r.id()),
        ProjectAccess::Admin => Some(Role::ProjectAdmin.id()),
        _ => None,
    };
    let mut metadata = ProjectMetadata::default();
    for (name, value) in crate::metadata::all_of(state, p).await? {
        // Only names Berth writes are stored; another would be a row it cannot show.
        metadata.set(&name, value);
    }
    Ok(berth_api_types::Project {
        project_id: p.id,
        name: p.name.clone(),
        owner_id: p.owner_id,
        owner_name: p.owner_name.clone(),
        public: p.public,
        metadata,
        repo_count: p.repo_count,
        chart_count: 0,
        registry_id: p.registry_id.unwrap_or(0),
        deleted: false,
        togglable: true,
        current_user_role_id: role.unwrap_or(0),
        current_user_role_ids: role.into_iter().collect(),
        creation_time: rfc3339(p.created_at),
        update_time: rfc3339(p.updated_at),
    })
}

/// Harbor's rule for project (and robot) names: 1 to 255 lowercase alphanumerics separated by
/// single `.`, `_` or `-`.
pub(crate) fn is_lowercase_name(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && name
            .split(['.', '_', '-'])
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if is_lowercase_name(name) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "project name {name:?} must be 1 to 255 lowercase letters and digits, separated by single '.', '_' or '-'"
        )))
    }
}

/// What a request's metadata sets, checked; Harbor's older `public` field says `public` too.
fn metadata_of(req: &ProjectReq) -> Result<MetadataChange, ApiError> {
    let mut change = match &req.metadata {
        Some(metadata) => MetadataChange::checked(metadata)?,
        None => MetadataChange::default(),
    };
    change.public = change.public.or(req.public);
    Ok(change)
}

/// `POST /projects`. The new project's `Location` ends with its id, or with its name when the
/// request says `X-Resource-Name-In-Location: true`.
pub(crate) async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Json<ProjectReq>, JsonRejection>,
) -> Result<Response, ApiError> {
    let user = caller.user()?;
    if state.settings.current().project_creation == ProjectCreation::AdminOnly && !user.sysadmin {
        return Err(ApiError::forbidden().with_message("only system administrators can create projects"));
    }
    let Json(req) = body?;
    let Some(name) = req.project_name.clone() else {
        return Err(ApiError::bad_request("project_name is required"));
    };
    check_name(&name)?;
    let storage_limit = req.storage_limit.unwrap_or(-1);
    if storage_limit < -1 || storage_limit == 0 {
        return Err(ApiError::bad_request("storage_limit must be -1 (unlimited) or a positive number of bytes"));
    }
    if storage_limit != -1 && !user.sysadmin {
        return Err(ApiError::forbidden().with_message("only system administrators can set a storage quota"));
    }
    // A proxy-cache project (pull-through cache of a registry endpoint); 0 means none, as in
    // Harbor. Only administrators manage endpoints, so only they may create one (Harbor too).
    let registry_id = req.registry_id.filter(|id| *id != 0);
    if let Some(id) = registry_id {
        if !user.sysadmin {
            return Err(
                ApiError::forbidden().with_message("only system administrators can create proxy cache projects")
            );
        }
        if state.meta().registry(id).await?.is_none() {
            return Err(ApiError::bad_request(format!("registry {id} not found")));
        }
    }
    let metadata = metadata_of(&req)?;
    let event = caller.actor().change(&name, name.clone(), "project", "create");
    let id = state
        .meta()
        .create_project(
            &name,
            metadata.public.unwrap_or(false),
            user.id,
            storage_limit,
            registry_id,
            &metadata.pairs(),
            &event,
        )
        .await?;
    let location = if header_is_true(&headers, X_RESOURCE_NAME_IN_LOCATION) {
        format!("/api/v2.0/projects/{name}")
    } else {
        format!("/api/v2.0/projects/{id}")
    };
    Ok((StatusCode::CREATED, [("location", location)]).into_response())
}

#[derive(Deserialize)]
pub(crate) struct HeadQuery {
    project_name: String,
}

/// `HEAD /projects?project_name=`: 200 if the name is taken, 404 if not.
pub(crate) async fn head(
    State(state): State<ApiState>,
    caller: Caller,
    query: Result<Query<HeadQuery>, QueryRejection>,
) -> Result<StatusCode, ApiError> {
    caller.user()?;
    let Query(q) = query?;
    match state.meta().project_by_name(&q.project_name).await? {
        Some(_) => Ok(StatusCode::OK),
        None => Err(ApiError::not_found(format!("project {} not found", q.project_name))),
    }
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    public: Option<bool>,
    #[serde(default)]
    q: Option<String>,
}

/// Which projects `caller` may see.
pub(crate) fn visibility(caller: &Caller) -> ProjectVisibility {
    match caller.principal.user() {
        None => ProjectVisibility::PublicOnly,
        Some(u) if u.sysadmin => ProjectVisibility::All,
        Some(u) => ProjectVisibility::MemberOrPublic(u.id),
    }
}

/// `GET /projects`: public projects, the caller's own, or all for administrators.
pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    paging: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query?;
    let paging = paging?.0;
    let page = paging.page()?;
    let sort = paging.sort(
        &[("name", "p.name"), ("creation_time", "p.created_at"), ("update_time", "p.updated_at")],
        &[("p.name", false)],
        "p.id",
    )?;
    let visibility = visibility(&caller);
    let q_name = crate::query::Query::parse(q.q.as_deref(), &["name"])?.substring("name")?;
    let name = q_name.as_deref().or(q.name.as_deref());
    let filter = ProjectFilter { name, public: q.public };
    let (projects, total) = state.meta().list_projects(visibility, &filter, &sort, page.offset(), page.size).await?;
    let mut items = Vec::with_capacity(projects.len());
    for p in &projects {
        items.push(project_model(&state, p, state.auth.access_to(&caller.principal, &p.key()).await?).await?);
    }
    let mut query = Vec::new();
    if let Some(n) = &q.name {
        query.push(format!("name={n}"));
    }
    if let Some(p) = q.public {
        query.push(format!("public={p}"));
    }
    if let Some(expr) = &q.q {
        query.push(format!("q={expr}"));
    }
    Ok(page.respond(items, total, "/api/v2.0/projects", &query.join("&")))
}

pub(crate) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<berth_api_types::Project>, ApiError> {
    let Path(key) = path?;
    let (project, access) = find_visible(&state, &caller, &key, &headers).await?;
    Ok(Json(project_model(&state, &project, access).await?))
}

/// `PUT /projects/{project}`: the metadata given (`public` and the others). Harbor's clients send the project's
/// `registry_id` back: a proxy-cache project stays one, a normal one stays normal.
pub(crate) async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<ProjectReq>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(key) = path?;
    let (project, access) = find_visible(&state, &caller, &key, &headers).await?;
    require(&caller, &access, "project", "update")?;
    let Json(req) = body?;
    if let Some(id) = req.registry_id
        && id != project.registry_id.unwrap_or(0)
    {
        return Err(ApiError::bad_request(
            "registry_id cannot be changed: a proxy cache project stays one, a normal project stays normal",
        ));
    }
    let metadata = metadata_of(&req)?;
    if metadata.public.is_some() || !metadata.values.is_empty() {
        let event = caller.actor().change(&project.name, project.name.clone(), "project", "update");
        state.meta().set_project_metadata(project.id, metadata.public, &metadata.pairs(), &event).await?;
    }
    Ok(StatusCode::OK)
}

pub(crate) async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let Path(key) = path?;
    let (project, access) = find_visible(&state, &caller, &key, &headers).await?;
    require(&caller, &access, "project", "delete")?;
    // Recorded without a project: the project is gone with the change.
    let event = caller.actor().change("", project.name.clone(), "project", "delete");
    if !state.meta().delete_project(project.id, &event).await? {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            format!("project {} still holds repositories: delete them first", project.name),
        ));
    }
    Ok(StatusCode::OK)
}

/// `GET /projects/{project}/_deletable`: whether deleting the project would succeed now.
pub(crate) async fn deletable(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<ProjectDeletable>, ApiError> {
    let Path(key) = path?;
    let (project, access) = find_visible(&state, &caller, &key, &headers).await?;
    require(&caller, &access, "project", "delete")?;
    // The rule `delete` applies: a project with content cannot go.
    Ok(Json(match project.repo_count {
        0 => ProjectDeletable { deletable: true, message: String::new() },
        n => ProjectDeletable {
            deletable: false,
            message: format!("project {} still holds {n} repositories: delete them first", project.name),
        },
    }))
}

pub(crate) async fn summary(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<ProjectSummary>, ApiError> {
    let Path(key) = path?;
    let (project, access) = find_visible(&state, &caller, &key, &headers).await?;
    require(&caller, &access, "project", "read")?;
    let counts = state.meta().member_role_counts(project.id).await?;
    let count = |role: Role| counts.iter().find(|(r, _)| *r == role.id()).map(|(_, n)| *n).unwrap_or(0);
    Ok(Json(ProjectSummary {
        repo_count: project.repo_count,
        chart_count: 0,
        project_admin_count: count(Role::ProjectAdmin),
        maintainer_count: count(Role::Maintainer),
        developer_count: count(Role::Developer),
        guest_count: count(Role::Guest),
        limited_guest_count: count(Role::LimitedGuest),
        quota: ProjectSummaryQuota {
            hard: storage(project.storage_limit),
            used: storage(state.meta().project_usage(&project.name).await?),
        },
    }))
}

/// A project's storage as Harbor's `ResourceList` carries it.
pub(crate) fn storage(bytes: i64) -> ResourceList {
    ResourceList::from([("storage".to_owned(), bytes)])
}

/// Projects by name: the order of listings that offer no `sort=`.
pub(crate) fn by_name() -> Sort {
    Sort::parse(None, &[], &[("p.name", false)], "p.id").expect("a default order always parses")
}
