//! The OCI distribution API (`/v2/`), spec v1.1, and the Docker token service.
//!
//! A request is first parsed into an [`endpoint::Endpoint`] (repository names contain slashes,
//! so the path is parsed from its end rather than matched by a router); the endpoint states the
//! access it needs, [`access::Access`] checks it once, and only then does the handler for the
//! endpoint's domain run, with the authorized [`call::Call`]. Handlers store and read through
//! `berth_content`; every error is a [`RegistryError`] rendered as OCI error JSON.

pub mod access;
mod blobs;
mod call;
mod endpoint;
pub mod error;
mod listing;
mod manifests;
mod proxy;
mod state;
mod token_service;
mod uploads;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

pub use access::Access;
pub use error::RegistryError;
pub use state::{RegistryOptions, RegistryState};

use access::ProjectLookup;
use call::Call;
use endpoint::Endpoint;

/// The `/v2/` routes. Blob bodies stream to storage, so no body limit applies here; manifests
/// enforce their own.
pub fn router(state: RegistryState) -> Router {
    Router::new()
        .route("/v2", any(dispatch))
        .route("/v2/", any(dispatch))
        .route("/v2/{*rest}", any(dispatch))
        .layer(DefaultBodyLimit::disable())
        .route("/service/token", axum::routing::get(token_service::token))
        .with_state(state)
}

async fn dispatch(State(state): State<RegistryState>, req: Request<Body>) -> Response {
    let mut response = match handle(&state, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    response.headers_mut().insert("docker-distribution-api-version", HeaderValue::from_static("registry/2.0"));
    response
}

/// Serves `req`, its response marked with the route template it was on (for the metrics; a path
/// no endpoint has is left to the router's catch-all route).
async fn handle(state: &RegistryState, req: Request<Body>) -> Result<Response, RegistryError> {
    let (parts, body) = req.into_parts();
    let endpoint = Endpoint::parse(&parts.method, parts.uri.path())?;
    let route = berth_metrics::Route(endpoint.route());
    let mut response = serve(state, parts, body, endpoint).await.unwrap_or_else(IntoResponse::into_response);
    response.extensions_mut().insert(route);
    Ok(response)
}

async fn serve(
    state: &RegistryState,
    parts: axum::http::request::Parts,
    body: Body,
    endpoint: Endpoint,
) -> Result<Response, RegistryError> {
    // A manifest pull looks its manifest up together with the project its access depends on:
    // one query for both, and nothing of the manifest is used unless access is granted.
    let pulled = match &endpoint {
        Endpoint::GetManifest { name, reference, .. } => Some(manifests::look_up(state, name, reference).await?),
        _ => None,
    };
    let project = match &pulled {
        Some(found) => ProjectLookup::Loaded(found.project()),
        None => ProjectLookup::Load,
    };
    let username = state.access.authorize(&parts, endpoint.scope(), project).await?;
    let call = Call::new(parts, username);
    use Endpoint::*;
    match endpoint {
        Base => Ok(([("content-type", "application/json")], "{}").into_response()),
        Catalog => listing::catalog(state, &call).await,
        Tags(name) => listing::tags(state, &call, &name).await,
        Referrers(name, digest) => listing::referrers(state, &call, &name, &digest).await,
        GetManifest { name, body: with_body, .. } => {
            let found = pulled.expect("looked up above");
            manifests::get(state, &call, &name, found, with_body).await
        }
        PutManifest(name, reference) => manifests::put(state, &call, &name, &reference, body).await,
        DeleteManifest(name, reference) => manifests::delete(state, &call, &name, &reference).await,
        GetBlob { name, digest, body: with_body } => blobs::get(state, &call, &name, &digest, with_body).await,
        DeleteBlob(name, digest) => blobs::delete(state, &call, &name, &digest).await,
        StartUpload(name) => uploads::start(state, &call, &name, body).await,
        UploadStatus(name, id) => uploads::status(state, &name, &id).await,
        PatchUpload(name, id) => uploads::patch(state, &call, &name, &id, body).await,
        FinishUpload(name, id) => uploads::finish(state, &call, &name, &id, body).await,
        CancelUpload(name, id) => uploads::cancel(state, &name, &id).await,
    }
}
