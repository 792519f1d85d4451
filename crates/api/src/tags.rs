//! Tags of an artifact: listed, created, deleted.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_api_types::NewTag;
use berth_auth::Permission;
use berth_meta::time::{rfc3339, rfc3339_or_zero};
use berth_meta::{ArtifactRow, RepositoryRow, TagRow};
use berth_oci::Tag;
use berth_rules::{ImmutableRule, path_in_project};

use crate::ApiState;
use crate::artifacts::{artifact, artifact_digest};
use crate::caller::Caller;
use crate::error::ApiError;
use crate::repositories::{locate, repo_name};

type PathRejection = axum::extract::rejection::PathRejection;
type JsonRejection = axum::extract::rejection::JsonRejection;

/// Tag `t` of artifact `a`, `immutable` when one of `rules` (its project's enabled ones) protects it.
pub(crate) fn tag_model(
    t: &TagRow,
    repo: &RepositoryRow,
    a: &ArtifactRow,
    rules: &[ImmutableRule],
) -> berth_api_types::Tag {
    berth_api_types::Tag {
        id: t.id,
        repository_id: repo.id,
        artifact_id: a.id,
        name: t.name.clone(),
        push_time: rfc3339(t.updated_at),
        pull_time: rfc3339_or_zero(Some(t.pull_time)),
        immutable: rules.iter().any(|r| r.protects(path_in_project(&repo.name), &t.name)),
    }
}

pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path((project, repository, reference)) = path?;
    let (project, repo) =
        locate(&state, &caller, &project, &repository, &headers, Permission::new("tag", "list")).await?;
    let a = artifact(&state, &repo, &reference).await?;
    let tags = state.meta().tags_of(repo.id, &a.digest).await?;
    let rules = state.meta().immutable_rules_of(project.id).await?;
    let items: Vec<berth_api_types::Tag> = tags.iter().map(|t| tag_model(t, &repo, &a, &rules)).collect();
    let total = items.len() as i64;
    let mut response = Json(items).into_response();
    response.headers_mut().insert(berth_api_types::headers::X_TOTAL_COUNT, total.into());
    Ok(response)
}

pub(crate) async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<NewTag>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Path((project, repository, reference)) = path?;
    let (_, repo) = locate(&state, &caller, &project, &repository, &headers, Permission::new("tag", "create")).await?;
    let Json(req) = body?;
    let tag = Tag::parse(&req.name).map_err(|e| ApiError::bad_request(format!("invalid tag {:?}: {e}", req.name)))?;
    let a = artifact(&state, &repo, &reference).await?;
    state.content.create_tag(&repo_name(&repo)?, &tag, &artifact_digest(&a)?, &caller.actor()).await?;
    let location = format!("/api/v2.0/projects/{project}/repositories/{repository}/artifacts/{reference}/tags/{tag}");
    Ok((StatusCode::CREATED, [("location", location)]).into_response())
}

pub(crate) async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, String, String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let Path((project, repository, reference, tag)) = path?;
    let (_, repo) = locate(&state, &caller, &project, &repository, &headers, Permission::new("tag", "delete")).await?;
    let a = artifact(&state, &repo, &reference).await?;
    let found = state.meta().tags_of(repo.id, &a.digest).await?.into_iter().find(|t| t.name == tag);
    let Some(tag) = found.and_then(|t| Tag::parse(&t.name).ok()) else {
        return Err(ApiError::not_found(format!("tag {tag} not found on {reference}")));
    };
    state.content.delete_tag(&repo_name(&repo)?, &tag, &artifact_digest(&a)?, &caller.actor()).await?;
    Ok(StatusCode::OK)
}
