use std::sync::Arc;

use berth_meta::Meta;
use berth_storage::BlobStore;

use crate::access::Access;
use crate::audit::Recorder;

/// What every `/v2/` handler shares. Cheap to clone.
#[derive(Clone)]
pub struct RegistryState {
    pub meta: Meta,
    pub store: BlobStore,
    pub access: Access,
    pub(crate) recorder: Recorder,
    /// Answer blob downloads with a redirect to the store (S3 presigned URLs).
    pub(crate) redirect_blobs: bool,
    /// Prefix of `Location` headers: the externally visible URL, or empty for relative ones.
    external_url: Arc<str>,
    /// Pull-through caching for proxy-cache projects, when endpoints can be reached.
    pub(crate) proxy: Option<Arc<crate::proxy::Proxy>>,
}

impl RegistryState {
    /// Must be called on a Tokio runtime: it starts the audit writer.
    pub fn new(
        meta: Meta,
        store: BlobStore,
        access: Access,
        external_url: Option<&str>,
        redirect_blobs: bool,
    ) -> RegistryState {
        RegistryState {
            recorder: Recorder::start(meta.clone()),
            meta,
            store,
            access,
            redirect_blobs,
            external_url: external_url.unwrap_or("").trim_end_matches('/').into(),
            proxy: None,
        }
    }

    /// Serves proxy-cache projects from the registry endpoints `upstreams` reaches.
    pub fn with_upstreams(mut self, upstreams: Arc<dyn crate::Upstreams>) -> RegistryState {
        self.proxy = Some(Arc::new(crate::proxy::Proxy::new(upstreams)));
        self
    }

    /// Writes the pull events still queued. For a graceful shutdown: once the server has
    /// stopped, before the database closes.
    pub async fn close(&self) {
        self.recorder.close().await;
    }

    /// The content as Berth itself writes it.
    pub fn local(&self) -> crate::Local {
        crate::Local::new(self.meta.clone(), self.store.clone())
    }

    /// A `Location` value for `path` (which starts with `/v2/`).
    pub(crate) fn location(&self, path: &str) -> String {
        format!("{}{}", self.external_url, path)
    }
}
