//! `berth`: the registry binary.

mod config;
mod serve;

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => {
            let config = config::Config::load(config.as_deref(), std::env::vars())?;
            serve::init_logging(&config.log);
            tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(serve::serve(config))
        }
    }
}
