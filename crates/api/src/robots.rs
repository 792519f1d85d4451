//! `/robots`: robot accounts for CI and other machines, system- or project-level, with explicit
//! permissions. The secret is shown once, at creation or refresh; only its hash is stored.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_api_types::{Access, RobotCreate, RobotCreated, RobotPermission, RobotSec};
use berth_auth::robots::{PREFIX, RobotAccess, generate_secret};
use berth_auth::{Role, password};
use berth_meta::time::rfc3339;
use berth_meta::{NewRobot, Robot};
use serde::Deserialize;

use crate::ApiState;
use crate::caller::Caller;
use crate::error::ApiError;
use crate::page::PageQuery;
use crate::projects::require;

type PathRejection = axum::extract::rejection::PathRejection;
type JsonRejection = axum::extract::rejection::JsonRejection;
type QueryRejection = axum::extract::rejection::QueryRejection;

fn robot_model(r: &Robot) -> berth_api_types::Robot {
    berth_api_types::Robot {
        id: r.id,
        name: r.name.clone(),
        description: Some(r.description.clone()),
        level: r.level.clone(),
        duration: Some(r.duration),
        disable: Some(r.disabled),
        editable: true,
        expires_at: r.expires_at,
        // Stored as `berth_auth` wrote them, which is Harbor's shape.
        permissions: Some(serde_json::from_str(&r.permissions).unwrap_or_default()),
        // Berth's robots are made by users (a robot cannot call `POST /robots`).
        creator_type: "local".to_owned(),
        creator_ref: r.creator_ref,
        creator: r.creator.clone(),
        creation_time: rfc3339(r.created_at),
        update_time: rfc3339(r.updated_at),
    }
}

/// A permission of a request as the policy (and the database) holds it.
fn granted(p: &RobotPermission) -> berth_auth::robots::RobotPermission {
    let access = p.access.iter().map(|a: &Access| RobotAccess {
        resource: a.resource.clone(),
        action: a.action.clone(),
        effect: a.effect.clone(),
    });
    berth_auth::robots::RobotPermission {
        kind: p.kind.clone(),
        namespace: p.namespace.clone(),
        access: access.collect(),
    }
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if crate::projects::is_lowercase_name(name) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "robot name {name:?} must be lowercase letters and digits, separated by single '.', '_' or '-'"
        )))
    }
}

/// `expires_at` for `duration` days from now (-1: never).
fn expiry(duration: i64) -> Result<i64, ApiError> {
    match duration {
        -1 => Ok(-1),
        d if (1..=36_500).contains(&d) => Ok(berth_meta::time::now() + d * 86_400),
        d => Err(ApiError::bad_request(format!("duration {d} must be -1 (never expires) or 1 to 36500 days"))),
    }
}

/// Validates permissions for a robot of `level` and checks the caller may grant them. Returns the
/// project of a project-level robot.
async fn check_permissions(
    state: &ApiState,
    caller: &Caller,
    level: &str,
    permissions: &[RobotPermission],
) -> Result<Option<berth_meta::Project>, ApiError> {
    let grantable = berth_auth::policy::permissions(Role::ProjectAdmin);
    for p in permissions {
        if p.kind != "project" {
            return Err(ApiError::bad_request(format!(
                "permission kind {:?} is not supported: use \"project\"",
                p.kind
            )));
        }
        for a in &p.access {
            if !grantable.iter().any(|g| g.resource == a.resource && g.action == a.action) {
                return Err(ApiError::bad_request(format!("unknown permission {}:{}", a.resource, a.action)));
            }
            if a.effect.as_deref().is_some_and(|e| e != "allow") {
                return Err(ApiError::bad_request("only effect \"allow\" is supported"));
            }
        }
    }
    match level {
        "system" => {
            caller.require_sysadmin()?;
            for p in permissions.iter().filter(|p| p.namespace != "*") {
                state
                    .meta()
                    .project_by_name(&p.namespace)
                    .await?
                    .ok_or_else(|| ApiError::not_found(format!("project {} not found", p.namespace)))?;
            }
            Ok(None)
        }
        "project" => {
            let [p] = permissions else {
                return Err(ApiError::bad_request("a project robot has exactly one permission, for its project"));
            };
            let headers = HeaderMap::new();
            let (project, access) = crate::projects::find_visible(state, caller, &p.namespace, &headers).await?;
            require(caller, &access, "robot", "create")?;
            // Nobody grants what they do not have.
            if let Some(a) = p.access.iter().find(|a| !access.allows(&a.resource, &a.action)) {
                return Err(ApiError::forbidden()
                    .with_message(format!("cannot grant {}:{} you do not hold", a.resource, a.action)));
            }
            Ok(Some(project))
        }
        other => Err(ApiError::bad_request(format!("level {other:?} must be \"system\" or \"project\""))),
    }
}

pub(crate) async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<RobotCreate>, JsonRejection>,
) -> Result<Response, ApiError> {
    let creator = caller.user()?.username.clone();
    let Json(req) = body?;
    check_name(&req.name)?;
    let project = check_permissions(&state, &caller, &req.level, &req.permissions).await?;
    let duration = req.duration.unwrap_or(-1);
    let expires_at = expiry(duration)?;
    let secret = match req.secret {
        Some(s) => {
            password::check_rules(&s).map_err(ApiError::bad_request)?;
            s
        }
        None => generate_secret(),
    };
    let name = match &project {
        Some(p) => format!("{PREFIX}{}+{}", p.name, req.name),
        None => format!("{PREFIX}{}", req.name),
    };
    let granted: Vec<_> = req.permissions.iter().map(granted).collect();
    let permissions = serde_json::to_string(&granted).map_err(ApiError::internal)?;
    let hash = state.auth.hash_password(&secret).await;
    let event =
        caller.actor().change(project.as_ref().map_or("", |p| p.name.as_str()), name.clone(), "robot", "create");
    let id = state
        .meta()
        .create_robot(
            &NewRobot {
                name: &name,
                description: &req.description,
                level: &req.level,
                project_id: project.as_ref().map(|p| p.id),
                secret_hash: &hash,
                disabled: req.disable,
                expires_at,
                duration,
                permissions: &permissions,
                creator: &creator,
            },
            &event,
        )
        .await?;
    let robot = state.meta().robot_by_id(id).await?.ok_or_else(|| ApiError::internal("robot vanished"))?;
    let body = RobotCreated { id, name, secret, creation_time: rfc3339(robot.created_at), expires_at };
    Ok((StatusCode::CREATED, [("location", format!("/api/v2.0/robots/{id}"))], Json(body)).into_response())
}

/// The robot `id` if the caller may act on it with `action`: system administrators always;
/// project administrators for their project's robots.
async fn robot_for(state: &ApiState, caller: &Caller, id: i64, action: &str) -> Result<Robot, ApiError> {
    caller.user()?;
    let robot =
        state.meta().robot_by_id(id).await?.ok_or_else(|| ApiError::not_found(format!("robot {id} not found")))?;
    if caller.principal.is_sysadmin() {
        return Ok(robot);
    }
    let Some(project_id) = robot.project_id else { return Err(ApiError::forbidden()) };
    let project =
        state.meta().project_by_id(project_id).await?.ok_or_else(|| ApiError::not_found("project not found"))?;
    let access = state.auth.access_to(&caller.principal, &project.key()).await?;
    require(caller, &access, "robot", action)?;
    Ok(robot)
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    q: Option<String>,
}

/// `GET /robots`: all robots for administrators; a project's (`q=Level=project,ProjectID=N`) for
/// those who may list its robots.
pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    paging: Result<Query<PageQuery>, QueryRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.user()?;
    let paging = paging?.0;
    let page = paging.page()?;
    let sort = paging.sort(&[("name", "name"), ("creation_time", "created_at")], &[("id", false)], "id")?;
    let Query(q) = query?;
    let parsed = crate::query::Query::parse(q.q.as_deref(), &["name", "Level", "ProjectID"])?;
    let project = match parsed.get("ProjectID") {
        Some(crate::query::Term::Exact(id)) => {
            Some(id.parse::<i64>().map_err(|_| ApiError::bad_request(format!("ProjectID {id:?} is not a number")))?)
        }
        Some(_) => return Err(ApiError::bad_request("ProjectID supports exact matching only")),
        None => None,
    };
    match project {
        Some(id) => {
            let p = state
                .meta()
                .project_by_id(id)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("project {id} not found")))?;
            let access = state.auth.access_to(&caller.principal, &p.key()).await?;
            require(&caller, &access, "robot", "list")?;
        }
        None => {
            caller.require_sysadmin()?;
        }
    }
    let name = parsed.substring("name")?.unwrap_or_default();
    let (robots, total) = state.meta().list_robots(project, &name, &sort, page.offset(), page.size).await?;
    let query = q.q.map(|q| format!("q={q}")).unwrap_or_default();
    Ok(page.respond(robots.iter().map(robot_model).collect(), total, "/api/v2.0/robots", &query))
}

pub(crate) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<i64>, PathRejection>,
) -> Result<Json<berth_api_types::Robot>, ApiError> {
    let Path(id) = path?;
    Ok(Json(robot_model(&robot_for(&state, &caller, id, "read").await?)))
}

pub(crate) async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<i64>, PathRejection>,
    body: Result<Json<berth_api_types::Robot>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = path?;
    let robot = robot_for(&state, &caller, id, "update").await?;
    let Json(req) = body?;
    let permissions = match &req.permissions {
        Some(p) => {
            let project = check_permissions(&state, &caller, &robot.level, p).await?;
            if project.map(|p| p.id) != robot.project_id {
                return Err(ApiError::bad_request("a project robot's permission must stay on its project"));
            }
            let granted: Vec<_> = p.iter().map(granted).collect();
            serde_json::to_string(&granted).map_err(ApiError::internal)?
        }
        None => robot.permissions.clone(),
    };
    let (duration, expires_at) = match req.duration {
        Some(d) if d != robot.duration => (d, expiry(d)?),
        _ => (robot.duration, robot.expires_at),
    };
    let event = caller.actor().change(&project_name(&state, &robot).await?, robot.name.clone(), "robot", "update");
    let description = req.description.unwrap_or(robot.description);
    let update = berth_meta::RobotUpdate {
        description: &description,
        disabled: req.disable.unwrap_or(robot.disabled),
        duration,
        expires_at,
        permissions: &permissions,
    };
    state.meta().update_robot(id, &update, &event).await?;
    Ok(StatusCode::OK)
}

/// `PATCH /robots/{id}`: a new secret (the given one, or a generated one), returned once.
pub(crate) async fn refresh_secret(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<i64>, PathRejection>,
    body: Result<Json<RobotSec>, JsonRejection>,
) -> Result<Json<RobotSec>, ApiError> {
    let Path(id) = path?;
    let robot = robot_for(&state, &caller, id, "update").await?;
    let secret = match body?.0.secret {
        Some(s) => {
            password::check_rules(&s).map_err(ApiError::bad_request)?;
            s
        }
        None => generate_secret(),
    };
    let event = caller.actor().change(&project_name(&state, &robot).await?, robot.name.clone(), "robot", "update");
    let hash = state.auth.hash_password(&secret).await;
    state.meta().set_robot_secret(id, &hash, &event).await?;
    Ok(Json(RobotSec { secret: Some(secret) }))
}

pub(crate) async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<i64>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = path?;
    let robot = robot_for(&state, &caller, id, "delete").await?;
    let event = caller.actor().change(&project_name(&state, &robot).await?, robot.name.clone(), "robot", "delete");
    state.meta().delete_robot(id, &event).await?;
    Ok(StatusCode::OK)
}

/// The name of the project `robot` belongs to ("" for a system robot), for its events.
async fn project_name(state: &ApiState, robot: &Robot) -> Result<String, ApiError> {
    Ok(match robot.project_id {
        Some(id) => state.meta().project_by_id(id).await?.map(|p| p.name).unwrap_or_default(),
        None => String::new(),
    })
}
