//! `http.tls.redirect_port`: plain HTTP beside HTTPS. Browsers (the portal, the API) are sent to
//! the same page over https with a 308 (which keeps the method); registry clients, which do not
//! follow redirects from `/v2/` to another scheme, get an OCI error telling them the address.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_auth::ClientOrigin;

/// The router of the plain listener, for HTTPS on `https_port` (or at `external_url`, when it is
/// an https URL).
pub fn router(https_port: u16, external_url: Option<String>) -> Router {
    let base = external_url.filter(|u| u.starts_with("https://")).map(|u| u.trim_end_matches('/').to_owned());
    Router::new().fallback(move |req: Request| {
        let base = base.clone().unwrap_or_else(|| https_base(&req, https_port));
        async move { answer(&req, &base) }
    })
}

/// `https://HOST:PORT` for the host the request named.
fn https_base(req: &Request, https_port: u16) -> String {
    let host = berth_auth::origin::requested_host(req.headers(), req.uri()).unwrap_or("localhost");
    // The host without its port: `[::1]:80` -> `[::1]`, `reg.example:80` -> `reg.example`.
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !port.contains(']') => name,
        _ => host,
    };
    let name = ClientOrigin::new(None, true, Some(name)).host().to_owned();
    if https_port == 443 { format!("https://{name}") } else { format!("https://{name}:{https_port}") }
}

fn answer(req: &Request, base: &str) -> Response {
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    if path == "/v2" || path.starts_with("/v2/") {
        let message = format!("this registry is served over https only: use {base}");
        let body = serde_json::json!({"errors": [{"code": "DENIED", "message": message, "detail": null}]});
        return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    }
    let location = HeaderValue::try_from(format!("{base}{path}")).unwrap_or_else(|_| HeaderValue::from_static("/"));
    (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, location)]).into_response()
}
