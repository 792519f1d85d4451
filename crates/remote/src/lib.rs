//! A client for a remote OCI distribution registry (CNCF distribution, Harbor, another Berth):
//! what replication and the pull-through proxy cache need to read and write its content.
//!
//! Requests start anonymous; the first 401 tells how the registry authenticates (Basic, or Bearer
//! tokens from a token service) and later requests authenticate up front. Blobs stream both ways;
//! nothing but manifests (at most 4 MiB) is held in memory.

mod auth;
mod blobs;
mod error;
mod harbor;
mod http;
mod listing;
mod manifests;
mod names;
mod throttle;
mod upload;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};

use crate::auth::AuthState;
pub use crate::error::RemoteError;
use crate::error::invalid;
use crate::http::ok;
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
}

/// The origin (scheme, host and port) of registry URL `url`: what a credential is given for.
pub fn origin(url: &str) -> Result<String, RemoteError> {
    Ok(parse_base(url)?.origin().ascii_serialization())
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
}
