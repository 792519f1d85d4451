//! `berth`: the registry binary, a command line around the library's [`berth::serve`].

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "berth", version, about = "An enterprise container registry in one binary")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the registry. Without a configuration file it serves on embedded defaults: SQLite and
    /// blobs under ./data, port 5000.
    Serve {
        /// YAML configuration file (see berth.example.yml).
        #[arg(long, short, env = "BERTH_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Collects garbage once (as `/system/gc` does) against the configured database and storage,
    /// beside running instances, and prints what it freed.
    Gc {
        /// YAML configuration file (see berth.example.yml).
        #[arg(long, short, env = "BERTH_CONFIG")]
        config: Option<PathBuf>,
        /// Reports what would be freed; deletes nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also deletes artifacts no tag names.
        #[arg(long)]
        delete_untagged: bool,
        /// Deletion batches run in parallel (1 to 5).
        #[arg(long, default_value_t = 1)]
        workers: u8,
    },
}

fn main() -> anyhow::Result<()> {
    tune_malloc();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => {
            let config = berth::config::Config::load(config.as_deref(), std::env::vars())?;
            let telemetry = berth::init_logging(&config.log, &config.tracing)?;
            if !config.ignored_variables.is_empty() {
                // Kubernetes' variables for a Service named `berth`, or a script's own.
                let ignored = config.ignored_variables.join(", ");
                tracing::warn!(ignored, "BERTH_* environment variables that name no configuration key are ignored");
            }
            let served =
                tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(berth::serve(config));
            // After the last request and the runtime: the spans of the shutdown are sent too.
            telemetry.shutdown();
            served
        }
        Command::Gc { config, dry_run, delete_untagged, workers } => {
            let config = berth::config::Config::load(config.as_deref(), std::env::vars())?;
            let run = berth_jobs::gc::GarbageCollection { delete_untagged, dry_run, workers };
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(berth::gc::collect(&config, &run))?;
            Ok(())
        }
    }
}

/// Tunes glibc's allocator for a server that streams bodies in chunks of up to a few MiB.
///
/// The mmap threshold is fixed at 4 MiB. By default it rises to the size of the largest block
/// freed so far, so after the first argon2id hash (19 MiB of working memory, on every first start)
/// later password checks take their 19 MiB from the heap, which glibc keeps: an idle server
/// would stay 19 MiB larger for good. With a fixed threshold such blocks are mapped and unmapped,
/// while the small, frequent allocations of request handling stay on the heap.
///
/// The trim threshold is raised to 8 MiB: at the default 128 KiB, freeing a streamed chunk gave
/// its pages back to the kernel, and the next chunk faulted them in and zeroed them again, which
/// held a download through 1 MiB buffers at ~60% of the speed it reached with the pages kept.
/// Blobs on the filesystem are now sent from mapped files, but request bodies and blobs streamed
/// from S3 or an upstream registry still arrive in such chunks.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called first thing, before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 * 1024 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 8 * 1024 * 1024);
    }
}
