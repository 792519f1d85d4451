//! Online garbage collection under load (issue 25): a Berth holding many unreferenced blobs and
//! the blobs of many deleted artifacts, collected (`/system/gc`, time window 0) while 8 clients
//! push; the run's duration, and the pushes' throughput during it against the same clients with
//! no collection running. On the filesystem, and on S3 (Garage) when `TEST_BERTH_S3_*` names
//! one (`bench/run` sets them from `scripts/s3-test-server` when Garage is installed).
//! Distribution has no online collection (its `garbage-collect` wants the registry stopped or
//! read-only), so there is nothing of its to run alongside.

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use futures_util::StreamExt;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Plan;
use crate::servers::{Flavor, Server};
use crate::workloads::{client, random};

/// Clients pushing while the collection runs (issue 25's goal is stated for 8).
const CLIENTS: u64 = 8;
/// Size of every pushed blob: the count is what a collection's time depends on.
const BLOB: usize = 1024;
/// Requests in flight while the garbage is written.
const POPULATE: usize = 32;
/// Suffixes of the blobs pushed under load, apart from the garbage's.
const LOAD: u64 = 1 << 40;
const BASELINE: u64 = 2 << 40;

/// One collection under load, on one storage backend.
pub struct GcRun {
    pub backend: &'static str,
    pub blobs: usize,
    pub artifacts: usize,
    /// From the run's start request to the API reporting it ended (polled every 50 ms).
    pub seconds: f64,
    /// The run's last log line: what it freed.
    pub freed: String,
    /// Pushes/s of the 8 clients with no collection running, and while it ran.
    pub without: f64,
    pub during: f64,
}

/// Runs the collection on the filesystem, then on S3 if one is configured.
pub async fn run_all(plan: &Plan, berth: &Path, work: &Path) -> anyhow::Result<Vec<GcRun>> {
    let mut runs = vec![run(plan, berth, &work.join("gc-filesystem"), "filesystem", Vec::new()).await?];
    match s3_env() {
        Some(env) => runs.push(run(plan, berth, &work.join("gc-s3"), "Garage (S3)", env).await?),
        None => eprintln!("gc: no TEST_BERTH_S3_* settings (Garage not installed?): the run on S3 is left out"),
    }
    Ok(runs)
}

/// Berth's S3 settings from the test server's `TEST_BERTH_S3_*` ones, in a folder of its own.
fn s3_env() -> Option<Vec<(String, String)>> {
    let mut env = Vec::new();
    for v in ["ENDPOINT", "BUCKET", "REGION", "ACCESS_KEY", "SECRET_KEY"] {
        env.push((format!("BERTH_STORAGE_S3_{v}"), std::env::var(format!("TEST_BERTH_S3_{v}")).ok()?));
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
    env.push(("BERTH_STORAGE_S3_ROOT_DIRECTORY".into(), format!("berth-bench-{nanos:x}")));
    Some(env)
}

async fn run(
    plan: &Plan,
    berth: &Path,
    dir: &Path,
    backend: &'static str,
    mut env: Vec<(String, String)>,
) -> anyhow::Result<GcRun> {
    env.push(("BERTH_GC_TIME_WINDOW_HOURS".into(), "0".into()));
    let s = Server::start_with(Flavor::Berth, berth, dir, &env).await?;
    let c = client(&s)?;
    let base = random(BLOB - 8, 5);
    eprintln!("gc on {backend}: {} blobs and {} artifacts to delete", plan.gc_blobs, plan.gc_artifacts);
    let started = Instant::now();
    populate(&c, &s, plan, &base).await?;
    eprintln!(
        "gc on {backend}: written in {:.1} s; collecting while {CLIENTS} clients push",
        started.elapsed().as_secs_f64()
    );
    // With a time window of 0, a blob used in the second the run starts is kept: let it pass.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let ((seconds, freed), during) = push_load(&c, &s, &base, LOAD, collect(&c, &s)).await?;
    let pause = async {
        tokio::time::sleep(plan.gc_push_time).await;
        Ok(())
    };
    let ((), without) = push_load(&c, &s, &base, BASELINE, pause).await?;
    Ok(GcRun { backend, blobs: plan.gc_blobs, artifacts: plan.gc_artifacts, seconds, freed, without, during })
}

/// The content `base || suffix` and its digest.
fn blob(base: &[u8], suffix: u64) -> (Vec<u8>, String) {
    let mut content = base.to_vec();
    content.extend_from_slice(&suffix.to_be_bytes());
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&content)));
    (content, digest)
}

async fn push_blob(c: &Client, s: &Server, repo: &str, content: Vec<u8>, digest: &str) -> anyhow::Result<()> {
    let r = c.post(s.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}"))).body(content).send().await?;
    ensure!(r.status() == StatusCode::CREATED, "pushing blob {digest} to {repo}: {}", r.status());
    Ok(())
}

/// Writes the garbage: `gc_blobs` blobs no manifest references, and `gc_artifacts` artifacts
/// (a manifest and its own config blob each) deleted after their push, over 8 repositories.
async fn populate(c: &Client, s: &Server, plan: &Plan, base: &[u8]) -> anyhow::Result<()> {
    let blobs = (0..plan.gc_blobs as u64).map(|i| async move {
        let (content, digest) = blob(base, i);
        push_blob(c, s, &format!("bench/garbage{}", i % 8), content, &digest).await
    });
    all(blobs).await?;
    all((0..plan.gc_artifacts as u64).map(|i| pushed_and_deleted(c, s, i))).await
}

async fn all(jobs: impl Iterator<Item = impl Future<Output = anyhow::Result<()>>>) -> anyhow::Result<()> {
    let mut jobs = futures_util::stream::iter(jobs).buffer_unordered(POPULATE);
    while let Some(r) = jobs.next().await {
        r?;
    }
    Ok(())
}

/// Pushes artifact `i` (tagged) and deletes it by digest: its config blob becomes garbage.
async fn pushed_and_deleted(c: &Client, s: &Server, i: u64) -> anyhow::Result<()> {
    let repo = format!("bench/artifacts{}", i % 8);
    let config = serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux", "bench": i}))?;
    let config_digest = format!("sha256:{}", hex::encode(Sha256::digest(&config)));
    let size = config.len();
    push_blob(c, s, &repo, config, &config_digest).await?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": size},
        "layers": [],
    }))?;
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&manifest)));
    let r = c
        .put(s.url(&format!("/v2/{repo}/manifests/t{i}")))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest)
        .send()
        .await?;
    ensure!(r.status() == StatusCode::CREATED, "artifact {i}: {}", r.status());
    let r = c.delete(s.url(&format!("/v2/{repo}/manifests/{digest}"))).send().await?;
    ensure!(r.status() == StatusCode::ACCEPTED, "deleting artifact {i}: {}", r.status());
    Ok(())
}

/// `CLIENTS` clients pushing blobs one after the other until `during` ends: its output and the
/// pushes per second meanwhile.
async fn push_load<T>(
    c: &Client,
    s: &Server,
    base: &[u8],
    first: u64,
    during: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<(T, f64)> {
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let clients = (0..CLIENTS).map(|k| {
        let stop = &stop;
        async move {
            let mut pushed = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let (content, digest) = blob(base, first + (k << 32) + pushed);
                push_blob(c, s, &format!("bench/load{k}"), content, &digest).await?;
                pushed += 1;
            }
            Ok::<_, anyhow::Error>(pushed)
        }
    });
    let timed = async {
        let out = during.await;
        stop.store(true, Ordering::Relaxed);
        (out, started.elapsed())
    };
    let (pushed, (out, took)) = tokio::join!(futures_util::future::join_all(clients), timed);
    let mut total = 0;
    for p in pushed {
        total += p?;
    }
    Ok((out?, total as f64 / took.as_secs_f64()))
}

/// Starts a collection through the API and waits for its end: its wall-clock time (s) and what
/// it freed (its last log line).
async fn collect(c: &Client, s: &Server) -> anyhow::Result<(f64, String)> {
    let started = Instant::now();
    let r = c.post(s.url("/api/v2.0/system/gc/schedule")).json(&json!({"schedule": {"type": "Manual"}})).send().await?;
    ensure!(r.status() == StatusCode::CREATED, "starting a collection: {}", r.status());
    let run = r.headers().get("location").context("no Location")?.to_str()?.to_owned();
    let status = loop {
        let job: Value = c.get(s.url(&run)).send().await?.json().await?;
        let status = job["job_status"].as_str().unwrap_or_default().to_owned();
        if ["Success", "Error", "Stopped"].contains(&status.as_str()) {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let seconds = started.elapsed().as_secs_f64();
    let log = c.get(s.url(&format!("{run}/log"))).send().await?.text().await?;
    if status != "Success" {
        bail!("collection {run} ended {status}:\n{log}");
    }
    let freed = log.lines().rev().find(|l| l.contains("freed")).context("no 'freed' line in the run's log")?;
    Ok((seconds, freed.split_once("freed").map_or(freed, |(_, f)| f).trim_start_matches(':').trim().to_owned()))
}
