//! System information: health of the components, storage used, and the configuration's facts.

use askama::Template;
use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use serde_json::Value;

use crate::Portal;
use crate::format;
use crate::page::{self, Chrome, PageError};
use crate::viewer::Viewer;

#[derive(Template)]
#[template(path = "admin_system.html")]
struct System {
    chrome: Chrome,
    facts: Vec<(String, String)>,
    health: Vec<(String, String, String)>,
    storage: String,
}

pub(crate) async fn system_info(State(portal): State<Portal>, viewer: Viewer) -> Result<Response, PageError> {
    viewer.admin()?;
    let info = portal.api.get(&viewer, "/systeminfo").await?.body;
    let facts = info.as_object().into_iter().flatten().map(|(k, v)| (k.replace('_', " "), format::text(v))).collect();
    let health_json =
        portal.api.call(&viewer, Method::GET, "/health", None).await.map(|r| r.body).unwrap_or(Value::Null);
    let health = health_json["components"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| (format::text(&c["name"]), format::text(&c["status"]), format::text(&c["error"])))
        .collect();
    let stats = portal.api.get(&viewer, "/statistics").await?.body;
    let storage = format::size(stats["total_storage_consumption"].as_i64().unwrap_or(0));
    page::ok(&System { chrome: Chrome::new(&viewer, "System", "system"), facts, health, storage })
}
