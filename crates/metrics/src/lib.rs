//! Berth's metrics: the families the crates below the HTTP layer count into (storage, content,
//! jobs, replication) and the HTTP layer's own, in one process-wide set ([`metrics`]), and their
//! exposition in Prometheus' formats ([`exposition`]). Depends on `prometheus-client` only, so
//! no domain crate needs an HTTP crate to count.
//!
//! Counting is a relaxed atomic addition; a labelled family takes a shared read lock to find its
//! counter (a write lock only the first time a label set is seen). Labels take values from fixed
//! sets (route templates, operations, job kinds), never from a request's path or input.

mod exposition;
mod gauges;
mod histogram;

use std::borrow::Cow;
use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

pub use exposition::Format;
pub use gauges::Gauges;
pub use histogram::DurationHistogram;

/// The route template a response answered, for handlers whose router cannot say it (the `/v2/`
/// API is one catch-all route, parsed by hand): set as a response extension.
#[derive(Debug, Clone, Copy)]
pub struct Route(pub &'static str);

/// A request's labels: the route *template*, never the path (paths are unbounded).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: Cow<'static, str>,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: Cow<'static, str>,
    method: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: String,
    outcome: &'static str,
}

/// Every metric Berth counts in process. Database-derived gauges are not here: they are read at
/// scrape time (see [`Gauges`]).
#[derive(Debug)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, DurationHistogram>,
    blob_bytes_pushed: Counter,
    blob_bytes_pulled: Counter,
    storage_errors: Family<OperationLabels, Counter>,
    jobs_finished: Family<JobLabels, Counter>,
    replication_bytes_copied: Counter,
    registry: Registry,
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

impl Metrics {
    fn new() -> Metrics {
        let metrics = Metrics {
            requests: Family::default(),
            durations: Family::default(),
            blob_bytes_pushed: Counter::default(),
            blob_bytes_pulled: Counter::default(),
            storage_errors: Family::default(),
            jobs_finished: Family::default(),
            replication_bytes_copied: Counter::default(),
            registry: Registry::default(),
        };
        let mut registry = Registry::default();
        let r = &mut registry;
        r.register(
            "berth_http_requests",
            "HTTP requests answered, by route template, method and status",
            metrics.requests.clone(),
        );
        let duration = "Time to answer an HTTP request (until its response starts), by route template and method";
        r.register("berth_http_request_duration_seconds", duration, metrics.durations.clone());
        let storage = "Failures of the blob storage (I/O, object storage service, missing data), by operation";
        r.register("berth_storage_errors", storage, metrics.storage_errors.clone());
        let jobs = "Job attempts this instance ran, by kind and outcome (succeeded, failed, stopped)";
        r.register("berth_jobs_finished", jobs, metrics.jobs_finished.clone());
        let counters = [
            (
                "berth_blob_bytes_pushed",
                "Bytes of blob upload bodies received from clients",
                &metrics.blob_bytes_pushed,
            ),
            ("berth_blob_bytes_pulled", "Bytes of blobs sent to clients", &metrics.blob_bytes_pulled),
            (
                "berth_replication_bytes_copied",
                "Blob bytes replication sent to or fetched from other registries",
                &metrics.replication_bytes_copied,
            ),
        ];
        for (name, help, counter) in counters {
            r.register(name, help, counter.clone());
        }
        Metrics { registry, ..metrics }
    }

    /// An answered HTTP request.
    pub fn request(&self, route: Cow<'static, str>, method: &'static str, status: u16, elapsed: Duration) {
        self.durations.get_or_create(&RouteLabels { route: route.clone(), method }).observe(elapsed);
        self.requests.get_or_create(&RequestLabels { route, method, status }).inc();
    }

    pub fn blob_bytes_pushed(&self, bytes: u64) {
        self.blob_bytes_pushed.inc_by(bytes);
    }

    pub fn blob_bytes_pulled(&self, bytes: u64) {
        self.blob_bytes_pulled.inc_by(bytes);
    }

    /// A storage operation that failed for a reason of the storage's, not the client's.
    pub fn storage_error(&self, operation: &'static str) {
        self.storage_errors.get_or_create(&OperationLabels { operation }).inc();
    }

    /// An attempt of a job of `kind` ended: `succeeded`, `failed` or `stopped`.
    pub fn job_ended(&self, kind: &str, outcome: &'static str) {
        self.jobs_finished.get_or_create(&JobLabels { kind: kind.to_owned(), outcome }).inc();
    }

    pub fn replication_bytes_copied(&self, bytes: u64) {
        self.replication_bytes_copied.inc_by(bytes);
    }

    /// The metrics in `format`, followed by `gauges` (read at scrape time by the caller).
    pub fn render(&self, gauges: &Gauges, format: Format) -> String {
        exposition::render(&[&self.registry, gauges.registry()], format)
    }
}
