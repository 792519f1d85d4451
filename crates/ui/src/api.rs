//! Calls to `/api/v2.0`, in process, as the signed-in user. Answers are read as the API's own
//! types (`berth_api_types`), requests written as them.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use berth_api_types::Errors;
use berth_api_types::headers::{X_TOTAL_COUNT, X_TOTAL_COUNT_CAPPED};
use http_body_util::BodyExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower::ServiceExt;

use crate::page::PageError;
use crate::viewer::Viewer;

#[derive(Clone)]
pub(crate) struct Api {
    router: Router,
}

/// No request body, for [`Api::send`] and [`Api::call`].
pub(crate) const NO_BODY: Option<&()> = None;

/// An API answer that succeeded.
pub(crate) struct Reply {
    pub headers: HeaderMap,
    /// The body as sent: JSON, or text (logs).
    pub body: Bytes,
}

impl Reply {
    /// The body as the API type `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, PageError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| PageError::Internal(format!("the API answered with an unexpected body: {e}")))
    }
}

/// One page of a listing, with what its headers say about the others.
pub(crate) struct Listing<T> {
    pub items: Vec<T>,
    /// `X-Total-Count`.
    pub total: i64,
    /// More match than `total` (the API stopped counting: Berth's `X-Total-Count-Capped`).
    pub capped: bool,
    /// The API links to a next page.
    pub more: bool,
}

impl<T: DeserializeOwned> Listing<T> {
    fn of(reply: &Reply) -> Result<Listing<T>, PageError> {
        let header = |name: &str| reply.headers.get(name).and_then(|v| v.to_str().ok());
        Ok(Listing {
            items: reply.json()?,
            total: header(X_TOTAL_COUNT).and_then(|v| v.parse().ok()).unwrap_or(0),
            capped: header(X_TOTAL_COUNT_CAPPED) == Some("true"),
            more: header("link").is_some_and(|l| l.contains("rel=\"next\"")),
        })
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

    /// `GET path`, its answer read as `T`.
    pub async fn get<T: DeserializeOwned>(&self, viewer: &Viewer, path: &str) -> Result<T, PageError> {
        self.call(viewer, Method::GET, path, NO_BODY).await?.json()
    }

    /// `GET path` of a listing of `T`.
    pub async fn list<T: DeserializeOwned>(&self, viewer: &Viewer, path: &str) -> Result<Listing<T>, PageError> {
        Listing::of(&self.call(viewer, Method::GET, path, NO_BODY).await?)
    }

    /// `GET path` of a text answer (a log).
    pub async fn text(&self, viewer: &Viewer, path: &str) -> Result<Bytes, PageError> {
        Ok(self.call(viewer, Method::GET, path, NO_BODY).await?.body)
    }

    /// A change: its refusal is for the page to show next to the form.
    pub async fn send<B: Serialize>(
        &self,
        viewer: &Viewer,
        method: Method,
        path: &str,
        body: Option<&B>,
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

    /// `path` is below `/api/v2.0`, or `/c/...` for the session endpoints; `body` goes as JSON.
    pub async fn call<B: Serialize>(
        &self,
        viewer: &Viewer,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Reply, Refusal> {
        let body = match body {
            Some(b) => Some(serde_json::to_vec(b).map_err(|e| Refusal::internal(e.to_string()))?),
            None => None,
        };
        self.request(viewer, method, path, body.map(|b| ("application/json", Body::from(b)))).await
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
        if let Some(client) = viewer.client {
            req.extensions_mut().insert(client);
        }
        let response = self.router.clone().oneshot(req).await.map_err(|e| Refusal::internal(e.to_string()))?;
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.map_err(|e| Refusal::internal(e.to_string()))?.to_bytes();
        if parts.status.is_success() {
            return Ok(Reply { headers: parts.headers, body: bytes });
        }
        let errors = serde_json::from_slice::<Errors>(&bytes).ok();
        let message = errors.as_ref().and_then(Errors::message).unwrap_or("the request failed").to_owned();
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
