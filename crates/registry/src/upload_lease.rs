//! Requests on one upload session take turns, whichever instance serves them: a request holds a
//! lease on the session in the database while it writes. The lease is renewed while the request
//! runs and released when it ends; a request that died (with its instance) stops renewing, and
//! its lease runs out.

use std::time::Duration;

use berth_meta::Meta;
use tokio::task::JoinHandle;

use crate::error::RegistryError;

/// How long a lease holds without renewal: how long a session stays blocked after the instance
/// writing to it died.
const LEASE: Duration = Duration::from_secs(30);
/// How long a request waits for another request's turn on the same session.
const WAIT: Duration = Duration::from_secs(60);

pub(crate) struct UploadLease {
    meta: Meta,
    id: String,
    owner: String,
    renewal: JoinHandle<()>,
    /// Released already, with the session's progress ([`UploadLease::released`]).
    released: bool,
}

impl UploadLease {
    /// Waits for the session's turn. `BLOB_UPLOAD_UNKNOWN` if the session does not exist.
    pub(crate) async fn acquire(meta: &Meta, id: &str) -> Result<UploadLease, RegistryError> {
        let owner = uuid::Uuid::new_v4().to_string();
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut pause = Duration::from_millis(10);
        loop {
            if meta.lease_upload(id, &owner, until()).await? {
                break;
            }
            if meta.upload(id).await?.is_none() {
                return Err(RegistryError::upload_unknown());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(RegistryError::new(
                    axum::http::StatusCode::CONFLICT,
                    "BLOB_UPLOAD_INVALID",
                    "another request is still writing to this upload session",
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
        let renewal = tokio::spawn({
            let (meta, id, owner) = (meta.clone(), id.to_owned(), owner.clone());
            async move {
                loop {
                    tokio::time::sleep(LEASE / 3).await;
                    if let Err(e) = meta.lease_upload(&id, &owner, until()).await {
                        tracing::warn!(upload = %id, error = %e, "renewing an upload lease");
                    }
                }
            }
        });
        Ok(UploadLease { meta: meta.clone(), id: id.to_owned(), owner, renewal, released: false })
    }

    /// Who holds the lease, as the database records it.
    pub(crate) fn owner(&self) -> &str {
        &self.owner
    }

    /// The lease was given up in the statement that recorded the request's progress
    /// (`advance_upload` with this owner): nothing is left to release.
    pub(crate) fn released(mut self) {
        self.released = true;
    }
}

fn until() -> i64 {
    berth_auth::now() + LEASE.as_secs() as i64
}

impl Drop for UploadLease {
    fn drop(&mut self) {
        self.renewal.abort();
        if self.released {
            return;
        }
        let (meta, id, owner) = (self.meta.clone(), std::mem::take(&mut self.id), std::mem::take(&mut self.owner));
        // Released in the background: the response need not wait for it, and if it fails the
        // lease simply runs out.
        tokio::spawn(async move {
            if let Err(e) = meta.release_upload(&id, &owner).await {
                tracing::warn!(upload = %id, error = %e, "releasing an upload lease");
            }
        });
    }
}
