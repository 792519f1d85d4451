//! `/metrics`, on the real binary: counters that follow pushes and pulls, requests labelled by
//! route template (never by path), Harbor's gauges read from the database, both exposition formats
//! (the classic one checked by `promtool check metrics`), its own listener, off by default, and a
//! real Prometheus scraping it.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::registry::{Registry, one_layer_image};
use crate::support::{Berth, free_port, random_bytes};

/// The samples of a classic-format scrape: `name{labels}` → value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample is a series and a value");
            (series.to_owned(), value.parse().unwrap_or_else(|_| panic!("not a number: {line}")))
        })
        .collect()
}

async fn scrape(url: &str) -> (String, HashMap<String, f64>) {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200, "GET {url}");
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let text = response.text().await.unwrap();
    let parsed = samples(&text);
    (text, parsed)
}

fn value(samples: &HashMap<String, f64>, series: &str) -> f64 {
    *samples.get(series).unwrap_or_else(|| panic!("no sample {series}; have:\n{:#?}", samples.keys()))
}

/// Harbor's exporter's gauges whose names end in `_total`, which Prometheus' naming rules keep
/// for counters: Berth keeps Harbor's names, which dashboards made for Harbor query.
const HARBOR_TOTAL_GAUGES: [&str; 4] = [
    "harbor_project_total",
    "harbor_project_repo_total",
    "harbor_project_member_total",
    "harbor_project_artifact_total",
];

/// `promtool check metrics`: the exposition parses, and breaks none of Prometheus' naming rules
/// but the one Harbor's names break.
fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; scripts/install-test-deps.sh installs it)");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let harbors = |problem: &str| {
        problem
            .strip_suffix(r#" non-counter metrics should not have "_total" suffix"#)
            .is_some_and(|name| HARBOR_TOTAL_GAUGES.contains(&name))
    };
    // Exit status 3: only naming problems were found (a parse error is 1).
    let only_harbors = out.status.code() == Some(3) && report.lines().all(harbors);
    assert!(
        out.status.success() || only_harbors,
        "promtool check metrics: {}\n{report}\n--- exposition:\n{text}",
        out.status
    );
}

#[tokio::test]
async fn metrics_follow_pushes_pulls_and_requests_by_route_template() {
    let berth = Berth::builder().with_env("BERTH_METRICS_ENABLED", "true").start();
    berth.create_project("metered", false);
    let registry = Registry::new(berth.url(""));
    let layer = random_bytes(300_000, 41);
    let (config, _) = one_layer_image(&layer);
    let (manifest, digest) = registry.push_image("metered/app", "v1", &layer).await;
    let layer_digest = berth_testkit::sha256_digest(&layer);
    for _ in 0..2 {
        assert_eq!(registry.get("/v2/metered/app/manifests/v1").await.status(), 200);
    }
    assert_eq!(registry.get(&format!("/v2/metered/app/blobs/{layer_digest}")).await.bytes().await.unwrap(), layer);
    // Bad input: unparsable paths and unknown repositories are counted, under no path of theirs.
    assert_eq!(registry.get("/v2/metered/App/manifests/v1").await.status(), 400);
    assert_eq!(registry.get("/v2/metered/nothing-here/manifests/v1").await.status(), 404);

    let (text, m) = scrape(&berth.url("/metrics")).await;
    promtool_check(&text);
    assert_eq!(value(&m, "berth_blob_bytes_pushed_total"), (config.len() + layer.len()) as f64);
    assert_eq!(value(&m, "berth_blob_bytes_pulled_total"), layer.len() as f64);
    let manifests = "route=\"/v2/{name}/manifests/{reference}\"";
    assert_eq!(value(&m, &format!("berth_http_requests_total{{{manifests},method=\"PUT\",status=\"201\"}}")), 1.0);
    assert_eq!(value(&m, &format!("berth_http_requests_total{{{manifests},method=\"GET\",status=\"200\"}}")), 2.0);
    assert_eq!(value(&m, &format!("berth_http_requests_total{{{manifests},method=\"GET\",status=\"404\"}}")), 1.0);
    assert_eq!(value(&m, "berth_http_requests_total{route=\"/v2/{*rest}\",method=\"GET\",status=\"400\"}"), 1.0);
    assert_eq!(
        value(&m, "berth_http_requests_total{route=\"/api/v2.0/projects\",method=\"POST\",status=\"201\"}"),
        1.0
    );
    assert_eq!(value(&m, &format!("berth_http_request_duration_seconds_count{{{manifests},method=\"GET\"}}")), 3.0);
    assert!(value(&m, &format!("berth_http_request_duration_seconds_sum{{{manifests},method=\"GET\"}}")) > 0.0);
    for raw in ["metered/app", "nothing-here", "App", digest.as_str(), layer_digest.as_str()] {
        assert!(!text.contains(raw), "a label holds a path's part {raw:?}:\n{text}");
    }

    // Harbor's gauges, from the database.
    assert_eq!(value(&m, "harbor_project_total{public=\"true\"}"), 1.0); // library
    assert_eq!(value(&m, "harbor_project_total{public=\"false\"}"), 1.0);
    assert_eq!(value(&m, "harbor_project_repo_total{project_name=\"metered\",public=\"false\"}"), 1.0);
    assert_eq!(
        value(&m, "harbor_project_artifact_total{project_name=\"metered\",public=\"false\",artifact_type=\"IMAGE\"}"),
        1.0
    );
    let usage = (config.len() + layer.len() + manifest.len()) as f64;
    assert_eq!(value(&m, "harbor_project_quota_usage_byte{project_name=\"metered\"}"), usage);
    assert_eq!(value(&m, "harbor_project_quota_usage_byte{project_name=\"library\"}"), 0.0);
    assert_eq!(value(&m, "harbor_project_quota_byte{project_name=\"metered\"}"), -1.0);
    assert_eq!(value(&m, "harbor_project_member_total{project_name=\"metered\"}"), 1.0);
    assert_eq!(value(&m, "harbor_up{component=\"database\"}"), 1.0);
    assert_eq!(value(&m, "harbor_up{component=\"storage\"}"), 1.0);
    assert_eq!(value(&m, "harbor_health"), 1.0);
    assert_eq!(value(&m, "berth_upload_sessions"), 0.0);
    assert!(value(&m, "berth_db_connections_max{pool=\"main\"}") >= 1.0);

    // An upload left open shows once the gauges are read again (they are kept 5 s).
    registry.start_upload("metered/app").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while value(&scrape(&berth.url("/metrics")).await.1, "berth_upload_sessions") != 1.0 {
        assert!(Instant::now() < deadline, "the open upload session never showed");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // OpenMetrics for scrapers that ask for it.
    let response = reqwest::Client::new()
        .get(berth.url("/metrics"))
        .header("accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/openmetrics-text; version=1.0.0; charset=utf-8");
    let open = response.text().await.unwrap();
    assert!(open.ends_with("# EOF\n") && open.contains("# TYPE berth_http_requests counter\n"), "{open}");
}

#[tokio::test]
async fn storage_faults_are_counted_by_operation() {
    let berth = Berth::builder().with_env("BERTH_METRICS_ENABLED", "true").start();
    let registry = Registry::new(berth.url(""));
    let layer = random_bytes(10_000, 43);
    registry.push_image("library/faulty", "v1", &layer).await;
    let digest = berth_testkit::sha256_digest(&layer);
    let hex = &digest["sha256:".len()..];
    // The bytes of a blob the database still lists, gone from the disk.
    std::fs::remove_file(berth.data_dir().join("storage/blobs/sha256").join(&hex[..2]).join(hex)).unwrap();
    assert_eq!(registry.get(&format!("/v2/library/faulty/blobs/{digest}")).await.status(), 404);
    let (_, m) = scrape(&berth.url("/metrics")).await;
    assert_eq!(value(&m, "berth_storage_errors_total{operation=\"read_blob\"}"), 1.0);
    let faults: Vec<_> = m.keys().filter(|series| series.starts_with("berth_storage_errors_total")).collect();
    assert_eq!(faults.len(), 1, "only the read failed: {faults:?}");
}

#[tokio::test]
async fn metrics_are_off_by_default_and_on_their_own_listener_when_given_a_port() {
    let off = Berth::start();
    assert_eq!(reqwest::get(off.url("/metrics")).await.unwrap().status(), 404);

    let port = free_port();
    let own = Berth::builder()
        .with_env("BERTH_METRICS_ENABLED", "true")
        .with_env("BERTH_METRICS_PORT", &port.to_string())
        .start();
    assert_eq!(reqwest::get(own.url("/metrics")).await.unwrap().status(), 404, "not on the main listener");
    let (text, m) = scrape(&format!("http://127.0.0.1:{port}/metrics")).await;
    promtool_check(&text);
    assert_eq!(value(&m, "harbor_project_total{public=\"true\"}"), 1.0);
    // Only /metrics there.
    let api = reqwest::get(format!("http://127.0.0.1:{port}/api/v2.0/projects")).await.unwrap();
    assert_eq!(api.status(), 404);
}

/// A Prometheus server scraping `target` every second, on a free port, with its data in a
/// temporary folder; stopped when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: berth\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prometheus (Debian's prometheus package; scripts/install-test-deps.sh installs it)");
        Prometheus { child, port, _dir: dir }
    }

    /// The value of the one series `query` answers, once Prometheus has it.
    async fn query(&self, query: &str) -> Option<f64> {
        let query = serde_urlencoded::to_string([("query", query)]).unwrap();
        let response = reqwest::get(format!("http://127.0.0.1:{}/api/v1/query?{query}", self.port)).await.ok()?;
        let body: serde_json::Value = response.json().await.ok()?;
        let result = body["data"]["result"].as_array()?;
        result.first()?["value"][1].as_str()?.parse().ok()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_real_prometheus_scrapes_berth() {
    let port = free_port();
    let berth = Berth::builder()
        .with_env("BERTH_METRICS_ENABLED", "true")
        .with_env("BERTH_METRICS_PORT", &port.to_string())
        .start();
    berth.create_project("scraped", true);
    let prometheus = Prometheus::start(&format!("127.0.0.1:{port}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let wanted = [
        ("up{job=\"berth\"}", 1.0),
        ("harbor_project_total{job=\"berth\",public=\"true\"}", 2.0),
        ("berth_http_requests_total{route=\"/api/v2.0/projects\",method=\"POST\",status=\"201\"}", 1.0),
    ];
    for (query, expected) in wanted {
        loop {
            if prometheus.query(query).await == Some(expected) {
                break;
            }
            assert!(Instant::now() < deadline, "Prometheus never had {query} = {expected}:\n{}", prometheus.log());
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
