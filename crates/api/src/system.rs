//! `/ping`, `/systeminfo`, `/health`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::ApiState;
use crate::caller::Caller;

pub(crate) async fn ping() -> &'static str {
    "Pong"
}

pub(crate) async fn systeminfo(State(state): State<ApiState>, caller: Caller) -> Json<Value> {
    let s = &state.settings;
    let mut info = json!({
        "auth_mode": "db_auth",
        "self_registration": s.self_registration,
        "harbor_version": concat!("berth-", env!("CARGO_PKG_VERSION")),
        "has_ca_root": false,
        "read_only": false,
        "with_chartmuseum": false,
        "with_notary": false,
        "notification_enable": false,
        "primary_auth_mode": true,
    });
    if let Some(url) = &s.external_url {
        info["external_url"] = json!(url);
        info["registry_url"] = json!(url.split_once("://").map(|(_, h)| h).unwrap_or(url));
    }
    // Harbor shows the rest to logged-in users only.
    if caller.0.user().is_some() {
        info["project_creation_restriction"] = json!(s.project_creation.as_str());
        info["registry_storage_provider_name"] = json!("filesystem");
    }
    Json(info)
}

/// Component health, Harbor's shape. 503 when any component is unhealthy.
pub(crate) async fn health(State(state): State<ApiState>) -> (StatusCode, Json<Value>) {
    let database = match state.meta().ping().await {
        Ok(()) => json!({"name": "database", "status": "healthy"}),
        Err(e) => json!({"name": "database", "status": "unhealthy", "error": e.to_string()}),
    };
    let healthy = database["status"] == "healthy";
    let body = json!({
        "status": if healthy { "healthy" } else { "unhealthy" },
        "components": [{"name": "core", "status": "healthy"}, database],
    });
    (if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body))
}
