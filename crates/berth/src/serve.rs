//! `berth serve`: wiring of storage, metadata and HTTP, and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use berth_api::{ApiState, ProjectCreation, Settings};
use berth_auth::Auth;
use berth_meta::{Meta, NewUser};
use berth_registry::{Access, RegistryState};
use berth_storage::BlobStore;

use crate::config::{Config, DEFAULT_ADMIN_PASSWORD, Log, LogFormat, ProjectCreationRestriction};

/// The `service` of registry tokens: Harbor's name, which Harbor-aware tools send as is.
const TOKEN_SERVICE: &str = "harbor-registry";

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
    bootstrap(&meta, &config).await?;
    let auth = Arc::new(
        Auth::new(meta.clone(), TOKEN_SERVICE.to_owned(), Duration::from_secs(config.token_expiration * 60))
            .await
            .context("loading the token-signing key")?,
    );
    let access = Access::new(auth.clone(), config.external_url.as_deref());
    let registry = RegistryState::new(meta.clone(), store, access, config.external_url.as_deref());
    let api = ApiState::new(
        auth,
        Settings {
            self_registration: config.self_registration,
            project_creation: match config.project_creation_restriction {
                ProjectCreationRestriction::Everyone => ProjectCreation::Everyone,
                ProjectCreationRestriction::AdminOnly => ProjectCreation::AdminOnly,
            },
            external_url: config.external_url.clone(),
        },
    );
    let app = Router::new()
        .merge(berth_registry::router(registry))
        .merge(berth_api::router(api))
        .layer(middleware::from_fn(log_request));

    let addr = SocketAddr::new(config.http.address.parse()?, config.http.port);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    tracing::info!(
        address = %listener.local_addr()?,
        data_volume = %data.display(),
        ready_in_ms = started.elapsed().as_millis() as u64,
        "berth is ready"
    );
    tokio::spawn(purge_audit_log(meta.clone(), Duration::from_secs(config.audit_log_retention_days * 86_400)));
    // Peer addresses feed the audit log's source_ip.
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    meta.close().await;
    tracing::info!("berth stopped");
    Ok(())
}

/// First start: the `admin` user (with `admin_password`) and the public `library` project.
async fn bootstrap(meta: &Meta, config: &Config) -> anyhow::Result<()> {
    if meta.user_by_name("admin").await?.is_some() {
        return Ok(());
    }
    if config.admin_password == DEFAULT_ADMIN_PASSWORD {
        tracing::warn!("admin_password is Harbor's well-known default: change it (PUT /api/v2.0/users/1/password)");
    }
    let hash = berth_auth::password::hash(&config.admin_password);
    let admin = meta
        .create_user(&NewUser {
            username: "admin",
            email: None,
            realname: "system admin",
            comment: "created on first start",
            password_hash: &hash,
            sysadmin: true,
        })
        .await?;
    meta.create_project("library", true, admin, -1).await?;
    tracing::info!("first start: created user admin and public project library");
    Ok(())
}

/// Deletes audit records past the retention period, at start and then hourly.
async fn purge_audit_log(meta: Meta, retention: Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let before = berth_auth::now() - retention.as_secs() as i64;
        match meta.purge_audit(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(records = n, "purged audit records past retention"),
            Err(e) => tracing::warn!(error = %e, "purging the audit log"),
        }
    }
}

/// Logs each request, and tags it with an `X-Request-Id` (the client's, or a new one).
async fn log_request(mut req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let header = HeaderValue::try_from(request_id.as_str()).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    req.headers_mut().insert("x-request-id", header.clone());
    let started = Instant::now();
    let mut response = next.run(req).await;
    response.headers_mut().insert("x-request-id", header);
    tracing::info!(
        request_id,
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
