//! Requests on one upload session take turns, whichever instance serves them: a request holds a
//! lease on the session in the database while it writes, renews it every second and gives it up
//! when it ends.
//!
//! A request that died with its instance stops renewing. The next request on the session watches
//! the lease and takes it over once it has seen no renewal for [`SILENT`], by its own clock (so
//! clocks of different hosts need not agree): a client resuming after a crash waits seconds, not
//! until the lease runs out. A request that cannot renew its lease stops writing before another
//! may take it over, and a request whose lease was taken over cannot record its bytes
//! (`Meta::advance_upload` checks the owner).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use berth_meta::Meta;
use bytes::Bytes;
use futures_util::Stream;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::ContentError;

/// How often a request renews its lease.
const RENEW: Duration = Duration::from_secs(1);
/// A lease not renewed for this long, as a waiting request sees it, belongs to a dead request.
const SILENT: Duration = Duration::from_secs(5);
/// A request that could not renew for this long stops writing: well before [`SILENT`].
const GIVE_UP: Duration = Duration::from_secs(3);
/// How long a lease holds without renewal even if nobody watches it.
const LEASE: Duration = Duration::from_secs(30);
/// How long a request waits for another request's turn on the same session.
const WAIT: Duration = Duration::from_secs(60);

pub(crate) struct UploadLease {
    meta: Meta,
    id: String,
    owner: String,
    /// Set by the renewal when the lease is lost: taken over, or not renewable for [`GIVE_UP`].
    lost: Arc<AtomicBool>,
    renewal: JoinHandle<()>,
    /// Released already, with the session's progress ([`UploadLease::released`]).
    released: bool,
}

impl UploadLease {
    /// Waits for the session's turn. `BLOB_UPLOAD_UNKNOWN` if the session does not exist.
    pub(crate) async fn acquire(meta: &Meta, id: &str) -> Result<UploadLease, ContentError> {
        let owner = uuid::Uuid::new_v4().to_string();
        let deadline = Instant::now() + WAIT;
        let mut pause = Duration::from_millis(10);
        // The other request's lease as last seen, and since when it looks the same.
        let mut watched: Option<(berth_meta::UploadLeaseRow, Instant)> = None;
        loop {
            if meta.lease_upload(id, &owner, until()).await? {
                break;
            }
            let Some(holder) = meta.upload_lease(id).await? else {
                return Err(ContentError::UploadUnknown);
            };
            match &watched {
                Some((seen, since)) if *seen == holder => {
                    if since.elapsed() >= SILENT && meta.take_over_upload(id, &owner, until(), &holder).await? {
                        tracing::info!(upload = %id, "took over the lease of a request that stopped renewing it");
                        break;
                    }
                }
                _ => watched = Some((holder, Instant::now())),
            }
            if Instant::now() >= deadline {
                return Err(ContentError::UploadBusy);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
        let lost = Arc::new(AtomicBool::new(false));
        let renewal = tokio::spawn(renew(meta.clone(), id.to_owned(), owner.clone(), lost.clone()));
        Ok(UploadLease { meta: meta.clone(), id: id.to_owned(), owner, lost, renewal, released: false })
    }

    /// Who holds the lease, as the database records it.
    pub(crate) fn owner(&self) -> &str {
        &self.owner
    }

    /// `body`, cut off with an error once the lease is lost: bytes written without the lease
    /// could mix with those of the request that took it over.
    pub(crate) fn fence<S>(&self, body: S) -> Fenced<S> {
        Fenced { body, lost: self.lost.clone() }
    }

    /// The lease was given up in the statement that recorded the request's progress
    /// (`advance_upload` with release): nothing is left to release.
    pub(crate) fn released(mut self) {
        self.released = true;
    }
}

/// Renews the lease every [`RENEW`] until the request ends, and marks it lost when it was taken
/// over or could not be renewed for [`GIVE_UP`].
async fn renew(meta: Meta, id: String, owner: String, lost: Arc<AtomicBool>) {
    let mut renewed = Instant::now();
    loop {
        tokio::time::sleep(RENEW).await;
        match meta.lease_upload(&id, &owner, until()).await {
            Ok(true) => renewed = Instant::now(),
            Ok(false) => {
                tracing::warn!(upload = %id, "upload lease was taken over: stopping this request");
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => {
                tracing::warn!(upload = %id, error = %e, "renewing an upload lease");
                if renewed.elapsed() >= GIVE_UP {
                    lost.store(true, Ordering::SeqCst);
                    return;
                }
            }
        }
    }
}

fn until() -> i64 {
    berth_meta::time::now() + LEASE.as_secs() as i64
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

/// A request body that ends with an error once its request's upload lease is lost.
pub(crate) struct Fenced<S> {
    body: S,
    lost: Arc<AtomicBool>,
}

impl<S, E> Stream for Fenced<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    type Item = Result<Bytes, String>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.lost.load(Ordering::SeqCst) {
            return Poll::Ready(Some(Err("the upload session's lease was lost".to_owned())));
        }
        Pin::new(&mut self.body).poll_next(cx).map(|item| item.map(|r| r.map_err(|e| e.to_string())))
    }
}
