//! Pull events. Pulls change nothing but statistics: their events are queued once the pull is
//! decided and written in batches by one background task, so a burst of pulls costs one
//! transaction per batch instead of one write each.
//!
//! The writer waits for the disk like any writer, for seconds when the disk is busy, and a pull
//! must not wait with it. Once the queue is full, a pull's event goes to an overflow where
//! identical events (same client, same artifact, same second: identical audit rows) are one
//! entry with a count, so a flood of pulls needs no more memory while the writer is behind. A
//! pull waits only when the overflow too is full of distinct events: then pulls go at the pace
//! of the writer, never faster than their events can be kept. A graceful shutdown
//! ([`PullRecorder::close`]) writes everything queued and overflowed before the database closes;
//! up to one batch window of pull events, and the overflow, can be lost if the process is killed.
//! While the database is unavailable the writer keeps its batch and tries again (for up to
//! [`OUTAGE_PATIENCE`], or until the server stops), so an outage delays pull events, not loses them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_meta::{Meta, MetaError, RegistryEvent};
use indexmap::IndexMap;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Events queued at most; past that they go to the overflow.
const QUEUE: usize = 16_384;
/// Distinct events in the overflow at most; past that a pull waits for room in the queue (its
/// event is never dropped). Writing the excess directly instead took a task and a connection
/// per event: at ~38,000 manifest GETs/s the tasks held 670 MiB and kept every other statement
/// waiting for a connection for 25 s. Waiting for the queue alone put the disk's latency into
/// pulls: with a `dd` writing beside it, manifest GETs had a p99 of 12–297 ms.
const OVERFLOW: usize = 16_384;
/// Largest batch written in one transaction.
const BATCH: usize = 1_000;
/// How long an event may wait for companions before its batch is written.
const WINDOW: Duration = Duration::from_millis(200);
/// How long a batch is tried again while the database is unavailable.
const OUTAGE_PATIENCE: Duration = Duration::from_secs(600);
/// Longest pause between two tries.
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// The queue of pull events and its writer. Cheap to clone.
#[derive(Clone)]
pub struct PullRecorder {
    meta: Meta,
    tx: mpsc::Sender<RegistryEvent>,
    overflow: Arc<Overflow>,
    /// Cancelled by [`PullRecorder::close`]: the writer takes no more events, writes what it has and
    /// ends.
    closing: CancellationToken,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl PullRecorder {
    /// Starts the writer task (on the current Tokio runtime).
    pub fn start(meta: Meta) -> PullRecorder {
        PullRecorder::with_limits(meta, QUEUE, OVERFLOW)
    }

    fn with_limits(meta: Meta, queue: usize, overflow: usize) -> PullRecorder {
        let (tx, rx) = mpsc::channel(queue);
        let overflow = Arc::new(Overflow { limit: overflow, events: Mutex::default() });
        let closing = CancellationToken::new();
        let writer = tokio::spawn(write_batches(meta.clone(), rx, overflow.clone(), closing.clone()));
        PullRecorder { meta, tx, overflow, closing, writer: Arc::new(Mutex::new(Some(writer))) }
    }

    /// Writes every event queued or overflowed so far and returns once they are in the database:
    /// for a graceful shutdown, after the last request and before the database closes. (Waiting
    /// for every recorder to be dropped instead would hang on any clone that outlives the
    /// server.) A pull recorded after this is written on its own, as when the writer has stopped.
    pub async fn close(&self) {
        self.closing.cancel();
        let writer = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some(writer) = writer
            && let Err(e) = writer.await
        {
            tracing::error!(error = %e, "the pull event writer failed");
        }
    }

    /// Queues the event of a pull from repository `repo`, to be written with its statistics.
    pub async fn record_pull(&self, event: berth_meta::Event, repo: i64) {
        let e = RegistryEvent { event, pulled_from: Some(repo) };
        let e = match self.tx.try_send(e) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(e)) => match self.overflow.add(e) {
                None => return,
                Some(e) => e,
            },
            // Not to the overflow: no writer is left to take it from there.
            Err(mpsc::error::TrySendError::Closed(e)) => e,
        };
        if let Err(mpsc::error::SendError(e)) = self.tx.send(e).await {
            // The writer has stopped (the server is shutting down): written here.
            write(&self.meta, &[e], &self.closing).await;
        }
    }
}

/// Events that found the queue full, each with the number of identical pulls it stands for, in
/// the order they came.
struct Overflow {
    limit: usize,
    events: Mutex<IndexMap<RegistryEvent, u64>>,
}

impl Overflow {
    /// Counts `e` in; gives it back if it is new and the overflow holds its limit of events.
    fn add(&self, e: RegistryEvent) -> Option<RegistryEvent> {
        let mut events = self.events();
        if let Some(count) = events.get_mut(&e) {
            *count += 1;
        } else if events.len() < self.limit {
            events.insert(e, 1);
        } else {
            return Some(e);
        }
        None
    }

    fn take(&self) -> IndexMap<RegistryEvent, u64> {
        std::mem::take(&mut *self.events())
    }

    fn events(&self) -> std::sync::MutexGuard<'_, IndexMap<RegistryEvent, u64>> {
        // Each change under the lock is one insert, increment or swap, so the map is whole after
        // any panic and a poisoned lock is still good to use.
        self.events.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

async fn write_batches(
    meta: Meta,
    mut rx: mpsc::Receiver<RegistryEvent>,
    overflow: Arc<Overflow>,
    closing: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let first = tokio::select! {
            e = rx.recv() => e,
            // Closed, the queue still gives what it holds, then `None`.
            () = closing.cancelled(), if !rx.is_closed() => {
                rx.close();
                continue;
            }
        };
        let Some(first) = first else { break };
        batch.push(first);
        let deadline = tokio::time::Instant::now() + WINDOW;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(e)) => batch.push(e),
                Ok(None) | Err(_) => break,
            }
        }
        write(&meta, &batch, &closing).await;
        batch.clear();
        // Events reach the overflow when the queue is full, so a batch follows them and they are
        // written after it. (One added after the queue drained, its pull preempted in between,
        // waits for the next pull's batch or for the end.)
        write_overflow(&meta, overflow.take(), &mut batch, &closing).await;
    }
    // The queue is closed, or every recorder is gone: nothing can be queued any more.
    write_overflow(&meta, overflow.take(), &mut batch, &closing).await;
}

/// Writes each event of `events` as many times as it was counted, in batches.
async fn write_overflow(
    meta: &Meta,
    events: IndexMap<RegistryEvent, u64>,
    batch: &mut Vec<RegistryEvent>,
    closing: &CancellationToken,
) {
    for (e, count) in events {
        for _ in 0..count {
            batch.push(e.clone());
            if batch.len() == BATCH {
                write(meta, batch, closing).await;
                batch.clear();
            }
        }
    }
    if !batch.is_empty() {
        write(meta, batch, closing).await;
        batch.clear();
    }
}

/// Writes `events`, trying again while the database is unavailable: until it is back, for up to
/// [`OUTAGE_PATIENCE`], or until `closing` (a server stopping during an outage must not wait for
/// its end; once closing, one more try is made).
async fn write(meta: &Meta, events: &[RegistryEvent], closing: &CancellationToken) {
    let give_up = tokio::time::Instant::now() + OUTAGE_PATIENCE;
    let mut pause = Duration::from_millis(250);
    loop {
        match meta.record_registry_events(events).await {
            Ok(()) => return,
            Err(e @ MetaError::Unavailable(_)) if tokio::time::Instant::now() < give_up && !closing.is_cancelled() => {
                tracing::warn!(error = %e, events = events.len(), "pull events wait for the database");
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = closing.cancelled() => {}
                }
                pause = (pause * 2).min(MAX_PAUSE);
            }
            Err(e) => {
                tracing::warn!(error = %e, events = events.len(), "pull events and statistics not written");
                return;
            }
        }
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
            op_time: berth_meta::time::now(),
            repository: Some("lib/app".into()),
            digest: None,
            tag: Some(format!("v{n}")),
            origin: None,
        }
    }

    /// A recorder with a queue of one and an overflow of `overflow`, whose writer holds event 1
    /// and waits: another connection (returned) holds the database's write lock.
    async fn recorder_behind_a_lock(overflow: usize) -> (tempfile::TempDir, Meta, PullRecorder, rusqlite::Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let meta = Meta::open_sqlite(&path, 4).await.unwrap();
        let recorder = PullRecorder::with_limits(meta.clone(), 1, overflow);
        let blocker = rusqlite::Connection::open(&path).unwrap();
        blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
        recorder.record_pull(pull(1), 1).await;
        tokio::time::sleep(WINDOW + Duration::from_millis(200)).await;
        (dir, meta, recorder, blocker)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn behind_the_writer_identical_pulls_are_counted_distinct_ones_wait_and_none_is_lost() {
        let (_dir, meta, recorder, blocker) = recorder_behind_a_lock(1).await;
        // Event 2 fills the one place in the queue.
        recorder.record_pull(pull(2), 1).await;
        // Event 3 takes the one place in the overflow, and the same pull again only counts.
        let third = pull(3);
        for _ in 0..3 {
            let counted = recorder.record_pull(third.clone(), 1);
            tokio::time::timeout(Duration::from_secs(2), counted)
                .await
                .expect("an identical pull waited for the writer");
        }
        let fourth = tokio::spawn({
            let recorder = recorder.clone();
            async move { recorder.record_pull(pull(4), 1).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!fourth.is_finished(), "a distinct pull was recorded past a full overflow");

        blocker.execute_batch("ROLLBACK").unwrap();
        tokio::time::timeout(Duration::from_secs(10), fourth).await.unwrap().unwrap();
        let written = async {
            loop {
                let events = meta.events_after(berth_meta::Cursor::default(), 10).await.unwrap();
                if events.len() >= 6 {
                    let mut written = events.into_iter().map(|e| e.resource).collect::<Vec<_>>();
                    written.sort();
                    return written;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        let written = tokio::time::timeout(Duration::from_secs(10), written).await.expect("all six events written");
        assert_eq!(written, ["lib/app:v1", "lib/app:v2", "lib/app:v3", "lib/app:v3", "lib/app:v3", "lib/app:v4"]);
        meta.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn close_writes_what_is_queued_and_overflowed_and_later_pulls_directly() {
        let (_dir, meta, recorder, blocker) = recorder_behind_a_lock(4).await;
        // Event 2 in the queue, 3 twice in the overflow.
        for n in [2, 3, 3] {
            recorder.record_pull(pull(n), 1).await;
        }

        let closing = tokio::spawn({
            let recorder = recorder.clone();
            async move { recorder.close().await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!closing.is_finished(), "close returned before the events were written");
        blocker.execute_batch("ROLLBACK").unwrap();
        tokio::time::timeout(Duration::from_secs(10), closing).await.expect("close waited forever").unwrap();
        let resources = |events: Vec<berth_meta::EventRow>| events.into_iter().map(|e| e.resource).collect::<Vec<_>>();
        let mut written = resources(meta.events_after(berth_meta::Cursor::default(), 10).await.unwrap());
        // (The overflow is written after the batch in progress, so 3 can come before 2.)
        written.sort();
        assert_eq!(written, ["lib/app:v1", "lib/app:v2", "lib/app:v3", "lib/app:v3"]);

        // The writer has ended but this recorder lives on: its pulls are written at once.
        recorder.record_pull(pull(4), 1).await;
        let written = resources(meta.events_after(berth_meta::Cursor::default(), 10).await.unwrap());
        assert_eq!(written.last().map(String::as_str), Some("lib/app:v4"));
        meta.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pulls_queued_while_the_database_is_down_are_written_once_it_is_back() {
        use berth_testkit::postgres::PrivateServer;
        let server = Arc::new(tokio::task::spawn_blocking(PrivateServer::start).await.unwrap());
        let url = format!("{}/postgres", server.url());
        let meta = Meta::open_postgres(&url, 4, Duration::from_secs(1)).await.unwrap();
        let recorder = PullRecorder::start(meta.clone());
        let stopping = server.clone();
        tokio::task::spawn_blocking(move || stopping.stop()).await.unwrap();
        for n in 0..5 {
            recorder.record_pull(pull(n), 1).await;
        }
        // The writer has found the database gone (a 1 s acquire timeout) and waits.
        tokio::time::sleep(WINDOW + Duration::from_secs(3)).await;
        let resuming = server.clone();
        tokio::task::spawn_blocking(move || resuming.resume()).await.unwrap();
        let written = async {
            loop {
                match meta.events_after(berth_meta::Cursor::default(), 10).await {
                    Ok(events) if events.len() >= 5 => return events.len(),
                    _ => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        };
        let written = tokio::time::timeout(Duration::from_secs(30), written).await.expect("the pulls were lost");
        assert_eq!(written, 5);
        recorder.close().await;
        meta.close().await;
    }
}
