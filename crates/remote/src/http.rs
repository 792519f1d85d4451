//! Requests to the registry: where they go, the configured headers, authenticating them (the
//! token flow is in `auth.rs`) and sending them again after a 401, redirects, and reading an
//! answer's status and headers.

use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};

use crate::error::{from_response, invalid};
use crate::{Remote, RemoteError};

/// Redirects followed for one request (a registry sends one, to its storage).
const MAX_REDIRECTS: usize = 5;

impl Remote {
    pub(crate) fn endpoint(&self, path: &str) -> Result<Url, RemoteError> {
        self.inner.base.join(path).map_err(|e| invalid(format!("bad path {path:?}: {e}")))
    }

    /// A request with the configured extra headers when it goes to the registry itself.
    pub(crate) fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let same = same_origin(&url, &self.inner.base);
        let builder = self.inner.client.request(method, url);
        if same { builder.headers(self.inner.headers.clone()) } else { builder }
    }

    /// Sends a request that can be rebuilt: authenticated as far as known; after a 401 the
    /// challenge is learnt (or the stale token dropped) and the request sent once more. A 401
    /// that remains is returned as a response for the caller to map.
    pub(crate) async fn send(
        &self,
        scopes: &[String],
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, RemoteError> {
        let resp = self.authorize(build(), scopes).await?.send().await?;
        if resp.status() != StatusCode::UNAUTHORIZED || !self.learn(&resp, scopes) {
            return Ok(resp);
        }
        Ok(self.authorize(build(), scopes).await?.send().await?)
    }

    /// Sends a request whose body cannot be replayed (a blob stream); on a 401 the token is
    /// dropped so the next request fetches a new one, and the 401 is returned.
    pub(crate) async fn send_once(&self, scopes: &[String], builder: RequestBuilder) -> Result<Response, RemoteError> {
        let resp = self.authorize(builder, scopes).await?.send().await?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            self.learn(&resp, scopes);
        }
        Ok(resp)
    }

    /// Follows the redirects of a GET or HEAD. The registry's Authorization and extra headers
    /// go only to the registry's own origin; `keep` (Accept, Range) go everywhere.
    pub(crate) async fn follow(
        &self,
        mut resp: Response,
        scopes: &[String],
        method: Method,
        keep: HeaderMap,
    ) -> Result<Response, RemoteError> {
        for _ in 0..MAX_REDIRECTS {
            if !resp.status().is_redirection() || resp.status() == StatusCode::NOT_MODIFIED {
                return Ok(resp);
            }
            let target = self.location(&resp)?;
            let mut builder = self.request(method.clone(), target.clone()).headers(keep.clone());
            if same_origin(&target, &self.inner.base) {
                builder = self.authorize(builder, scopes).await?;
            }
            resp = builder.send().await?;
        }
        Err(RemoteError::Status { status: resp.status().as_u16(), message: "too many redirects".into() })
    }

    /// A response's `Location`, resolved against the request's URL.
    pub(crate) fn location(&self, resp: &Response) -> Result<Url, RemoteError> {
        let location = header_str(resp, header::LOCATION.as_str())
            .ok_or_else(|| invalid(format!("{} without Location", resp.status())))?;
        resp.url().join(location).map_err(|e| invalid(format!("bad Location {location:?}: {e}")))
    }
}

pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme() && a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default()
}

pub(crate) fn header_str<'a>(resp: &'a Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

pub(crate) fn content_length(resp: &Response) -> Option<u64> {
    header_str(resp, header::CONTENT_LENGTH.as_str()).and_then(|v| v.parse().ok())
}

pub(crate) fn extra_headers(extra: &[(&str, String)]) -> Result<HeaderMap, RemoteError> {
    let mut headers = HeaderMap::new();
    for (name, value) in extra {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid(format!("bad header name {name:?}")))?;
        let value = HeaderValue::from_str(value).map_err(|_| invalid(format!("bad value for header {name}")))?;
        headers.insert(name, value);
    }
    Ok(headers)
}

/// The response itself when successful, else its error.
pub(crate) async fn ok(resp: Response) -> Result<Response, RemoteError> {
    if resp.status().is_success() { Ok(resp) } else { Err(from_response(resp).await) }
}
