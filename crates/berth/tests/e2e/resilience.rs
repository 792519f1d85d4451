//! Crash safety, restarts, graceful shutdown, bounded memory and start-up configuration errors,
//! against the real binary.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support;
use crate::support::registry::*;
use crate::support::{Berth, random_bytes, sha256_digest};
use bytes::Bytes;
use reqwest::StatusCode;
use sha2::Digest as _;

/// Every file under `blobs/` must hash to its own name: no partial blob is ever visible.
fn assert_storage_consistent(berth: &Berth) -> usize {
    let root = berth.data_dir().join("storage/blobs/sha256");
    let mut count = 0;
    if !root.exists() {
        return 0;
    }
    for prefix in std::fs::read_dir(&root).unwrap() {
        for blob in std::fs::read_dir(prefix.unwrap().path()).unwrap() {
            let path = blob.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let actual = hex::encode(sha2::Sha256::digest(std::fs::read(&path).unwrap()));
            assert_eq!(actual, name, "blob file {} does not match its digest", path.display());
            count += 1;
        }
    }
    count
}

async fn upload_length(r: &Registry, url: &str) -> u64 {
    let status = r.http.get(url).send().await.unwrap();
    assert_eq!(status.status(), StatusCode::NO_CONTENT);
    let range = status.headers()["range"].to_str().unwrap().to_owned();
    let end: u64 = range.strip_prefix("0-").unwrap().parse().unwrap();
    if end == 0 { 0 } else { end + 1 }
}

/// A request body that delivers `data` in small pieces with a pause between them, raising `flag`
/// once half of it is sent: something to kill a server in the middle of.
fn slow_body(data: Vec<u8>, flag: Arc<AtomicBool>) -> reqwest::Body {
    let pieces: Vec<Bytes> = Bytes::from(data).chunks(256 * 1024).map(Bytes::copy_from_slice).collect();
    let half = pieces.len() / 2;
    let stream = futures_util::stream::iter(pieces.into_iter().enumerate()).then(move |(i, piece)| {
        let flag = flag.clone();
        async move {
            if i == half {
                flag.store(true, Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(40)).await;
            Ok::<_, std::io::Error>(piece)
        }
    });
    reqwest::Body::wrap_stream(stream)
}

use futures_util::StreamExt;

#[tokio::test]
async fn kill_9_during_chunked_upload_loses_nothing_and_shows_nothing_partial() {
    let mut berth = Berth::start();
    berth.create_project("crash", false);
    let mut r = Registry::new(berth.url(""));
    // Content that must survive the crash.
    let (manifest, manifest_digest) = r.push_image("crash/app", "stable", &random_bytes(1_000_000, 20)).await;

    const CHUNK: usize = 8 * 1024 * 1024;
    let data = random_bytes(6 * CHUNK + 12345, 21);
    let digest = sha256_digest(&data);
    let url = r.start_upload("crash/big").await;
    let mut offset = 0usize;
    for _ in 0..3 {
        let chunk = &data[offset..offset + CHUNK];
        let p = r
            .http
            .patch(&url)
            .header("content-range", format!("{}-{}", offset, offset + CHUNK - 1))
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(p.status(), StatusCode::ACCEPTED);
        offset += CHUNK;
    }
    // The fourth chunk is in flight when the server is killed.
    let halfway = Arc::new(AtomicBool::new(false));
    let body = slow_body(data[offset..offset + CHUNK].to_vec(), halfway.clone());
    let in_flight = tokio::spawn({
        let (http, url) = (r.http.clone(), url.clone());
        async move {
            http.patch(&url)
                .header("content-range", format!("{}-{}", offset, offset + CHUNK - 1))
                .body(body)
                .send()
                .await
        }
    });
    while !halfway.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    berth.kill9();
    assert!(in_flight.await.unwrap().is_err(), "the killed request cannot have succeeded");

    berth.restart();
    // Connections to the old process are gone.
    r = Registry::new(berth.url(""));
    assert_storage_consistent(&berth);
    // What was acknowledged is there; the interrupted chunk is not.
    assert_eq!(upload_length(&r, &url).await, offset as u64);
    let got = r.get(&format!("/v2/crash/app/manifests/{manifest_digest}")).await;
    assert_eq!(got.bytes().await.unwrap(), manifest);
    let tag = r.get("/v2/crash/app/manifests/stable").await;
    assert_eq!(tag.status(), StatusCode::OK);

    // Finish the upload from where the server says it stands.
    let p = r
        .http
        .patch(&url)
        .header("content-range", format!("{}-{}", offset, data.len() - 1))
        .body(data[offset..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(p.status(), StatusCode::ACCEPTED);
    let put = r.http.put(format!("{url}?digest={digest}")).send().await.unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    let blob = r.get(&format!("/v2/crash/big/blobs/{digest}")).await.bytes().await.unwrap();
    assert_eq!(sha256_digest(&blob), digest);
    assert!(assert_storage_consistent(&berth) >= 3);
}

/// Two requests on one upload session take turns. The first writes for longer than a silent
/// lease is trusted, renewing it all along: the second waits for it, is not let in early, and
/// then continues where the first ended.
#[tokio::test]
async fn requests_on_one_upload_session_take_turns() {
    let berth = Berth::start();
    berth.create_project("turns", false);
    let r = Registry::new(berth.url(""));
    let url = r.start_upload("turns/app").await;
    let first = random_bytes(8 * 64 * 1024, 24);
    let second = random_bytes(100_003, 25);

    // Eight pieces one second apart.
    let sending = Arc::new(AtomicBool::new(false));
    let pieces: Vec<Bytes> = Bytes::from(first.clone()).chunks(64 * 1024).map(Bytes::copy_from_slice).collect();
    let paced = futures_util::stream::iter(pieces).then({
        let sending = sending.clone();
        move |piece| {
            let sending = sending.clone();
            async move {
                if sending.swap(true, Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Ok::<_, std::io::Error>(piece)
            }
        }
    });
    let slow = tokio::spawn({
        let (http, url, end) = (r.http.clone(), url.clone(), first.len() - 1);
        async move {
            http.patch(&url)
                .header("content-range", format!("0-{end}"))
                .body(reqwest::Body::wrap_stream(paced))
                .send()
                .await
                .unwrap()
        }
    });
    while !sending.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Let the server take the lease for the slow request before the second one arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (start, end) = (first.len(), first.len() + second.len() - 1);
    let next =
        r.http.patch(&url).header("content-range", format!("{start}-{end}")).body(second.clone()).send().await.unwrap();
    assert_eq!(next.status(), StatusCode::ACCEPTED, "second PATCH: {}", next.text().await.unwrap());
    // Accepted at that offset only because the first request's bytes were recorded before.
    assert_eq!(next.headers()["range"], format!("0-{end}").as_str());
    assert_eq!(slow.await.unwrap().status(), StatusCode::ACCEPTED);

    let blob = [first, second].concat();
    let digest = sha256_digest(&blob);
    let put = r.http.put(format!("{url}?digest={digest}")).send().await.unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    assert!(r.get(&format!("/v2/turns/app/blobs/{digest}")).await.bytes().await.unwrap() == blob);
}

#[tokio::test]
async fn kill_9_during_monolithic_push_leaves_no_blob() {
    let mut berth = Berth::start();
    berth.create_project("crash", false);
    let mut r = Registry::new(berth.url(""));
    let data = random_bytes(4 * 1024 * 1024, 22);
    let digest = sha256_digest(&data);
    let halfway = Arc::new(AtomicBool::new(false));
    let body = slow_body(data.clone(), halfway.clone());
    let url = r.url(&format!("/v2/crash/mono/blobs/uploads/?digest={digest}"));
    let in_flight = tokio::spawn({
        let http = r.http.clone();
        async move { http.post(url).body(body).send().await }
    });
    while !halfway.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    berth.kill9();
    assert!(in_flight.await.unwrap().is_err());
    berth.restart();
    // Connections to the old process are gone.
    r = Registry::new(berth.url(""));
    assert_eq!(
        r.http.head(r.url(&format!("/v2/crash/mono/blobs/{digest}"))).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_storage_consistent(&berth);
    // The same push, redone, works.
    assert_eq!(r.push_blob("crash/mono", &data).await, digest);
}

/// Python's `http.client` (what `requests` and Harbor's Python client run on) on one kept-alive
/// connection: each refused request (sent whole, answered before its body was read), then a ping
/// on the same connection; prints how many pings found the connection closed without a word.
const KEEP_ALIVE_CLIENT: &str = r#"
import http.client, sys
port, rounds = int(sys.argv[1]), int(sys.argv[2])
refused = [("POST", "/api/v2.0/no/such/endpoint", 300_000), ("PATCH", "/v2/library/app/blobs/uploads/x", 700_000)]
broken = 0
for i in range(rounds):
    method, path, size = refused[i % len(refused)]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, body=b"x" * size, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    if response.getheader("Connection", "").lower() != "close":
        try:
            conn.request("GET", "/api/v2.0/ping")
            conn.getresponse().read()
        except (http.client.RemoteDisconnected, ConnectionError):
            broken += 1
    conn.close()
print(broken)
"#;

/// A client that keeps its connection is not cut off by an error answered before its request
/// body was read (a 401 on a push, a 404 on an unknown path): hyper closed such a connection
/// after the answer without saying so, and the client's next request on it failed.
#[test]
fn errors_answered_before_the_body_leave_kept_alive_connections_usable() {
    let berth = Berth::start();
    let out = support::run(Command::new("python3").args(["-c", KEEP_ALIVE_CLIENT, &berth.port().to_string(), "40"]));
    assert_eq!(out.trim(), "0", "connections closed without Connection: close");
}

#[tokio::test]
async fn upload_session_survives_restart() {
    let mut berth = Berth::start();
    berth.create_project("restart", false);
    let mut r = Registry::new(berth.url(""));
    let url = r.start_upload("restart/app").await;
    let p = r.http.patch(&url).body(b"first half, ".to_vec()).send().await.unwrap();
    assert_eq!(p.status(), StatusCode::ACCEPTED);
    assert!(berth.terminate(), "clean exit on SIGTERM");
    berth.restart();
    // Connections to the old process are gone.
    r = Registry::new(berth.url(""));
    assert_eq!(upload_length(&r, &url).await, 12);
    let digest = sha256_digest(b"first half, second half");
    let put = r.http.put(format!("{url}?digest={digest}")).body(b"second half".to_vec()).send().await.unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    assert_eq!(
        r.get(&format!("/v2/restart/app/blobs/{digest}")).await.bytes().await.unwrap(),
        &b"first half, second half"[..]
    );
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let mut berth = Berth::start();
    berth.create_project("graceful", false);
    let r = Registry::new(berth.url(""));
    let url = r.start_upload("graceful/app").await;
    let data = random_bytes(2 * 1024 * 1024, 23);
    let halfway = Arc::new(AtomicBool::new(false));
    let body = slow_body(data.clone(), halfway.clone());
    let in_flight = tokio::spawn({
        let (http, url) = (r.http.clone(), url.clone());
        async move { http.patch(&url).body(body).send().await }
    });
    while !halfway.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let pid = berth.pid();
    let exited = tokio::task::spawn_blocking(move || {
        Command::new("kill").arg("-TERM").arg(pid.to_string()).status().unwrap();
    });
    exited.await.unwrap();
    let response = in_flight.await.unwrap().expect("in-flight request completes during shutdown");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert!(tokio::task::spawn_blocking(move || berth.terminate_wait()).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_writes_every_queued_pull_event_before_exiting() {
    let mut berth = Berth::start();
    berth.create_project("pulled", true);
    Registry::new(berth.url("")).push_image("pulled/app", "v1", b"layer").await;
    let anonymous = Registry::with_credentials(berth.url(""), None);
    // Pull events are written in batches a moment later: the last ones are still queued when
    // the signal comes right after the last response.
    const CLIENTS: usize = 8;
    const PULLS_EACH: usize = 250;
    let clients = (0..CLIENTS).map(|_| {
        let (http, url) = (anonymous.http.clone(), anonymous.url("/v2/pulled/app/manifests/v1"));
        tokio::spawn(async move {
            for _ in 0..PULLS_EACH {
                let r = http.get(&url).header("accept", OCI_MANIFEST).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::OK);
            }
        })
    });
    for client in clients.collect::<Vec<_>>() {
        client.await.unwrap();
    }
    let (exited, berth) = tokio::task::spawn_blocking(move || (berth.terminate(), berth)).await.unwrap();
    assert!(exited, "clean exit on SIGTERM");
    let meta = berth.meta().await;
    let events = meta.events_after(berth_meta::Cursor::default(), 10_000).await.unwrap();
    let pulls = events.iter().filter(|e| e.operation == "pull").count();
    assert_eq!(pulls, CLIENTS * PULLS_EACH, "a pull event was lost at shutdown");
    meta.close().await;
}

#[tokio::test]
async fn memory_stays_bounded_for_large_blobs() {
    let _heavy = support::HEAVY.lock().await;
    let berth = Berth::start();
    berth.create_project("mem", false);
    let r = Registry::new(berth.url(""));
    const SIZE: usize = 512 * 1024 * 1024;
    const PIECE: usize = 1024 * 1024;
    // The client generates the blob as it sends it; the server must not hold it either.
    let piece = random_bytes(PIECE, 24);
    let mut hasher = sha2::Sha256::new();
    for _ in 0..SIZE / PIECE {
        hasher.update(&piece);
    }
    let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
    let shared = Bytes::from(piece);
    let stream = futures_util::stream::iter((0..SIZE / PIECE).map(move |_| Ok::<_, std::io::Error>(shared.clone())));
    let post = r
        .http
        .post(r.url(&format!("/v2/mem/big/blobs/uploads/?digest={digest}")))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::CREATED);
    let mut get = r.get(&format!("/v2/mem/big/blobs/{digest}")).await;
    let mut received = 0usize;
    while let Some(chunk) = get.chunk().await.unwrap() {
        received += chunk.len();
    }
    assert_eq!(received, SIZE);
    let status = std::fs::read_to_string(format!("/proc/{}/status", berth.pid())).unwrap();
    let peak_kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(peak_kib < 128 * 1024, "peak RSS {peak_kib} KiB while moving a {SIZE}-byte blob");
}

#[test]
fn bad_configuration_fails_at_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 5] = [
        ("http:\n  port: 5000\n  prot: 1\n", &[], "prot"),
        ("log:\n  format: xml\n", &[], "log.format"),
        ("", &[("BERTH_HTTP_PORT", "not-a-port")], "http.port"),
        ("", &[("BERTH_LOG_LEVLE", "debug")], "did you mean BERTH_LOG_LEVEL"),
        ("", &[("BERTH_HTTP_PROT", "1")], "did you mean BERTH_HTTP_PORT"),
    ];
    for (yaml, env, key) in cases {
        let file = dir.path().join("berth.yml");
        std::fs::write(&file, yaml).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["serve", "--config"])
            .arg(&file)
            .env("BERTH_DATA_VOLUME", dir.path().join("data"))
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(!out.status.success(), "started with {yaml:?} {env:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key), "error for {yaml:?} {env:?} does not name {key}: {stderr}");
    }
}

/// In a Kubernetes namespace with a Service named `berth`, every pod gets `BERTH_PORT`,
/// `BERTH_SERVICE_HOST`… (and the project's scripts use `BERTH_S3_TEST_*`): Berth starts, and
/// says once which it ignored.
#[test]
fn starts_beside_the_variables_kubernetes_gives_a_service_named_berth() {
    let others = [
        ("BERTH_PORT", "tcp://10.96.0.7:5000"),
        ("BERTH_SERVICE_HOST", "10.96.0.7"),
        ("BERTH_SERVICE_PORT", "5000"),
        ("BERTH_PORT_5000_TCP", "tcp://10.96.0.7:5000"),
        ("BERTH_PORT_5000_TCP_PROTO", "tcp"),
        ("BERTH_PORT_5000_TCP_PORT", "5000"),
        ("BERTH_PORT_5000_TCP_ADDR", "10.96.0.7"),
        ("BERTH_S3_TEST_ENDPOINT", "http://127.0.0.1:1"),
    ];
    let mut builder = Berth::builder();
    for (k, v) in others {
        builder = builder.with_env(k, v);
    }
    let berth = builder.start();
    let log = berth.log();
    let warning = log.lines().find(|l| l.contains("name no configuration key")).expect("a warning");
    for (k, _) in others {
        assert!(warning.contains(k), "{k} not named in {warning}");
    }
    assert_eq!(log.matches("name no configuration key").count(), 1, "one warning line");
}
