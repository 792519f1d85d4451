//! `berth-bench`: Berth and CNCF distribution side by side, in one run, on the same disk, with
//! the machine's physical limits measured alongside so every number has a yardstick.
//! Run through `bench/run` (which builds the release binaries first).

mod gc;
mod limits;
mod report;
mod servers;
mod workloads;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use report::{Report, Row};
use servers::{Flavor, Server};

/// Sizes and repetitions of one run.
pub struct Plan {
    pub quick: bool,
    pub reps: usize,
    pub big_blob: usize,
    pub chunk: usize,
    pub concurrent: usize,
    pub concurrent_blob: usize,
    pub layers: usize,
    pub layer_size: usize,
    pub wrk_seconds: u64,
    pub artifacts: usize,
    pub startup_reps: usize,
    /// The garbage collection's load: unreferenced blobs, deleted artifacts, and how long the
    /// pushes without a collection run.
    pub gc_blobs: usize,
    pub gc_artifacts: usize,
    pub gc_push_time: Duration,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        const MIB: usize = 1024 * 1024;
        if quick {
            Plan {
                quick,
                reps: 2,
                big_blob: 256 * MIB,
                chunk: 10 * MIB,
                concurrent: 16,
                concurrent_blob: 4 * MIB,
                layers: 20,
                layer_size: 16 * 1024,
                wrk_seconds: 3,
                artifacts: 500,
                startup_reps: 3,
                gc_blobs: 2_000,
                gc_artifacts: 200,
                gc_push_time: Duration::from_secs(2),
            }
        } else {
            Plan {
                quick,
                reps: 5,
                big_blob: 1024 * MIB,
                chunk: 10 * MIB,
                concurrent: 64,
                concurrent_blob: 10 * MIB,
                layers: 100,
                layer_size: 16 * 1024,
                wrk_seconds: 10,
                artifacts: 10_000,
                startup_reps: 5,
                gc_blobs: 100_000,
                gc_artifacts: 10_000,
                gc_push_time: Duration::from_secs(10),
            }
        }
    }
}

struct Args {
    quick: bool,
    /// Only the garbage collection workload (its full run is long on S3).
    gc_only: bool,
    berth: PathBuf,
}

fn args() -> anyhow::Result<Args> {
    let mut quick = false;
    let mut gc_only = false;
    let mut berth = PathBuf::from("target/release/berth");
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--gc-only" => gc_only = true,
            "--berth" => berth = it.next().context("--berth needs a path")?.into(),
            "-h" | "--help" => {
                println!("usage: bench/run [--quick] [--gc-only]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (usage: bench/run [--quick] [--gc-only])"),
        }
    }
    Ok(Args { quick, gc_only, berth })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let plan = Plan::new(args.quick);
    let work = tempfile::Builder::new().prefix("berth-bench-").tempdir()?;
    println!(
        "berth-bench: {} run, {} repetitions, work folder {} (same disk for both registries)",
        if plan.quick { "quick" } else { "full" },
        plan.reps,
        work.path().display()
    );

    let mut report = Report::default();
    if args.gc_only {
        report.gc(gc::run_all(&plan, &args.berth, work.path()).await?);
        report.print();
        return Ok(());
    }
    let limits = limits::measure(&plan, work.path()).await?;
    report.limits(&limits);

    // Start-up, measured on fresh servers before the long-lived ones start.
    let mut startup = [Vec::new(), Vec::new()];
    for r in 0..plan.startup_reps {
        for (i, flavor) in [Flavor::Berth, Flavor::Distribution].into_iter().enumerate() {
            let server = Server::start(flavor, &args.berth, &work.path().join(format!("startup-{i}-{r}"))).await?;
            startup[i].push(server.ready_after.as_secs_f64() * 1000.0);
        }
    }

    let berth = Server::start(Flavor::Berth, &args.berth, &work.path().join("berth")).await?;
    let dist = Server::start(Flavor::Distribution, &args.berth, &work.path().join("distribution")).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = [berth.rss_kib()? as f64 / 1024.0, dist.rss_kib()? as f64 / 1024.0];

    let loopback = limits::LoopbackProbe::start(plan.big_blob, work.path()).await?;
    let results = workloads::run_all(&plan, [&berth, &dist], &loopback, work.path()).await?;
    drop(loopback);
    let peak = [berth.peak_rss_kib()? as f64 / 1024.0, dist.peak_rss_kib()? as f64 / 1024.0];
    drop((berth, dist));
    report.gc(gc::run_all(&plan, &args.berth, work.path()).await?);

    report.row(Row::lower_is_better("start-up to first 200 on /v2/ (ms)", &startup[0], &startup[1], None));
    report.row(Row::single("idle RSS (MiB)", idle[0], idle[1], false));
    report.row(Row::single("peak RSS during the run (MiB)", peak[0], peak[1], false));
    report.workloads(&results[0], &results[1], &limits);
    report.print();
    Ok(())
}
