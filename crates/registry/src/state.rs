use std::sync::Arc;

use berth_auth::Auth;
use berth_content::{Content, PullRecorder, Upstreams};

use crate::access::Access;

/// How this registry answers, from the configuration.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// The externally visible URL (token realm, `Location` headers); `None`: what the client used.
    pub external_url: Option<String>,
    /// Answer blob downloads with a redirect to the store (S3 presigned URLs).
    pub redirect_blobs: bool,
}

/// What every `/v2/` handler shares. Cheap to clone.
#[derive(Clone)]
pub struct RegistryState {
    pub(crate) content: Content,
    pub(crate) access: Access,
    pub(crate) pulls: PullRecorder,
    pub(crate) redirect_blobs: bool,
    /// Prefix of `Location` headers: the externally visible URL, or empty for relative ones.
    external_url: Arc<str>,
    /// Pull-through caching for proxy-cache projects, when endpoints can be reached.
    pub(crate) proxy: Option<Arc<crate::proxy::Proxy>>,
}

impl RegistryState {
    /// Must be called on a Tokio runtime: it starts the pull event writer.
    pub fn new(content: Content, auth: Arc<Auth>, options: RegistryOptions) -> RegistryState {
        let external_url = options.external_url.as_deref();
        RegistryState {
            pulls: PullRecorder::start(content.meta().clone()),
            access: Access::new(auth, external_url),
            content,
            redirect_blobs: options.redirect_blobs,
            external_url: external_url.unwrap_or("").trim_end_matches('/').into(),
            proxy: None,
        }
    }

    /// Serves proxy-cache projects from the registry endpoints `upstreams` reaches.
    pub fn with_upstreams(mut self, upstreams: Arc<dyn Upstreams>) -> RegistryState {
        self.proxy = Some(Arc::new(crate::proxy::Proxy::new(upstreams)));
        self
    }

    /// Writes the pull events still queued. For a graceful shutdown: once the server has
    /// stopped, before the database closes.
    pub async fn close(&self) {
        self.pulls.close().await;
    }

    /// A `Location` value for `path` (which starts with `/v2/`).
    pub(crate) fn location(&self, path: &str) -> String {
        format!("{}{}", self.external_url, path)
    }
}
