//! OpenTelemetry tracing over OTLP/HTTP, on the real binary (its subscriber is the process's) and
//! a receiver decoding what it sends: a server span per request with the semantic conventions'
//! attributes, continuing a client's `traceparent`; child spans on the expensive paths; the
//! configured resource and headers; sampling; the queue flushed at shutdown; nothing sent when
//! tracing is off; a collector that is down or hangs does not slow Berth; a bad endpoint stops
//! the start.

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::collector::{Collector, Received};
use crate::support::registry::Registry;
use crate::support::{ADMIN, Berth, free_port, random_bytes};

/// `SPAN_KIND_SERVER` in OTLP.
const SERVER: i32 = 2;

/// Berth exporting to `collector`, its batches sent every 100 ms (the SDK's own variable).
fn traced_berth(collector: &Collector, env: &[(&str, &str)]) -> Berth {
    let mut builder = Berth::builder()
        .with_env("BERTH_TRACING_OTLP_ENDPOINT", &collector.endpoint())
        .with_env("OTEL_BSP_SCHEDULE_DELAY", "100");
    for (key, value) in env {
        builder = builder.with_env(key, value);
    }
    builder.start()
}

/// `GET path` as admin, with `traceparent` if given; returns the status.
async fn get(berth: &Berth, path: &str, traceparent: Option<&str>) -> u16 {
    let mut request = reqwest::Client::new().get(berth.url(path)).basic_auth(ADMIN.0, Some(ADMIN.1));
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    request.send().await.unwrap().status().as_u16()
}

fn server_span(collector: &Collector, name: &str) -> Received {
    collector.wait_for(name, |s| s.span.name == name && s.span.kind == SERVER)
}

/// The span `name` that is a child of `parent`.
fn child(collector: &Collector, parent: &Received, name: &str) -> Received {
    collector.wait_for(&format!("{name} under {}", parent.span.name), |s| {
        s.span.name == name && s.parent_span_id() == parent.span_id() && s.trace_id() == parent.trace_id()
    })
}

#[tokio::test]
async fn requests_are_server_spans_that_continue_the_callers_trace_with_children_on_expensive_paths() {
    let collector = Collector::start();
    let berth = traced_berth(
        &collector,
        &[
            ("BERTH_TRACING_SERVICE_NAME", "registry-eu"),
            ("BERTH_TRACING_ATTRIBUTES", "deployment.environment=test, team=platform"),
            ("BERTH_TRACING_OTLP_HEADERS", "authorization=Bearer collector-token"),
        ],
    );
    berth.create_project("traced", false);
    let registry = Registry::new(berth.url(""));
    registry.push_image("traced/app", "v1", &random_bytes(100_000, 7)).await;
    let (trace_id, parent_id) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let traceparent = format!("00-{trace_id}-{parent_id}-01");
    assert_eq!(get(&berth, "/v2/traced/app/manifests/v1", Some(&traceparent)).await, 200);
    assert_eq!(get(&berth, "/v2/traced/app/manifests/missing", Some("not a traceparent")).await, 404);
    let token = "/service/token?service=harbor-registry&scope=repository:traced/app:pull";
    assert_eq!(get(&berth, token, None).await, 200);

    // The caller's trace goes on: same trace id, the caller's span as parent.
    let manifests = "/v2/{name}/manifests/{reference}";
    let pull = collector.wait_for("of the caller's trace", |s| s.trace_id() == trace_id && s.span.kind == SERVER);
    assert_eq!(pull.span.name, format!("GET {manifests}"));
    assert_eq!(pull.span.kind, SERVER);
    assert_eq!(pull.parent_span_id(), parent_id);
    for (key, value) in [
        ("http.request.method", "GET"),
        ("url.path", "/v2/traced/app/manifests/v1"),
        ("http.route", manifests),
        ("http.response.status_code", "200"),
    ] {
        assert_eq!(pull.attribute(key).as_deref(), Some(value), "{key} of {:?}", pull.span);
    }
    assert_eq!(pull.resource["service.name"], "registry-eu");
    assert_eq!(pull.resource["deployment.environment"], "test");
    assert_eq!(pull.resource["team"], "platform");

    // A traceparent that does not parse starts a trace of its own; a 404 is no error of the server.
    let missing = collector
        .wait_for("of the 404", |s| s.attribute("url.path").as_deref() == Some("/v2/traced/app/manifests/missing"));
    assert!(missing.parent_span_id().is_empty(), "{:?}", missing.span);
    assert_ne!(missing.trace_id(), trace_id);
    assert_eq!(missing.attribute("http.response.status_code").as_deref(), Some("404"));
    assert_eq!(missing.span.status.as_ref().map_or(0, |s| s.code), 0, "unset, as the conventions say for 4xx");

    // A failure of the server's own (its uploads folder made a file) marks the span as an error.
    let uploads = berth.data_dir().join("storage/uploads");
    std::fs::remove_dir_all(&uploads).unwrap();
    std::fs::write(&uploads, "not a folder").unwrap();
    let post =
        reqwest::Client::new().post(berth.url("/v2/traced/app/blobs/uploads/")).basic_auth(ADMIN.0, Some(ADMIN.1));
    let status = post.send().await.unwrap().status().as_u16();
    assert!(status >= 500, "{status}");
    let status = status.to_string();
    let failed = collector
        .wait_for("of the failed upload", |s| s.attribute("http.response.status_code") == Some(status.clone()));
    assert_eq!(failed.span.status.as_ref().map(|s| s.code), Some(2), "STATUS_CODE_ERROR: {:?}", failed.span);

    // Child spans: the blob's storage write and commit, the manifest's transaction, the token's
    // login and signing.
    let blob = server_span(&collector, "POST /v2/{name}/blobs/uploads/");
    child(&collector, &blob, "storage.append");
    child(&collector, &blob, "storage.commit");
    let push = server_span(&collector, &format!("PUT {manifests}"));
    let stored = child(&collector, &push, "manifest.store");
    assert_eq!(stored.attribute("repository").as_deref(), Some("traced/app"));
    let token = server_span(&collector, "GET /service/token");
    child(&collector, &token, "auth.login");
    child(&collector, &token, "auth.issue_token");

    // Sent where and as configured; no credential of a request in any span.
    let exports = collector.exports();
    assert!(exports.iter().all(|e| e.path == "/v1/traces"));
    assert!(exports.iter().all(|e| e.headers["authorization"] == "Bearer collector-token"));
    assert!(exports.iter().all(|e| e.headers["content-type"] == "application/x-protobuf"));
    let basic = reqwest::Client::new().get("http://x").basic_auth(ADMIN.0, Some(ADMIN.1)).build().unwrap();
    let basic = basic.headers()["authorization"].to_str().unwrap().to_owned();
    for span in collector.spans() {
        for value in span.all_values() {
            assert!(!value.contains(ADMIN.1) && !value.contains(&basic[6..]), "{value:?} in {:?}", span.span);
        }
    }
}

#[test]
fn sampling_follows_the_ratio_or_the_callers_decision_and_the_queue_is_sent_at_shutdown() {
    let collector = Collector::start();
    // Nothing started here is kept, and no batch leaves before the shutdown.
    let mut berth = Berth::builder()
        .with_env("BERTH_TRACING_OTLP_ENDPOINT", &format!("{}/", collector.endpoint()))
        .with_env("BERTH_TRACING_SAMPLE_RATIO", "0")
        .with_env("OTEL_BSP_SCHEDULE_DELAY", "600000")
        .start();
    let (kept, dropped) = ("0af7651916cd43dd8448eb211c80319c", "1af7651916cd43dd8448eb211c80319c");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        assert_eq!(get(&berth, "/api/v2.0/ping", None).await, 200);
        assert_eq!(get(&berth, "/api/v2.0/ping", Some(&format!("00-{kept}-b7ad6b7169203331-01"))).await, 200);
        assert_eq!(get(&berth, "/api/v2.0/ping", Some(&format!("00-{dropped}-b7ad6b7169203331-00"))).await, 200);
    });
    assert!(collector.exports().is_empty(), "a batch left before the shutdown");
    assert!(berth.terminate(), "berth did not stop cleanly:\n{}", berth.log());
    let spans = collector.spans();
    let servers: Vec<&Received> = spans.iter().filter(|s| s.span.kind == SERVER).collect();
    assert_eq!(servers.len(), 1, "only the sampled caller's request is kept: {servers:?}");
    assert_eq!(servers[0].trace_id(), kept);
    assert_eq!(servers[0].span.name, "GET /api/v2.0/ping");
    assert_eq!(servers[0].resource["service.name"], "berth");
    assert!(spans.iter().all(|s| s.trace_id() == kept), "{spans:?}");
}

#[test]
fn without_an_endpoint_nothing_is_sent_even_with_the_sdks_variables() {
    let collector = Collector::start();
    let mut berth = Berth::builder()
        .with_env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint())
        .with_env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &format!("{}/v1/traces", collector.endpoint()))
        .with_env("OTEL_BSP_SCHEDULE_DELAY", "50")
        .start();
    berth.create_project("untraced", true);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        Registry::new(berth.url("")).push_image("untraced/app", "v1", b"layer").await;
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(get(&berth, "/v2/untraced/app/manifests/v1", Some(traceparent)).await, 200);
    });
    assert!(berth.terminate());
    assert!(collector.exports().is_empty(), "spans were sent with tracing off");
    assert!(!berth.log().contains("tracing:"), "{}", berth.log());
}

#[test]
fn a_collector_that_refuses_or_hangs_costs_requests_nothing_and_one_warning() {
    // Accepts connections (the kernel does) and never answers them.
    let hanging = TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = format!("http://127.0.0.1:{}", free_port());
    let hangs = format!("http://127.0.0.1:{}", hanging.local_addr().unwrap().port());
    for endpoint in [refused, hangs] {
        let mut berth = Berth::builder()
            .with_env("BERTH_TRACING_OTLP_ENDPOINT", &endpoint)
            .with_env("BERTH_TRACING_OTLP_TIMEOUT_SECONDS", "1")
            .with_env("OTEL_BSP_SCHEDULE_DELAY", "50")
            .start();
        let started = Instant::now();
        for _ in 0..40 {
            let (status, _) = berth.api("GET", "/ping", None, None);
            assert_eq!(status, 200);
            std::thread::sleep(Duration::from_millis(25));
        }
        // 40 pings are a few ms each; 25 ms apart, a second in all. Exports block no request.
        assert!(started.elapsed() < Duration::from_secs(4), "{endpoint}: pings took {:?}", started.elapsed());
        let deadline = Instant::now() + Duration::from_secs(15);
        while export_warnings(&berth) == 0 {
            assert!(Instant::now() < deadline, "{endpoint}: no warning of the failing export:\n{}", berth.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        let stopping = Instant::now();
        assert!(berth.terminate(), "{endpoint}: berth did not stop cleanly:\n{}", berth.log());
        assert!(stopping.elapsed() < Duration::from_secs(10), "{endpoint}: stopping took {:?}", stopping.elapsed());
        assert_eq!(export_warnings(&berth), 1, "{endpoint}: failures are logged once a minute:\n{}", berth.log());
    }
}

/// How many times the log says an export failed.
fn export_warnings(berth: &Berth) -> usize {
    berth.log().matches("tracing: exporting spans failed").count()
}

#[test]
fn a_bad_endpoint_or_setting_stops_the_start_naming_the_key() {
    let data = tempfile::tempdir().unwrap();
    let cases = [
        ("BERTH_TRACING_OTLP_ENDPOINT", "collector:4318", "tracing.otlp.endpoint"),
        ("BERTH_TRACING_OTLP_ENDPOINT", "ftp://collector:4318", "tracing.otlp.endpoint"),
        ("BERTH_TRACING_OTLP_ENDPOINT", "http://", "tracing.otlp.endpoint"),
        ("BERTH_TRACING_OTLP_ENDPOINT", "not a url", "tracing.otlp.endpoint"),
        ("BERTH_TRACING_SAMPLE_RATIO", "1.5", "tracing.sample_ratio"),
        ("BERTH_TRACING_OTLP_HEADERS", "authorization", "tracing.otlp.headers"),
    ];
    for (key, value, named) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("serve")
            .env_clear()
            .env("BERTH_DATA_VOLUME", data.path())
            .env("BERTH_HTTP_ADDRESS", "127.0.0.1")
            .env("BERTH_HTTP_PORT", free_port().to_string())
            .env(key, value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "started with {key}={value}");
        assert!(stderr.contains(named), "{key}={value}: the error does not name {named}: {stderr}");
    }
}
