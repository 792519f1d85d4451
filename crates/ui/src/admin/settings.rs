//! System settings that an administrator changes at run time: self-registration, who may create
//! projects, the token lifetime.

use askama::Template;
use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use berth_api_types::{Configurations, ConfigurationsResponse};

use crate::Portal;
use crate::page::{self, Chrome, PageError};
use crate::projects::capitalize;
use crate::viewer::{Posted, Viewer};

#[derive(Template)]
#[template(path = "admin_settings.html")]
struct SettingsPage {
    chrome: Chrome,
    self_registration: bool,
    project_creation: String,
    token_expiration: String,
    error: Option<String>,
    saved: bool,
}

async fn settings_page(
    portal: &Portal,
    viewer: &Viewer,
    error: Option<String>,
    saved: bool,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let c: ConfigurationsResponse = portal.api.get(viewer, "/configurations").await?;
    let page = SettingsPage {
        chrome: Chrome::new(viewer, "Settings", "settings"),
        self_registration: c.self_registration.value,
        project_creation: c.project_creation_restriction.value,
        token_expiration: c.token_expiration.value.to_string(),
        error: error.clone(),
        saved,
    };
    page::render(page::status_for(&error), &page)
}

pub(crate) async fn settings(State(portal): State<Portal>, viewer: Viewer) -> Result<Response, PageError> {
    settings_page(&portal, &viewer, None, false).await
}

pub(crate) async fn save_settings(
    State(portal): State<Portal>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let minutes = fields.get("token_expiration");
    let Ok(minutes) = minutes.parse::<u64>() else {
        return settings_page(
            &portal,
            &viewer,
            Some(format!("Token lifetime {minutes:?} is not a number of minutes.")),
            false,
        )
        .await;
    };
    let body = Configurations {
        self_registration: Some(fields.checked("self_registration")),
        project_creation_restriction: Some(fields.get("project_creation_restriction").to_owned()),
        // Beyond i64, as beyond the API's limit: refused there, with the limit.
        token_expiration: Some(i64::try_from(minutes).unwrap_or(i64::MAX)),
    };
    match portal.api.send(&viewer, Method::PUT, "/configurations", Some(&body)).await? {
        Ok(_) => settings_page(&portal, &viewer, None, true).await,
        Err(r) => settings_page(&portal, &viewer, Some(capitalize(&r.message)), false).await,
    }
}
