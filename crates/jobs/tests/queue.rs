//! The job queue and its runners against real databases: SQLite in a temporary folder and a
//! fresh PostgreSQL database (the server of `TEST_BERTH_POSTGRES`, by default the local one).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::bail;
use berth_jobs::{Job, JobContext, Runner, Timing};
use berth_meta::{Meta, NewJob};
use berth_testkit::postgres::TestDatabase;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// Fails its first two attempts, counting runs in its context.
#[derive(Serialize, Deserialize)]
struct Flaky {
    x: i64,
}

impl Job for Flaky {
    const KIND: &'static str = "FLAKY";
    const MAX_ATTEMPTS: i64 = 5;
    type Context = Arc<AtomicUsize>;

    async fn run(self, runs: Arc<AtomicUsize>, job: JobContext) -> anyhow::Result<()> {
        let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
        job.log(format!("run {n} with x = {}", self.x)).await;
        if job.attempt < 3 {
            bail!("transient failure {n}");
        }
        Ok(())
    }
}

/// Always fails.
#[derive(Serialize, Deserialize)]
struct Broken {}

impl Job for Broken {
    const KIND: &'static str = "BROKEN";
    const MAX_ATTEMPTS: i64 = 2;
    type Context = ();

    async fn run(self, _: (), _: JobContext) -> anyhow::Result<()> {
        bail!("always broken")
    }
}

/// Succeeds, or never ends when its context says so.
#[derive(Serialize, Deserialize)]
struct Work {}

impl Job for Work {
    const KIND: &'static str = "WORK";
    type Context = bool;

    async fn run(self, hangs: bool, _: JobContext) -> anyhow::Result<()> {
        if hangs {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

/// Counts, per job id, how often it ran.
#[derive(Serialize, Deserialize)]
struct Once {}

impl Job for Once {
    const KIND: &'static str = "ONCE";
    const MAX_ATTEMPTS: i64 = 1;
    type Context = Arc<Mutex<HashMap<i64, usize>>>;

    async fn run(self, seen: Self::Context, job: JobContext) -> anyhow::Result<()> {
        *seen.lock().unwrap().entry(job.id).or_default() += 1;
        Ok(())
    }
}

/// Runs until stopped when `forever`, else ends at once.
#[derive(Serialize, Deserialize)]
struct Slow {
    forever: bool,
}

impl Job for Slow {
    const KIND: &'static str = "SLOW";
    type Context = ();

    async fn run(self, _: (), _: JobContext) -> anyhow::Result<()> {
        // Runs until stopped: the lease renewal notices the stop request.
        if self.forever {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

async fn enqueue(meta: &Meta, job: &NewJob) -> i64 {
    meta.enqueue_job(job).await.unwrap().expect("a job without a unique key is always added")
}

/// A database of each kind, dropped after the test.
struct Databases {
    dir: tempfile::TempDir,
    postgres: TestDatabase,
    metas: Vec<Meta>,
}

impl Databases {
    /// A second, independent connection pool to database `index` (as another instance has).
    fn reopen(&self, index: usize) -> impl std::future::Future<Output = Meta> + Send + 'static {
        let (path, url) = (self.dir.path().join("db"), self.postgres.url());
        async move {
            match index {
                0 => Meta::open_sqlite(&path, 2).await.unwrap(),
                _ => Meta::open_postgres(&url, 2, Duration::from_secs(5)).await.unwrap(),
            }
        }
    }
}

async fn databases() -> Databases {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Meta::open_sqlite(&dir.path().join("db"), 4).await.unwrap();
    let postgres = TestDatabase::create();
    let pg = Meta::open_postgres(&postgres.url(), 8, Duration::from_secs(5)).await.unwrap();
    Databases { dir, postgres, metas: vec![sqlite, pg] }
}

fn fast() -> Timing {
    Timing {
        lease: Duration::from_secs(2),
        poll: Duration::from_millis(50),
        backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(1),
    }
}

/// Waits until job `id` has ended (or panics after 30 s); returns its row.
async fn ended(meta: &Meta, id: i64) -> berth_meta::JobRow {
    for _ in 0..600 {
        let job = meta.job(id).await.unwrap().unwrap();
        if ["Success", "Error", "Stopped"].contains(&job.status.as_str()) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} did not end: {:?}", meta.job(id).await.unwrap());
}

/// Waits until job `id` runs (or panics after 10 s); returns its row.
async fn running(meta: &Meta, id: i64) -> berth_meta::JobRow {
    for _ in 0..500 {
        let job = meta.job(id).await.unwrap().unwrap();
        if job.status == "Running" {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("job {id} did not start: {:?}", meta.job(id).await.unwrap());
}

fn start(runner: Runner) -> CancellationToken {
    let stop = CancellationToken::new();
    tokio::spawn(runner.run(stop.clone()));
    stop
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_told_to_stop_while_busy_still_stops() {
    let dbs = databases().await;
    for meta in &dbs.metas {
        // Stopped before it first waits, as when the stop comes while it claims a job.
        let stop = CancellationToken::new();
        stop.cancel();
        let run = Runner::new(meta.clone(), "busy", 1).timing(fast()).run(stop);
        tokio::time::timeout(Duration::from_secs(10), run).await.expect("the runner missed its stop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_jobs_are_retried_with_backoff_then_succeed_or_fail_for_good() {
    let dbs = databases().await;
    for meta in &dbs.metas {
        let runs = Arc::new(AtomicUsize::new(0));
        let stop = start(
            Runner::new(meta.clone(), "w1", 2).timing(fast()).register::<Flaky>(runs.clone()).register::<Broken>(()),
        );

        let flaky = enqueue(meta, &Flaky { x: 1 }.to_new()).await;
        let broken = enqueue(meta, &Broken {}.to_new()).await;
        let job = ended(meta, flaky).await;
        assert_eq!((job.status.as_str(), job.attempts), ("Success", 3), "{job:?}");
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        let log = meta.job_log(flaky).await.unwrap().unwrap();
        assert!(
            log.contains("transient failure 1") && log.contains("retrying in") && log.contains("succeeded"),
            "{log}"
        );
        // The payload came back as the type it was enqueued as.
        assert!(log.contains("run 3 with x = 1"), "{log}");
        // The retries waited for their backoff: at least 1 s between the three runs.
        assert!(job.finished_at.unwrap() - job.created_at >= 2, "{job:?}");

        let job = ended(meta, broken).await;
        assert_eq!((job.status.as_str(), job.attempts), ("Error", 2), "{job:?}");
        assert_eq!(job.last_error.as_deref(), Some("always broken"));
        stop.cancel();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_job_is_taken_over_after_its_lease() {
    let dbs = databases().await;
    for (index, meta) in dbs.metas.iter().enumerate() {
        // The first worker hangs forever in the job, on a runtime of its own, with a connection
        // pool of its own, that is then shut down: all its tasks vanish (no outcome recorded, no
        // lease renewal), as when an instance dies mid-job.
        let doomed = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let own_pool = dbs.reopen(index);
        doomed.spawn(async move {
            Runner::new(own_pool.await, "doomed", 1)
                .timing(fast())
                .register::<Work>(true)
                .run(CancellationToken::new())
                .await
        });
        let id = enqueue(meta, &Work {}.to_new()).await;
        assert_eq!(running(meta, id).await.worker.as_deref(), Some("doomed"));
        doomed.shutdown_background();

        let stop = start(Runner::new(meta.clone(), "survivor", 1).timing(fast()).register::<Work>(false));
        let job = ended(meta, id).await;
        assert_eq!((job.status.as_str(), job.attempts, job.worker.as_deref()), ("Success", 2, Some("survivor")));
        stop.cancel();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_runner_hands_its_running_job_back_for_another_to_take_at_once() {
    let dbs = databases().await;
    // Production's 60 s lease: the next runner can only have the job this soon if it was given
    // back, not because the lease ran out.
    let timing = Timing { lease: Duration::from_secs(60), ..fast() };
    for meta in &dbs.metas {
        let stop = CancellationToken::new();
        let leaving = tokio::spawn(
            Runner::new(meta.clone(), "leaving", 1).timing(timing).register::<Work>(true).run(stop.clone()),
        );
        let id = enqueue(meta, &Work {}.to_new()).await;
        assert_eq!(running(meta, id).await.worker.as_deref(), Some("leaving"));

        stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), leaving)
            .await
            .expect("the runner did not return after its stop")
            .unwrap();
        let job = meta.job(id).await.unwrap().unwrap();
        // Returned only once the job was back in the queue, its attempt not counted.
        assert_eq!((job.status.as_str(), job.attempts, job.worker.as_deref()), ("Pending", 0, None), "{job:?}");
        assert!(meta.job_log(id).await.unwrap().unwrap().contains("handed back"));

        let started = std::time::Instant::now();
        let next = start(Runner::new(meta.clone(), "next", 1).timing(timing).register::<Work>(false));
        let job = ended(meta, id).await;
        assert_eq!((job.status.as_str(), job.attempts, job.worker.as_deref()), ("Success", 1, Some("next")));
        assert!(started.elapsed() < Duration::from_secs(10), "taken after {:?}", started.elapsed());
        next.cancel();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runners_run_each_job_exactly_once() {
    let dbs = databases().await;
    for meta in &dbs.metas {
        let seen: Arc<Mutex<HashMap<i64, usize>>> = Arc::default();
        let mut stops = Vec::new();
        for w in 0..3 {
            stops.push(start(
                Runner::new(meta.clone(), format!("w{w}"), 4).timing(fast()).register::<Once>(seen.clone()),
            ));
        }
        let mut ids = Vec::new();
        for _ in 0..40 {
            ids.push(enqueue(meta, &Once {}.to_new()).await);
        }
        for id in &ids {
            assert_eq!(ended(meta, *id).await.status, "Success");
        }
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 40);
        assert!(seen.values().all(|n| *n == 1), "{seen:?}");
        stops.iter().for_each(CancellationToken::cancel);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_keys_stop_pause_and_queues() {
    let dbs = databases().await;
    for meta in &dbs.metas {
        let now = berth_meta::time::now();
        // One run per key, however many instances schedule it.
        let periodic = Work {}.to_new().once("WORK@1");
        let first = meta.enqueue_job(&periodic.clone().at(now + 3600)).await.unwrap();
        assert!(first.is_some());
        assert_eq!(meta.enqueue_job(&periodic).await.unwrap(), None);
        // A pending job stops at once; an ended one cannot be stopped.
        assert!(meta.stop_job(first.unwrap()).await.unwrap());
        assert_eq!(meta.job(first.unwrap()).await.unwrap().unwrap().status, "Stopped");
        assert!(!meta.stop_job(first.unwrap()).await.unwrap());
        assert!(!meta.stop_job(999_999).await.unwrap());

        // A paused queue keeps its jobs pending; resumed, they run.
        meta.set_queue_paused("SLOW", true).await.unwrap();
        let stop = start(Runner::new(meta.clone(), "w", 2).timing(fast()).register::<Slow>(()));
        let quick = enqueue(meta, &Slow { forever: false }.to_new()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(meta.job(quick).await.unwrap().unwrap().status, "Pending");
        let queues = meta.job_queues().await.unwrap();
        let slow = queues.iter().find(|q| q.kind == "SLOW").unwrap();
        assert!(slow.paused && slow.pending == 1, "{queues:?}");
        meta.set_queue_paused("SLOW", false).await.unwrap();
        assert_eq!(ended(meta, quick).await.status, "Success");

        // A running job stops when its worker next renews the lease.
        let forever = enqueue(meta, &Slow { forever: true }.to_new()).await;
        for _ in 0..100 {
            if meta.job(forever).await.unwrap().unwrap().status == "Running" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(meta.stop_job(forever).await.unwrap());
        let job = ended(meta, forever).await;
        assert_eq!((job.status.as_str(), job.attempts), ("Stopped", 1));
        assert!(meta.job_log(forever).await.unwrap().unwrap().contains("stopped"));
        let workers = meta.live_workers(now - 60).await.unwrap();
        assert!(workers.iter().any(|w| w.id == "w" && w.concurrency == 2), "{workers:?}");
        stop.cancel();
    }
}
