//! Per-client limits against abuse, as one middleware in front of every route: request rates of
//! the token service, sign-ins and the API (429 with `Retry-After`), and the blob upload requests
//! a client may have in progress at once, counted by the client the origin layer resolved
//! ([`ClientOrigin`], which the login throttle counts by too). Refusals are logged as warnings, once a minute per client and limit.

mod buckets;
mod uploads;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use berth_api::ApiError;
use berth_auth::{ClientAddr, ClientOrigin};
use berth_registry::RegistryError;

use crate::config::Limits as Config;
use buckets::Buckets;
use uploads::Uploads;

/// The limits of one instance (in memory: see `buckets` for why that is enough).
pub(crate) struct Limits {
    token: Option<Buckets>,
    login: Option<Buckets>,
    api: Option<Buckets>,
    uploads: Option<Uploads>,
    exempt_loopback: bool,
}

/// What a request counts against.
#[derive(Clone, Copy)]
enum Kind {
    Token,
    Login,
    Api,
    Upload,
}

/// How an error reads on a path: OCI's codes on `/v2/` and the token service, Harbor's elsewhere.
#[derive(Clone, Copy)]
enum Dialect {
    Oci,
    Harbor,
}

impl Limits {
    pub(crate) fn new(config: &Config) -> Arc<Limits> {
        const MINUTE: Duration = Duration::from_secs(60);
        Arc::new(Limits {
            token: Buckets::new(config.token_per_minute, MINUTE, config.token_burst),
            login: Buckets::new(config.login_per_minute, MINUTE, config.login_burst),
            api: Buckets::new(config.api_per_second, Duration::from_secs(1), config.api_burst),
            uploads: Uploads::new(config.uploads_per_client),
            exempt_loopback: config.exempt_loopback,
        })
    }
}

/// The client of a request, as the origin layer resolved it (the connection's peer, or the address
/// a trusted proxy forwarded; none when the router runs without `serve`).
fn client_addr(req: &Request) -> Option<ClientAddr> {
    req.extensions().get::<ClientOrigin>().and_then(ClientOrigin::client_addr)
}

/// Middleware: applies the limits to `req`'s client.
pub(crate) async fn enforce(State(limits): State<Arc<Limits>>, req: Request, next: Next) -> Response {
    let Some(client) = client_addr(&req) else { return next.run(req).await };
    let Some(kind) = classify(req.method(), req.uri().path()) else { return next.run(req).await };
    if limits.exempt_loopback && client.0.to_canonical().is_loopback() {
        return next.run(req).await;
    }
    let dialect = if matches!(kind, Kind::Token | Kind::Upload) { Dialect::Oci } else { Dialect::Harbor };
    let buckets = match kind {
        Kind::Token => &limits.token,
        Kind::Login => &limits.login,
        Kind::Api => &limits.api,
        Kind::Upload => {
            let Some(uploads) = &limits.uploads else { return next.run(req).await };
            return match uploads.begin(client.bucket()) {
                Ok(_in_progress) => next.run(req).await,
                Err(report) => refuse(dialect, client, "uploads_per_client", Duration::from_secs(1), report),
            };
        }
    };
    let Some(buckets) = buckets else { return next.run(req).await };
    match buckets.take(client.bucket(), Instant::now()) {
        Ok(()) => next.run(req).await,
        Err(refusal) => refuse(dialect, client, kind.key(), refusal.wait, refusal.report),
    }
}

/// What `method` on `path` counts against, if anything.
fn classify(method: &Method, path: &str) -> Option<Kind> {
    let writes = matches!(*method, Method::POST | Method::PATCH | Method::PUT);
    if path == "/service/token" {
        Some(Kind::Token)
    } else if *method == Method::POST && (path == "/c/login" || path == "/harbor/sign-in") {
        Some(Kind::Login)
    } else if path.starts_with("/api/") {
        Some(Kind::Api)
    } else if writes && path.starts_with("/v2/") && path.contains("/blobs/uploads") {
        Some(Kind::Upload)
    } else {
        None
    }
}

impl Kind {
    /// The configuration key of the limit.
    fn key(self) -> &'static str {
        match self {
            Kind::Token => "token_per_minute",
            Kind::Login => "login_per_minute",
            Kind::Api => "api_per_second",
            Kind::Upload => "uploads_per_client",
        }
    }
}

/// The 429 of a refused request, in its path's dialect.
fn refuse(dialect: Dialect, client: ClientAddr, limit: &str, wait: Duration, report: bool) -> Response {
    if report {
        tracing::warn!(client = %client.0, limit = %format_args!("limits.{limit}"), retry_after_s = wait.as_secs_f64(), "client over its limit: answering 429 (reported once a minute)");
    }
    let message = format!("too many requests from this client (limits.{limit}): retry later");
    match dialect {
        Dialect::Oci => RegistryError::too_many_requests(message, wait).into_response(),
        Dialect::Harbor => ApiError::too_many_requests(message, wait).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_counts_against_what() {
        let kind = |m: Method, p: &str| classify(&m, p).map(Kind::key);
        assert_eq!(kind(Method::GET, "/service/token"), Some("token_per_minute"));
        assert_eq!(kind(Method::POST, "/c/login"), Some("login_per_minute"));
        assert_eq!(kind(Method::POST, "/harbor/sign-in"), Some("login_per_minute"));
        assert_eq!(kind(Method::GET, "/harbor/sign-in"), None);
        assert_eq!(kind(Method::GET, "/api/v2.0/ping"), Some("api_per_second"));
        assert_eq!(kind(Method::POST, "/v2/library/app/blobs/uploads/"), Some("uploads_per_client"));
        assert_eq!(kind(Method::PATCH, "/v2/library/app/blobs/uploads/0b5a"), Some("uploads_per_client"));
        assert_eq!(kind(Method::PUT, "/v2/library/app/blobs/uploads/0b5a"), Some("uploads_per_client"));
        assert_eq!(kind(Method::GET, "/v2/library/app/blobs/uploads/0b5a"), None);
        assert_eq!(kind(Method::GET, "/v2/library/app/manifests/latest"), None);
        assert_eq!(kind(Method::GET, "/harbor/projects"), None);
    }
}
