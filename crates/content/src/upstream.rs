//! Where a proxy-cache project fetches its content: a client of the registry endpoint it caches.
//! Implemented by replication's endpoints, which open the stored credentials; the `/v2/`
//! handlers ask through this trait, so they need not know how endpoints are stored.

use berth_remote::Remote;
use futures_util::future::BoxFuture;

/// Why an upstream client could not be made.
pub type UpstreamError = Box<dyn std::error::Error + Send + Sync>;

/// Clients of registry endpoints, by id.
pub trait Upstreams: Send + Sync {
    fn upstream(&self, registry_id: i64) -> BoxFuture<'_, Result<Remote, UpstreamError>>;
}
