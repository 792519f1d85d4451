//! Events of registry operations. A push or delete writes its event in the transaction of the
//! change ([`event`] builds it). Pulls change nothing but statistics: their events are queued once
//! the response is decided and written in batches by one background task, so a burst of pulls
//! costs one transaction per batch instead of one write each. A pull waits only when the writer
//! is a whole queue behind: then pulls go at the pace of the writer, never faster than their
//! events can be kept. Up to one batch window of pull events can be lost if the process is
//! killed.

use std::time::Duration;

use axum::http::request::Parts;
use berth_meta::{Meta, RegistryEvent};
use berth_oci::Digest;
use berth_oci::RepoName;
use tokio::sync::mpsc;

use crate::access::{client_ip, project_of};

/// Events queued at most; past that a pull waits for room (never dropped). Writing the excess
/// directly instead took a task and a connection per event: at ~38,000 manifest GETs/s the
/// tasks held 670 MiB and kept every other statement waiting for a connection for 25 s.
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
        Recorder::with_queue(meta, QUEUE)
    }

    fn with_queue(meta: Meta, queue: usize) -> Recorder {
        let (tx, rx) = mpsc::channel(queue);
        tokio::spawn(write_batches(meta.clone(), rx));
        Recorder { meta, tx }
    }

    /// Queues the event of a pull from repository `repo`, to be written with its statistics.
    pub(crate) async fn record_pull(&self, event: berth_meta::Event, repo: i64) {
        let e = RegistryEvent { event, pulled_from: Some(repo) };
        if let Err(mpsc::error::SendError(e)) = self.tx.send(e).await {
            // The writer has stopped (the server is shutting down): written here.
            write(&self.meta, &[e]).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pull(n: usize) -> berth_meta::Event {
        berth_meta::Event {
            project: String::new(),
            username: "anonymous".into(),
            resource: format!("lib/app:v{n}"),
            resource_type: "artifact",
            operation: "pull",
            source_ip: "127.0.0.1".into(),
            op_time: berth_auth::now(),
            repository: Some("lib/app".into()),
            digest: None,
            tag: Some(format!("v{n}")),
            origin: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pull_waits_for_room_while_the_writer_is_behind_and_no_event_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let meta = Meta::open_sqlite(&path, 4).await.unwrap();
        let recorder = Recorder::with_queue(meta.clone(), 1);
        // Another writer holds the database: the event writer's batch waits for it.
        let blocker = rusqlite::Connection::open(&path).unwrap();
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();

        recorder.record_pull(pull(1), 1).await;
        tokio::time::sleep(WINDOW + Duration::from_millis(200)).await;
        // The writer holds event 1 and waits; event 2 fills the one place in the queue.
        recorder.record_pull(pull(2), 1).await;
        let third = tokio::spawn({
            let recorder = recorder.clone();
            async move { recorder.record_pull(pull(3), 1).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!third.is_finished(), "a pull was recorded past a full queue");

        blocker.execute_batch("ROLLBACK").unwrap();
        tokio::time::timeout(Duration::from_secs(10), third).await.unwrap().unwrap();
        let written = async {
            loop {
                let events = meta.events_after(berth_meta::Cursor::default(), 10).await.unwrap();
                if events.len() == 3 {
                    return events.into_iter().map(|e| e.resource).collect::<Vec<_>>();
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        let written = tokio::time::timeout(Duration::from_secs(10), written).await.expect("all three events written");
        assert_eq!(written, ["lib/app:v1", "lib/app:v2", "lib/app:v3"]);
        meta.close().await;
    }
}
