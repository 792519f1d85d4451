//! Settings: those of the configuration file, and Harbor's `/configurations`, which changes some
//! of them at run time. A changed value is stored in the database and overrides the file's on
//! every instance; each instance reads the stored values at start and then every few seconds
//! ([`keep_settings_current`]), and at once after a change it made itself.

use std::sync::RwLock;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use berth_auth::Auth;
use serde_json::{Map, Value, json};

use crate::ApiState;
use crate::caller::Caller;
use crate::error::ApiError;

/// Who may create projects (`project_creation_restriction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectCreation {
    Everyone,
    AdminOnly,
}

impl ProjectCreation {
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectCreation::Everyone => "everyone",
            ProjectCreation::AdminOnly => "adminonly",
        }
    }

    fn parse(s: &str) -> Option<ProjectCreation> {
        match s {
            "everyone" => Some(ProjectCreation::Everyone),
            "adminonly" => Some(ProjectCreation::AdminOnly),
            _ => None,
        }
    }
}

/// The settings an administrator may change at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Editable {
    pub self_registration: bool,
    pub project_creation: ProjectCreation,
    /// Lifetime of registry tokens, in minutes (`token_expiration`).
    pub token_expiration: u64,
}

/// Settings the API reports and enforces.
#[derive(Debug)]
pub struct Settings {
    pub external_url: Option<String>,
    /// The configuration file's values.
    defaults: Editable,
    /// The values in force: the file's, overridden by those stored at run time.
    current: RwLock<Editable>,
}

/// The longest token lifetime `/configurations` accepts: a year, in minutes.
const MAX_TOKEN_EXPIRATION: u64 = 525_600;

impl Settings {
    pub fn new(external_url: Option<String>, defaults: Editable) -> Settings {
        Settings { external_url, defaults, current: RwLock::new(defaults) }
    }

    /// The values in force.
    pub fn current(&self) -> Editable {
        *self.current.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the stored values and puts them in force here (tokens' lifetime included).
    pub async fn refresh(&self, auth: &Auth) -> Result<(), ApiError> {
        let mut now = self.defaults;
        for (name, value) in auth.meta.settings().await? {
            let value: Value = serde_json::from_str(&value).unwrap_or(Value::Null);
            if let Err(e) = apply(&mut now, &name, &value) {
                tracing::warn!(setting = %name, error = %e.message(), "ignoring a stored setting");
            }
        }
        auth.set_token_lifetime(Duration::from_secs(now.token_expiration * 60));
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = now;
        Ok(())
    }
}

/// Sets `name` to `value` in `s`, if `name` is an editable setting and `value` fits it.
fn apply(s: &mut Editable, name: &str, value: &Value) -> Result<(), ApiError> {
    let bad = |what: &str| ApiError::bad_request(format!("{name} must be {what}"));
    match name {
        "self_registration" => s.self_registration = value.as_bool().ok_or_else(|| bad("true or false"))?,
        "project_creation_restriction" => {
            s.project_creation =
                value.as_str().and_then(ProjectCreation::parse).ok_or_else(|| bad("\"everyone\" or \"adminonly\""))?
        }
        "token_expiration" => {
            s.token_expiration = value
                .as_u64()
                .filter(|m| (1..=MAX_TOKEN_EXPIRATION).contains(m))
                .ok_or_else(|| bad(&format!("a number of minutes from 1 to {MAX_TOKEN_EXPIRATION}")))?
        }
        other => return Err(ApiError::bad_request(format!("{other} is not a setting that can be changed here"))),
    }
    Ok(())
}

/// Keeps this instance's settings current with those other instances store.
pub async fn keep_settings_current(state: ApiState, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = state.settings.refresh(&state.auth).await {
            tracing::warn!(error = %e.message(), "reading the stored settings");
        }
    }
}

/// `GET /configurations`: Harbor's shape, `{"name": {"value", "editable"}}`.
pub(crate) async fn get(State(state): State<ApiState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require_sysadmin()?;
    let s = state.settings.current();
    let item = |value: Value, editable: bool| json!({"value": value, "editable": editable});
    Ok(Json(json!({
        "auth_mode": item(json!("db_auth"), false),
        "primary_auth_mode": item(json!(true), false),
        "self_registration": item(json!(s.self_registration), true),
        "project_creation_restriction": item(json!(s.project_creation.as_str()), true),
        "token_expiration": item(json!(s.token_expiration), true),
        "read_only": item(json!(false), false),
    })))
}

/// `PUT /configurations`: changes some settings, all or none; they are in force here at once
/// and on the other instances within seconds.
pub(crate) async fn put(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<Map<String, Value>>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    caller.require_sysadmin()?;
    let Json(changes) = body?;
    let mut checked = state.settings.current();
    for (name, value) in &changes {
        apply(&mut checked, name, value)?;
    }
    if changes.is_empty() {
        return Ok(StatusCode::OK);
    }
    let stored: Vec<(&str, String)> = changes.iter().map(|(n, v)| (n.as_str(), v.to_string())).collect();
    let names: Vec<&str> = changes.keys().map(String::as_str).collect();
    let event = caller.actor().change("", names.join(","), "configuration", "update");
    state.meta().set_settings(&stored, &event).await?;
    state.settings.refresh(&state.auth).await?;
    Ok(StatusCode::OK)
}
