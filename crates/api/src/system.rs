//! `/ping`, `/systeminfo`, `/health`, `/health/ready`.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_api_types::{ComponentHealthStatus, GeneralInfo, OverallHealthStatus, Storage, SystemInfo};

use crate::ApiState;
use crate::caller::{Caller, Origin};
use crate::error::ApiError;

pub(crate) async fn ping() -> &'static str {
    "Pong"
}

/// `GET /systeminfo`: every key Harbor documents but `authproxy_settings` (Harbor's `http_auth`
/// mode only), to signed-in callers; anonymous ones get what Harbor shows them, and what Berth
/// always showed them (version, read-only, the external URL when configured).
pub(crate) async fn systeminfo(
    State(state): State<ApiState>,
    caller: Caller,
    Origin(origin): Origin,
) -> Json<GeneralInfo> {
    let s = state.settings.current();
    let signed_in = caller.principal.user().is_some();
    let external_url = match &state.settings.external_url {
        Some(url) => Some(url.clone()),
        // Signed-in callers get every key: the URL they reached Berth at, without one configured.
        None if signed_in => Some(origin.base_url()),
        None => None,
    };
    let registry_url =
        external_url.as_deref().map(|url| url.split_once("://").map_or(url, |(_, host)| host).to_owned());
    let mut info = GeneralInfo {
        banner_message: Some(String::new()),
        auth_mode: Some("db_auth".to_owned()),
        primary_auth_mode: Some(true),
        self_registration: Some(s.self_registration),
        oidc_provider_name: Some(String::new()),
        harbor_version: Some(crate::HARBOR_VERSION.to_owned()),
        has_ca_root: Some(false),
        read_only: Some(false),
        notification_enable: Some(false),
        external_url,
        registry_url,
        with_chartmuseum: Some(false),
        with_notary: Some(false),
        // Peers replicating here learn who we are, so they do not send back what they received
        // from us (see berth_replication::Endpoints::peer_id).
        registry_id: Some(state.endpoints.self_id().to_owned()),
        ..GeneralInfo::default()
    };
    // Harbor shows the rest to signed-in users only.
    if signed_in {
        info.project_creation_restriction = Some(s.project_creation.as_str().to_owned());
        info.registry_storage_provider_name = Some(state.content.store().kind().to_owned());
        info.current_time = Some(berth_meta::time::rfc3339(berth_meta::time::now()));
    }
    Json(info)
}

/// How long a component may take to answer a health check before it counts as unhealthy: a
/// database that hangs must not hang the load balancer's probe with it (a pool waiting for a
/// connection would otherwise wait its full acquire timeout).
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Asks the database (a round trip) and the blob store (its own check) at the same time;
/// `core` is this process, healthy if it answers at all.
async fn components(state: &ApiState) -> Vec<ComponentHealthStatus> {
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
    let component = |name: &str, result: Result<(), String>| ComponentHealthStatus {
        name: name.to_owned(),
        status: if result.is_ok() { "healthy" } else { "unhealthy" }.to_owned(),
        error: result.err(),
    };
    vec![component("core", Ok(())), component("database", database), component("storage", storage)]
}

/// Whether each component (`core`, `database`, `storage`) is healthy, as `/health` says.
pub async fn component_health(state: &ApiState) -> Vec<(String, bool)> {
    let health = components(state).await.into_iter();
    health.map(|c| (c.name, c.status == "healthy")).collect()
}

/// Harbor's `OverallHealthStatus`: healthy only when every component is.
fn overall(components: Vec<ComponentHealthStatus>) -> (bool, OverallHealthStatus) {
    let healthy = components.iter().all(|c| c.status == "healthy");
    (healthy, OverallHealthStatus { status: if healthy { "healthy" } else { "unhealthy" }.to_owned(), components })
}

/// `GET /health`: component health in Harbor's shape, and, as Harbor does, always `200`: tools
/// written for Harbor read the verdict from the body. Load balancers use [`ready`].
pub(crate) async fn health(State(state): State<ApiState>) -> Json<OverallHealthStatus> {
    Json(overall(components(&state).await).1)
}

/// `GET /health/ready`: the same checks, for load balancers and orchestrators, which only look at
/// the status: `200` when this instance can serve (its database and blob store answer), `503`
/// otherwise, so traffic goes to the other instances. No authentication, as for `/health`.
pub(crate) async fn ready(State(state): State<ApiState>) -> (StatusCode, Json<OverallHealthStatus>) {
    let (healthy, body) = overall(components(&state).await);
    (if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body))
}

/// `GET /systeminfo/volumes`, administrators only: the size and free space of the file system
/// blobs are kept on. 404 for an S3-compatible bucket, which has no size to ask for.
pub(crate) async fn volumes(State(state): State<ApiState>, caller: Caller) -> Result<Json<SystemInfo>, ApiError> {
    caller.require_sysadmin()?;
    match state.content.store().volume().await? {
        Some(v) => Ok(Json(SystemInfo { storage: vec![Storage { total: v.total, free: v.free }] })),
        None => Err(ApiError::not_found("blobs are kept in an S3-compatible bucket, which has no volume size")),
    }
}

/// `GET /systeminfo/getcert`: Harbor's root certificate of its self-signed TLS. Berth has none
/// to hand out (`has_ca_root` is false); the answer is a 404 in the media type the operation
/// documents, so clients that save the download get the reason instead of JSON.
pub(crate) async fn getcert() -> Response {
    let reason = "this registry has no root certificate of its own to download";
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "application/octet-stream")], reason).into_response()
}
