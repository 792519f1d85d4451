//! `/projects/{project}/repositories` and their artifacts and tags.
//!
//! A repository is addressed by its name without the project prefix; names containing `/` are
//! URL-encoded twice by Harbor's clients (`a%252Fb`), so the path segment is decoded once more.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use berth_api_types::Repository;
use berth_auth::Permission;
use berth_meta::time::rfc3339;
use berth_meta::{Project, RepositoryRow};
use berth_oci::RepoName;
use serde::Deserialize;

use crate::ApiState;
use crate::caller::Caller;
use crate::error::ApiError;
use crate::page::PageQuery;
use crate::projects::{find_visible, require, visibility};

type PathRejection = axum::extract::rejection::PathRejection;
type JsonRejection = axum::extract::rejection::JsonRejection;
type QueryRejection = axum::extract::rejection::QueryRejection;

fn repository_model(r: &RepositoryRow, project_id: i64) -> Repository {
    Repository {
        id: r.id,
        project_id,
        name: r.name.clone(),
        description: r.description.clone(),
        artifact_count: r.artifact_count,
        pull_count: r.pull_count,
        creation_time: rfc3339(r.created_at),
        update_time: rfc3339(r.updated_at),
    }
}

/// Decodes the double-encoded repository path segment. One that does not decode names no
/// repository: 404, as Harbor documents for these operations.
pub(crate) fn decode(segment: &str) -> Result<String, ApiError> {
    berth_oci::escape::percent_decode(segment).ok_or_else(|| not_a_name(segment))
}

fn not_a_name(name: &str) -> ApiError {
    ApiError::not_found(format!("repository {name:?} not found: not a repository name"))
}

/// The project (visible to the caller) and repository a path names, once the caller is known to
/// have permission `need` there. Each operation needs only its own permission, as in Harbor's
/// table: a robot allowed to list artifacts and tags needs no `repository:read` for it.
pub(crate) async fn locate(
    state: &ApiState,
    caller: &Caller,
    project: &str,
    repository: &str,
    headers: &HeaderMap,
    need: Permission,
) -> Result<(Project, RepositoryRow), ApiError> {
    let (project, access) = find_visible(state, caller, project, headers).await?;
    require(caller, &access, need.resource, need.action)?;
    let full = format!("{}/{}", project.name, decode(repository)?);
    // Only a valid name is looked up: one with a NUL, a space or a `?` names nothing.
    let name = RepoName::parse(&full).map_err(|_| not_a_name(&full))?;
    let repo = state
        .meta()
        .repository(name.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("repository {full} not found")))?;
    Ok((project, repo))
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    q: Option<String>,
}

pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    paging: Result<Query<PageQuery>, QueryRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(key) = path?;
    let (project, access) = find_visible(&state, &caller, &key, &headers).await?;
    require(&caller, &access, "repository", "list")?;
    let paging = paging?.0;
    let page = paging.page()?;
    let sort = paging.sort(SORTS, &[("r.name", false)], "r.id")?;
    let Query(q) = query?;
    let filter = crate::query::Query::parse(q.q.as_deref(), &["name"])?.substring("name")?.unwrap_or_default();
    let (rows, total) =
        state.meta().list_repositories_of(&project.name, &filter, &sort, page.offset(), page.size).await?;
    let items = rows.iter().map(|r| repository_model(r, project.id)).collect();
    let query = q.q.map(|q| format!("q={q}")).unwrap_or_default();
    Ok(page.respond(items, total, &format!("/api/v2.0/projects/{key}/repositories"), &query))
}

/// The orders repository listings offer (`sort=`).
const SORTS: &[(&str, &str)] = &[
    ("name", "r.name"),
    ("creation_time", "r.created_at"),
    ("update_time", "r.updated_at"),
    ("pull_count", "r.pull_count"),
];

/// `GET /repositories`: the repositories of every project the caller may see (Harbor's client
/// libraries' default listing): public projects and the caller's own, all for administrators.
pub(crate) async fn list_all(
    State(state): State<ApiState>,
    caller: Caller,
    paging: Result<Query<PageQuery>, QueryRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let paging = paging?.0;
    let page = paging.page()?;
    let sort = paging.sort(SORTS, &[("r.name", false)], "r.id")?;
    let Query(q) = query?;
    let filter = crate::query::Query::parse(q.q.as_deref(), &["name"])?.substring("name")?.unwrap_or_default();
    let visible = visibility(&caller);
    let (rows, total) =
        state.meta().list_visible_repositories(&filter, visible, &sort, page.offset(), page.size).await?;
    let items = rows.iter().map(|r| repository_model(&r.repository, r.project_id)).collect();
    let query = q.q.map(|q| format!("q={q}")).unwrap_or_default();
    Ok(page.respond(items, total, "/api/v2.0/repositories", &query))
}

pub(crate) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<Repository>, ApiError> {
    let Path((project, repository)) = path?;
    let need = Permission::new("repository", "read");
    let (project, repo) = locate(&state, &caller, &project, &repository, &headers, need).await?;
    Ok(Json(repository_model(&repo, project.id)))
}

pub(crate) async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<Repository>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Path((project, repository)) = path?;
    let (_, repo) =
        locate(&state, &caller, &project, &repository, &headers, Permission::new("repository", "update")).await?;
    let Json(req) = body?;
    state.meta().set_repository_description(repo.id, &req.description).await?;
    Ok(StatusCode::OK)
}

pub(crate) async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let Path((project, repository)) = path?;
    let (_, repo) =
        locate(&state, &caller, &project, &repository, &headers, Permission::new("repository", "delete")).await?;
    state.content.delete_repository(&repo_name(&repo)?, &caller.actor()).await?;
    Ok(StatusCode::OK)
}

/// A stored repository's name, as the content layer takes it.
pub(crate) fn repo_name(repo: &RepositoryRow) -> Result<RepoName, ApiError> {
    RepoName::parse(&repo.name).map_err(ApiError::internal)
}
