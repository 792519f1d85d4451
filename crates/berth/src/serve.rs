//! `berth serve`: wiring of storage, metadata and HTTP, and graceful shutdown.

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::Context;
use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use berth_meta::Meta;
use berth_registry::{Access, RegistryState};
use berth_storage::BlobStore;

use crate::config::{Config, Log, LogFormat};

/// SQLite serializes writers anyway; a few connections let reads proceed beside a write.
const SQLITE_CONNECTIONS: u32 = 8;

pub fn init_logging(log: &Log) {
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        // sqlx logs every statement at debug: useful only when asked for explicitly (trace).
        .with_env_filter(tracing_subscriber::EnvFilter::new(format!("{},sqlx=warn", log.level.as_str())))
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    let started = Instant::now();
    let data = &config.data_volume;
    std::fs::create_dir_all(data).with_context(|| format!("creating data_volume {}", data.display()))?;
    let meta = Meta::open_sqlite(&data.join("registry.db"), SQLITE_CONNECTIONS)
        .await
        .with_context(|| format!("opening the database in {}", data.display()))?;
    let store = BlobStore::open(data.join("storage"))
        .await
        .with_context(|| format!("opening blob storage in {}", data.display()))?;
    let state = RegistryState::new(meta.clone(), store, Access::default(), config.external_url.as_deref());
    let app = Router::new().merge(berth_registry::router(state)).layer(middleware::from_fn(log_request));

    let addr = SocketAddr::new(config.http.address.parse()?, config.http.port);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    tracing::info!(
        address = %listener.local_addr()?,
        data_volume = %data.display(),
        ready_in_ms = started.elapsed().as_millis() as u64,
        "berth is ready"
    );
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    meta.close().await;
    tracing::info!("berth stopped");
    Ok(())
}

async fn log_request(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let started = Instant::now();
    let response = next.run(req).await;
    tracing::info!(
        %method,
        path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

/// SIGTERM or Ctrl-C: stop accepting, let in-flight requests finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
