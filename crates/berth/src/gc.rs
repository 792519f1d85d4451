//! `berth gc`: one garbage collection from the command line, against the configured database
//! and storage, beside running instances (the collection lock keeps it from overlapping theirs).

use berth_content::{Content, GcLog};
use berth_jobs::gc::GarbageCollection;
use berth_meta::GcResult;

use crate::config::Config;
use crate::serve::{gc_context, open_database, open_store};

/// The log of a command-line run: the terminal.
struct Terminal;

impl GcLog for Terminal {
    async fn line(&self, line: String) {
        println!("{line}");
    }
}

/// Runs collection `run` once; what it freed.
pub async fn collect(config: &Config, run: &GarbageCollection) -> anyhow::Result<GcResult> {
    let meta = open_database(config).await?;
    let store = open_store(config).await?;
    let ctx = gc_context(config, Content::new(meta.clone(), store));
    let holder = format!("cli-{}-{}", hostname(), std::process::id());
    let result = run.collect(&ctx, &holder, 0, &Terminal).await;
    meta.close().await;
    result
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "localhost".into())
}
