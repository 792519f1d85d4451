//! What Berth tells about itself: its log (on stderr) and, when `tracing.otlp.endpoint` is set,
//! its spans sent to an OpenTelemetry collector over OTLP/HTTP; and the layer that opens a server
//! span for each request, continuing the trace of a client's `traceparent`.
//!
//! The spans are Berth's own (targets `berth*`): the server span of each request and the child
//! spans of the expensive paths (`#[tracing::instrument]` in the domain crates). Dependencies'
//! spans are neither logged nor exported. Spans are batched on the SDK's own thread and exported
//! from there: a request never waits for the collector, and a collector that is down costs a
//! warning a minute.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::KeyValue;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter};
use tracing::field::Empty;
use tracing::{Instrument, Level, Metadata};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{self, FilterExt};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{Log, LogFormat, Tracing};

/// How often a collector that keeps failing is reported in the log.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// The tracer provider, when tracing is on; [`Telemetry::shutdown`] sends what is still queued.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    timeout: Duration,
}

impl Telemetry {
    /// Exports the spans still queued (waiting at most `tracing.otlp.timeout_seconds`) and stops
    /// the exporter. Called once the server has stopped.
    pub fn shutdown(self) {
        let Some(provider) = self.provider else { return };
        if let Err(e) = provider.shutdown_with_timeout(self.timeout) {
            tracing::warn!(error = %e, "tracing: the last spans were not all exported");
        }
    }
}

/// Installs the process's subscriber: the log as `log` says (its events only, at its level), and
/// Berth's spans and events at `info` sent over OTLP when `tracing` has an endpoint.
pub fn init_logging(log: &Log, tracing: &Tracing) -> anyhow::Result<Telemetry> {
    let timeout = Duration::from_secs(tracing.otlp.timeout_seconds);
    let url = if tracing.enabled() { Some(tracing.traces_url()?) } else { None };
    let provider = url.as_ref().map(|url| tracer_provider(tracing, url)).transpose()?;
    let otel = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer().with_tracer(provider.tracer("berth")).with_filter(filter::filter_fn(berths_own))
    });
    tracing_subscriber::registry().with(log_layer(log)).with(otel).init();
    if let Some(url) = url {
        tracing::info!(url, sample_ratio = tracing.sample_ratio, "tracing: exporting spans over OTLP/HTTP");
    }
    Ok(Telemetry { provider, timeout })
}

/// The log on stderr: events only (a line does not repeat the fields of the spans around it).
fn log_layer<S>(log: &Log) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use std::io::IsTerminal;
    // sqlx logs every statement at debug, the HTTP client every pooled connection: useful only
    // when asked for explicitly (trace).
    let level = EnvFilter::new(format!("{},sqlx=warn,hyper_util=info,reqwest=info", log.level.as_str()));
    let events = level.and(filter::filter_fn(|meta: &Metadata<'_>| meta.is_event()));
    let layer =
        tracing_subscriber::fmt::layer().with_ansi(std::io::stderr().is_terminal()).with_writer(std::io::stderr);
    match log.format {
        LogFormat::Json => layer.json().with_filter(events).boxed(),
        LogFormat::Text => layer.with_filter(events).boxed(),
    }
}

/// Berth's own spans and events at `info` or above: those of its dependencies (the exporter's
/// HTTP client among them) would be noise, or a loop.
fn berths_own(meta: &Metadata<'_>) -> bool {
    meta.target().starts_with("berth") && *meta.level() <= Level::INFO
}

fn tracer_provider(tracing: &Tracing, url: &str) -> anyhow::Result<SdkTracerProvider> {
    let headers = tracing.header_pairs().map(|(name, value)| (name.to_owned(), value.to_owned())).collect();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(url)
        .with_timeout(Duration::from_secs(tracing.otlp.timeout_seconds))
        .with_headers(headers)
        .build()
        .with_context(|| format!("configuration key `tracing.otlp.endpoint`: an exporter to {url}"))?;
    let mut attributes = vec![KeyValue::new("service.version", env!("CARGO_PKG_VERSION"))];
    attributes.extend(tracing.attribute_pairs().map(|(k, v)| KeyValue::new(k.to_owned(), v.to_owned())));
    let resource =
        Resource::builder().with_service_name(tracing.service_name.clone()).with_attributes(attributes).build();
    Ok(SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(tracing.sample_ratio))))
        .with_batch_exporter(Reported::new(exporter, url.to_owned()))
        .with_resource(resource)
        .build())
}

/// The OTLP exporter, reporting failures in the log: the first, then one a minute while they
/// last, and the recovery.
#[derive(Debug)]
struct Reported<E> {
    inner: E,
    url: String,
    /// When a failure was last logged; `None` while exports succeed.
    failing: Mutex<Option<Instant>>,
}

impl<E> Reported<E> {
    fn new(inner: E, url: String) -> Self {
        Reported { inner, url, failing: Mutex::new(None) }
    }

    fn report(&self, result: &OTelSdkResult) {
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        match (result, *failing) {
            (Ok(()), None) => {}
            (Ok(()), Some(_)) => {
                *failing = None;
                tracing::info!(url = self.url, "tracing: the collector accepts spans again");
            }
            (Err(e), last) => {
                if last.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
                    *failing = Some(Instant::now());
                    tracing::warn!(url = self.url, error = %e, "tracing: exporting spans failed (reported once a minute while it lasts)");
                }
            }
        }
    }
}

impl<E: SpanExporter> SpanExporter for Reported<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        self.report(&result);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// The server span of a request, named `METHOD route` once the route is known, with the
/// semantic conventions' attributes (never headers, the query or the body: they may hold
/// credentials). A `traceparent` sent by the client (or a proxy) makes it a child of that span.
/// When tracing is off the span is disabled and this costs next to nothing.
pub(crate) async fn trace_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        otel.name = %method,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %method,
        url.path = req.uri().path(),
        http.route = Empty,
        http.response.status_code = Empty,
    );
    if span.is_disabled() {
        return next.run(req).await;
    }
    let parent = TraceContextPropagator::new().extract(&Headers(req.headers()));
    // A span that is already built (never here: it was just made) cannot change its parent.
    let _ = span.set_parent(parent);
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let response = next.run(req).instrument(span.clone()).await;
    let route = crate::metrics::route(matched, &response);
    let status = response.status();
    // The layer takes a recorded `otel.name` only before the span starts: rename the span itself.
    span.context().span().update_name(format!("{method} {route}"));
    span.record("http.route", route.as_ref());
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
    response
}

/// A request's headers, as the propagator reads them.
struct Headers<'a>(&'a axum::http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_collector_is_reported_once_a_minute_and_its_recovery_once() {
        let reported = Reported::new((), "http://collector/v1/traces".to_owned());
        let failure: OTelSdkResult = Err(opentelemetry_sdk::error::OTelSdkError::InternalFailure("down".into()));
        reported.report(&failure);
        let first = reported.failing.lock().unwrap().expect("the first failure is logged");
        reported.report(&failure);
        assert_eq!(reported.failing.lock().unwrap().unwrap(), first, "the second one within a minute is not");
        reported.report(&Ok(()));
        assert!(reported.failing.lock().unwrap().is_none());
    }
}
