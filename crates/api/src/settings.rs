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
use berth_api_types::{ConfigItem, ConfigurationsResponse, ScanAllPolicy};
use berth_auth::Auth;
use serde_json::{Map, Value};

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
    /// The audit purge's retention until an administrator schedules one (`audit_log_retention_days`).
    pub audit_log_retention_hours: u64,
}

/// The longest token lifetime `/configurations` accepts: a year, in minutes.
const MAX_TOKEN_EXPIRATION: u64 = 525_600;

impl Settings {
    pub fn new(external_url: Option<String>, defaults: Editable) -> Settings {
        Settings { external_url, defaults, current: RwLock::new(defaults), audit_log_retention_hours: 90 * 24 }
    }

    pub fn with_audit_log_retention_hours(self, hours: u64) -> Settings {
        Settings { audit_log_retention_hours: hours, ..self }
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

/// `GET /configurations`: every setting Harbor documents, `{"name": {"value", "editable"}}`.
/// Berth's values where it has the setting; Harbor's defaults for what Berth does not have
/// (LDAP, UAA, OIDC, an auth proxy, audit log forwarding). Editable: what `PUT` changes.
pub(crate) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
) -> Result<Json<ConfigurationsResponse>, ApiError> {
    caller.require_sysadmin()?;
    let s = state.settings.current();
    let fixed = |value: &str| ConfigItem { value: value.to_owned(), editable: false };
    let flag = |value: bool| ConfigItem { value, editable: false };
    let number = |value: i64| ConfigItem { value, editable: false };
    Ok(Json(ConfigurationsResponse {
        auth_mode: fixed("db_auth"),
        primary_auth_mode: flag(true),
        ldap_base_dn: fixed(""),
        ldap_filter: fixed(""),
        ldap_group_base_dn: fixed(""),
        ldap_group_admin_dn: fixed(""),
        ldap_group_attribute_name: fixed(""),
        ldap_group_search_filter: fixed(""),
        ldap_group_search_scope: number(2),
        ldap_group_attach_parallel: flag(false),
        ldap_scope: number(2),
        ldap_search_dn: fixed(""),
        ldap_timeout: number(5),
        ldap_uid: fixed("cn"),
        ldap_url: fixed(""),
        ldap_verify_cert: flag(true),
        ldap_group_membership_attribute: fixed("memberof"),
        project_creation_restriction: ConfigItem { value: s.project_creation.as_str().to_owned(), editable: true },
        read_only: flag(false),
        self_registration: ConfigItem { value: s.self_registration, editable: true },
        token_expiration: ConfigItem { value: s.token_expiration as i64, editable: true },
        uaa_client_id: fixed(""),
        uaa_client_secret: fixed(""),
        uaa_endpoint: fixed(""),
        uaa_verify_cert: flag(false),
        http_authproxy_endpoint: fixed(""),
        http_authproxy_tokenreview_endpoint: fixed(""),
        http_authproxy_admin_groups: fixed(""),
        http_authproxy_admin_usernames: fixed(""),
        http_authproxy_verify_cert: flag(true),
        http_authproxy_skip_search: flag(false),
        http_authproxy_server_certificate: fixed(""),
        oidc_name: fixed(""),
        oidc_endpoint: fixed(""),
        oidc_client_id: fixed(""),
        oidc_groups_claim: fixed(""),
        oidc_admin_group: fixed(""),
        oidc_group_filter: fixed(""),
        oidc_scope: fixed(""),
        oidc_user_claim: fixed(""),
        oidc_verify_cert: flag(true),
        oidc_auto_onboard: flag(false),
        oidc_extra_redirect_parms: fixed("{}"),
        oidc_logout: flag(false),
        // A robot created without a duration never expires.
        robot_token_duration: number(-1),
        robot_name_prefix: fixed(berth_auth::robots::PREFIX),
        // No webhooks yet.
        notification_enable: flag(false),
        quota_per_project_enable: flag(true),
        // A project created without a storage limit has none.
        storage_per_project: number(-1),
        audit_log_forward_endpoint: fixed(""),
        skip_audit_log_database: flag(false),
        scanner_skip_update_pulltime: flag(false),
        // No scanner yet.
        scan_all_policy: ScanAllPolicy { kind: "none".to_owned() },
        session_timeout: number((berth_auth::SESSION_LIFETIME.as_secs() / 60) as i64),
        banner_message: fixed(""),
        disabled_audit_log_event_types: fixed(""),
    }))
}

/// `PUT /configurations`: changes some settings, all or none; they are in force here at once
/// and on the other instances within seconds. The body is read as a map, not as
/// `berth_api_types::Configurations`, so that each refused setting is named in its own words
/// (a wrong value, or a key Berth does not change) rather than as a failed deserialization.
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
