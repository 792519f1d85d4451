//! `/ping`, `/systeminfo`, `/health`, `/health/ready`.

use std::time::Duration;

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
    let s = state.settings.current();
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
        // Berth's own: peers replicating here learn who we are, so they do not send back what
        // they received from us (see berth_replication::Endpoints::peer_id).
        "registry_id": state.endpoints.self_id(),
    });
    if let Some(url) = &state.settings.external_url {
        info["external_url"] = json!(url);
        info["registry_url"] = json!(url.split_once("://").map(|(_, h)| h).unwrap_or(url));
    }
    // Harbor shows the rest to logged-in users only.
    if caller.principal.user().is_some() {
        info["project_creation_restriction"] = json!(s.project_creation.as_str());
        info["registry_storage_provider_name"] = json!(state.content.store().kind());
    }
    Json(info)
}

/// How long a component may take to answer a health check before it counts as unhealthy: a
/// database that hangs must not hang the load balancer's probe with it (a pool waiting for a
/// connection would otherwise wait its full acquire timeout).
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Asks the database (a round trip) and the blob store (its own check) at the same time;
/// `core` is this process, healthy if it answers at all.
async fn components(state: &ApiState) -> Vec<Value> {
    let database = async {
        match tokio::time::timeout(CHECK_TIMEOUT, state.meta().ping()).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
        }
    };
    let storage = async {
        match tokio::time::timeout(CHECK_TIMEOUT, state.content.store().check()).await {
            // The answer goes to anonymous callers: say what failed, not where the data is.
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
        }
    };
    let (database, storage) = tokio::join!(database, storage);
    let component = |name: &str, result: Result<(), String>| match result {
        Ok(()) => json!({"name": name, "status": "healthy"}),
        Err(error) => json!({"name": name, "status": "unhealthy", "error": error}),
    };
    vec![json!({"name": "core", "status": "healthy"}), component("database", database), component("storage", storage)]
}

/// Harbor's `OverallHealthStatus`: healthy only when every component is.
fn overall(components: Vec<Value>) -> (bool, Value) {
    let healthy = components.iter().all(|c| c["status"] == "healthy");
    (healthy, json!({"status": if healthy { "healthy" } else { "unhealthy" }, "components": components}))
}

/// `GET /health`: component health in Harbor's shape, and, as Harbor does, always `200`: tools
/// written for Harbor read the verdict from the body. Load balancers use [`ready`].
pub(crate) async fn health(State(state): State<ApiState>) -> Json<Value> {
    Json(overall(components(&state).await).1)
}

/// `GET /health/ready`: the same checks, for load balancers and orchestrators, which only look at
/// the status: `200` when this instance can serve (its database and blob store answer), `503`
/// otherwise, so traffic goes to the other instances. No authentication, as for `/health`.
pub(crate) async fn ready(State(state): State<ApiState>) -> (StatusCode, Json<Value>) {
    let (healthy, body) = overall(components(&state).await);
    (if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body))
}
