//! Harbor's management API (`/api/v2.0/`) on a Harbor or a Berth: what replication needs beyond
//! `/v2/` (creating the destination project, reading a Berth's `registry_id`).

use reqwest::{Method, RequestBuilder, StatusCode, Url};

use crate::error::invalid;
use crate::http::ok;
use crate::{Remote, RemoteError};

impl Remote {
    /// `GET` of Harbor's management API (`path` under `/api/v2.0/`) on a Harbor or Berth, with
    /// Basic credentials as that API takes them; `None` on 404.
    pub async fn api_get(&self, path: &str) -> Result<Option<serde_json::Value>, RemoteError> {
        let url = self.endpoint(&format!("/api/v2.0/{path}"))?;
        let resp = self.api_request(Method::GET, url).send().await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = ok(resp).await?;
        resp.json().await.map(Some).map_err(|e| invalid(format!("{path}: {e}")))
    }

    /// `POST` of `body` to Harbor's management API; `Ok(false)` if the resource exists (409).
    pub async fn api_post(&self, path: &str, body: &serde_json::Value) -> Result<bool, RemoteError> {
        let url = self.endpoint(&format!("/api/v2.0/{path}"))?;
        let resp = self.api_request(Method::POST, url).json(body).send().await?;
        if resp.status() == StatusCode::CONFLICT {
            return Ok(false);
        }
        ok(resp).await.map(|_| true)
    }

    fn api_request(&self, method: Method, url: Url) -> RequestBuilder {
        let builder = self.request(method, url);
        match &self.inner.credential {
            Some(c) => builder.basic_auth(&c.username, Some(&c.password)),
            None => builder,
        }
    }
}
