//! Proxy-cache projects: a project created with a registry endpoint is a pull-through cache of
//! it. Repository `<project>/<rest>` is the endpoint's repository `<rest>`.
//!
//! - Manifests by tag are checked for freshness with a HEAD upstream on every pull; a new or moved
//!   tag is fetched and stored. By digest they are immutable: served from the cache when present.
//!   An index is stored alone; its children are fetched when clients ask for them by digest.
//! - Manifests are stored before their blobs (`Check::Nothing`: the "every referenced blob is
//!   here" check is skipped for proxy projects only); blobs are cached as they
//!   are pulled, each counted against the project's quota when it is linked.
//! - A blob missing from the cache is fetched once per instance however many clients ask at once
//!   (single flight keyed by repository and digest): a spawned task streams it into storage and,
//!   at the same time, to the first client; the others wait and then read the cache. The fill
//!   completes even if the first client goes away. The digest is verified before the blob becomes
//!   visible, and the first client's last bytes are held back until it is, so a corrupt upstream
//!   blob ends that client's response with an error rather than a complete body.
//! - When the upstream is down, times out, fails or answers 429, cached content is still served.
//! - Pushes and deletes in a proxy project are refused (403 DENIED, as Harbor does).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;
use berth_content::{Actor, Check, Content, Storing, Upstreams};
use berth_meta::ManifestRow;
use berth_oci::{Digest, Reference, RepoName};
use berth_remote::{Remote, RemoteError};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot, watch};

use crate::call::Call;
use crate::error::RegistryError;
use crate::state::RegistryState;

/// How long a client of an endpoint is reused (it keeps its connections and tokens); a changed
/// endpoint is seen after at most this long.
const CLIENT_TTL: Duration = Duration::from_secs(60);

/// How long whether a project is a proxy cache is remembered for pulls: a project's `registry_id`
/// never changes, so this only delays noticing a project deleted and created again under the same
/// name, while sparing every pull by tag a query. Pushes and deletes always ask the database.
const PROJECT_TTL: Duration = Duration::from_secs(10);
/// Projects remembered at most (the map is emptied when full).
const MAX_CACHED_PROJECTS: usize = 10_000;

/// Chunks in flight between the upstream and storage, and between the upstream and the first
/// client: memory per fill stays at a few chunks whatever the blob's size.
const CHANNEL_CHUNKS: usize = 8;

/// The outcome of a blob fill, as the clients waiting for it learn it.
#[derive(Clone, Debug)]
enum Filled {
    Stored,
    NotFound,
    Failed(String),
}

/// Proxy-cache state of one instance.
pub(crate) struct Proxy {
    upstreams: Arc<dyn Upstreams>,
    clients: Mutex<HashMap<i64, (Remote, Instant)>>,
    /// Each project's `registry_id` (`None`: not a proxy cache), as of when it was read.
    projects: Mutex<HashMap<String, (Option<i64>, Instant)>>,
    /// Blob fills in progress, by `repository@digest`.
    fills: Arc<Mutex<HashMap<String, watch::Receiver<Option<Filled>>>>>,
}

impl Proxy {
    pub(crate) fn new(upstreams: Arc<dyn Upstreams>) -> Proxy {
        Proxy { upstreams, clients: Mutex::default(), projects: Mutex::default(), fills: Arc::default() }
    }

    async fn remote(&self, registry_id: i64) -> Result<Remote, RegistryError> {
        if let Some((remote, at)) = self.clients.lock().expect("lock").get(&registry_id)
            && at.elapsed() < CLIENT_TTL
        {
            return Ok(remote.clone());
        }
        let remote = self.upstreams.upstream(registry_id).await.map_err(|e| {
            tracing::warn!(registry_id, error = %e, "proxy cache: no client for the registry endpoint");
            unavailable(format!("the upstream registry of this proxy cache project cannot be used: {e}"))
        })?;
        self.clients.lock().expect("lock").insert(registry_id, (remote.clone(), Instant::now()));
        Ok(remote)
    }
}

/// The endpoint project of `name` is a cache of, if it is a proxy-cache project (and this
/// instance can reach endpoints at all).
pub(crate) async fn registry_of(state: &RegistryState, name: &RepoName) -> Result<Option<i64>, RegistryError> {
    let Some(proxy) = &state.proxy else {
        return Ok(None);
    };
    let project = name.project();
    if let Some((registry, at)) = proxy.projects.lock().expect("lock").get(project)
        && at.elapsed() < PROJECT_TTL
    {
        return Ok(*registry);
    }
    let registry = state.content.meta().project_registry_id(project).await?;
    let mut projects = proxy.projects.lock().expect("lock");
    if projects.len() >= MAX_CACHED_PROJECTS {
        projects.clear();
    }
    projects.insert(project.to_owned(), (registry, Instant::now()));
    Ok(registry)
}

/// Refuses a push or delete in a proxy-cache project.
pub(crate) async fn refuse_changes(state: &RegistryState, name: &RepoName) -> Result<(), RegistryError> {
    // Checked whether or not this instance has upstreams: a proxy project is one regardless.
    if state.content.meta().project_registry_id(name.project()).await?.is_some() {
        return Err(RegistryError::new(
            StatusCode::FORBIDDEN,
            "DENIED",
            format!(
                "can not push artifact to a proxy project: {} is a proxy cache project; pushes and deletes are not allowed",
                name.project()
            ),
        ));
    }
    Ok(())
}

fn unavailable(message: String) -> RegistryError {
    RegistryError::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", message)
}

fn upstream_failed(what: &str, e: &RemoteError) -> RegistryError {
    match e {
        RemoteError::TooManyRequests { .. } => RegistryError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TOOMANYREQUESTS",
            format!("the upstream registry refuses {what} for now (429) and it is not cached"),
        ),
        e => unavailable(format!("the upstream registry failed for {what} and it is not cached: {e}")),
    }
}

/// Manifest `reference` of proxy repository `name`, with `cached` the cache's copy if any:
/// fresh from upstream (and stored), or the cache's when it is still current or the upstream
/// cannot tell. `None` when neither has it.
pub(crate) async fn manifest(
    state: &RegistryState,
    call: &Call,
    registry_id: i64,
    name: &RepoName,
    reference: &Reference,
    cached: Option<ManifestRow>,
) -> Result<Option<ManifestRow>, RegistryError> {
    let proxy = state.proxy.as_ref().expect("called for proxy projects only");
    let upstream = name.without_project();
    let remote = match proxy.remote(registry_id).await {
        Ok(r) => r,
        Err(e) => return cached.map(Some).ok_or(e),
    };
    let reference_str = match reference {
        Reference::Tag(t) => t.as_str().to_owned(),
        Reference::Digest(d) => d.to_string(),
    };
    if let Reference::Tag(tag) = reference {
        match remote.head_manifest(upstream, tag.as_str()).await {
            Ok(Some(d)) if cached.as_ref().is_some_and(|c| c.digest == d.digest) => return Ok(cached),
            Ok(Some(_)) => {}
            Ok(None) => {
                // Gone upstream: so is the cached tag (its manifest stays, by digest), as in Harbor.
                if cached.is_some()
                    && let Err(e) = state.content.delete_manifest(name, reference, &filler(call), None).await
                {
                    tracing::warn!(repository = %name, tag = tag.as_str(), error = %e, "proxy cache: removing a tag gone upstream");
                }
                return Ok(None);
            }
            Err(e) => {
                return match cached {
                    Some(c) => {
                        tracing::warn!(repository = %name, tag = tag.as_str(), error = %e, "proxy cache: upstream unavailable, serving the cached manifest");
                        Ok(Some(c))
                    }
                    None => Err(upstream_failed(&format!("{name}:{tag}"), &e)),
                };
            }
        }
    }
    let fetched = match remote.manifest(upstream, &reference_str).await {
        Ok(Some(m)) => m,
        Ok(None) => return Ok(None),
        Err(e) => {
            return match cached {
                Some(c) => {
                    tracing::warn!(repository = %name, reference = reference_str, error = %e, "proxy cache: upstream unavailable, serving the cached manifest");
                    Ok(Some(c))
                }
                None => Err(upstream_failed(&format!("{name}:{reference_str}"), &e)),
            };
        }
    };
    let how = Storing { check: Check::Nothing, stamp: None };
    let media_type = Some(fetched.media_type.as_str());
    if let Err(e) = state.content.store_manifest(name, reference, &fetched.bytes, media_type, how, &filler(call)).await
    {
        // Served anyway (e.g. past the project's quota), just not cached.
        tracing::warn!(repository = %name, reference = reference_str, error = %e, "proxy cache: manifest not cached");
    }
    let repository_id = state.content.meta().ensure_repository(name.as_str()).await?;
    Ok(Some(ManifestRow {
        repository_id,
        digest: fetched.digest,
        media_type: fetched.media_type,
        content: fetched.bytes.to_vec(),
    }))
}

/// Who a cache fill is recorded as: the client whose pull caused it, so the audit log tells who
/// brought the content in (and not a replicated change: the content comes from upstream).
fn filler(call: &Call) -> Actor {
    Actor { origin: None, ..call.actor.clone() }
}

/// What a pull of a blob missing from a proxy repository's cache comes to.
pub(crate) enum BlobOutcome {
    /// Now in the cache, of this size: serve it from there.
    Cached(u64),
    /// The response is ready (the first client's streamed fill, or a HEAD's answer).
    Response(Response),
}

/// Blob `digest` of proxy repository `name`, not in its cache.
pub(crate) async fn blob(
    state: &RegistryState,
    registry_id: i64,
    name: &RepoName,
    digest: &Digest,
    with_body: bool,
) -> Result<BlobOutcome, RegistryError> {
    let proxy = state.proxy.as_ref().expect("called for proxy projects only");
    let upstream = name.without_project().to_owned();
    let digest_str = digest.to_string();
    let remote = proxy.remote(registry_id).await?;
    // Held elsewhere in this registry: linked here once the upstream confirms it has it too (so
    // a digest never reveals another project's content), without copying.
    if state.content.meta().blob_size(&digest_str).await?.is_some()
        && remote.blob_size(&upstream, &digest_str).await.map_err(|e| upstream_failed(&digest_str, &e))?.is_some()
        && state.content.mount_blob(name, &digest_str).await?
        && let Some(size) = state.content.blob_size(name.as_str(), &digest_str).await?
    {
        return Ok(BlobOutcome::Cached(size));
    }
    if !with_body {
        let size = remote
            .blob_size(&upstream, &digest_str)
            .await
            .map_err(|e| upstream_failed(&digest_str, &e))?
            .ok_or_else(|| RegistryError::blob_unknown(&digest_str))?;
        let mut response = Response::new(Body::empty());
        blob_headers(&mut response, digest, Some(size));
        return Ok(BlobOutcome::Response(response));
    }

    let key = format!("{name}@{digest_str}");
    let (waiting, first) = {
        let mut fills = proxy.fills.lock().expect("lock");
        match fills.get(&key) {
            Some(rx) => (Some(rx.clone()), None),
            None => {
                let (tx, rx) = watch::channel(None);
                fills.insert(key.clone(), rx);
                (None, Some(tx))
            }
        }
    };
    if let Some(mut rx) = waiting {
        let outcome = rx.wait_for(Option::is_some).await.map(|o| o.clone()).ok().flatten();
        return match outcome {
            Some(Filled::Stored) => match state.content.blob_size(name.as_str(), &digest_str).await? {
                Some(size) => Ok(BlobOutcome::Cached(size)),
                None => Err(unavailable(format!("blob {digest_str} was fetched but is not in the cache"))),
            },
            Some(Filled::NotFound) => Err(RegistryError::blob_unknown(&digest_str)),
            Some(Filled::Failed(e)) => Err(unavailable(format!("fetching blob {digest_str} upstream failed: {e}"))),
            None => Err(unavailable(format!("fetching blob {digest_str} upstream was interrupted"))),
        };
    }
    let done = first.expect("either waiting or first");
    let (start_tx, start_rx) = oneshot::channel();
    let fill = Fill {
        content: state.content.clone(),
        remote,
        upstream,
        name: name.clone(),
        digest: digest.clone(),
        fills: proxy.fills.clone(),
        key,
    };
    // Spawned: the fill completes even if this client goes away.
    tokio::spawn(fill.run(done, start_tx));
    match start_rx.await {
        Ok(Ok((size, rx))) => {
            let body = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
            let mut response = Response::new(Body::from_stream(body));
            blob_headers(&mut response, digest, size);
            Ok(BlobOutcome::Response(response))
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(unavailable(format!("fetching blob {digest_str} upstream was interrupted"))),
    }
}

fn blob_headers(response: &mut Response, digest: &Digest, size: Option<u64>) {
    let h = response.headers_mut();
    if let Some(size) = size {
        h.insert(header::CONTENT_LENGTH, size.into());
    }
    h.insert(header::CONTENT_TYPE, "application/octet-stream".parse().expect("static"));
    h.insert("docker-content-digest", digest.to_string().parse().expect("digest is a header value"));
    h.insert(header::ETAG, format!("\"{digest}\"").parse().expect("digest is a header value"));
}

type ClientChunks = mpsc::Receiver<Result<Bytes, std::io::Error>>;
type Start = Result<(Option<u64>, ClientChunks), RegistryError>;

/// One blob's fill from upstream into the cache, teeing its bytes to the first client.
struct Fill {
    content: Content,
    remote: Remote,
    upstream: String,
    name: RepoName,
    digest: Digest,
    fills: Arc<Mutex<HashMap<String, watch::Receiver<Option<Filled>>>>>,
    key: String,
}

impl Fill {
    async fn run(self, done: watch::Sender<Option<Filled>>, start: oneshot::Sender<Start>) {
        let outcome = self.copy(start).await;
        if let Filled::Failed(e) = &outcome {
            tracing::warn!(repository = %self.name, digest = %self.digest, error = e, "proxy cache: blob fill failed");
        }
        // Out of the map first: a request arriving after this finds the blob cached (or starts
        // a new fill after a failure).
        self.fills.lock().expect("lock").remove(&self.key);
        let _ = done.send(Some(outcome));
    }

    async fn copy(&self, start: oneshot::Sender<Start>) -> Filled {
        let digest = self.digest.to_string();
        let source = match self.remote.blob(&self.upstream, &digest, 0).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                let _ = start.send(Err(RegistryError::blob_unknown(&digest)));
                return Filled::NotFound;
            }
            Err(e) => {
                let _ = start.send(Err(upstream_failed(&digest, &e)));
                return Filled::Failed(e.to_string());
            }
        };
        let (client_tx, client_rx) = mpsc::channel(CHANNEL_CHUNKS);
        let mut client = start.send(Ok((source.size, client_rx))).is_ok().then_some(client_tx);

        let (store_tx, store_rx) = mpsc::channel::<Result<Bytes, String>>(CHANNEL_CHUNKS);
        let writer = {
            let (content, name, digest) = (self.content.clone(), self.name.clone(), self.digest.clone());
            tokio::spawn(async move {
                let body =
                    futures_util::stream::unfold(store_rx, |mut rx| async move { rx.recv().await.map(|i| (i, rx)) });
                content.write_blob(&name, &digest, Box::pin(body)).await
            })
        };
        let mut stream = source.stream;
        // The last chunk goes to the client only once the digest is verified.
        let mut held: Option<Bytes> = None;
        let mut failure = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => {
                    if store_tx.send(Ok(chunk.clone())).await.is_err() {
                        break; // the writer stopped: its result says why
                    }
                    if let Some(previous) = held.replace(chunk)
                        && let Some(c) = &client
                        && c.send(Ok(previous)).await.is_err()
                    {
                        client = None; // gone; the fill goes on
                    }
                }
                Err(e) => {
                    failure = Some(e.to_string());
                    let _ = store_tx.send(Err(e.to_string())).await;
                    break;
                }
            }
        }
        drop(store_tx);
        let written = writer.await;
        let outcome = match (failure, written) {
            (Some(e), _) => Filled::Failed(format!("reading from upstream: {e}")),
            (None, Ok(Ok(_))) => Filled::Stored,
            (None, Ok(Err(e))) => Filled::Failed(format!("storing: {e}")),
            (None, Err(e)) => Filled::Failed(format!("writer task: {e}")),
        };
        if let Some(c) = client {
            let last = match &outcome {
                Filled::Stored => held.map(Ok),
                Filled::Failed(e) => Some(Err(std::io::Error::other(e.clone()))),
                Filled::NotFound => None,
            };
            if let Some(last) = last {
                let _ = c.send(last).await;
            }
        }
        outcome
    }
}
