//! Registry endpoints as the proxy cache's upstreams: a proxy-cache project fetches through the
//! client of its endpoint, with the endpoint's stored credentials.

use berth_content::{UpstreamError, Upstreams};
use berth_remote::Remote;
use futures_util::future::BoxFuture;

use crate::Endpoints;

impl Upstreams for Endpoints {
    fn upstream(&self, registry_id: i64) -> BoxFuture<'_, Result<Remote, UpstreamError>> {
        Box::pin(async move {
            let (_, remote) = self.remote_by_id(registry_id).await?;
            Ok(remote)
        })
    }
}
