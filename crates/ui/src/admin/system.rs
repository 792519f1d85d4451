//! System information: health of the components, storage used, and the configuration's facts.

use askama::Template;
use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use berth_api_types::{GeneralInfo, OverallHealthStatus, Statistic};

use crate::Portal;
use crate::api::NO_BODY;
use crate::format;
use crate::page::{self, Chrome, PageError};
use crate::viewer::Viewer;

#[derive(Template)]
#[template(path = "admin_system.html")]
struct System {
    chrome: Chrome,
    facts: Vec<(&'static str, String)>,
    health: Vec<(String, String, String)>,
    storage: String,
}

/// What `/systeminfo` says, as the page lists it: by name, what is set.
fn facts(info: GeneralInfo) -> Vec<(&'static str, String)> {
    let flag = |b: Option<bool>| b.map(|b| b.to_string());
    [
        ("auth mode", info.auth_mode),
        ("external url", info.external_url),
        ("harbor version", info.harbor_version),
        ("has ca root", flag(info.has_ca_root)),
        ("notification enable", flag(info.notification_enable)),
        ("primary auth mode", flag(info.primary_auth_mode)),
        ("project creation restriction", info.project_creation_restriction),
        ("read only", flag(info.read_only)),
        ("registry id", info.registry_id),
        ("registry storage provider name", info.registry_storage_provider_name),
        ("registry url", info.registry_url),
        ("self registration", flag(info.self_registration)),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|v| (name, v)))
    .collect()
}

pub(crate) async fn system_info(State(portal): State<Portal>, viewer: Viewer) -> Result<Response, PageError> {
    viewer.admin()?;
    let info: GeneralInfo = portal.api.get(&viewer, "/systeminfo").await?;
    // `/health` answers 200 even when unhealthy; a failure to ask is shown as no components.
    let health = match portal.api.call(&viewer, Method::GET, "/health", NO_BODY).await {
        Ok(reply) => reply.json::<OverallHealthStatus>()?.components,
        Err(_) => Vec::new(),
    };
    let health = health.into_iter().map(|c| (c.name, c.status, c.error.unwrap_or_default())).collect();
    let stats: Statistic = portal.api.get(&viewer, "/statistics").await?;
    let storage = format::size(stats.total_storage_consumption.unwrap_or(0));
    page::ok(&System { chrome: Chrome::new(&viewer, "System", "system"), facts: facts(info), health, storage })
}
