//! Scale-out: two Berth instances on one PostgreSQL database and one blob store, behind a real
//! nginx balancing round robin without stickiness (see the README's "Scale out"). Every request
//! may reach either instance, an instance may die at any moment, and instances may start
//! together on an empty database: clients must not notice.
//!
//! Needs PostgreSQL on 127.0.0.1:5432 (or the server in `TEST_BERTH_POSTGRES`), nginx and skopeo
//! (`scripts/install-test-deps.sh`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support;
use crate::support::clients::{Clients, require_tool};
use crate::support::ha::{Cluster, max_bytes_received};
use crate::support::layout::{self, Image};
use crate::support::registry::Registry;
use crate::support::{ADMIN, free_port, path_str, random_bytes, sha256_digest};
use reqwest::StatusCode;
use serde_json::Value;

/// Asserts that the layout `pulled` holds `image` under `tag`, byte for byte: the manifest bytes
/// are compared, and every blob is read back and hashed (`read_blob` checks each against its
/// digest), so equal digests mean equal bytes.
fn assert_same_image(image: &Image, pulled: &Path, tag: &str) {
    let descriptor = layout::manifest_descriptor(pulled, tag);
    assert_eq!(descriptor["digest"], image.manifest_digest.as_str(), "manifest digest in {}", pulled.display());
    assert!(layout::read_blob(pulled, &image.manifest_digest) == image.manifest, "manifest bytes differ");
    let manifest: Value = serde_json::from_slice(&image.manifest).unwrap();
    let sizes = std::iter::once(&manifest["config"]).chain(manifest["layers"].as_array().unwrap());
    for (digest, descriptor) in image.blob_digests().iter().zip(sizes) {
        let bytes = layout::read_blob(pulled, digest);
        assert_eq!(bytes.len() as u64, descriptor["size"].as_u64().unwrap(), "size of {digest}");
    }
}

/// Pulls `repo_tag` from `host` into a new layout under `dir` and checks it is `image`.
fn pull_and_compare(clients: &Clients, host: &str, repo_tag: &str, image: &Image, dir: &Path, name: &str) {
    let out = dir.join(name);
    clients.pull_layout(host, repo_tag, &out, "pulled");
    assert_same_image(image, &out, "pulled");
}

/// The upstreams (`127.0.0.1:PORT`) nginx's access log shows requests going to.
fn upstreams_used(access_log: &str) -> std::collections::BTreeSet<String> {
    access_log.lines().filter_map(|line| line.split_whitespace().nth(3)).map(str::to_owned).collect()
}

/// Status and `WWW-Authenticate` header of an anonymous `GET /v2/` to `host`.
fn challenge(host: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(host).expect("connect");
    write!(s, "GET /v2/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status line");
    let header = response
        .lines()
        .find_map(|l| l.split_once(':').filter(|(name, _)| name.eq_ignore_ascii_case("www-authenticate")))
        .map(|(_, value)| value.trim().to_owned())
        .unwrap_or_default();
    (status, header)
}

/// A registry token from `base`'s `/service/token` for `scope`, as admin.
async fn token(base: &str, scope: &str) -> String {
    let r = reqwest::Client::new()
        .get(format!("{base}/service/token?service=harbor-registry&scope={scope}"))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "token from {base}");
    let body: Value = r.json().await.unwrap();
    body["token"].as_str().expect("token in the answer").to_owned()
}

/// The path and query of a `Location` header (the instances write the load balancer's URL).
fn path_of(location: &str) -> String {
    let start = location.find("/v2/").unwrap_or_else(|| panic!("not a /v2/ location: {location}"));
    location[start..].to_owned()
}

#[test]
fn push_through_the_load_balancer_and_pull_from_every_instance() {
    require_tool("skopeo");
    let cluster = Cluster::start(2);
    let (a, b, lb) = (&cluster.instances[0], &cluster.instances[1], &cluster.lb);
    a.create_project("team", false);

    // Behind the load balancer, the token realm is the load balancer, whichever instance answers.
    for _ in 0..2 {
        let (status, challenge) = challenge(&lb.host());
        assert_eq!(status, 401);
        assert!(challenge.contains(&format!("realm=\"{}\"", lb.url("/service/token"))), "{challenge}");
    }

    let dir = tempfile::tempdir().unwrap();
    let image = layout::write_image(&dir.path().join("src"), "v1", 3, 1 << 20, 1);
    let clients = Clients::with_creds(ADMIN);
    clients.push_layout(&image, &lb.host(), "team/app:v1");
    pull_and_compare(&clients, &lb.host(), "team/app:v1", &image, dir.path(), "via-lb");

    // Round robin without stickiness: both instances took part.
    let used = upstreams_used(&lb.access_log());
    assert!(used.contains(&a.host()) && used.contains(&b.host()), "requests went only to {used:?}");

    // Each instance serves the same bytes on its own.
    for (name, berth) in [("a", a), ("b", b)] {
        let (manifest, _) = clients.raw_manifest(&berth.host(), "team/app:v1");
        assert!(manifest == image.manifest, "manifest from instance {name} differs");
        pull_and_compare(&clients, &berth.host(), "team/app:v1", &image, dir.path(), name);
    }
}

#[tokio::test]
async fn chunked_upload_moves_between_instances() {
    let cluster = Cluster::start(2);
    cluster.instances[0].create_project("team", false);
    let a = Registry::new(cluster.instances[0].url(""));
    let b = Registry::new(cluster.instances[1].url(""));

    // Odd chunk sizes, so the saved hash state is never at a block boundary.
    let chunks = [random_bytes(1_000_003, 10), random_bytes(2_500_001, 11), random_bytes(777_777, 12)];
    let blob: Vec<u8> = chunks.concat();
    let digest = sha256_digest(&blob);

    // POST on A.
    let r = a.http.post(a.url("/v2/team/app/blobs/uploads/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mut location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&cluster.lb.url("/v2/")), "Location points at the load balancer: {location}");

    // PATCH on B, then on A: each continues where the other stopped.
    let mut offset = 0usize;
    for (chunk, (registry, other)) in chunks[..2].iter().zip([(&b, &a), (&a, &b)]) {
        let end = offset + chunk.len() - 1;
        let r = registry
            .http
            .patch(registry.url(&path_of(&location)))
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("{offset}-{end}"))
            .body(chunk.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED, "PATCH at {offset}: {}", r.text().await.unwrap());
        assert_eq!(r.headers()["range"], format!("0-{end}").as_str());
        location = r.headers()["location"].to_str().unwrap().to_owned();
        offset = end + 1;
        // The other instance sees the same progress.
        let r = other.http.get(other.url(&path_of(&location))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(r.headers()["range"], format!("0-{end}").as_str());
    }

    // PUT with the last chunk on B.
    let sep = if location.contains('?') { '&' } else { '?' };
    let r = b
        .http
        .put(b.url(&format!("{}{sep}digest={digest}", path_of(&location))))
        .header("content-type", "application/octet-stream")
        .body(chunks[2].clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "PUT: {}", r.text().await.unwrap());

    for (name, registry) in [("a", &a), ("b", &b)] {
        let r = registry.get(&format!("/v2/team/app/blobs/{digest}")).await;
        assert_eq!(r.status(), StatusCode::OK, "blob from instance {name}");
        assert!(r.bytes().await.unwrap() == blob, "blob bytes from instance {name}");
    }
}

#[tokio::test]
async fn a_token_from_one_instance_is_accepted_by_the_other() {
    let cluster = Cluster::start(2);
    cluster.instances[0].create_project("team", false);
    let (a, b) = (cluster.instances[0].url(""), cluster.instances[1].url(""));
    let anonymous = reqwest::Client::new();
    assert_eq!(anonymous.get(format!("{b}/v2/")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

    let from_a = token(&a, "repository:team/app:push,pull").await;
    let r = anonymous.get(format!("{b}/v2/")).bearer_auth(&from_a).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "B accepts A's token on /v2/");
    // And grants what A's token says: a push to B, then a pull of it from A with B's token.
    let layer = random_bytes(4096, 20);
    let digest = sha256_digest(&layer);
    let r = anonymous
        .post(format!("{b}/v2/team/app/blobs/uploads/?digest={digest}"))
        .bearer_auth(&from_a)
        .body(layer.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "push to B with A's token: {}", r.text().await.unwrap());
    let from_b = token(&b, "repository:team/app:pull").await;
    let r = anonymous.get(format!("{a}/v2/team/app/blobs/{digest}")).bearer_auth(&from_b).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "A accepts B's token");
    assert!(r.bytes().await.unwrap() == layer);
    // The grant is still the scope's: B's pull token does not push on A.
    let r = anonymous.post(format!("{a}/v2/team/app/blobs/uploads/")).bearer_auth(&from_b).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// How many bytes of one connection mean "this instance is receiving the large layer".
const MID_PUSH: u64 = 32 << 20;

#[test]
fn killing_an_instance_mid_push_loses_nothing_acknowledged() {
    let _heavy = support::HEAVY.blocking_lock();
    require_tool("skopeo");
    let mut cluster = Cluster::start(2);
    cluster.instances[0].create_project("team", false);
    let lb = cluster.lb.host();
    let clients = Clients::with_creds(ADMIN);
    let dir = tempfile::tempdir().unwrap();

    // Acknowledged before the crash.
    let base = layout::write_image(&dir.path().join("base"), "v1", 2, 1 << 20, 30);
    clients.push_layout(&base, &lb, "team/base:v1");

    let big = layout::write_image(&dir.path().join("big"), "v1", 1, 200 << 20, 31);
    let started = Instant::now();
    let mut push = clients
        .skopeo("copy")
        .args(["--quiet", "--preserve-digests", "--dest-tls-verify=false", &big.oci_ref()])
        .arg(format!("docker://{lb}/team/big:v1"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn skopeo");
    // Kill the instance the layer is streaming into, once it is well under way.
    let victim = loop {
        if let Some(i) = (0..2).find(|&i| max_bytes_received(cluster.instances[i].port()) >= MID_PUSH) {
            break i;
        }
        if let Some(status) = push.try_wait().unwrap() {
            panic!("the push ended ({status}) before either instance had received {MID_PUSH} bytes of it");
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no instance received the layer within 120 s");
        std::thread::sleep(Duration::from_millis(5));
    };
    cluster.instances[victim].kill9();
    eprintln!("killed instance {victim} {:.1} s into the push", started.elapsed().as_secs_f64());
    let first = push.wait_with_output().unwrap();
    if !first.status.success() {
        // The request that was streaming into the dead instance cannot be replayed by nginx; the
        // client pushes again, and the load balancer sends it to the survivor.
        eprintln!("first push failed as expected: {}", String::from_utf8_lossy(&first.stderr).trim());
        clients.push_layout_as(&big, &lb, "team/big:v1", clients.creds()).unwrap_or_else(|e| panic!("retry: {e}"));
    }

    // Through the load balancer (the survivor alone now), and from the restarted instance.
    pull_and_compare(&clients, &lb, "team/base:v1", &base, dir.path(), "base-lb");
    pull_and_compare(&clients, &lb, "team/big:v1", &big, dir.path(), "big-lb");
    cluster.instances[victim].restart();
    let restarted = cluster.instances[victim].host();
    pull_and_compare(&clients, &restarted, "team/base:v1", &base, dir.path(), "base-restarted");
    pull_and_compare(&clients, &restarted, "team/big:v1", &big, dir.path(), "big-restarted");
}

#[tokio::test]
async fn instances_started_together_on_an_empty_database() {
    let _heavy = support::HEAVY.lock().await;
    // Cluster::start spawns both processes before waiting for either.
    let cluster = Cluster::start(2);
    assert_eq!(cluster.sql("SELECT count(*) FROM users WHERE username = 'admin'"), "1");
    assert_eq!(cluster.sql("SELECT count(*) FROM projects WHERE name = 'library'"), "1");
    assert_eq!(cluster.sql("SELECT count(*) FROM signing_keys"), "1");

    let http = reqwest::Client::new();
    let mut cookies = Vec::new();
    for berth in &cluster.instances {
        let r = http.get(berth.url("/api/v2.0/users/current")).basic_auth(ADMIN.0, Some(ADMIN.1)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.json::<Value>().await.unwrap()["username"], "admin");
        let r = http
            .post(berth.url("/c/login"))
            .form(&[("principal", ADMIN.0), ("password", ADMIN.1)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "portal login on {}", berth.host());
        let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        cookies.push(cookie);
    }
    // A browser session opened on one instance is valid on the other, and so are tokens: both
    // use the one signing key.
    for (cookie, berth) in cookies.iter().zip(cluster.instances.iter().rev()) {
        let r = http.get(berth.url("/api/v2.0/users/current")).header("cookie", cookie).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "session cookie on the other instance");
        let other = cluster.instances.iter().find(|i| i.port() != berth.port()).unwrap();
        let token = token(&other.url(""), "repository:library/app:pull").await;
        let r = http.get(berth.url("/v2/")).bearer_auth(token).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "token of the other instance");
    }

    // A setting changed on one instance is in force on the other within seconds.
    let (a, b) = (&cluster.instances[0], &cluster.instances[1]);
    let r = http
        .put(a.url("/api/v2.0/configurations"))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .json(&serde_json::json!({"self_registration": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let info: Value = http.get(b.url("/api/v2.0/systeminfo")).send().await.unwrap().json().await.unwrap();
        if info["self_registration"] == true {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the other instance never saw the change");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[test]
fn unreachable_database_fails_at_start_without_showing_the_password() {
    const PASSWORD: &str = "n0t-For-Logs_7731";
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on: connections are refused.
    let server = format!("127.0.0.1:{}", free_port());
    let url = format!("postgres://berth:{PASSWORD}@{server}/berth");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("serve")
        .env_clear()
        .env("BERTH_HTTP_ADDRESS", "127.0.0.1")
        .env("BERTH_HTTP_PORT", free_port().to_string())
        .env("BERTH_DATA_VOLUME", path_str(&dir.path().join("data")))
        .env("BERTH_DATABASE_URL", &url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("berth still running 90 s after start with an unreachable database");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "started without its database:\n{output}");
    assert!(output.contains("database.url"), "the error does not name database.url:\n{output}");
    assert!(output.contains(&server), "the error does not say where it tried to connect:\n{output}");
    assert!(!output.contains(PASSWORD), "the output shows the password:\n{output}");
    eprintln!("failed after {:.1} s with:\n{output}", started.elapsed().as_secs_f64());
}
