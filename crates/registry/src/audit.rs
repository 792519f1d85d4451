//! Events of registry operations. A push or delete writes its event in the transaction of the
//! change ([`event`] builds it). Pulls change nothing but statistics: their events are queued once
//! the response is decided and written in batches by one background task, so a burst of pulls
//! costs one transaction per batch instead of one write each, and a slow database never slows a
//! pull. Up to one batch window of pull events can be lost if the process is killed.

use std::time::Duration;

use axum::http::request::Parts;
use berth_meta::{Meta, RegistryEvent};
use berth_oci::Digest;
use berth_oci::RepoName;
use tokio::sync::mpsc;

use crate::access::{client_ip, project_of};

/// Events queued at most; past that they are written directly (never dropped).
const QUEUE: usize = 16_384;
/// Largest batch written in one transaction.
const BATCH: usize = 1_000;
/// How long an event may wait for companions before its batch is written.
const WINDOW: Duration = Duration::from_millis(200);

/// The event of `operation` by `operator` on `resource` in repository `name`, about artifact
/// `digest` and/or `tag`.
pub(crate) fn event(
    req: &Parts,
    name: &RepoName,
    operator: String,
    what: (String, &'static str, &'static str),
    digest: Option<&Digest>,
    tag: Option<&str>,
) -> berth_meta::Event {
    event_by(actor(req, operator), name, what, digest, tag)
}

/// The client behind `req`, authenticated as `operator`.
pub(crate) fn actor(req: &Parts, operator: String) -> Actor {
    Actor { username: operator, source_ip: client_ip(req), origin: replication_origin(req) }
}

/// Who makes a change: a client over HTTP, or Berth itself (replication, proxy cache).
#[derive(Debug, Clone)]
pub struct Actor {
    pub username: String,
    pub source_ip: String,
    /// The registry the change was replicated from, if it was.
    pub origin: Option<String>,
}

pub(crate) fn event_by(
    actor: Actor,
    name: &RepoName,
    (resource, resource_type, operation): (String, &'static str, &'static str),
    digest: Option<&Digest>,
    tag: Option<&str>,
) -> berth_meta::Event {
    berth_meta::Event {
        project: project_of(name).to_owned(),
        username: actor.username,
        resource,
        resource_type,
        operation,
        source_ip: actor.source_ip,
        op_time: berth_auth::now(),
        repository: Some(name.to_string()),
        digest: digest.map(Digest::to_string),
        tag: tag.map(str::to_owned),
        origin: actor.origin,
    }
}

/// The header a replicating Berth names itself in (its registry id), so that this change is not
/// replicated back to it. Anyone may send it; the worst it does is keep the change from being
/// sent to the registry it names, which the sender could equally have refused to receive.
pub const ORIGIN_HEADER: &str = "x-berth-origin";

/// The header a replicating Berth gives the time (unix seconds) of the change it copies, for
/// tag writes and deletes: the receiver applies it only if it is newer than its own last change
/// of the tag, so two registries replicating to each other settle on the same last change.
pub const CHANGE_TIME_HEADER: &str = "x-berth-change-time";

/// Answered on a replicated tag write that was older than the receiver's own last change.
pub const SUPERSEDED_HEADER: &str = "x-berth-superseded";

/// The change time of a replicated request (only together with its origin).
pub(crate) fn replication_stamp(req: &Parts) -> Option<i64> {
    replication_origin(req)?;
    req.headers.get(CHANGE_TIME_HEADER)?.to_str().ok()?.parse().ok().filter(|t| *t >= 0)
}

fn replication_origin(req: &Parts) -> Option<String> {
    let value = req.headers.get(ORIGIN_HEADER)?.to_str().ok()?;
    let valid = !value.is_empty() && value.len() <= 64 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    valid.then(|| value.to_owned())
}

/// The queue of registry events and its writer.
#[derive(Clone)]
pub(crate) struct Recorder {
    meta: Meta,
    tx: mpsc::Sender<RegistryEvent>,
}

impl Recorder {
    /// Starts the writer task (on the current Tokio runtime).
    pub(crate) fn start(meta: Meta) -> Recorder {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(meta.clone(), rx));
        Recorder { meta, tx }
    }

    /// Queues the event of a pull from repository `repo`, to be written with its statistics.
    pub(crate) fn record_pull(&self, event: berth_meta::Event, repo: i64) {
        let e = RegistryEvent { event, pulled_from: Some(repo) };
        if let Err(mpsc::error::TrySendError::Full(e) | mpsc::error::TrySendError::Closed(e)) = self.tx.try_send(e) {
            let meta = self.meta.clone();
            tokio::spawn(async move { write(&meta, &[e]).await });
        }
    }
}

async fn write_batches(meta: Meta, mut rx: mpsc::Receiver<RegistryEvent>) {
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        let deadline = tokio::time::Instant::now() + WINDOW;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(e)) => batch.push(e),
                Ok(None) | Err(_) => break,
            }
        }
        write(&meta, &batch).await;
        batch.clear();
    }
}

async fn write(meta: &Meta, events: &[RegistryEvent]) {
    if let Err(e) = meta.record_registry_events(events).await {
        tracing::warn!(error = %e, events = events.len(), "pull events and statistics not written");
    }
}
