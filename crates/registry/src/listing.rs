//! Listings: repositories (`_catalog`), tags, and referrers.

use std::collections::HashMap;

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_oci::RepoName;
use berth_oci::media_type::OCI_INDEX;
use serde_json::{Value, json};

use crate::blobs::parse_digest;
use crate::call::Call;
use crate::error::RegistryError;
use crate::state::RegistryState;

/// A page request: `n` (page size) and `last` (the item after which to start).
struct Page {
    n: Option<i64>,
    last: Option<String>,
}

impl Page {
    fn from_query(query: &HashMap<String, String>) -> Result<Page, RegistryError> {
        let n = match query.get("n") {
            None => None,
            Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                RegistryError::unsupported(
                    StatusCode::BAD_REQUEST,
                    format!("n must be a non-negative integer, got {v:?}"),
                )
            })?),
        };
        Ok(Page { n, last: query.get("last").filter(|l| !l.is_empty()).cloned() })
    }

    /// Rows to fetch: one more than the page, to learn whether a next page exists.
    fn fetch_limit(&self) -> i64 {
        self.n.map(|n| n + 1).unwrap_or(i64::MAX)
    }

    /// Trims `items` to the page and returns the `Link` header for the next page, if any.
    fn finish(&self, items: &mut Vec<String>, path: &str) -> Option<String> {
        let n = self.n?;
        if items.len() as i64 <= n {
            return None;
        }
        items.truncate(n as usize);
        let last = items.last()?;
        Some(format!("<{path}?n={n}&last={}>; rel=\"next\"", url_escape(last)))
    }
}

/// Escapes a repository name or tag for a query string (both use only `[A-Za-z0-9._/-]`).
fn url_escape(s: &str) -> String {
    s.replace('/', "%2F")
}

fn with_link(body: Value, link: Option<String>) -> Response {
    let mut response = Json(body).into_response();
    if let Some(link) = link.and_then(|l| l.parse().ok()) {
        response.headers_mut().insert(header::LINK, link);
    }
    response
}

pub(crate) async fn catalog(state: &RegistryState, call: &Call) -> Result<Response, RegistryError> {
    let page = Page::from_query(&call.query)?;
    let mut repos = state.content.meta().list_repositories(page.last.as_deref(), page.fetch_limit()).await?;
    let link = page.finish(&mut repos, "/v2/_catalog");
    Ok(with_link(json!({ "repositories": repos }), link))
}

pub(crate) async fn tags(state: &RegistryState, call: &Call, name: &RepoName) -> Result<Response, RegistryError> {
    let page = Page::from_query(&call.query)?;
    let mut tags = state
        .content
        .tags(name.as_str(), page.last.as_deref(), page.fetch_limit())
        .await?
        .ok_or_else(|| RegistryError::name_unknown(name.as_str()))?;
    let link = page.finish(&mut tags, &format!("/v2/{name}/tags/list"));
    Ok(with_link(json!({ "name": name.as_str(), "tags": tags }), link))
}

pub(crate) async fn referrers(
    state: &RegistryState,
    call: &Call,
    name: &RepoName,
    digest: &str,
) -> Result<Response, RegistryError> {
    let subject = parse_digest(digest)?.to_string();
    let artifact_type = call.query.get("artifactType").filter(|t| !t.is_empty());
    // An unknown repository or subject has no referrers: the spec asks for an empty index.
    let rows = state.content.referrers(name.as_str(), &subject, artifact_type.map(String::as_str)).await?;
    let manifests: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            let mut d = json!({ "mediaType": r.media_type, "digest": r.digest, "size": r.size });
            if let Some(t) = r.artifact_type {
                d["artifactType"] = t.into();
            }
            if let Some(a) = r.annotations.and_then(|a| serde_json::from_str::<Value>(&a).ok()) {
                d["annotations"] = a;
            }
            d
        })
        .collect();
    let body = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
    let mut response =
        ([(header::CONTENT_TYPE, OCI_INDEX)], serde_json::to_vec(&body).map_err(RegistryError::internal)?)
            .into_response();
    if artifact_type.is_some() {
        response.headers_mut().insert("oci-filters-applied", "artifactType".parse().expect("static"));
    }
    Ok(response)
}
