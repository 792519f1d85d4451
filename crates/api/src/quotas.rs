//! `/quotas`: one storage quota per project (its id is the project's). Usage is computed from
//! the project's content, so it is exact whatever ran concurrently.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use berth_api_types::{Quota, QuotaRefObject, QuotaUpdateReq};
use berth_meta::time::rfc3339;
use berth_meta::{Project, ProjectFilter, ProjectVisibility};
use serde::Deserialize;

use crate::ApiState;
use crate::caller::Caller;
use crate::error::ApiError;
use crate::page::PageQuery;
use crate::projects::storage;

type PathRejection = axum::extract::rejection::PathRejection;
type JsonRejection = axum::extract::rejection::JsonRejection;
type QueryRejection = axum::extract::rejection::QueryRejection;

async fn quota_model(state: &ApiState, p: &Project) -> Result<Quota, ApiError> {
    Ok(Quota {
        id: p.id,
        reference: QuotaRefObject { id: p.id, name: p.name.clone(), owner_name: p.owner_name.clone() },
        hard: storage(p.storage_limit),
        used: storage(state.meta().project_usage(&p.name).await?),
        creation_time: rfc3339(p.created_at),
        update_time: rfc3339(p.updated_at),
    })
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    reference_id: Option<String>,
}

/// `GET /quotas`: administrators only, as in Harbor.
pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    paging: Result<Query<PageQuery>, QueryRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require_sysadmin()?;
    let page = paging?.0.page()?;
    let Query(q) = query?;
    if q.reference.as_deref().is_some_and(|r| r != "project") {
        return Err(ApiError::bad_request("reference must be \"project\""));
    }
    let mut items = Vec::new();
    let total = match &q.reference_id {
        Some(id) => {
            let id: i64 =
                id.parse().map_err(|_| ApiError::bad_request(format!("reference_id {id:?} is not a number")))?;
            if let Some(p) = state.meta().project_by_id(id).await? {
                items.push(quota_model(&state, &p).await?);
            }
            items.len() as i64
        }
        None => {
            let (projects, total) = state
                .meta()
                .list_projects(
                    ProjectVisibility::All,
                    &ProjectFilter::default(),
                    &crate::projects::by_name(),
                    page.offset(),
                    page.size,
                )
                .await?;
            for p in &projects {
                items.push(quota_model(&state, p).await?);
            }
            total
        }
    };
    Ok(page.respond(items, total, "/api/v2.0/quotas", ""))
}

async fn project(state: &ApiState, id: i64) -> Result<Project, ApiError> {
    state.meta().project_by_id(id).await?.ok_or_else(|| ApiError::not_found(format!("quota {id} not found")))
}

pub(crate) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<i64>, PathRejection>,
) -> Result<Json<Quota>, ApiError> {
    caller.require_sysadmin()?;
    let Path(id) = path?;
    Ok(Json(quota_model(&state, &project(&state, id).await?).await?))
}

pub(crate) async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<i64>, PathRejection>,
    body: Result<Json<QuotaUpdateReq>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    caller.require_sysadmin()?;
    let Path(id) = path?;
    let Json(req) = body?;
    let Some(&limit) = req.hard.get("storage") else {
        return Err(ApiError::bad_request("hard.storage is required"));
    };
    if limit < -1 || limit == 0 {
        return Err(ApiError::bad_request("hard.storage must be -1 (unlimited) or a positive number of bytes"));
    }
    let p = project(&state, id).await?;
    let event = caller.actor().change(&p.name, p.name.clone(), "quota", "update");
    state.meta().set_storage_limit(id, limit, &event).await?;
    Ok(StatusCode::OK)
}
