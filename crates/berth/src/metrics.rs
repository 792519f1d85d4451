//! `/metrics`: the process's counters (`berth_metrics`) and gauges read at scrape time from the
//! database and the health checks, in Prometheus' formats; the middleware that counts requests;
//! and the listener of its own that `metrics.port` asks for.
//!
//! The gauges are Harbor's exporter's where Harbor has one (`harbor_project_*`, `harbor_task_*`,
//! `harbor_up`, `harbor_health`, `harbor_system_info`: dashboards made for Harbor work), Berth's
//! own otherwise (`berth_*`). They are read once per [`GAUGES_TTL`] whatever the number of
//! scrapers: concurrent scrapes wait for one reading.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use berth_api::ApiState;
use berth_meta::Meta;
use berth_metrics::{Format, Gauges, Route, metrics};
use tokio::sync::Mutex;

/// How long gauges read from the database are served before they are read again.
const GAUGES_TTL: Duration = Duration::from_secs(5);

/// What `/metrics` reads its gauges from, and the last reading.
struct Exporter {
    api: ApiState,
    meta: Meta,
    last: Mutex<Option<(Instant, Arc<Gauges>)>>,
}

/// The `/metrics` route.
fn router(api: ApiState, meta: Meta) -> Router {
    let exporter = Arc::new(Exporter { api, meta, last: Mutex::new(None) });
    Router::new().route("/metrics", get(scrape)).with_state(exporter)
}

async fn scrape(State(exporter): State<Arc<Exporter>>, headers: HeaderMap) -> Response {
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let gauges = exporter.gauges().await;
    ([(header::CONTENT_TYPE, format.content_type())], metrics().render(&gauges, format)).into_response()
}

impl Exporter {
    async fn gauges(&self) -> Arc<Gauges> {
        let mut last = self.last.lock().await;
        if let Some((at, gauges)) = last.as_ref()
            && at.elapsed() < GAUGES_TTL
        {
            return gauges.clone();
        }
        let gauges = Arc::new(self.read().await);
        *last = Some((Instant::now(), gauges.clone()));
        gauges
    }

    /// A fresh reading. A part the database cannot answer is left out (and logged); the health
    /// gauges say what is down.
    async fn read(&self) -> Gauges {
        let mut g = Gauges::default();
        self.health(&mut g).await;
        if let Err(e) = self.projects(&mut g).await {
            tracing::warn!(error = %e, "metrics: reading project statistics");
        }
        if let Err(e) = self.queues(&mut g).await {
            tracing::warn!(error = %e, "metrics: reading the job queues");
        }
        self.pools(&mut g);
        g
    }

    async fn health(&self, g: &mut Gauges) {
        let components = berth_api::component_health(&self.api).await;
        let healthy = components.iter().all(|(_, ok)| *ok);
        g.set("harbor_health", "Whether every component is healthy (1) or not (0)", &[], f64::from(u8::from(healthy)));
        for (component, ok) in &components {
            g.set(
                "harbor_up",
                "Whether a component is healthy (1) or not (0)",
                &[("component", component)],
                f64::from(u8::from(*ok)),
            );
        }
        let self_registration = self.api.settings().current().self_registration.to_string();
        let info = [
            ("auth_mode", "db_auth"),
            ("harbor_version", berth_api::HARBOR_VERSION),
            ("self_registration", self_registration.as_str()),
        ];
        g.set("harbor_system_info", "Information about this registry", &info, 1.0);
    }

    async fn projects(&self, g: &mut Gauges) -> Result<(), berth_meta::MetaError> {
        let projects = self.meta.project_statistics().await?;
        let artifacts = self.meta.artifact_counts().await?;
        for public in [true, false] {
            let count = projects.iter().filter(|p| p.public == public).count();
            g.set("harbor_project_total", "Projects", &[("public", bool_label(public))], count as f64);
        }
        for p in &projects {
            let (name, public) = (p.name.as_str(), bool_label(p.public));
            let project = [("project_name", name)];
            g.set(
                "harbor_project_repo_total",
                "Repositories of a project",
                &[("project_name", name), ("public", public)],
                p.repositories as f64,
            );
            g.set("harbor_project_member_total", "Members of a project", &project, p.members as f64);
            g.set("harbor_project_quota_usage_byte", "Bytes a project uses", &project, p.usage as f64);
            g.set(
                "harbor_project_quota_byte",
                "A project's storage quota in bytes (-1: none)",
                &project,
                p.storage_limit as f64,
            );
            g.set("harbor_artifact_pulled", "Pulls of a project's artifacts", &project, p.pulls as f64);
        }
        // Harbor's artifact types (IMAGE, CHART, ...) summed over the media types they cover.
        let mut by_type: std::collections::BTreeMap<(&str, &'static str), i64> = Default::default();
        for a in &artifacts {
            let kind = berth_oci::media_type::harbor_artifact_type(&a.media_type, a.artifact_type.as_deref());
            *by_type.entry((a.project.as_str(), kind)).or_default() += a.count;
        }
        for ((project, kind), count) in by_type {
            let Some(p) = projects.iter().find(|p| p.name == project) else { continue };
            let labels = [("project_name", project), ("public", bool_label(p.public)), ("artifact_type", kind)];
            g.set("harbor_project_artifact_total", "Artifacts of a project, by type", &labels, count as f64);
        }
        Ok(())
    }

    async fn queues(&self, g: &mut Gauges) -> Result<(), berth_meta::MetaError> {
        for q in self.meta.job_queues().await? {
            let kind = [("type", q.kind.as_str())];
            g.set("harbor_task_queue_size", "Jobs waiting to run, by kind", &kind, q.pending as f64);
            g.set(
                "harbor_task_queue_latency",
                "Seconds the oldest job due to run has waited, by kind",
                &kind,
                q.latency as f64,
            );
        }
        let sessions = self.meta.upload_sessions().await?;
        g.set("berth_upload_sessions", "Upload sessions open (on every instance)", &[], sessions as f64);
        Ok(())
    }

    fn pools(&self, g: &mut Gauges) {
        for pool in self.meta.pool_use() {
            let busy = pool.open.saturating_sub(pool.idle);
            for (state, count) in [("in_use", busy), ("idle", pool.idle)] {
                let labels = [("pool", pool.pool), ("state", state)];
                g.set(
                    "berth_db_connections",
                    "This instance's database connections, by pool and state",
                    &labels,
                    f64::from(count),
                );
            }
            g.set(
                "berth_db_connections_max",
                "Most connections a pool opens",
                &[("pool", pool.pool)],
                f64::from(pool.max),
            );
        }
    }
}

fn bool_label(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

/// Counts each request by its route template (the `/v2/` handler names its own; other routes
/// are the router's templates), method and status, and times it until its response starts.
async fn count_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let response = next.run(req).await;
    metrics().request(route(matched, &response), method, response.status().as_u16(), started.elapsed());
    response
}

/// The route template a request took: the one the `/v2/` handler names, else the router's.
pub(crate) fn route(matched: Option<MatchedPath>, response: &Response) -> Cow<'static, str> {
    match (response.extensions().get::<Route>(), matched) {
        (Some(Route(template)), _) => Cow::Borrowed(*template),
        (None, Some(matched)) => Cow::Owned(matched.as_str().to_owned()),
        (None, None) => Cow::Borrowed("unmatched"),
    }
}

/// The method as a label: any method outside HTTP's own is `other` (a client may send any token).
fn method_label(method: &Method) -> &'static str {
    static KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN.iter().find(|known| *known == method).map_or("other", Method::as_str)
}

/// Adds metrics to the application's `router` as `config` says: requests counted, and `/metrics`
/// served on it (port 0) or returned, to be served on its own listener ([`listen`]).
pub(crate) fn wire(
    config: &crate::config::Metrics,
    api: ApiState,
    meta: Meta,
    app: Router,
) -> (Router, Option<Router>) {
    if !config.enabled {
        return (app, None);
    }
    let exporter = router(api, meta);
    let (app, own) = if config.port == 0 { (app.merge(exporter), None) } else { (app, Some(exporter)) };
    (app.layer(axum::middleware::from_fn(count_request)), own)
}

/// Serves `router` (the `/metrics` route) on `address`:`port` until the task is aborted.
pub(crate) async fn listen(address: &str, port: u16, router: Router) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let addr = SocketAddr::new(address.parse()?, port);
    let listener =
        tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr} (metrics.port)"))?;
    tracing::info!(address = %listener.local_addr()?, "serving /metrics");
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    }))
}
