//! PostgreSQL or the bucket going away under a running Berth (the real binary, under a load of
//! concurrent pushes and pulls): what needs them answers 503 with the protocol's error body in
//! seconds, what does not keeps working, `/health` names the part that is down, and Berth
//! recovers by itself when it returns, having lost nothing it acknowledged. Each test stops a
//! server of its own (`berth_testkit::postgres::PrivateServer`, `berth_testkit::s3::PrivateServer`),
//! never the shared ones. Also: start-up against a closed port, and SIGTERM with a running job.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_testkit::postgres::PrivateServer as PrivatePostgres;
use berth_testkit::s3::PrivateServer as PrivateS3;
use bytes::Bytes;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::replication::{start_slow_copy, wait_for};
use crate::support::http::RequestBuilder;
use crate::support::registry::{OCI_MANIFEST, Registry, one_layer_image};
use crate::support::{ADMIN, Berth, random_bytes, sha256_digest};

/// The longest any request may take while a service is down: the pool's acquire timeout (5 s by
/// default) or the store's connect and retry bounds, with room for a loaded machine; far below
/// the 30 s and more a client would otherwise hang.
const BOUND: Duration = Duration::from_secs(10);

/// The same for a service that accepts connections and never answers (its processes stopped,
/// as on a wedged host): the store's read timeout (10 s) bounds a blob request.
const HUNG_BOUND: Duration = Duration::from_secs(16);

/// How long Berth may take to serve again once the service is back.
const RECOVERY: Duration = Duration::from_secs(30);

/// What a client saw of one request.
#[derive(Debug)]
struct Seen {
    what: &'static str,
    status: u16,
    /// The first error's code, for an error answer.
    code: String,
    retry_after: bool,
    took: Duration,
}

/// An image whose push Berth acknowledged (every request answered 201).
#[derive(Clone)]
struct Pushed {
    repo: String,
    manifest: Vec<u8>,
    digest: String,
    layer: Vec<u8>,
}

/// Several clients pushing new images and pulling acknowledged ones at once, recording every
/// answer, until stopped.
struct Load {
    registry: Arc<Registry>,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    acked: Arc<Mutex<Vec<Pushed>>>,
    /// Manifest GETs answered 200: each is a pull event Berth must write.
    pulled: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    const PUSHERS: u64 = 3;

    fn start(berth: &Berth) -> Load {
        let mut load = Load {
            registry: Arc::new(Registry::new(berth.url(""))),
            stop: Arc::default(),
            seen: Arc::default(),
            acked: Arc::default(),
            pulled: Arc::default(),
            tasks: Vec::new(),
        };
        for pusher in 0..Self::PUSHERS {
            let (registry, stop, seen, acked) =
                (load.registry.clone(), load.stop.clone(), load.seen.clone(), load.acked.clone());
            load.tasks.push(tokio::spawn(async move {
                for round in 0.. {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let layer = random_bytes(2048, pusher * 1_000_000 + round);
                    if let Some(pushed) = push(&registry, &seen, &format!("library/load-{pusher}"), layer).await {
                        acked.lock().unwrap().push(pushed);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }));
        }
        let (registry, stop, seen, acked, pulled) =
            (load.registry.clone(), load.stop.clone(), load.seen.clone(), load.acked.clone(), load.pulled.clone());
        load.tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let last = acked.lock().unwrap().last().cloned();
                if let Some(p) = last {
                    pull_manifest(&registry, &seen, &pulled, &p).await;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
        load
    }

    /// Waits until `n` more pushes were acknowledged.
    async fn wait_for_pushes(&self, n: usize) {
        let target = self.acked.lock().unwrap().len() + n;
        let started = Instant::now();
        while self.acked.lock().unwrap().len() < target {
            assert!(started.elapsed() < RECOVERY, "no pushes acknowledged: {:?}", self.seen.lock().unwrap().last());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The answers seen so far, from `from` on.
    fn seen_since(&self, from: usize) -> Vec<(u16, String)> {
        self.seen.lock().unwrap()[from..].iter().map(|s| (s.status, s.code.clone())).collect()
    }

    fn seen_count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// Stops the clients; checks every answer was a success or a quick 503 with the protocol's
    /// code and `Retry-After`, never another error; returns the acknowledged pushes.
    async fn finish(self) -> (Arc<Registry>, Vec<Pushed>, Arc<AtomicUsize>) {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            task.await.unwrap();
        }
        let seen = self.seen.lock().unwrap();
        for s in seen.iter() {
            assert!(s.took < BOUND, "{} took {:?}: {s:?}", s.what, s.took);
            if s.status >= 300 {
                assert_eq!((s.status, s.code.as_str(), s.retry_after), (503, "UNAVAILABLE", true), "{s:?}");
            }
        }
        let acked = self.acked.lock().unwrap().clone();
        (self.registry, acked, self.pulled)
    }
}

/// Sends a request, records what came back; returns the status and body.
async fn send(seen: &Mutex<Vec<Seen>>, what: &'static str, request: RequestBuilder) -> (u16, Bytes) {
    let started = Instant::now();
    let r = request.send().await.unwrap_or_else(|e| panic!("{what}: Berth did not answer: {e}"));
    let (status, retry_after) = (r.status().as_u16(), r.headers().contains_key("retry-after"));
    let body = r.bytes().await.unwrap();
    let code = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["errors"][0]["code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    seen.lock().unwrap().push(Seen { what, status, code, retry_after, took: started.elapsed() });
    (status, body)
}

/// Pushes a one-layer image under a new tag, one monolithic request a blob; `Some` when every
/// request was acknowledged.
async fn push(registry: &Registry, seen: &Mutex<Vec<Seen>>, repo: &str, layer: Vec<u8>) -> Option<Pushed> {
    let (config, manifest) = one_layer_image(&layer);
    for (what, blob) in [("push config", &config), ("push layer", &layer)] {
        let url = registry.url(&format!("/v2/{repo}/blobs/uploads/?digest={}", sha256_digest(blob)));
        if send(seen, what, registry.http.post(url).body(blob.clone())).await.0 != 201 {
            return None;
        }
    }
    let digest = sha256_digest(&manifest);
    let url = registry.url(&format!("/v2/{repo}/manifests/{}", &digest[7..19]));
    let request = registry.http.put(url).header("content-type", OCI_MANIFEST).body(manifest.clone());
    (send(seen, "push manifest", request).await.0 == 201).then(|| Pushed {
        repo: repo.to_owned(),
        manifest,
        digest,
        layer,
    })
}

/// GETs `p`'s manifest by digest; checks its bytes when it is served.
async fn pull_manifest(registry: &Registry, seen: &Mutex<Vec<Seen>>, pulled: &AtomicUsize, p: &Pushed) -> u16 {
    let url = registry.url(&format!("/v2/{}/manifests/{}", p.repo, p.digest));
    let (status, body) = send(seen, "pull manifest", registry.http.get(url).header("accept", OCI_MANIFEST)).await;
    if status == 200 {
        assert_eq!(body, p.manifest, "manifest {} changed", p.digest);
        pulled.fetch_add(1, Ordering::SeqCst);
    }
    status
}

/// GETs `p`'s layer; checks its bytes when it is served.
async fn pull_layer(registry: &Registry, seen: &Mutex<Vec<Seen>>, p: &Pushed) -> u16 {
    let url = registry.url(&format!("/v2/{}/blobs/{}", p.repo, sha256_digest(&p.layer)));
    let (status, body) = send(seen, "pull layer", registry.http.get(url)).await;
    if status == 200 {
        assert_eq!(body, p.layer, "layer of {} changed", p.digest);
    }
    status
}

/// `GET /api/v2.0{path}` as admin: status, `Retry-After`, body.
async fn api_get(berth: &Berth, path: &str) -> (u16, bool, Value) {
    let started = Instant::now();
    let r = crate::support::registry::api_as(berth, ADMIN, Method::GET, path, None).await;
    let (status, retry_after) = (r.status().as_u16(), r.headers().contains_key("retry-after"));
    let body = r.text().await.unwrap();
    assert!(started.elapsed() < BOUND, "{path} took {:?}", started.elapsed());
    (status, retry_after, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

/// The health report: `/health`'s component `name`, and `/health/ready`'s status.
async fn health_of(berth: &Berth, name: &str) -> (Value, u16) {
    let (status, _, health) = api_get(berth, "/health").await;
    assert_eq!(status, 200, "{health}");
    let component = health["components"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone();
    (component, api_get(berth, "/health/ready").await.0)
}

/// Every acknowledged push is whole: manifest and layer served with the bytes pushed.
async fn assert_all_served(registry: &Registry, acked: &[Pushed], pulled: &AtomicUsize) {
    let seen = Mutex::default();
    for p in acked {
        assert_eq!(pull_manifest(registry, &seen, pulled, p).await, 200, "{} lost", p.digest);
        assert_eq!(pull_layer(registry, &seen, p).await, 200, "layer of {} lost", p.digest);
    }
}

/// Starts the load on `berth`, waits for a few acknowledged pushes, then takes a service down
/// with `stop`; returns the load, where the outage begins in its record, and an image pushed
/// before it.
async fn load_then_outage(berth: &Berth, stop: impl FnOnce() + Send + 'static) -> (Load, usize, Pushed) {
    let load = Load::start(berth);
    load.wait_for_pushes(6).await;
    tokio::task::spawn_blocking(stop).await.unwrap();
    let outage = load.seen_count();
    let before = load.acked.lock().unwrap()[0].clone();
    (load, outage, before)
}

/// Lets the clients run into the outage for a while; checks they met it.
async fn ride_out(load: &Load, outage: usize) {
    tokio::time::sleep(Duration::from_secs(4)).await;
    let during = load.seen_since(outage);
    assert!(during.iter().any(|(status, _)| *status == 503), "the load met no outage: {during:?}");
}

/// Checks `/health` reports component `down` unhealthy, with an error it returns, and the other
/// one healthy; the instance is not ready.
async fn assert_down(berth: &Berth, down: &str, up: &str) -> String {
    let (component, ready) = health_of(berth, down).await;
    assert_eq!((component["status"].as_str(), ready), (Some("unhealthy"), 503), "{component}");
    assert_eq!(health_of(berth, up).await.0["status"], "healthy");
    component["error"].as_str().unwrap_or_default().to_owned()
}

/// Brings the service back with `resume`; checks pushes work again within [`RECOVERY`] and
/// `/health` reports component `name` healthy, with no restart; stops the load and checks every
/// acknowledged push is served whole. Returns the number of manifests served.
async fn recover(berth: &Berth, load: Load, name: &str, resume: impl FnOnce() + Send + 'static) -> usize {
    tokio::task::spawn_blocking(resume).await.unwrap();
    let started = Instant::now();
    load.wait_for_pushes(Load::PUSHERS as usize).await;
    assert!(started.elapsed() < RECOVERY, "pushes resumed after {:?}", started.elapsed());
    let (component, ready) = health_of(berth, name).await;
    assert_eq!((component["status"].as_str(), ready), (Some("healthy"), 200), "{component}");
    let (registry, acked, pulled) = load.finish().await;
    assert_all_served(&registry, &acked, &pulled).await;
    assert!(!berth.log().contains("panicked"), "{}", berth.log());
    pulled.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_answers_503_in_seconds_and_berth_recovers_by_itself() {
    let postgres = Arc::new(tokio::task::spawn_blocking(PrivatePostgres::start).await.unwrap());
    let berth = Berth::builder().with_env("BERTH_DATABASE_URL", &format!("{}/postgres", postgres.url())).start();
    let pg = postgres.clone();
    let (load, outage, before) = load_then_outage(&berth, move || pg.stop()).await;

    // A pull needs the database (manifests and access live there): 503, the OCI body, quickly.
    let seen = Mutex::default();
    let started = Instant::now();
    assert_eq!(pull_manifest(&load.registry, &seen, &AtomicUsize::new(0), &before).await, 503);
    assert!(started.elapsed() < BOUND, "a pull took {:?} with the database down", started.elapsed());
    assert!(seen.lock().unwrap().iter().all(|s| s.code == "UNAVAILABLE" && s.retry_after));
    // The API: Harbor's error body.
    let (status, retry_after, body) = api_get(&berth, "/projects").await;
    assert_eq!((status, retry_after), (503, true), "{body}");
    assert_eq!(body["errors"][0]["code"], "SERVICE_UNAVAILABLE", "{body}");
    // Health names the database, with why; storage is fine.
    let why = assert_down(&berth, "database", "storage").await;
    assert!(why.to_lowercase().contains("refused"), "{why}");
    ride_out(&load, outage).await;

    let pg = postgres.clone();
    let expected = recover(&berth, load, "database", move || pg.resume()).await;
    // Every pull served, before, during (none) and after the outage, is in the audit log: queued
    // events wait for the database rather than being dropped.
    let meta = berth.meta().await;
    let started = Instant::now();
    loop {
        let events = meta.events_after(berth_meta::Cursor::default(), 100_000).await.unwrap();
        let pulls = events.iter().filter(|e| e.operation == "pull").count();
        if pulls == expected {
            break;
        }
        assert!(pulls < expected, "{pulls} pull events for {expected} pulls");
        assert!(started.elapsed() < RECOVERY, "{pulls} pull events for {expected} pulls: some were lost");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    meta.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_outage_fails_blob_traffic_fast_keeps_metadata_reads_and_recovers() {
    let garage = Arc::new(tokio::task::spawn_blocking(PrivateS3::start).await.unwrap());
    let berth = Berth::builder().with_s3_of(garage.settings()).start();
    let g = garage.clone();
    let (load, outage, before) = load_then_outage(&berth, move || g.stop()).await;

    // Blob bytes are in the bucket: 503 UNAVAILABLE, in seconds.
    let seen = Mutex::default();
    let started = Instant::now();
    assert_eq!(pull_layer(&load.registry, &seen, &before).await, 503);
    assert!(started.elapsed() < BOUND, "a blob GET took {:?} with the bucket down", started.elapsed());
    assert!(seen.lock().unwrap().iter().all(|s| s.code == "UNAVAILABLE" && s.retry_after));
    // Manifests, tags and the API's listings are in the database: still served.
    assert_eq!(pull_manifest(&load.registry, &seen, &AtomicUsize::new(0), &before).await, 200);
    let tags = load.registry.get(&format!("/v2/{}/tags/list", before.repo)).await;
    assert_eq!(tags.status(), StatusCode::OK);
    let (status, _, repos) = api_get(&berth, "/projects/library/repositories").await;
    assert_eq!(status, 200, "{repos}");
    assert!(repos.as_array().is_some_and(|r| !r.is_empty()), "{repos}");
    // Health names the storage.
    assert!(!assert_down(&berth, "storage", "database").await.is_empty());
    ride_out(&load, outage).await;

    let g = garage.clone();
    recover(&berth, load, "storage", move || g.resume()).await;
}

/// Sends `request` (of what `what` names) after a service went away: checks the answer is `503`
/// with `code` and `Retry-After`, within `bound`.
async fn assert_unavailable(what: &'static str, request: RequestBuilder, code: &str, bound: Duration) {
    let seen = Mutex::default();
    let (status, body) = send(&seen, what, request).await;
    let seen = seen.into_inner().unwrap().remove(0);
    assert_eq!((status, seen.code.as_str(), seen.retry_after), (503, code, true), "{what}: {body:?}");
    assert!(seen.took < bound, "{what} took {:?}", seen.took);
}

/// Pulls `p` whole (manifest and layer) once the service is back, within [`RECOVERY`].
async fn assert_served_again(registry: &Registry, p: &Pushed) {
    let started = Instant::now();
    let seen = Mutex::default();
    while pull_manifest(registry, &seen, &AtomicUsize::new(0), p).await != 200
        || pull_layer(registry, &seen, p).await != 200
    {
        assert!(started.elapsed() < RECOVERY, "not served {:?} after the service came back", started.elapsed());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_database_and_bucket_cost_a_request_seconds_not_until_tcp_gives_up() {
    let (postgres, garage) = tokio::join!(
        tokio::task::spawn_blocking(PrivatePostgres::start),
        tokio::task::spawn_blocking(PrivateS3::start)
    );
    let (postgres, garage) = (postgres.unwrap(), garage.unwrap());
    let berth = Berth::builder()
        .with_env("BERTH_DATABASE_URL", &format!("{}/postgres", postgres.url()))
        .with_s3_of(garage.settings())
        .start();
    let registry = Registry::new(berth.url(""));
    let image = push(&registry, &Mutex::default(), "library/hung", random_bytes(4096, 7)).await.unwrap();
    let manifest_url = registry.url(&format!("/v2/{}/manifests/{}", image.repo, image.digest));
    let layer_url = registry.url(&format!("/v2/{}/blobs/{}", image.repo, sha256_digest(&image.layer)));

    // The database hangs: a pull waits for a live connection no longer than the acquire timeout.
    postgres.freeze();
    let pull = registry.http.get(&manifest_url).header("accept", OCI_MANIFEST);
    assert_unavailable("pull manifest", pull, "UNAVAILABLE", BOUND).await;
    let (status, retry_after, body) = api_get(&berth, "/projects").await;
    assert_eq!((status, retry_after, body["errors"][0]["code"].as_str()), (503, true, Some("SERVICE_UNAVAILABLE")));
    let (component, _) = health_of(&berth, "database").await;
    assert_eq!(component["status"], "unhealthy", "{component}");
    postgres.thaw();
    assert_served_again(&registry, &image).await;

    // The bucket hangs: a blob GET gives up after the store's read timeout; manifests are still
    // served from the database.
    garage.freeze();
    assert_unavailable("pull layer", registry.http.get(&layer_url), "UNAVAILABLE", HUNG_BOUND).await;
    assert_eq!(pull_manifest(&registry, &Mutex::default(), &AtomicUsize::new(0), &image).await, 200);
    garage.thaw();
    assert_served_again(&registry, &image).await;
    assert!(!berth.log().contains("panicked"), "{}", berth.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_answering_503_after_the_retries_is_a_503_not_an_internal_error() {
    let shared = berth_testkit::s3::server();
    let upstream = shared.endpoint.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let balancer = berth_testkit::nginx::Nginx::start_in_front_of_s3(crate::support::free_port(), &upstream);
    let settings = berth_testkit::s3::S3Settings { endpoint: balancer.url(""), ..shared.clone() };
    let berth = Berth::builder().with_s3_of(&settings).start();
    let registry = Registry::new(berth.url(""));
    let image = push(&registry, &Mutex::default(), "library/shed", random_bytes(4096, 8)).await.unwrap();

    balancer.answer_503(true);
    let layer_url = registry.url(&format!("/v2/{}/blobs/{}", image.repo, sha256_digest(&image.layer)));
    assert_unavailable("pull layer", registry.http.get(&layer_url), "UNAVAILABLE", BOUND).await;
    let blob = random_bytes(1024, 9);
    let upload = registry.url(&format!("/v2/{}/blobs/uploads/?digest={}", image.repo, sha256_digest(&blob)));
    assert_unavailable("push layer", registry.http.post(&upload).body(blob), "UNAVAILABLE", BOUND).await;
    assert_eq!(pull_manifest(&registry, &Mutex::default(), &AtomicUsize::new(0), &image).await, 200);
    assert!(balancer.access_log().contains(" 503 "), "{}", balancer.access_log());

    balancer.answer_503(false);
    assert_served_again(&registry, &image).await;
}

#[test]
fn start_up_against_a_closed_database_port_fails_in_seconds_saying_why_and_where() {
    let port = crate::support::free_port();
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("serve")
        .env("BERTH_DATA_VOLUME", dir.path())
        .env("BERTH_HTTP_PORT", crate::support::free_port().to_string())
        .env("BERTH_DATABASE_URL", format!("postgres://berth:sekrit-pw@127.0.0.1:{port}/berth"))
        .output()
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started without its database: {stderr}");
    assert!(took < Duration::from_secs(5), "took {took:?} to give up: {stderr}");
    assert!(stderr.to_lowercase().contains("refused"), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(!stderr.contains("pool timed out"), "{stderr}");
    assert!(!stderr.contains("sekrit-pw"), "the password was shown: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_a_running_job_back_for_the_next_instance_at_once() {
    let berth = Berth::start();
    // The copy takes about a minute: it is running at SIGTERM.
    let (_upstream, _) = start_slow_copy(&berth).await;
    let meta = berth.meta().await;
    let copy = || async {
        let (jobs, _) = meta.list_jobs(Some("REPLICATION_TASK"), 0, 10).await.unwrap();
        jobs.into_iter().next()
    };
    wait_for("the copy to run", || async { copy().await.is_some_and(|j| j.status == "Running") }).await;

    let started = Instant::now();
    let (exited, mut berth) = tokio::task::spawn_blocking(move || {
        let mut berth = berth;
        (berth.terminate(), berth)
    })
    .await
    .unwrap();
    assert!(exited, "clean exit on SIGTERM");
    assert!(started.elapsed() < BOUND, "SIGTERM took {:?} with a job running", started.elapsed());
    let job = copy().await.unwrap();
    // Back in the queue, runnable now, its interrupted attempt not counted; not left to a lease.
    assert_eq!((job.status.as_str(), job.attempts, job.worker.as_deref()), ("Pending", 0, None), "{job:?}");
    let log = meta.job_log(job.id).await.unwrap().unwrap_or_default();
    assert!(log.contains("handed back"), "{log}");

    // The next instance takes it at once, not after the 60 s lease.
    let started = Instant::now();
    let _next = tokio::task::spawn_blocking(move || {
        berth.restart();
        berth
    })
    .await
    .unwrap();
    wait_for("the next instance to run the copy", || async {
        copy().await.is_some_and(|j| j.status == "Running" && j.attempts == 1)
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(20), "taken after {:?}", started.elapsed());
    meta.close().await;
}
