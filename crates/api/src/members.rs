//! `/projects/{project}/members`: who may do what in a project.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_api_types::{ProjectMember, ProjectMemberEntity, RoleRequest};
use berth_auth::Role;
use berth_meta::Member;
use serde::Deserialize;

use crate::ApiState;
use crate::caller::Caller;
use crate::error::ApiError;
use crate::page::PageQuery;
use crate::projects::{find_visible, require};

type PathRejection = axum::extract::rejection::PathRejection;
type JsonRejection = axum::extract::rejection::JsonRejection;
type QueryRejection = axum::extract::rejection::QueryRejection;

fn member_model(m: &Member) -> ProjectMemberEntity {
    ProjectMemberEntity {
        id: m.id,
        project_id: m.project_id,
        entity_name: m.username.clone(),
        entity_id: m.user_id,
        entity_type: "u".to_owned(),
        role_id: m.role_id,
        role_name: Role::from_id(m.role_id).map(Role::name).unwrap_or("unknown").to_owned(),
    }
}

fn role(id: i64) -> Result<Role, ApiError> {
    Role::from_id(id).ok_or_else(|| {
        ApiError::bad_request(format!(
            "role_id {id} is not a role: 1 projectAdmin, 2 developer, 3 guest, 4 maintainer, 5 limitedGuest"
        ))
    })
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    entityname: Option<String>,
}

pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    paging: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(key) = path?;
    let (project, access) = find_visible(&state, &caller, &key, &headers).await?;
    require(&caller, &access, "member", "list")?;
    let Query(q) = query?;
    let paging = paging?.0;
    let page = paging.page()?;
    let sort = paging.sort(&[("entity_name", "u.username"), ("role_id", "m.role_id")], &[("m.id", false)], "m.id")?;
    let filter = q.entityname.clone().unwrap_or_default();
    let (members, total) = state.meta().list_members(project.id, &filter, &sort, page.offset(), page.size).await?;
    let query = q.entityname.map(|n| format!("entityname={n}")).unwrap_or_default();
    Ok(page.respond(
        members.iter().map(member_model).collect(),
        total,
        &format!("/api/v2.0/projects/{key}/members"),
        &query,
    ))
}

pub(crate) async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<ProjectMember>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Path(key) = path?;
    let (project, access) = find_visible(&state, &caller, &key, &headers).await?;
    require(&caller, &access, "member", "create")?;
    let Json(req) = body?;
    let role = role(req.role_id)?;
    if req.member_group.is_some() {
        return Err(ApiError::bad_request("group members need LDAP or OIDC groups, which are not supported yet"));
    }
    let who = req.member_user.ok_or_else(|| ApiError::bad_request("member_user is required"))?;
    let user = match (who.user_id, who.username.as_deref()) {
        (Some(id), _) if id > 0 => state.meta().user_by_id(id).await?,
        (_, Some(name)) if !name.is_empty() => state.meta().user_by_name(name).await?,
        _ => return Err(ApiError::bad_request("member_user needs user_id or username")),
    }
    .ok_or_else(|| ApiError::not_found("user not found"))?;
    let event = caller.actor().change(&project.name, user.username.clone(), "member", "create");
    let id = state.meta().add_member(project.id, user.id, role.id(), &event).await?;
    Ok((StatusCode::CREATED, [("location", format!("/api/v2.0/projects/{key}/members/{id}"))]).into_response())
}

async fn load(state: &ApiState, project: i64, mid: i64) -> Result<Member, ApiError> {
    state.meta().member(project, mid).await?.ok_or_else(|| ApiError::not_found(format!("member {mid} not found")))
}

pub(crate) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, i64)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<ProjectMemberEntity>, ApiError> {
    let Path((key, mid)) = path?;
    let (project, access) = find_visible(&state, &caller, &key, &headers).await?;
    require(&caller, &access, "member", "read")?;
    Ok(Json(member_model(&load(&state, project.id, mid).await?)))
}

pub(crate) async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, i64)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<RoleRequest>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Path((key, mid)) = path?;
    let (project, access) = find_visible(&state, &caller, &key, &headers).await?;
    require(&caller, &access, "member", "update")?;
    let Json(req) = body?;
    let role = role(req.role_id)?;
    let member = load(&state, project.id, mid).await?;
    if caller.principal.user().is_some_and(|u| u.id == member.user_id) {
        return Err(ApiError::forbidden().with_message("members cannot change their own role"));
    }
    let event = caller.actor().change(&project.name, member.username.clone(), "member", "update");
    state.meta().set_member_role(project.id, mid, role.id(), &event).await?;
    Ok(StatusCode::OK)
}

pub(crate) async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, i64)>, PathRejection>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let Path((key, mid)) = path?;
    let (project, access) = find_visible(&state, &caller, &key, &headers).await?;
    require(&caller, &access, "member", "delete")?;
    let member = load(&state, project.id, mid).await?;
    if caller.principal.user().is_some_and(|u| u.id == member.user_id) {
        return Err(ApiError::forbidden().with_message("members cannot remove themselves"));
    }
    let event = caller.actor().change(&project.name, member.username.clone(), "member", "delete");
    state.meta().delete_member(project.id, mid, &event).await?;
    Ok(StatusCode::OK)
}
