//! A client for a remote OCI distribution registry (CNCF distribution, Harbor, another Berth):
//! what replication and the pull-through proxy cache need to read and write its content.
//!
//! Requests start anonymous; the first 401 tells how the registry authenticates (Basic, or Bearer
//! tokens from a token service) and later requests authenticate up front. Blobs stream both ways;
//! nothing but manifests (at most 4 MiB) is held in memory.

mod auth;
mod error;
mod throttle;
mod upload;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_oci::media_type::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use berth_oci::{Digest, Reference, RepoName};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};

use crate::auth::{AuthState, Challenge, TokenResponse, may_send_credentials, parse_challenges};
pub use crate::error::RemoteError;
use crate::error::{from_response, invalid};
pub use crate::throttle::throttle;
pub use crate::upload::CHUNK_SIZE;

/// Username and password (or robot secret, or token) for the remote registry.
#[derive(Clone)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential").field("username", &self.username).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// `http(s)://host[:port]`: the registry's root; a path prefix is refused (`/v2/` is at the
    /// root of every distribution registry).
    pub url: String,
    pub credential: Option<Credential>,
    /// Accept self-signed and otherwise invalid TLS certificates.
    pub insecure: bool,
    /// Headers sent on every request to the registry (not to token services or blob redirects
    /// on other hosts), e.g. a marker that the request comes from replication.
    pub headers: Vec<(String, String)>,
    /// Connect timeout. Responses and bodies have none: blobs stream for as long as they take.
    pub timeout: Duration,
}

/// A client for one remote registry. Cheap to clone; clones share connections and tokens.
#[derive(Clone)]
pub struct Remote {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    /// `scheme://host[:port]/`, the base every `/v2/` path is joined to.
    base: Url,
    /// The same without the trailing slash, as `url()` returns it.
    url: String,
    credential: Option<Credential>,
    headers: HeaderMap,
    auth: Mutex<AuthState>,
}

/// What the registry says of a manifest or blob without its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
}

/// A manifest's bytes as the registry serves them, verified against their digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub digest: String,
    pub media_type: String,
    pub bytes: Bytes,
}

/// A blob's bytes from the requested offset on. Not verified here: with an offset the digest
/// cannot be checked by this stream alone; the consumer hashes what it stores.
pub struct BlobStream {
    /// Bytes the stream will yield, when the registry said.
    pub size: Option<u64>,
    pub stream: BoxStream<'static, Result<Bytes, RemoteError>>,
}

/// Media types asked for when reading manifests: images and indexes, OCI and Docker schema2.
/// Schema1 is left out: Berth does not store it, and listing it would invite a registry to
/// serve a converted schema1 manifest instead of a 404.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// Entries asked per page of the catalog, tag and referrers listings.
const PAGE_SIZE: usize = 1000;

/// Redirects followed for one request (a registry sends one, to its storage).
const MAX_REDIRECTS: usize = 5;

const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

impl Remote {
    pub fn new(cfg: RemoteConfig) -> Result<Remote, RemoteError> {
        let base = parse_base(&cfg.url)?;
        let mut headers = HeaderMap::new();
        for (name, value) in &cfg.headers {
            let name =
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid(format!("bad header name {name:?}")))?;
            let value = HeaderValue::from_str(value).map_err(|_| invalid(format!("bad value for header {name}")))?;
            headers.append(name, value);
        }
        // Redirects are followed by hand: to drop the registry's credentials and headers when the
        // target is another host (a presigned storage URL), and to keep them on the same host.
        let client = reqwest::Client::builder()
            .connect_timeout(cfg.timeout)
            .tcp_keepalive(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .tls_danger_accept_invalid_certs(cfg.insecure)
            .build()
            .map_err(|e| invalid(format!("HTTP client: {}", RemoteError::from(e))))?;
        let url = base.as_str().trim_end_matches('/').to_owned();
        Ok(Remote {
            inner: Arc::new(Inner {
                client,
                base,
                url,
                credential: cfg.credential,
                headers,
                auth: Mutex::new(AuthState::default()),
            }),
        })
    }

    /// The registry's URL, normalized (`scheme://host[:port]`).
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// Checks the registry answers `/v2/` and accepts the credentials (anonymous if none).
    pub async fn ping(&self) -> Result<(), RemoteError> {
        let url = self.endpoint("/v2/")?;
        let resp = self.send(&[], || self.request(Method::GET, url.clone())).await?;
        ok(resp).await.map(drop)
    }

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

    /// The manifest `reference` (tag or digest) points to, or `None` if there is none. Its bytes
    /// are checked against the digest asked for, else against the one the registry announces.
    pub async fn manifest(&self, repo: &str, reference: &str) -> Result<Option<Manifest>, RemoteError> {
        let repo = repo_name(repo)?;
        let reference = parse_reference(reference)?;
        let url = self.endpoint(&format!("/v2/{repo}/manifests/{}", reference_str(&reference)))?;
        let scopes = [pull_scope(&repo)];
        let resp = self
            .send(&scopes, || self.request(Method::GET, url.clone()).header(header::ACCEPT, MANIFEST_ACCEPT))
            .await?;
        let resp = self.follow(resp, &scopes, Method::GET, HeaderMap::new()).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = ok(resp).await?;
        let announced = header_str(&resp, DOCKER_CONTENT_DIGEST).map(str::to_owned);
        let content_type = header_str(&resp, header::CONTENT_TYPE.as_str()).map(str::to_owned);
        let bytes = read_manifest(resp).await?;
        let digest = match (&reference, announced) {
            (Reference::Digest(d), _) => d.clone(),
            (Reference::Tag(_), Some(d)) => {
                d.parse::<Digest>().map_err(|e| invalid(format!("registry sent digest {d:?}: {e}")))?
            }
            (Reference::Tag(_), None) => Digest::sha256_of(&bytes),
        };
        if !digest.matches(&bytes) {
            return Err(invalid(format!(
                "manifest {repo}:{} does not match digest {digest}",
                reference_str(&reference)
            )));
        }
        let media_type = manifest_media_type(content_type.as_deref(), &bytes)?;
        Ok(Some(Manifest { digest: digest.to_string(), media_type, bytes }))
    }

    /// The descriptor of the manifest `reference` points to, or `None`, without its bytes (unless
    /// the registry does not announce the digest: then the manifest is read to compute it).
    pub async fn head_manifest(&self, repo: &str, reference: &str) -> Result<Option<Descriptor>, RemoteError> {
        let name = repo_name(repo)?;
        let parsed = parse_reference(reference)?;
        let url = self.endpoint(&format!("/v2/{name}/manifests/{}", reference_str(&parsed)))?;
        let scopes = [pull_scope(&name)];
        let resp = self
            .send(&scopes, || self.request(Method::HEAD, url.clone()).header(header::ACCEPT, MANIFEST_ACCEPT))
            .await?;
        let resp = self.follow(resp, &scopes, Method::HEAD, HeaderMap::new()).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = ok(resp).await?;
        let digest = match &parsed {
            Reference::Digest(d) => Some(d.to_string()),
            Reference::Tag(_) => {
                header_str(&resp, DOCKER_CONTENT_DIGEST).filter(|d| d.parse::<Digest>().is_ok()).map(str::to_owned)
            }
        };
        let size = content_length(&resp);
        let media_type = header_str(&resp, header::CONTENT_TYPE.as_str())
            .map(berth_oci::manifest::bare_media_type)
            .filter(|m| is_manifest_media_type(m))
            .map(str::to_owned);
        match (digest, size, media_type) {
            (Some(digest), Some(size), Some(media_type)) => Ok(Some(Descriptor { digest, media_type, size })),
            _ => Ok(self.manifest(repo, reference).await?.map(|m| Descriptor {
                digest: m.digest,
                media_type: m.media_type,
                size: m.bytes.len() as u64,
            })),
        }
    }

    /// Stores a manifest under `reference` (a tag, or its digest).
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<(), RemoteError> {
        self.put_manifest_with(repo, reference, media_type, bytes, &[]).await
    }

    /// [`Remote::put_manifest`] with `extra` headers on this request only (a replicating Berth
    /// says when the change it copies was made).
    pub async fn put_manifest_with(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
        extra: &[(&str, String)],
    ) -> Result<(), RemoteError> {
        let repo = repo_name(repo)?;
        let reference = parse_reference(reference)?;
        let content_type =
            HeaderValue::from_str(media_type).map_err(|_| invalid(format!("bad media type {media_type:?}")))?;
        let extra = extra_headers(extra)?;
        let url = self.endpoint(&format!("/v2/{repo}/manifests/{}", reference_str(&reference)))?;
        let resp = self
            .send(&[push_scope(&repo)], || {
                self.request(Method::PUT, url.clone())
                    .headers(extra.clone())
                    .header(header::CONTENT_TYPE, content_type.clone())
                    .body(bytes.clone())
            })
            .await?;
        ok(resp).await.map(drop)
    }

    /// Deletes the manifest `reference` points to; `false` if there was none.
    pub async fn delete_manifest(&self, repo: &str, reference: &str) -> Result<bool, RemoteError> {
        self.delete_manifest_with(repo, reference, &[]).await
    }

    /// [`Remote::delete_manifest`] with `extra` headers on this request only.
    pub async fn delete_manifest_with(
        &self,
        repo: &str,
        reference: &str,
        extra: &[(&str, String)],
    ) -> Result<bool, RemoteError> {
        let repo = repo_name(repo)?;
        let reference = parse_reference(reference)?;
        let extra = extra_headers(extra)?;
        let url = self.endpoint(&format!("/v2/{repo}/manifests/{}", reference_str(&reference)))?;
        let delete = |scope: String| {
            let (url, extra) = (url.clone(), extra.clone());
            async move { self.send(&[scope], || self.request(Method::DELETE, url.clone()).headers(extra.clone())).await }
        };
        // Berth and Harbor grant deletes as the `delete` action; token services that predate it
        // (distribution's own examples) know only `*`.
        let mut resp = delete(format!("repository:{repo}:delete")).await?;
        if matches!(resp.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) && self.uses_tokens() {
            resp = delete(format!("repository:{repo}:*")).await?;
        }
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        ok(resp).await.map(|_| true)
    }

    /// The size of a blob, or `None` if the repository does not have it.
    pub async fn blob_size(&self, repo: &str, digest: &str) -> Result<Option<u64>, RemoteError> {
        let repo = repo_name(repo)?;
        let digest = parse_digest(digest)?;
        let url = self.endpoint(&format!("/v2/{repo}/blobs/{digest}"))?;
        let scopes = [pull_scope(&repo)];
        let resp = self.send(&scopes, || self.request(Method::HEAD, url.clone())).await?;
        let resp = self.follow(resp, &scopes, Method::HEAD, HeaderMap::new()).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = ok(resp).await?;
        content_length(&resp).map(Some).ok_or_else(|| invalid(format!("no Content-Length for blob {digest}")))
    }

    /// A blob's bytes from `offset` on, or `None` if the repository does not have it. Redirects
    /// (to presigned storage URLs) are followed without the registry's credentials.
    pub async fn blob(&self, repo: &str, digest: &str, offset: u64) -> Result<Option<BlobStream>, RemoteError> {
        let repo = repo_name(repo)?;
        let digest = parse_digest(digest)?;
        let url = self.endpoint(&format!("/v2/{repo}/blobs/{digest}"))?;
        let scopes = [pull_scope(&repo)];
        let mut range = HeaderMap::new();
        if offset > 0 {
            range.insert(header::RANGE, HeaderValue::from_str(&format!("bytes={offset}-")).expect("ASCII"));
        }
        let resp = self.send(&scopes, || self.request(Method::GET, url.clone()).headers(range.clone())).await?;
        let resp = self.follow(resp, &scopes, Method::GET, range).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = ok(resp).await?;
        let full = resp.status() == StatusCode::OK;
        let length = content_length(&resp);
        let stream = resp.bytes_stream().map(|r| r.map_err(RemoteError::from)).boxed();
        if offset > 0 && full {
            // The registry (or its storage) ignored the Range: the bytes before it are dropped here.
            let size = length.map(|n| n.saturating_sub(offset));
            return Ok(Some(BlobStream { size, stream: skip(stream, offset) }));
        }
        Ok(Some(BlobStream { size: length, stream }))
    }

    /// Makes the blob `digest` of repository `from` available in `repo` without copying it.
    /// `false` when the registry cannot (it then opened an upload, which is cancelled).
    pub async fn mount_blob(&self, repo: &str, digest: &str, from: &str) -> Result<bool, RemoteError> {
        let repo = repo_name(repo)?;
        let digest = parse_digest(digest)?;
        let from = repo_name(from)?;
        let mut url = self.endpoint(&format!("/v2/{repo}/blobs/uploads/"))?;
        url.query_pairs_mut().append_pair("mount", &digest.to_string()).append_pair("from", &from);
        let scopes = [push_scope(&repo), pull_scope(&from)];
        let resp = self.send(&scopes, || self.request(Method::POST, url.clone())).await?;
        match resp.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => {
                let location = self.location(&resp)?;
                self.cancel_upload(&scopes, location).await;
                Ok(false)
            }
            _ => Err(from_response(resp).await),
        }
    }

    /// Uploads blob `digest` of `size` bytes; `open(offset)` gives its bytes from `offset` on.
    /// The blob goes in chunks of [`CHUNK_SIZE`], each one streaming request; after a failure the
    /// upload resumes from the offset the registry acknowledges (calling `open` again), a bounded
    /// number of times, or starts over if the registry lost the upload. The registry verifies
    /// the digest when the upload completes.
    pub async fn push_blob<F, Fut>(&self, repo: &str, digest: &str, size: u64, open: F) -> Result<(), RemoteError>
    where
        F: FnMut(u64) -> Fut,
        Fut: Future<Output = Result<BoxStream<'static, Result<Bytes, RemoteError>>, RemoteError>>,
    {
        let repo = repo_name(repo)?;
        let digest = parse_digest(digest)?;
        upload::push(self, &repo, &digest, size, open).await
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

    // --- requests ---

    fn endpoint(&self, path: &str) -> Result<Url, RemoteError> {
        self.inner.base.join(path).map_err(|e| invalid(format!("bad path {path:?}: {e}")))
    }

    /// A request with the configured extra headers when it goes to the registry itself.
    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let same = same_origin(&url, &self.inner.base);
        let builder = self.inner.client.request(method, url);
        if same { builder.headers(self.inner.headers.clone()) } else { builder }
    }

    fn uses_tokens(&self) -> bool {
        matches!(self.inner.auth.lock().expect("auth lock").challenge, Some(Challenge::Bearer { .. }))
    }

    /// Sends a request that can be rebuilt: authenticated as far as known; after a 401 the
    /// challenge is learnt (or the stale token dropped) and the request sent once more. A 401
    /// that remains is returned as a response for the caller to map.
    async fn send(&self, scopes: &[String], build: impl Fn() -> RequestBuilder) -> Result<Response, RemoteError> {
        let resp = self.authorize(build(), scopes).await?.send().await?;
        if resp.status() != StatusCode::UNAUTHORIZED || !self.learn(&resp, scopes) {
            return Ok(resp);
        }
        Ok(self.authorize(build(), scopes).await?.send().await?)
    }

    /// Sends a request whose body cannot be replayed (a blob stream); on a 401 the token is
    /// dropped so the next request fetches a new one, and the 401 is returned.
    async fn send_once(&self, scopes: &[String], builder: RequestBuilder) -> Result<Response, RemoteError> {
        let resp = self.authorize(builder, scopes).await?.send().await?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            self.learn(&resp, scopes);
        }
        Ok(resp)
    }

    /// Records what a 401 says. Returns whether a second attempt can authenticate differently.
    fn learn(&self, resp: &Response, scopes: &[String]) -> bool {
        let values = resp.headers().get_all(header::WWW_AUTHENTICATE).iter().filter_map(|v| v.to_str().ok());
        let Some(challenge) = parse_challenges(values) else { return false };
        let mut auth = self.inner.auth.lock().expect("auth lock");
        let known = auth.challenge.as_ref() == Some(&challenge);
        let retry = match &challenge {
            // Basic credentials sent already were refused; none to send, nothing to try.
            Challenge::Basic => !known && self.inner.credential.is_some(),
            // A fresh token may carry what the cached one lacked (expired, revoked, other scope).
            Challenge::Bearer { .. } => {
                let had_token = auth.token(&scopes.join(" ")).is_some();
                auth.forget(&scopes.join(" "));
                !known || had_token
            }
        };
        auth.challenge = Some(challenge);
        retry
    }

    /// Adds the Authorization the registry expects, fetching a token when needed.
    async fn authorize(&self, builder: RequestBuilder, scopes: &[String]) -> Result<RequestBuilder, RemoteError> {
        let key = scopes.join(" ");
        let (challenge, cached) = {
            let auth = self.inner.auth.lock().expect("auth lock");
            (auth.challenge.clone(), auth.token(&key))
        };
        match challenge {
            None => Ok(builder),
            Some(Challenge::Basic) => Ok(match &self.inner.credential {
                Some(c) => builder.basic_auth(&c.username, Some(&c.password)),
                None => builder,
            }),
            Some(Challenge::Bearer { realm, service }) => {
                let token = match cached {
                    Some(t) => t,
                    None => self.fetch_token(realm, service, scopes, key).await?,
                };
                Ok(builder.bearer_auth(token))
            }
        }
    }

    /// GET realm?service=..&scope=.. (distribution token spec), with Basic credentials where
    /// they may go, and caches the token for its lifetime.
    async fn fetch_token(
        &self,
        mut realm: Url,
        service: Option<String>,
        scopes: &[String],
        key: String,
    ) -> Result<String, RemoteError> {
        {
            let mut query = realm.query_pairs_mut();
            if let Some(service) = &service {
                query.append_pair("service", service);
            }
            for scope in scopes {
                query.append_pair("scope", scope);
            }
        }
        let mut builder = self.request(Method::GET, realm.clone());
        if let Some(c) = &self.inner.credential
            && may_send_credentials(&realm, &self.inner.base)
        {
            builder = builder.basic_auth(&c.username, Some(&c.password));
        }
        let resp = builder.send().await?;
        if !resp.status().is_success() {
            return Err(match from_response(resp).await {
                RemoteError::Unauthorized(m) => RemoteError::Unauthorized(format!("token service: {m}")),
                other => other,
            });
        }
        let body = resp.bytes().await?;
        let parsed: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| invalid(format!("token service answer: {e}")))?;
        let (token, lifetime) = parsed.into_token().ok_or_else(|| invalid("token service sent no token"))?;
        self.inner.auth.lock().expect("auth lock").store(key, token.clone(), lifetime);
        Ok(token)
    }

    /// Follows the redirects of a GET or HEAD. The registry's Authorization and extra headers
    /// go only to the registry's own origin; `keep` (Accept, Range) go everywhere.
    async fn follow(
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
    fn location(&self, resp: &Response) -> Result<Url, RemoteError> {
        let location = header_str(resp, header::LOCATION.as_str())
            .ok_or_else(|| invalid(format!("{} without Location", resp.status())))?;
        resp.url().join(location).map_err(|e| invalid(format!("bad Location {location:?}: {e}")))
    }

    /// Cancels an upload session, best effort: the registry expires abandoned ones anyway.
    async fn cancel_upload(&self, scopes: &[String], location: Url) {
        if same_origin(&location, &self.inner.base) {
            let _ = self.send(scopes, || self.request(Method::DELETE, location.clone())).await;
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

/// The registry's root URL, refusing anything but `http(s)://host[:port]`.
fn parse_base(url: &str) -> Result<Url, RemoteError> {
    let parsed = Url::parse(url.trim()).map_err(|e| invalid(format!("registry URL {url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(format!("registry URL {url:?} must start with http:// or https://")));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid(format!("registry URL {url:?} has no host")));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(format!("registry URL {url:?} must not carry credentials; set them apart")));
    }
    if parsed.path() != "/" || parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid(format!("registry URL {url:?} must be scheme://host[:port] without a path")));
    }
    Ok(parsed)
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme() && a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default()
}

fn repo_name(repo: &str) -> Result<String, RemoteError> {
    RepoName::parse(repo).map(|r| r.as_str().to_owned()).map_err(|e| invalid(format!("repository {repo:?}: {e}")))
}

fn parse_digest(digest: &str) -> Result<Digest, RemoteError> {
    digest.parse().map_err(|e| invalid(format!("digest {digest:?}: {e}")))
}

fn parse_reference(reference: &str) -> Result<Reference, RemoteError> {
    Reference::parse(reference).map_err(|e| invalid(format!("reference {reference:?}: {e}")))
}

fn reference_str(reference: &Reference) -> String {
    match reference {
        Reference::Tag(t) => t.to_string(),
        Reference::Digest(d) => d.to_string(),
    }
}

fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

fn header_str<'a>(resp: &'a Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

fn content_length(resp: &Response) -> Option<u64> {
    header_str(resp, header::CONTENT_LENGTH.as_str()).and_then(|v| v.parse().ok())
}

fn extra_headers(extra: &[(&str, String)]) -> Result<HeaderMap, RemoteError> {
    let mut headers = HeaderMap::new();
    for (name, value) in extra {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid(format!("bad header name {name:?}")))?;
        let value = HeaderValue::from_str(value).map_err(|_| invalid(format!("bad value for header {name}")))?;
        headers.insert(name, value);
    }
    Ok(headers)
}

/// The response itself when successful, else its error.
async fn ok(resp: Response) -> Result<Response, RemoteError> {
    if resp.status().is_success() { Ok(resp) } else { Err(from_response(resp).await) }
}

fn is_manifest_media_type(m: &str) -> bool {
    matches!(m, OCI_MANIFEST | OCI_INDEX | DOCKER_MANIFEST | DOCKER_MANIFEST_LIST)
}

/// The manifest's media type: the Content-Type, unless it is a generic one (some registries
/// serve `application/json`), then the `mediaType` the manifest declares.
fn manifest_media_type(content_type: Option<&str>, bytes: &[u8]) -> Result<String, RemoteError> {
    let header = content_type.map(berth_oci::manifest::bare_media_type).unwrap_or("");
    if !header.is_empty() && header != "application/json" && header != "text/plain" {
        return Ok(header.to_owned());
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Declared {
        media_type: Option<String>,
    }
    serde_json::from_slice::<Declared>(bytes)
        .ok()
        .and_then(|d| d.media_type)
        .ok_or_else(|| invalid("manifest has no media type"))
}

/// Reads a manifest body, refusing more than a manifest may be.
async fn read_manifest(mut resp: Response) -> Result<Bytes, RemoteError> {
    let max = berth_oci::manifest::MAX_MANIFEST_SIZE;
    if content_length(&resp).is_some_and(|n| n > max as u64) {
        return Err(invalid(format!("manifest larger than {max} bytes")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > max {
            return Err(invalid(format!("manifest larger than {max} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// `stream` without its first `n` bytes.
fn skip(
    stream: BoxStream<'static, Result<Bytes, RemoteError>>,
    n: u64,
) -> BoxStream<'static, Result<Bytes, RemoteError>> {
    futures_util::stream::unfold((stream, n), |(mut stream, mut left)| async move {
        loop {
            let mut bytes = match stream.next().await? {
                Ok(bytes) => bytes,
                Err(e) => return Some((Err(e), (stream, left))),
            };
            if left >= bytes.len() as u64 {
                left -= bytes.len() as u64;
                continue;
            }
            let rest = bytes.split_off(left as usize);
            return Some((Ok(rest), (stream, 0)));
        }
    })
    .boxed()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_forms() {
        assert_eq!(parse_base("https://reg.example.com").unwrap().as_str(), "https://reg.example.com/");
        assert_eq!(parse_base("http://127.0.0.1:5000/").unwrap().as_str(), "http://127.0.0.1:5000/");
        for bad in ["reg.example.com", "ftp://h", "http://h/v2", "http://u:p@h", "http://h?x=1", "http://", ""] {
            assert!(matches!(parse_base(bad), Err(RemoteError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn media_type_from_header_or_body() {
        assert_eq!(
            manifest_media_type(Some("application/vnd.oci.image.index.v1+json; charset=utf-8"), b"").unwrap(),
            OCI_INDEX
        );
        let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#;
        assert_eq!(manifest_media_type(Some("application/json"), body).unwrap(), DOCKER_MANIFEST);
        assert!(manifest_media_type(None, b"{}").is_err());
    }
}
