//! Listings: the catalog, a repository's tags and a manifest's referrers, read page by page
//! through `Link` headers.

use berth_oci::media_type::OCI_INDEX;
use reqwest::header;
use reqwest::{Method, Response, StatusCode, Url};

use crate::error::{from_response, invalid};
use crate::http::{header_str, ok, same_origin};
use crate::names::{parse_digest, pull_scope, repo_name};
use crate::{Descriptor, Remote, RemoteError};

/// Entries asked per page of the catalog, tag and referrers listings.
const PAGE_SIZE: usize = 1000;

impl Remote {
    /// Every repository of the registry's catalog (`registry:catalog:*`), all pages.
    pub async fn catalog(&self) -> Result<Vec<String>, RemoteError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            repositories: Option<Vec<String>>,
        }
        let scopes = ["registry:catalog:*".to_owned()];
        let mut url = self.endpoint("/v2/_catalog")?;
        url.query_pairs_mut().append_pair("n", &PAGE_SIZE.to_string());
        let first = match self.page(&scopes, url).await {
            // distribution 2.8 refuses an `n` above its configured maximum instead of capping it;
            // without `n` it pages at its own size.
            Err(RemoteError::Status { status: 400, .. }) => self.page(&scopes, self.endpoint("/v2/_catalog")?).await,
            other => other,
        };
        let mut repos = Vec::new();
        self.pages(&scopes, first?, |p: Page| repos.extend(p.repositories.unwrap_or_default())).await?;
        Ok(repos)
    }

    /// The repository's tags, all pages; an unknown repository has none.
    pub async fn tags(&self, repo: &str) -> Result<Vec<String>, RemoteError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let repo = repo_name(repo)?;
        let scopes = [pull_scope(&repo)];
        let mut url = self.endpoint(&format!("/v2/{repo}/tags/list"))?;
        url.query_pairs_mut().append_pair("n", &PAGE_SIZE.to_string());
        let first = match self.page(&scopes, url).await {
            Err(RemoteError::NotFound(_)) => return Ok(Vec::new()),
            other => other?,
        };
        let mut tags = Vec::new();
        self.pages(&scopes, first, |p: Page| tags.extend(p.tags.unwrap_or_default())).await?;
        Ok(tags)
    }

    /// The manifests whose subject is `digest` (OCI 1.1 referrers API, else the referrers tag
    /// `sha256-<hex>` that clients maintain on registries without it); empty if there are none.
    pub async fn referrers(&self, repo: &str, digest: &str) -> Result<Vec<Descriptor>, RemoteError> {
        #[derive(serde::Deserialize)]
        struct Index {
            #[serde(default)]
            manifests: Vec<Entry>,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Entry {
            digest: String,
            media_type: String,
            size: u64,
        }
        let descriptors = |index: Index| {
            index.manifests.into_iter().map(|e| Descriptor { digest: e.digest, media_type: e.media_type, size: e.size })
        };
        let name = repo_name(repo)?;
        let parsed = parse_digest(digest)?;
        let scopes = [pull_scope(&name)];
        let url = self.endpoint(&format!("/v2/{name}/referrers/{parsed}"))?;
        let first =
            self.send(&scopes, || self.request(Method::GET, url.clone()).header(header::ACCEPT, OCI_INDEX)).await?;
        // A registry without the API answers 404 (no such route) or 400/405 (it read the path
        // as something else); only a JSON answer is a listing.
        let is_listing = first.status().is_success()
            && header_str(&first, header::CONTENT_TYPE.as_str()).is_some_and(|c| c.contains("json"));
        if is_listing {
            let mut out = Vec::new();
            self.pages(&scopes, first, |index: Index| out.extend(descriptors(index))).await?;
            return Ok(out);
        }
        if !matches!(first.status(), StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST | StatusCode::METHOD_NOT_ALLOWED)
            && !first.status().is_success()
        {
            return Err(from_response(first).await);
        }
        let tag = format!("{}-{}", parsed.algorithm().as_str(), parsed.hex());
        match self.manifest(repo, &tag).await? {
            Some(m) if m.media_type == OCI_INDEX => {
                let index: Index =
                    serde_json::from_slice(&m.bytes).map_err(|e| invalid(format!("referrers tag {tag}: {e}")))?;
                Ok(descriptors(index).collect())
            }
            _ => Ok(Vec::new()),
        }
    }

    /// GETs one page of a JSON listing.
    async fn page(&self, scopes: &[String], url: Url) -> Result<Response, RemoteError> {
        let resp = self.send(scopes, || self.request(Method::GET, url.clone())).await?;
        ok(resp).await
    }

    /// Reads a listing's pages from `first` on, following `Link: <url>; rel="next"`.
    async fn pages<P: serde::de::DeserializeOwned>(
        &self,
        scopes: &[String],
        first: Response,
        mut each: impl FnMut(P),
    ) -> Result<(), RemoteError> {
        let mut resp = first;
        let mut seen = std::collections::HashSet::new();
        loop {
            let next = next_link(&resp)?;
            let body = resp.bytes().await?;
            let page: P = serde_json::from_slice(&body).map_err(|e| invalid(format!("listing: {e}")))?;
            each(page);
            let Some(next) = next else { return Ok(()) };
            // The link stays on the registry (it carries its credentials) and never loops.
            if !same_origin(&next, &self.inner.base) {
                return Err(invalid(format!("pagination link to another host: {next}")));
            }
            if !seen.insert(next.to_string()) {
                return Err(invalid(format!("pagination loops at {next}")));
            }
            resp = self.page(scopes, next).await?;
        }
    }
}

/// The `rel="next"` target of a `Link` header, resolved against the response's URL.
fn next_link(resp: &Response) -> Result<Option<Url>, RemoteError> {
    for value in resp.headers().get_all(header::LINK) {
        let Ok(value) = value.to_str() else { continue };
        for link in value.split(',') {
            let Some((target, params)) = link.trim().strip_prefix('<').and_then(|l| l.split_once('>')) else {
                continue;
            };
            let next = params.split(';').any(|p| {
                let p = p.trim().replace(' ', "");
                p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
            });
            if next {
                return resp.url().join(target).map(Some).map_err(|e| invalid(format!("bad Link {target:?}: {e}")));
            }
        }
    }
    Ok(None)
}
