//! `/registries`: remote registry endpoints for replication and proxy caches (CRUD, `ping`,
//! `info`), and `/replication/adapters`. System administrators only, as in Harbor. Passwords
//! are sealed before they are stored and never returned (`*****`).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use berth_api_types::{FilterStyle, Registry, RegistryCredential, RegistryInfo, RegistryPing, RegistryUpdate};
use berth_meta::time::rfc3339;
use berth_meta::{NewRegistry, RegistryRow};
use berth_replication::{KINDS, Target, same_origin};
use serde::Deserialize;

use crate::ApiState;
use crate::caller::Caller;
use crate::error::ApiError;
use crate::page::PageQuery;
use crate::query::parse_id;

type PathRejection = axum::extract::rejection::PathRejection;
type JsonRejection = axum::extract::rejection::JsonRejection;
type QueryRejection = axum::extract::rejection::QueryRejection;

/// What a stored password is shown as.
const HIDDEN: &str = "*****";

pub(crate) fn registry_model(r: &RegistryRow) -> Registry {
    Registry {
        id: r.id,
        name: Some(r.name.clone()),
        description: Some(r.description.clone()),
        kind: Some(r.kind.clone()),
        url: Some(r.url.clone()),
        insecure: Some(r.insecure),
        credential: Some(RegistryCredential {
            kind: Some(if r.access_key.is_some() { "basic" } else { "" }.to_owned()),
            access_key: Some(r.access_key.clone().unwrap_or_default()),
            access_secret: Some(if r.access_secret.is_some() { HIDDEN } else { "" }.to_owned()),
        }),
        status: Some(r.status.clone()),
        creation_time: Some(rfc3339(r.created_at)),
        update_time: Some(rfc3339(r.updated_at)),
    }
}

/// This registry, as policies show their local side (Harbor's id 0).
pub(crate) fn local_registry(state: &ApiState) -> Registry {
    Registry {
        id: 0,
        name: Some("Local".to_owned()),
        kind: Some("harbor".to_owned()),
        url: Some(state.settings.external_url.clone().unwrap_or_default()),
        insecure: Some(false),
        status: Some("healthy".to_owned()),
        ..Registry::default()
    }
}

/// An endpoint's settings, checked, with the password in clear (sealed only to be stored).
struct Checked {
    name: String,
    description: String,
    kind: String,
    url: String,
    access_key: Option<String>,
    access_secret: Option<String>,
    insecure: bool,
}

impl Checked {
    fn validate(self, state: &ApiState) -> Result<Checked, ApiError> {
        if self.name.trim().is_empty() || self.name.len() > 255 {
            return Err(ApiError::bad_request("name is required (at most 255 characters)"));
        }
        if !KINDS.contains(&self.kind.as_str()) {
            return Err(ApiError::bad_request(format!(
                "type must be one of {}, not {:?}",
                KINDS.join(", "),
                self.kind
            )));
        }
        if self.access_key.is_some() != self.access_secret.is_some() {
            return Err(ApiError::bad_request("credential needs both access_key and access_secret"));
        }
        state.endpoints.client(&self.target()).map_err(|e| ApiError::bad_request(format!("url: {e}")))?;
        Ok(self)
    }

    fn target(&self) -> Target<'_> {
        Target {
            url: &self.url,
            access_key: self.access_key.as_deref(),
            access_secret: self.access_secret.as_deref(),
            insecure: self.insecure,
        }
    }
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

async fn find(state: &ApiState, id: i64) -> Result<RegistryRow, ApiError> {
    state.meta().registry(id).await?.ok_or_else(|| ApiError::not_found(format!("registry {id} not found")))
}

/// The stored endpoint with `update`'s fields applied; its password opened. The stored password
/// is kept only for the origin it was given for: an update moving the endpoint to another
/// scheme, host or port must give the password again, or anyone able to edit the URL could have
/// it sent wherever they like.
fn merged(state: &ApiState, row: &RegistryRow, u: RegistryUpdate) -> Result<Checked, ApiError> {
    let url = u.url.unwrap_or_else(|| row.url.clone());
    let (access_key, access_secret) = if u.credential_type.as_deref() == Some("") {
        (None, None)
    } else {
        let key = match u.access_key {
            Some(k) => nonempty(Some(k)),
            None => row.access_key.clone(),
        };
        let secret = match u.access_secret {
            Some(s) if s != HIDDEN => nonempty(Some(s)),
            _ => stored_secret(state, row, &url)?,
        };
        (key, secret)
    };
    Checked {
        name: u.name.unwrap_or_else(|| row.name.clone()),
        description: u.description.unwrap_or_else(|| row.description.clone()),
        kind: row.kind.clone(),
        url,
        access_key,
        access_secret,
        insecure: u.insecure.unwrap_or(row.insecure),
    }
    .validate(state)
}

/// The stored password of `row`, opened, to be used at `url`: refused if `url` is another origin.
fn stored_secret(state: &ApiState, row: &RegistryRow, url: &str) -> Result<Option<String>, ApiError> {
    let Some(sealed) = &row.access_secret else {
        return Ok(None);
    };
    if !same_origin(&row.url, url) {
        return Err(ApiError::bad_request(format!(
            "the URL changed from {} to {url:?}: give the credential (access_secret) again",
            row.url
        )));
    }
    state.endpoints.sealer().open(sealed).map(Some).map_err(ApiError::internal)
}

fn new_registry<'a>(c: &'a Checked, sealed: Option<&'a str>) -> NewRegistry<'a> {
    NewRegistry {
        name: &c.name,
        description: &c.description,
        kind: &c.kind,
        url: &c.url,
        access_key: c.access_key.as_deref(),
        access_secret: sealed,
        insecure: c.insecure,
    }
}

/// `POST /registries`.
pub(crate) async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<Registry>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require_sysadmin()?;
    let Json(req) = body?;
    let credential = req.credential.unwrap_or_default();
    let basic = credential.kind.as_deref().is_none_or(|k| k == "basic" || k.is_empty());
    if !basic {
        return Err(ApiError::bad_request("credential type must be basic"));
    }
    let checked = Checked {
        name: req.name.unwrap_or_default(),
        description: req.description.unwrap_or_default(),
        kind: req.kind.unwrap_or_default(),
        url: req.url.ok_or_else(|| ApiError::bad_request("url is required"))?,
        access_key: nonempty(credential.access_key),
        access_secret: nonempty(credential.access_secret),
        insecure: req.insecure.unwrap_or(false),
    }
    .validate(&state)?;
    let sealed = checked.access_secret.as_deref().map(|s| state.endpoints.sealer().seal(s));
    let event = caller.actor().change("", checked.name.clone(), "registry", "create");
    let id = state.meta().create_registry(&new_registry(&checked, sealed.as_deref()), &event).await?;
    Ok((StatusCode::CREATED, [(header::LOCATION, format!("/api/v2.0/registries/{id}"))]).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    q: Option<String>,
}

/// `GET /registries`: `name=` or `q=name=~x` narrow by name.
pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    paging: Result<Query<PageQuery>, QueryRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require_sysadmin()?;
    let page = paging?.0.page()?;
    let Query(q) = query?;
    let from_q = match q.q.as_deref() {
        Some(raw) => crate::query::Query::parse(Some(raw), &["name"])?.substring("name")?,
        None => None,
    };
    let name = q.name.or(from_q);
    let (rows, total) = state.meta().list_registries(name.as_deref(), page.offset(), page.size).await?;
    let items: Vec<Registry> = rows.iter().map(registry_model).collect();
    let query = name.map(|n| format!("name={n}")).unwrap_or_default();
    Ok(page.respond(items, total, "/api/v2.0/registries", &query))
}

pub(crate) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Registry>, ApiError> {
    caller.require_sysadmin()?;
    let row = find(&state, parse_id(&path?.0, "registry")?).await?;
    Ok(Json(registry_model(&row)))
}

/// `PUT /registries/{id}`: fields left out keep their values; a password of `*****` (as listed)
/// keeps the stored one.
pub(crate) async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<RegistryUpdate>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    caller.require_sysadmin()?;
    let id = parse_id(&path?.0, "registry")?;
    let Json(u) = body?;
    let row = find(&state, id).await?;
    let checked = merged(&state, &row, u)?;
    let sealed = checked.access_secret.as_deref().map(|s| state.endpoints.sealer().seal(s));
    let event = caller.actor().change("", checked.name.clone(), "registry", "update");
    if !state.meta().update_registry(id, &new_registry(&checked, sealed.as_deref()), &event).await? {
        return Err(ApiError::not_found(format!("registry {id} not found")));
    }
    Ok(StatusCode::OK)
}

/// `DELETE /registries/{id}`: 412 while a policy or a proxy-cache project uses it.
pub(crate) async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    caller.require_sysadmin()?;
    let id = parse_id(&path?.0, "registry")?;
    let row = find(&state, id).await?;
    let event = caller.actor().change("", row.name.clone(), "registry", "delete");
    if !state.meta().delete_registry(id, &event).await? {
        return Err(ApiError::not_found(format!("registry {id} not found")));
    }
    Ok(StatusCode::OK)
}

/// `POST /registries/ping`: checks an endpoint (stored, `id`, with fields overridden, or new)
/// answers and accepts the credentials. A stored endpoint's status is updated.
pub(crate) async fn ping(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<RegistryPing>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    caller.require_sysadmin()?;
    let Json(u) = body?;
    let id = u.id.filter(|id| *id > 0);
    let checked = match id {
        Some(id) => {
            let row = find(&state, id).await?;
            let update = RegistryUpdate {
                url: u.url,
                credential_type: u.credential_type,
                access_key: u.access_key,
                access_secret: u.access_secret,
                insecure: u.insecure,
                ..RegistryUpdate::default()
            };
            merged(&state, &row, update)?
        }
        None => Checked {
            name: "ping".to_owned(),
            description: String::new(),
            kind: u.kind.unwrap_or_else(|| "harbor".to_owned()),
            url: u.url.ok_or_else(|| ApiError::bad_request("url is required"))?,
            access_key: nonempty(u.access_key),
            access_secret: nonempty(u.access_secret),
            insecure: u.insecure.unwrap_or(false),
        }
        .validate(&state)?,
    };
    let remote = state.endpoints.client(&checked.target()).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let outcome = remote.ping().await;
    if let Some(id) = id {
        let status = if outcome.is_ok() { "healthy" } else { "unhealthy" };
        state.meta().set_registry_status(id, status).await?;
    }
    outcome.map_err(|e| ApiError::bad_request(format!("failed to ping {}: {e}", checked.url)))?;
    Ok(StatusCode::OK)
}

/// What an endpoint type supports, as `/registries/{id}/info` and `/replication/adapterinfos`
/// report it.
fn adapter_info(kind: &str) -> RegistryInfo {
    let filter = |kind: &str, style: &str, values: Option<&[&str]>| FilterStyle {
        kind: kind.to_owned(),
        style: style.to_owned(),
        values: values.map(|v| v.iter().map(|s| s.to_string()).collect()),
    };
    RegistryInfo {
        kind: kind.to_owned(),
        description: match kind {
            "harbor" => "Harbor or Berth: the OCI distribution API and Harbor's API",
            _ => "any registry speaking the OCI distribution API (catalog and tags)",
        }
        .to_owned(),
        supported_resource_filters: vec![
            filter("name", "input", None),
            filter("tag", "input", None),
            filter("resource", "radio", Some(&["image", "artifact"])),
        ],
        supported_triggers: ["manual", "scheduled", "event_based"].map(str::to_owned).to_vec(),
        supported_copy_by_chunk: true,
    }
}

pub(crate) async fn info(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<RegistryInfo>, ApiError> {
    caller.require_sysadmin()?;
    let row = find(&state, parse_id(&path?.0, "registry")?).await?;
    Ok(Json(adapter_info(&row.kind)))
}

/// `GET /replication/adapters`.
pub(crate) async fn adapters(caller: Caller) -> Result<Json<Vec<&'static str>>, ApiError> {
    caller.require_sysadmin()?;
    Ok(Json(KINDS.to_vec()))
}

/// `GET /replication/adapterinfos`. Harbor answers with each type's endpoint and credential
/// patterns (`RegistryProviderInfo`); Berth with what each supports, as `/registries/{id}/info`.
pub(crate) async fn adapter_infos(caller: Caller) -> Result<Json<BTreeMap<String, RegistryInfo>>, ApiError> {
    caller.require_sysadmin()?;
    Ok(Json(KINDS.iter().map(|k| (k.to_string(), adapter_info(k))).collect()))
}
