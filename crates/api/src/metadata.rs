//! `/projects/{project}/metadatas`: a project's settings as name → string pairs, with Harbor's
//! names and value checks. `public` is the project's own column (one truth for access checks);
//! the others are rows of `project_metadata`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use berth_api_types::ProjectMetadata;
use berth_meta::Project;

use crate::ApiState;
use crate::caller::Caller;
use crate::error::ApiError;
use crate::projects::{find_visible, require};

type PathRejection = axum::extract::rejection::PathRejection;
type JsonRejection = axum::extract::rejection::JsonRejection;

const PUBLIC: &str = "public";
/// Set by tag retention when a project gets its policy, never through this API (Harbor too).
const RETENTION_ID: &str = "retention_id";
const BOOLEANS: &[&str] = &[
    PUBLIC,
    "enable_content_trust",
    "enable_content_trust_cosign",
    "prevent_vul",
    "auto_scan",
    "auto_sbom_generation",
    "reuse_sys_cve_allowlist",
];
const SEVERITIES: &[&str] = &["none", "low", "medium", "high", "critical"];

/// `value` of metadata `name` as stored, once checked as Harbor checks it: booleans in Go's
/// spellings (`true`, `1`, `T`...) kept as `"true"`/`"false"`, a severity in lower case, a
/// bandwidth in whole kilobits per second (-1 for none). Other names are refused.
pub(crate) fn checked(name: &str, value: &str) -> Result<String, ApiError> {
    let invalid = || ApiError::bad_request(format!("invalid value {value:?} of project metadata {name:?}"));
    if BOOLEANS.contains(&name) {
        return match value {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok("true".to_owned()),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok("false".to_owned()),
            _ => Err(invalid()),
        };
    }
    match name {
        "severity" => {
            let lower = value.to_ascii_lowercase();
            if SEVERITIES.contains(&lower.as_str()) { Ok(lower) } else { Err(invalid()) }
        }
        "proxy_speed_kb" => match value.parse::<i32>() {
            Ok(kb) if kb >= -1 => Ok(kb.to_string()),
            _ => Err(invalid()),
        },
        RETENTION_ID => Err(ApiError::bad_request(
            "project metadata \"retention_id\" is set by the project's tag retention policy, not here",
        )),
        _ => Err(ApiError::bad_request(format!(
            "invalid project metadata name {name:?}: one of {}",
            BOOLEANS.iter().chain(&["severity", "proxy_speed_kb"]).copied().collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// What a project create or update asks to set, checked: `public`, if given, and the other
/// names with their values as stored.
#[derive(Default)]
pub(crate) struct MetadataChange {
    pub public: Option<bool>,
    pub values: Vec<(&'static str, String)>,
}

impl MetadataChange {
    pub fn checked(metadata: &ProjectMetadata) -> Result<MetadataChange, ApiError> {
        let mut change = MetadataChange::default();
        for (name, value) in metadata.pairs() {
            let value = checked(name, value)?;
            if name == PUBLIC {
                change.public = Some(value == "true");
            } else {
                change.values.push((name, value));
            }
        }
        Ok(change)
    }

    /// The names and values other than `public`, as the metadata statements take them.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        self.values.iter().map(|(name, value)| (*name, value.as_str())).collect()
    }
}

/// Every metadata of `project`: `public` and the stored ones.
pub(crate) async fn all_of(state: &ApiState, project: &Project) -> Result<BTreeMap<String, String>, ApiError> {
    let mut all: BTreeMap<String, String> = state.meta().project_metadata(project.id).await?.into_iter().collect();
    all.insert(PUBLIC.to_owned(), project.public.to_string());
    Ok(all)
}

async fn project_for(
    state: &ApiState,
    caller: &Caller,
    key: &str,
    headers: &HeaderMap,
    action: &str,
) -> Result<Project, ApiError> {
    let (project, access) = find_visible(state, caller, key, headers).await?;
    require(caller, &access, "metadata", action)?;
    Ok(project)
}

/// The one pair of a request body.
fn only_pair(body: BTreeMap<String, String>) -> Result<(String, String), ApiError> {
    let mut pairs = body.into_iter();
    match (pairs.next(), pairs.next()) {
        (Some(pair), None) => Ok(pair),
        _ => Err(ApiError::bad_request("give exactly one metadata name and its value")),
    }
}

/// The event of `operation` on metadata `name` of `project`.
fn event(caller: &Caller, project: &Project, name: &str, operation: &'static str) -> berth_meta::Event {
    caller.actor().change(&project.name, format!("{}:{name}", project.name), "project_metadata", operation)
}

fn not_set(project: &Project, name: &str) -> ApiError {
    ApiError::not_found(format!("project {} has no metadata {name:?}", project.name))
}

pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<BTreeMap<String, String>>, ApiError> {
    let Path(key) = path?;
    let project = project_for(&state, &caller, &key, &headers, "read").await?;
    Ok(Json(all_of(&state, &project).await?))
}

pub(crate) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<BTreeMap<String, String>>, ApiError> {
    let Path((key, name)) = path?;
    let project = project_for(&state, &caller, &key, &headers, "read").await?;
    let mut all = all_of(&state, &project).await?;
    let value = all.remove(&name).ok_or_else(|| not_set(&project, &name))?;
    Ok(Json(BTreeMap::from([(name, value)])))
}

/// `POST /projects/{project}/metadatas`: adds one name the project does not have yet (409 if
/// it has; `public` it always has).
pub(crate) async fn add(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<BTreeMap<String, String>>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(key) = path?;
    let project = project_for(&state, &caller, &key, &headers, "create").await?;
    let (name, value) = only_pair(body?.0)?;
    let value = checked(&name, &value)?;
    if name == PUBLIC {
        return Err(ApiError::conflict(format!("project {} already has metadata \"public\"", project.name)));
    }
    let event = event(&caller, &project, &name, "create");
    state.meta().add_project_metadata(project.id, &name, &value, &event).await?;
    Ok(StatusCode::OK)
}

/// `PUT /projects/{project}/metadatas/{name}` with `{name: value}`: changes a name the project
/// has.
pub(crate) async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<BTreeMap<String, String>>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Path((key, name)) = path?;
    let project = project_for(&state, &caller, &key, &headers, "update").await?;
    let (named, value) = only_pair(body?.0)?;
    if named != name {
        return Err(ApiError::bad_request(format!("the body sets {named:?}, the path names {name:?}")));
    }
    let value = checked(&name, &value)?;
    let event = event(&caller, &project, &name, "update");
    if name == PUBLIC {
        state.meta().set_project_metadata(project.id, Some(value == "true"), &[], &event).await?;
    } else if !state.meta().update_project_metadata(project.id, &name, &value, &event).await? {
        return Err(not_set(&project, &name));
    }
    Ok(StatusCode::OK)
}

/// `DELETE /projects/{project}/metadatas/{name}`. Without `public` a project is private, as in
/// Harbor, so deleting it makes the project private.
pub(crate) async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let Path((key, name)) = path?;
    let project = project_for(&state, &caller, &key, &headers, "delete").await?;
    if name == RETENTION_ID {
        return Err(ApiError::bad_request(
            "project metadata \"retention_id\" goes with the project's tag retention policy, not here",
        ));
    }
    let event = event(&caller, &project, &name, "delete");
    if name == PUBLIC {
        state.meta().set_project_metadata(project.id, Some(false), &[], &event).await?;
    } else if !state.meta().delete_project_metadata(project.id, &name, &event).await? {
        return Err(not_set(&project, &name));
    }
    Ok(StatusCode::OK)
}
