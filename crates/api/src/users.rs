//! `/users`: local accounts.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_api_types::{
    PasswordReq, Permission, Permissions, UserCreationReq, UserProfile, UserResp, UserSearchRespItem, UserSysAdminFlag,
};
use berth_auth::{AuthError, password};
use berth_meta::time::rfc3339;
use berth_meta::{NewUser, User};
use serde::Deserialize;

use crate::ApiState;
use crate::caller::Caller;
use crate::error::ApiError;
use crate::page::PageQuery;

fn user_model(u: &User) -> UserResp {
    UserResp {
        user_id: u.id,
        username: u.username.clone(),
        email: u.email.clone().unwrap_or_default(),
        realname: u.realname.clone(),
        comment: u.comment.clone(),
        sysadmin_flag: u.sysadmin,
        admin_role_in_auth: false,
        creation_time: rfc3339(u.created_at),
        update_time: rfc3339(u.updated_at),
    }
}

fn check_username(name: &str) -> Result<(), ApiError> {
    let bad = name.is_empty()
        || name.chars().count() > 255
        || name.chars().any(|c| c.is_control() || c.is_whitespace() || ",\"~#%$:/\\".contains(c))
        || name.starts_with("robot$");
    if bad {
        return Err(ApiError::bad_request(
            "username must be 1 to 255 characters without spaces or any of , \" ~ # % $ : / \\",
        ));
    }
    Ok(())
}

fn check_email(email: Option<&str>) -> Result<(), ApiError> {
    if let Some(e) = email
        && !e.is_empty()
        && !(e.len() <= 255 && e.split_once('@').is_some_and(|(a, b)| !a.is_empty() && b.contains('.')))
    {
        return Err(ApiError::bad_request(format!("{e:?} is not an email address")));
    }
    Ok(())
}

/// `POST /users`: a system administrator creates a user; anyone may when self-registration is on.
pub(crate) async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<UserCreationReq>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    match caller.principal.user() {
        Some(u) if u.sysadmin => {}
        Some(_) => return Err(ApiError::forbidden()),
        None if state.settings.current().self_registration => {}
        None => return Err(ApiError::unauthorized()),
    }
    let Json(req) = body?;
    check_username(&req.username)?;
    check_email(req.email.as_deref())?;
    password::check_rules(&req.password).map_err(ApiError::bad_request)?;
    let hash = state.auth.hash_password(&req.password).await;
    let email = req.email.as_deref().filter(|e| !e.is_empty());
    let event = caller.actor().change("", req.username.clone(), "user", "create");
    let new = NewUser {
        username: &req.username,
        email,
        realname: &req.realname,
        comment: &req.comment,
        password_hash: &hash,
        sysadmin: false,
    };
    let id = state.meta().create_user(&new, &event).await?;
    Ok((StatusCode::CREATED, [("location", format!("/api/v2.0/users/{id}"))]).into_response())
}

const USER_SORT: &[(&str, &str)] =
    &[("username", "username"), ("creation_time", "created_at"), ("update_time", "updated_at")];

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    q: Option<String>,
}

/// `GET /users`: system administrators only.
pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    paging: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require_sysadmin()?;
    let Query(q) = query?;
    let paging = paging?.0;
    let page = paging.page()?;
    let sort = paging.sort(USER_SORT, &[("id", false)], "id")?;
    let from_q = crate::query::Query::parse(q.q.as_deref(), &["username"])?.substring("username")?;
    let filter = from_q.or(q.username.clone()).unwrap_or_default();
    let (users, total) = state.meta().list_users(&filter, &sort, page.offset(), page.size).await?;
    let query = match (&q.q, &q.username) {
        (Some(expr), _) => format!("q={expr}"),
        (None, Some(u)) => format!("username={u}"),
        (None, None) => String::new(),
    };
    Ok(page.respond(users.iter().map(user_model).collect(), total, "/api/v2.0/users", &query))
}

#[derive(Deserialize)]
pub(crate) struct SearchQuery {
    username: String,
}

/// `GET /users/search?username=`: any logged-in user may find others by name (to add members).
/// The name is required, as in Harbor: an empty one would list every user to anyone.
pub(crate) async fn search(
    State(state): State<ApiState>,
    caller: Caller,
    paging: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    caller.user()?;
    let Query(q) = query?;
    if q.username.trim().is_empty() {
        return Err(ApiError::bad_request("username is required: the part of the names to look for"));
    }
    let paging = paging?.0;
    let page = paging.page()?;
    let sort = paging.sort(USER_SORT, &[("id", false)], "id")?;
    let (users, total) = state.meta().list_users(&q.username, &sort, page.offset(), page.size).await?;
    let items: Vec<UserSearchRespItem> =
        users.iter().map(|u| UserSearchRespItem { user_id: u.id, username: u.username.clone() }).collect();
    Ok(page.respond(items, total, "/api/v2.0/users/search", &format!("username={}", q.username)))
}

pub(crate) async fn current(caller: Caller) -> Result<Json<UserResp>, ApiError> {
    Ok(Json(user_model(caller.user()?)))
}

#[derive(Deserialize)]
pub(crate) struct PermissionsQuery {
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    relative: bool,
}

/// `GET /users/current/permissions?scope=/project/{id}&relative=`: what the caller may do, from
/// the same policy the registry enforces.
pub(crate) async fn current_permissions(
    State(state): State<ApiState>,
    caller: Caller,
    query: Result<Query<PermissionsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<Permission>>, ApiError> {
    let Query(q) = query?;
    let scope = q.scope.unwrap_or_else(|| "/".to_owned());
    let Some(project) = scope.strip_prefix("/project/") else {
        // System scope: administrators manage users, projects and configuration.
        let perms = if caller.principal.is_sysadmin() {
            ["user", "project", "configuration", "audit-log", "registry", "replication", "garbage-collection"]
                .iter()
                .flat_map(|r| ["create", "read", "update", "delete", "list"].map(|a| (*r, a)))
                .map(|(r, a)| Permission {
                    resource: if q.relative { r.to_owned() } else { format!("/{r}") },
                    action: a.to_owned(),
                })
                .collect()
        } else {
            Vec::new()
        };
        return Ok(Json(perms));
    };
    let project = crate::projects::find(&state, project, false).await?;
    let access = state.auth.access_to(&caller.principal, &project.key()).await?;
    let perms = all_project_permissions()
        .into_iter()
        .filter(|p| access.allows(p.resource, p.action))
        .map(|p| Permission {
            resource: if q.relative { p.resource.to_owned() } else { format!("{scope}/{}", p.resource) },
            action: p.action.to_owned(),
        })
        .collect();
    Ok(Json(perms))
}

/// Every permission any project role can hold.
fn all_project_permissions() -> Vec<berth_auth::Permission> {
    berth_auth::policy::permissions(berth_auth::Role::ProjectAdmin)
}

/// The user `id` if the caller may see it: themselves, or any user for administrators.
async fn visible_user(state: &ApiState, caller: &Caller, id: i64) -> Result<User, ApiError> {
    let me = caller.user()?;
    if me.id != id && !me.sysadmin {
        return Err(ApiError::forbidden());
    }
    state.meta().user_by_id(id).await?.ok_or_else(|| ApiError::not_found(format!("user {id} not found")))
}

pub(crate) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> Result<Json<UserResp>, ApiError> {
    let Path(id) = path?;
    Ok(Json(user_model(&visible_user(&state, &caller, id).await?)))
}

pub(crate) async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<i64>, axum::extract::rejection::PathRejection>,
    body: Result<Json<UserProfile>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = path?;
    let user = visible_user(&state, &caller, id).await?;
    let Json(p) = body?;
    check_email(p.email.as_deref())?;
    let email = match p.email {
        Some(e) if e.is_empty() => None,
        Some(e) => Some(e),
        None => user.email,
    };
    let realname = p.realname.unwrap_or(user.realname);
    let comment = p.comment.unwrap_or(user.comment);
    let event = caller.actor().change("", user.username.clone(), "user", "update");
    state.meta().update_user_profile(id, email.as_deref(), &realname, &comment, &event).await?;
    Ok(StatusCode::OK)
}

/// `PUT /users/{id}/password`: users change their own (giving the old one); administrators may
/// reset anyone's.
pub(crate) async fn change_password(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<i64>, axum::extract::rejection::PathRejection>,
    body: Result<Json<PasswordReq>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = path?;
    let user = visible_user(&state, &caller, id).await?;
    let Json(req) = body?;
    let me = caller.user()?;
    if me.id == id || !me.sysadmin {
        let old = req.old_password.as_deref().unwrap_or("");
        match state.auth.check_password(&user, old, &caller.origin).await {
            Err(AuthError::BadCredentials) => {
                return Err(ApiError::forbidden().with_message("the old password is not correct"));
            }
            checked => checked?,
        }
        if old == req.new_password {
            return Err(ApiError::bad_request("the new password must differ from the old one"));
        }
    }
    password::check_rules(&req.new_password).map_err(ApiError::bad_request)?;
    let event = caller.actor().change("", user.username.clone(), "user", "update");
    let hash = state.auth.hash_password(&req.new_password).await;
    state.meta().set_password_hash(id, &hash, &event).await?;
    Ok(StatusCode::OK)
}

pub(crate) async fn set_sysadmin(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<i64>, axum::extract::rejection::PathRejection>,
    body: Result<Json<UserSysAdminFlag>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let me = caller.require_sysadmin()?;
    let Path(id) = path?;
    let Json(req) = body?;
    if me.id == id {
        return Err(ApiError::forbidden().with_message("administrators cannot change their own administrator flag"));
    }
    let user = state.meta().user_by_id(id).await?.ok_or_else(|| ApiError::not_found(format!("user {id} not found")))?;
    let event = caller.actor().change("", user.username.clone(), "user", "update");
    state.meta().set_sysadmin(id, req.sysadmin_flag, &event).await?;
    Ok(StatusCode::OK)
}

pub(crate) async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> Result<StatusCode, ApiError> {
    let me = caller.require_sysadmin()?;
    let Path(id) = path?;
    if me.id == id {
        return Err(ApiError::forbidden().with_message("administrators cannot delete themselves"));
    }
    let user = state.meta().user_by_id(id).await?.ok_or_else(|| ApiError::not_found(format!("user {id} not found")))?;
    let event = caller.actor().change("", user.username.clone(), "user", "delete");
    state.meta().delete_user(id, &event).await?;
    Ok(StatusCode::OK)
}

/// `GET /permissions`: what robot accounts can be given, at system and project level, from the
/// policy table itself.
pub(crate) async fn grantable_permissions(caller: Caller) -> Result<Json<Permissions>, ApiError> {
    caller.user()?;
    let project: Vec<Permission> = all_project_permissions()
        .iter()
        .map(|p| Permission { resource: p.resource.to_owned(), action: p.action.to_owned() })
        .collect();
    let system = if caller.principal.is_sysadmin() { project.clone() } else { Vec::new() };
    Ok(Json(Permissions { system, project }))
}
