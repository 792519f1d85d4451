//! The application (`app`): wiring of storage, metadata and HTTP; and `berth serve`: the
//! application on its listeners (`listener.rs`; HTTPS with `tls.rs`), with graceful shutdown.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use berth_api::{ApiState, Editable, ProjectCreation, Settings, keep_settings_current};
use berth_auth::Auth;
use berth_content::Content;
use berth_jobs::Runner;
use berth_jobs::gc::{GarbageCollection, GcContext};
use berth_jobs::housekeeping::{PurgeAuditLog, PurgeJobHistory};
use berth_jobs::retention::{PlanRetention, RetentionTask};
use berth_meta::{Meta, NewUser};
use berth_registry::{RegistryOptions, RegistryState};
use berth_replication::jobs::{CopyTask, PlanExecution};
use berth_replication::{Endpoints, Engine, Sealer};
use berth_storage::BlobStore;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, DEFAULT_ADMIN_PASSWORD, ProjectCreationRestriction};
use crate::housekeeping;
use crate::listener;
use crate::origin::TrustedProxies;
use crate::tls::Certificates;

/// The `service` of registry tokens: Harbor's name, which Harbor-aware tools send as is.
const TOKEN_SERVICE: &str = "harbor-registry";

/// Jobs one instance runs at once.
const JOB_WORKERS: usize = 4;

/// How often the replication event trigger reads the outbox and the scheduler looks at crons.
const REPLICATION_POLL: Duration = Duration::from_secs(1);
/// How often an instance reads the settings other instances may have changed.
const SETTINGS_POLL: Duration = Duration::from_secs(2);

/// SQLite serializes writers anyway; a few connections let reads proceed beside a write.
const SQLITE_CONNECTIONS: u32 = 8;

/// The `storage/` folder of `data_volume`, or the S3 bucket of `storage.s3`.
pub(crate) async fn open_store(config: &Config) -> anyhow::Result<BlobStore> {
    let s3 = &config.storage.s3;
    if s3.bucket.is_empty() {
        let root = config.data_volume.join("storage");
        return BlobStore::open_filesystem(&root)
            .await
            .with_context(|| format!("opening blob storage in {}", root.display()));
    }
    // Keys stay out of the message; the bucket and endpoint say which settings to check.
    BlobStore::open_s3(s3)
        .await
        .with_context(|| format!("opening S3 bucket {:?} at {} (storage.s3)", s3.bucket, s3.endpoint))
}

/// SQLite in `data_volume`, or the shared PostgreSQL database (migrated under its lock).
pub(crate) async fn open_database(config: &Config) -> anyhow::Result<Meta> {
    let max = config.database.max_connections;
    if config.database.url.is_empty() {
        let path = config.data_volume.join("registry.db");
        return Meta::open_sqlite(&path, max.min(SQLITE_CONNECTIONS))
            .await
            .with_context(|| format!("opening the database {}", path.display()));
    }
    // The URL may hold a password: messages show where, never with what.
    let server = without_secrets(&config.database.url);
    tracing::info!(server, "connecting to PostgreSQL (database.url)");
    let acquire_timeout = Duration::from_secs(config.database.acquire_timeout_seconds);
    Meta::open_postgres(&config.database.url, max, acquire_timeout)
        .await
        .with_context(|| format!("connecting to the PostgreSQL database of database.url ({server})"))
}

/// A `postgres://` URL reduced to `postgres://user@host:port/database`: no password, and no query
/// parameters (which may carry one too). The user part ends at the last `@`, so a password with
/// unescaped `/`, `?` or `#` is still cut out whole.
fn without_secrets(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (user, location) = match rest.rsplit_once('@') {
        Some((userinfo, location)) => (userinfo.split(':').next().unwrap_or_default(), location),
        None => ("", rest),
    };
    let location = location.split(['?', '#']).next().unwrap_or_default();
    if user.is_empty() { format!("{scheme}://{location}") } else { format!("{scheme}://{user}@{location}") }
}

/// The application: its HTTP router, and what runs beside it (job runner, replication loops, the
/// pull-event writer), which [`App::start`] starts and [`App::shutdown`] stops. [`serve`] runs it
/// on a TCP listener; tests may run the router in process.
pub struct App {
    router: Router,
    /// `/metrics`, when `metrics.port` gives it a listener of its own.
    metrics: Option<Router>,
    meta: Meta,
    /// Kept to write the queued pull events at shutdown.
    pulls: RegistryState,
    replication: Engine,
    /// What tag retention deletes through.
    content: Content,
    /// The default audit retention and the job history's (the housekeeping jobs' contexts).
    retention: Retention,
    /// What garbage collection runs on, with the configured windows.
    gc: GcContext,
    /// A token, not a notification: a loop that is busy (claiming a job) when the server stops
    /// still sees it when it next waits, instead of waiting forever.
    stop_jobs: CancellationToken,
    /// The job runner and the loops beside it (replication event trigger and scheduler, the audit
    /// purge's schedule): all see `stop_jobs`, and shutdown waits for each to end.
    loops: Vec<tokio::task::JoinHandle<()>>,
    /// Reads the settings other instances changed; only reads, so shutdown simply ends it.
    settings_poll: tokio::task::JoinHandle<()>,
}

/// Opens the database and the blob store of `config` (migrating, and creating the admin user and
/// the `library` project on first start) and wires the application on them. Nothing listens yet
/// and no job runs until [`App::start`].
pub async fn app(config: Config) -> anyhow::Result<App> {
    let trusted_proxies = TrustedProxies::parse(&config.http.trusted_proxies).map_err(anyhow::Error::msg)?;
    let data = &config.data_volume;
    std::fs::create_dir_all(data).with_context(|| format!("creating data_volume {}", data.display()))?;
    let meta = open_database(&config).await?;
    let store = open_store(&config).await?;
    bootstrap(&meta, &config).await?;
    let auth = Arc::new(
        Auth::new(meta.clone(), TOKEN_SERVICE.to_owned(), Duration::from_secs(config.token_expiration * 60))
            .await
            .context("loading the token-signing key")?,
    );
    let endpoints = Endpoints::new(meta.clone(), sealer(&config, &meta).await?, registry_id(&meta).await?);
    let content = Content::new(meta.clone(), store.clone());
    let options =
        RegistryOptions { external_url: config.external_url.clone(), redirect_blobs: config.storage.redirect };
    let registry =
        RegistryState::new(content.clone(), auth.clone(), options).with_upstreams(Arc::new(endpoints.clone()));
    let pulls = registry.clone();
    let replication = Engine::new(endpoints.clone(), content.clone());
    let api = ApiState::new(
        auth.clone(),
        Settings::new(
            config.external_url.clone(),
            Editable {
                self_registration: config.self_registration,
                project_creation: match config.project_creation_restriction {
                    ProjectCreationRestriction::Everyone => ProjectCreation::Everyone,
                    ProjectCreationRestriction::AdminOnly => ProjectCreation::AdminOnly,
                },
                token_expiration: config.token_expiration,
            },
        )
        .with_audit_log_retention_hours(config.audit_log_retention_days * 24),
        content.clone(),
        endpoints,
    );
    // Settings changed at run time (by an administrator, on any instance) override the file's.
    api.settings().refresh(&auth).await.map_err(|e| anyhow::anyhow!("reading the stored settings: {}", e.message()))?;
    let settings_poll = tokio::spawn(keep_settings_current(api.clone(), SETTINGS_POLL));
    let api_router = berth_api::router(api.clone());
    let router = Router::new()
        .merge(berth_registry::router(registry))
        .merge(berth_ui::router(api_router.clone(), auth))
        .merge(api_router)
        .layer(middleware::from_fn_with_state(crate::limits::Limits::new(&config.limits), crate::limits::enforce))
        .layer(middleware::from_fn(crate::request_body::finish_unread))
        .layer(middleware::map_response(crate::no_sniffing::no_sniffing))
        .layer(middleware::from_fn(log_request))
        // Around the log line, which becomes an event of the request's span.
        .layer(middleware::from_fn(crate::telemetry::trace_request))
        // Outermost: every layer and handler sees where the request came from, resolved once.
        .layer(middleware::from_fn_with_state(Arc::new(trusted_proxies), crate::origin::resolve));
    let (router, metrics) = crate::metrics::wire(&config.metrics, api, meta.clone(), router);
    Ok(App {
        router,
        metrics,
        meta,
        pulls,
        replication,
        gc: gc_context(&config, content.clone()),
        content,
        retention: Retention {
            audit: Duration::from_secs(config.audit_log_retention_days * 86_400),
            jobs: Duration::from_secs(config.job_history_retention_days * 86_400),
        },
        stop_jobs: CancellationToken::new(),
        loops: Vec::new(),
        settings_poll,
    })
}

impl App {
    /// The HTTP application. Its first layer resolves each request's `ClientOrigin` from the
    /// peer's `ConnectInfo<SocketAddr>` when the server provides it ([`serve`] does); without
    /// it, requests come from an unknown address over plain HTTP.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The metadata store the application runs on.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Starts what runs beside the HTTP server: this instance's job workers, the housekeeping
    /// schedules (audit and job history purges), the replication event trigger and scheduler.
    pub fn start(&mut self) {
        let stop = &self.stop_jobs;
        let jobs = job_runner(&self.meta, self.retention, &self.replication, &self.content, &self.gc).run(stop.clone());
        self.loops = vec![
            tokio::spawn(jobs),
            tokio::spawn(housekeeping::schedule(self.meta.clone(), stop.clone())),
            tokio::spawn(self.replication.clone().run_event_trigger(REPLICATION_POLL, stop.clone())),
            tokio::spawn(self.replication.clone().run_scheduler(REPLICATION_POLL, stop.clone())),
        ];
    }

    /// What follows the last request: claim no more jobs and hand the running ones back to the
    /// queue (another instance takes them at once), wait for the replication loops to finish
    /// their round, write the queued pull events, close the database.
    pub async fn shutdown(self) {
        self.stop_jobs.cancel();
        self.settings_poll.abort();
        for task in self.loops {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a background loop failed");
            }
        }
        self.pulls.close().await;
        self.meta.close().await;
    }
}

/// `berth serve`: the application on `http.address`:`http.port` (HTTPS with `http.tls`, and the
/// plain `http.tls.redirect_port` beside it) until SIGTERM or Ctrl-C, then a graceful shutdown
/// (in-flight requests finish, then [`App::shutdown`]).
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let started = Instant::now();
    let (http, data, external_url) = (config.http.clone(), config.data_volume.clone(), config.external_url.clone());
    let metrics = config.metrics.clone();
    // Certificates first: a wrong one stops Berth before it touches its data.
    let certificates = if http.tls.enabled() { Some(Certificates::load(&http.tls)?) } else { None };
    let mut app = app(config).await?;
    let ip: IpAddr = http.address.parse()?;
    let listener = bind(SocketAddr::new(ip, http.port)).await?;
    let redirect = match http.tls.redirect_port {
        0 => None,
        port => Some(bind(SocketAddr::new(ip, port)).await?),
    };
    let metrics_listener = match app.metrics.take() {
        Some(router) => Some(crate::metrics::listen(&metrics.address, metrics.port, router).await?),
        None => None,
    };
    tracing::info!(
        address = %listener.local_addr()?,
        tls = certificates.is_some(),
        data_volume = %data.display(),
        ready_in_ms = started.elapsed().as_millis() as u64,
        "berth is ready"
    );
    app.start();
    let stop = CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown_signal().await;
            stop.cancel();
        }
    });
    let max = http.max_connections as usize;
    let tls = match &certificates {
        Some(certificates) => {
            tokio::spawn(certificates.clone().keep_current(stop.clone()));
            Some(certificates.acceptor()?)
        }
        None => None,
    };
    let https_port = listener.local_addr()?.port();
    let plain = redirect.map(|listener| {
        let router = crate::redirect::router(https_port, external_url);
        tokio::spawn(listener::serve(listener, None, router, max, stop.clone()))
    });
    listener::serve(listener, tls, app.router(), max, stop).await;
    if let Some(plain) = plain {
        let _ = plain.await;
    }
    if let Some(listener) = metrics_listener {
        listener.abort();
    }
    app.shutdown().await;
    tracing::info!("berth stopped");
    Ok(())
}

async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))
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
    let admin = NewUser {
        username: "admin",
        email: None,
        realname: "system admin",
        comment: "created on first start",
        password_hash: &hash,
        sysadmin: true,
    };
    // Instances started together on an empty shared database all get here; the first to take
    // the lock creates both, the others find the admin there.
    if !meta.first_start(&admin, "library").await? {
        return Ok(());
    }
    tracing::info!("first start: created user admin and public project library");
    Ok(())
}

/// How long history is kept: the audit log when no schedule says otherwise, and finished jobs.
#[derive(Debug, Clone, Copy)]
struct Retention {
    audit: Duration,
    jobs: Duration,
}

/// This instance's job workers, running every kind of job Berth has.
fn job_runner(meta: &Meta, retention: Retention, replication: &Engine, content: &Content, gc: &GcContext) -> Runner {
    let id = format!("{}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
    Runner::new(meta.clone(), id, JOB_WORKERS)
        .register::<PurgeAuditLog>(retention.audit)
        .register::<PurgeJobHistory>(retention.jobs)
        .register::<GarbageCollection>(gc.clone())
        .register::<PlanExecution>(replication.clone())
        .register::<CopyTask>(replication.clone())
        .register::<PlanRetention>(content.clone())
        .register::<RetentionTask>(content.clone())
}

/// What garbage collection runs on: the content and the configured windows. Tag tombstones live
/// as long as the audit log (the event outbox replication reads), see [`GcContext`].
pub fn gc_context(config: &Config, content: Content) -> GcContext {
    GcContext {
        content,
        time_window: config.gc.time_window(),
        upload_idle: config.gc.upload_idle(),
        tombstone_age: Duration::from_secs(config.audit_log_retention_days * 86_400),
    }
}

/// This deployment's registry id, made on its first start and shared by every instance.
async fn registry_id(meta: &Meta) -> anyhow::Result<String> {
    let id = meta.system_value("registry_id", || uuid::Uuid::new_v4().to_string()).await?;
    Ok(id)
}

/// The key sealing stored secrets: `secret_key`, else one generated once: in a file of
/// `data_volume` on SQLite (so a copy of the database alone does not carry it), in the database
/// on PostgreSQL (every instance must use the same; configure `secret_key` to keep it out).
async fn sealer(config: &Config, meta: &Meta) -> anyhow::Result<Sealer> {
    if !config.secret_key.is_empty() {
        return Ok(Sealer::new(&config.secret_key));
    }
    if config.database.url.is_empty() {
        let path = config.data_volume.join("secret.key");
        let secret = match std::fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                use std::io::Write;
                use std::os::unix::fs::OpenOptionsExt;
                let secret = Sealer::generate_secret();
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .with_context(|| format!("creating {}", path.display()))?;
                file.write_all(secret.as_bytes())?;
                file.sync_all()?;
                secret
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        return Ok(Sealer::new(secret.trim()));
    }
    tracing::warn!("secret_key is not set: endpoint passwords are sealed with a key kept in the database");
    Ok(Sealer::new(&meta.system_value("secret_key", Sealer::generate_secret).await?))
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

#[cfg(test)]
mod tests {
    use super::without_secrets;

    #[test]
    fn database_urls_lose_their_secrets() {
        let cases = [
            ("postgres://berth:s3cret@db.example:5432/berth", "postgres://berth@db.example:5432/berth"),
            ("postgresql://berth:s3:cr@t@db/berth?sslmode=require", "postgresql://berth@db/berth"),
            ("postgres://db.example/berth?password=s3cret", "postgres://db.example/berth"),
            ("postgres://berth@127.0.0.1", "postgres://berth@127.0.0.1"),
            ("postgres://berth:a/b?c#d@db:5432/berth", "postgres://berth@db:5432/berth"),
        ];
        for (url, shown) in cases {
            assert_eq!(without_secrets(url), shown);
        }
    }
}
