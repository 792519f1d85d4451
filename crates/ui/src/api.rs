//! Calls to `/api/v2.0`, in process, as the signed-in user.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::page::PageError;
use crate::viewer::Viewer;

#[derive(Clone)]
pub(crate) struct Api {
    router: Router,
}

/// An API answer that succeeded.
pub(crate) struct Reply {
    pub headers: HeaderMap,
    pub body: Value,
    /// The body as sent, for answers that are not JSON (logs).
    pub raw: axum::body::Bytes,
}

impl Reply {
    /// `X-Total-Count` of a listing.
    pub fn total(&self) -> i64 {
        self.headers.get("x-total-count").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// The body's items, for a listing.
    pub fn items(&self) -> &[Value] {
        self.body.as_array().map(Vec::as_slice).unwrap_or_default()
    }
}

/// A request to the API that it refused: its status and Harbor error message.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

impl Api {
    pub fn new(router: Router) -> Api {
        Api { router }
    }

    pub async fn get(&self, viewer: &Viewer, path: &str) -> Result<Reply, PageError> {
        Ok(self.call(viewer, Method::GET, path, None).await?)
    }

    /// A change: its refusal is for the page to show next to the form.
    pub async fn send(
        &self,
        viewer: &Viewer,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Result<Reply, Refusal>, PageError> {
        match self.call(viewer, method, path, body).await {
            Ok(reply) => Ok(Ok(reply)),
            Err(refusal) if refusal.status.is_client_error() => Ok(Err(refusal)),
            Err(refusal) => Err(refusal.into()),
        }
    }

    /// Signs in through `POST /c/login` with the form `principal=…&password=…`: on success, the
    /// answer's headers carry the session's `Set-Cookie`.
    pub async fn login(&self, viewer: &Viewer, form: String) -> Result<Reply, Refusal> {
        let body = ("application/x-www-form-urlencoded", Body::from(form));
        self.request(viewer, Method::POST, "/c/login", Some(body)).await
    }

    /// `path` is below `/api/v2.0`, or `/c/...` for the session endpoints.
    pub async fn call(
        &self,
        viewer: &Viewer,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Reply, Refusal> {
        let body = body.map(|v| ("application/json", Body::from(v.to_string())));
        self.request(viewer, method, path, body).await
    }

    /// Sends one request to the router as `viewer` (session cookie, CSRF token, client address),
    /// with `body` of its content type, and reads the answer.
    async fn request(
        &self,
        viewer: &Viewer,
        method: Method,
        path: &str,
        body: Option<(&'static str, Body)>,
    ) -> Result<Reply, Refusal> {
        let uri = if path.starts_with("/c/") { path.to_owned() } else { format!("/api/v2.0{path}") };
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(token) = &viewer.session {
            req = req
                .header(header::COOKIE, format!("{}={token}", berth_auth::SESSION_COOKIE))
                .header("x-harbor-csrf-token", &viewer.csrf);
        }
        if let Some(forwarded) = &viewer.forwarded_for {
            req = req.header("x-forwarded-for", forwarded);
        }
        let body = match body {
            Some((content_type, body)) => {
                req = req.header(header::CONTENT_TYPE, content_type);
                body
            }
            None => Body::empty(),
        };
        let mut req = req.body(body).map_err(|e| Refusal::internal(e.to_string()))?;
        if let Some(peer) = viewer.peer {
            req.extensions_mut().insert(peer);
        }
        let response = self.router.clone().oneshot(req).await.map_err(|e| Refusal::internal(e.to_string()))?;
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.map_err(|e| Refusal::internal(e.to_string()))?.to_bytes();
        let json: Value =
            if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        if parts.status.is_success() {
            return Ok(Reply { headers: parts.headers, body: json, raw: bytes });
        }
        let message = json["errors"][0]["message"].as_str().unwrap_or("the request failed").to_owned();
        Err(Refusal { status: parts.status, message })
    }
}

impl Refusal {
    fn internal(message: String) -> Refusal {
        Refusal { status: StatusCode::INTERNAL_SERVER_ERROR, message }
    }
}

/// A repository name (below its project) as an API path segment: Harbor's clients encode the
/// `/` twice.
pub(crate) fn repo_segment(name: &str) -> String {
    name.replace('/', "%252F")
}
