//! Content: what it means for this registry to hold blobs, upload sessions and manifests with
//! their tags, and to record who changed or pulled them. No HTTP here: the `/v2/` handlers, the
//! API, replication and the proxy cache all store and read content through [`Content`], so a
//! push over HTTP and a copy made by Berth itself are validated, counted against the quota and
//! recorded in the event outbox the same way.
//!
//! - [`Content`]: the handle (metadata + blob store), with blobs (`blobs.rs`), upload sessions
//!   (`uploads.rs`, taking turns through a lease, `upload_lease.rs`) and manifests
//!   (`manifests.rs`);
//! - garbage collection (`gc.rs`);
//! - [`Actor`]: who makes a change, and the events of changes (`actor.rs`);
//! - [`PullRecorder`]: pull events, queued and written in batches (`pulls.rs`);
//! - [`peer`]: what a replicating Berth tells the registry it writes to;
//! - [`Upstreams`]: where a proxy-cache project fetches from.

mod actor;
mod blobs;
mod copy;
mod error;
mod gc;
mod manifests;
pub mod peer;
mod pulls;
mod upload_lease;
mod uploads;
mod upstream;

use berth_meta::Meta;
use berth_storage::BlobStore;

pub use actor::{About, Actor};
pub use error::ContentError;
pub use gc::{GcLog, GcOptions};
pub use manifests::{Check, ManifestBytes, Removal, Stored, Storing};
pub use pulls::PullRecorder;
pub use uploads::Chunk;
pub use upstream::{UpstreamError, Upstreams};

/// This registry's content. Cheap to clone.
#[derive(Clone)]
pub struct Content {
    meta: Meta,
    store: BlobStore,
}

impl Content {
    pub fn new(meta: Meta, store: BlobStore) -> Content {
        Content { meta, store }
    }

    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    pub fn store(&self) -> &BlobStore {
        &self.store
    }
}
