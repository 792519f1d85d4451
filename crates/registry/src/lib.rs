//! The OCI distribution API (`/v2/`), spec v1.1.
//!
//! A request is first parsed into an [`endpoint::Endpoint`] (repository names contain slashes,
//! so the path is parsed from its end rather than matched by a router), then handled by the
//! module for its domain. Every handler asks [`access::Access`] for a decision before touching
//! anything, and every error is an [`error::RegistryError`] rendered as OCI error JSON.

pub mod access;
mod audit;
mod blobs;
mod endpoint;
pub mod error;
mod headers;
mod listing;
mod local;
mod manifests;
mod proxy;
mod state;
mod token_service;
mod upload_lease;
mod uploads;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, Method, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

pub use access::Access;
pub use audit::{Actor, CHANGE_TIME_HEADER, ORIGIN_HEADER};
pub use error::RegistryError;
pub use local::{Local, LocalManifest};
pub use proxy::{UpstreamError, Upstreams};
pub use state::RegistryState;

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

async fn handle(state: &RegistryState, req: Request<Body>) -> Result<Response, RegistryError> {
    let endpoint = Endpoint::parse(req.uri().path())?;
    let method = req.method().clone();
    let (parts, body) = req.into_parts();
    let query = headers::query(&parts.uri);
    let h = &parts;
    match (endpoint, method) {
        (Endpoint::Base, Method::GET | Method::HEAD) => {
            state.access.authorize(h, access::Scope::Base).await?;
            Ok(([("content-type", "application/json")], "{}").into_response())
        }
        (Endpoint::Catalog, Method::GET) => listing::catalog(state, h, &query).await,
        (Endpoint::Tags(name), Method::GET) => listing::tags(state, h, &name, &query).await,
        (Endpoint::Referrers(name, digest), Method::GET) => listing::referrers(state, h, &name, &digest, &query).await,
        (Endpoint::Manifest(name, reference), Method::GET) => manifests::get(state, h, &name, &reference, true).await,
        (Endpoint::Manifest(name, reference), Method::HEAD) => manifests::get(state, h, &name, &reference, false).await,
        (Endpoint::Manifest(name, reference), Method::PUT) => manifests::put(state, h, &name, &reference, body).await,
        (Endpoint::Manifest(name, reference), Method::DELETE) => manifests::delete(state, h, &name, &reference).await,
        (Endpoint::Blob(name, digest), Method::GET) => blobs::get(state, h, &name, &digest, true).await,
        (Endpoint::Blob(name, digest), Method::HEAD) => blobs::get(state, h, &name, &digest, false).await,
        (Endpoint::Blob(name, digest), Method::DELETE) => blobs::delete(state, h, &name, &digest).await,
        (Endpoint::UploadStart(name), Method::POST) => uploads::start(state, h, &name, &query, body).await,
        (Endpoint::Upload(name, id), Method::GET) => uploads::status(state, h, &name, &id).await,
        (Endpoint::Upload(name, id), Method::PATCH) => uploads::patch(state, h, &name, &id, body).await,
        (Endpoint::Upload(name, id), Method::PUT) => uploads::finish(state, h, &name, &id, &query, body).await,
        (Endpoint::Upload(name, id), Method::DELETE) => uploads::cancel(state, h, &name, &id).await,
        (_, method) => Err(RegistryError::method_not_allowed(&method)),
    }
}
