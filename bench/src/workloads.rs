//! The workloads, each run the same way against either registry.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use futures_util::stream;
use reqwest::{Client, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::Plan;
use crate::limits::LoopbackProbe;
use crate::servers::Server;

const MB: f64 = 1_000_000.0;

/// Requests/s and latencies of a `wrk` run.
#[derive(Default)]
pub struct Wrk {
    pub rps: Vec<f64>,
    pub p50: Vec<f64>,
    pub p99: Vec<f64>,
}

#[derive(Default)]
pub struct Results {
    pub big_label: String,
    pub concurrent_label: String,
    pub layers_label: String,
    pub artifacts: usize,
    pub mono_push: Vec<f64>,
    pub chunked_push: Vec<f64>,
    pub pull: Vec<f64>,
    /// The loopback HTTP limit (bytes/s), measured right before each of this registry's pulls.
    pub loopback: Vec<f64>,
    pub concurrent_push: Vec<f64>,
    pub concurrent_pull: Vec<f64>,
    pub skopeo_push: Vec<f64>,
    pub skopeo_pull: Vec<f64>,
    /// The same pulls with skopeo's files (the layout and its blob-info cache) on tmpfs, where its
    /// syncs cost nothing.
    pub skopeo_pull_memory: Vec<f64>,
    pub wrk_anon: Wrk,
    pub wrk_token: Wrk,
    pub wrk_blob: Wrk,
    pub list_p50: f64,
    pub list_p99: f64,
    /// Load times of the portal's pages (ms), Berth only: the page and its loads.
    pub portal: Vec<(String, Vec<f64>)>,
}

pub use berth_testkit::random_bytes as random;

pub fn client(server: &Server) -> anyhow::Result<Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some((u, p)) = server.creds() {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        headers.insert("authorization", format!("Basic {token}").parse()?);
    }
    Ok(Client::builder().default_headers(headers).pool_max_idle_per_host(256).build()?)
}

/// Content `base || suffix`: a distinct blob per suffix without copying or rehashing `base`.
struct Blob {
    base: Bytes,
    state: Sha256,
}

impl Blob {
    fn new(base: Vec<u8>) -> Blob {
        let state = Sha256::new().chain_update(&base);
        Blob { base: Bytes::from(base), state }
    }

    fn len(&self) -> usize {
        self.base.len() + 8
    }

    fn digest(&self, suffix: u64) -> String {
        let d = self.state.clone().chain_update(suffix.to_be_bytes()).finalize();
        format!("sha256:{}", hex::encode(d))
    }

    /// The content as pieces of at most `piece` bytes (zero-copy slices of `base`).
    fn pieces(&self, suffix: u64, piece: usize) -> Vec<Bytes> {
        let mut out: Vec<Bytes> =
            (0..self.base.len()).step_by(piece).map(|i| self.base.slice(i..(i + piece).min(self.base.len()))).collect();
        out.push(Bytes::copy_from_slice(&suffix.to_be_bytes()));
        out
    }

    fn body(&self, suffix: u64) -> reqwest::Body {
        let pieces = self.pieces(suffix, 1024 * 1024);
        reqwest::Body::wrap_stream(stream::iter(pieces.into_iter().map(Ok::<_, std::io::Error>)))
    }
}

async fn push_monolithic(c: &Client, s: &Server, repo: &str, blob: &Blob, suffix: u64) -> anyhow::Result<()> {
    let url = s.url(&format!("/v2/{repo}/blobs/uploads/?digest={}", blob.digest(suffix)));
    let r = c.post(url).header("content-length", blob.len()).body(blob.body(suffix)).send().await?;
    // distribution does not take a body on POST ?digest= (it opens a session instead): finish it.
    if r.status() == StatusCode::ACCEPTED {
        let loc = location(s, &r)?;
        let r = c
            .put(with_digest(&loc, &blob.digest(suffix)))
            .header("content-length", blob.len())
            .body(blob.body(suffix))
            .send()
            .await?;
        ensure!(r.status() == StatusCode::CREATED, "{} monolithic PUT: {}", s.name(), r.status());
        return Ok(());
    }
    ensure!(r.status() == StatusCode::CREATED, "{} monolithic push: {}", s.name(), r.status());
    Ok(())
}

fn location(s: &Server, r: &reqwest::Response) -> anyhow::Result<String> {
    let loc = r.headers().get("location").context("no Location")?.to_str()?.to_owned();
    Ok(if loc.starts_with("http") { loc } else { s.url(&loc) })
}

fn with_digest(url: &str, digest: &str) -> String {
    format!("{url}{}digest={digest}", if url.contains('?') { '&' } else { '?' })
}

async fn push_chunked(
    c: &Client,
    s: &Server,
    repo: &str,
    blob: &Blob,
    suffix: u64,
    chunk: usize,
) -> anyhow::Result<()> {
    let r = c.post(s.url(&format!("/v2/{repo}/blobs/uploads/"))).send().await?;
    ensure!(r.status() == StatusCode::ACCEPTED, "{} start upload: {}", s.name(), r.status());
    let mut url = location(s, &r)?;
    let mut offset = 0usize;
    for piece in blob.pieces(suffix, chunk) {
        let end = offset + piece.len() - 1;
        let r = c
            .patch(&url)
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("{offset}-{end}"))
            .header("content-length", piece.len())
            .body(piece.clone())
            .send()
            .await?;
        ensure!(r.status() == StatusCode::ACCEPTED, "{} PATCH: {}", s.name(), r.status());
        url = location(s, &r)?;
        offset = end + 1;
    }
    let r = c.put(with_digest(&url, &blob.digest(suffix))).header("content-length", 0).send().await?;
    ensure!(r.status() == StatusCode::CREATED, "{} PUT: {}", s.name(), r.status());
    Ok(())
}

async fn pull(c: &Client, s: &Server, repo: &str, digest: &str) -> anyhow::Result<usize> {
    let mut r = c.get(s.url(&format!("/v2/{repo}/blobs/{digest}"))).send().await?;
    ensure!(r.status() == StatusCode::OK, "{} pull: {}", s.name(), r.status());
    let mut got = 0;
    while let Some(chunk) = r.chunk().await? {
        got += chunk.len();
    }
    Ok(got)
}

/// One GET of `url` by `curl` into `/dev/null`: the bytes it got and their rate (bytes/s) by
/// curl's own clock, from connecting to the last byte.
///
/// The single-stream pull and its loopback limit are measured with curl rather than with the
/// bench's reqwest client: a multi-threaded client on this two-core host passes each chunk from
/// the task reading the socket to the one consuming it, competes with the server for the cores,
/// and moved a cached blob at 1,450–4,450 MB/s from one pull to the next, where curl, one
/// thread reading into one buffer, held 3,350–3,850 against the same server.
pub async fn curl_get(url: &str, creds: Option<(&str, &str)>) -> anyhow::Result<(usize, f64)> {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}"]);
    if let Some((u, p)) = creds {
        cmd.arg("-u").arg(format!("{u}:{p}"));
    }
    cmd.arg(url);
    let out = tokio::task::spawn_blocking(move || cmd.output()).await??;
    ensure!(out.status.success(), "curl {url}: {}", String::from_utf8_lossy(&out.stderr));
    let written = String::from_utf8(out.stdout)?;
    let [status, bytes, secs] = written.split(' ').collect::<Vec<_>>()[..] else {
        bail!("curl {url}: unexpected report {written:?}")
    };
    ensure!(status == "200", "curl {url}: status {status}");
    let (bytes, secs): (usize, f64) = (bytes.parse()?, secs.parse()?);
    Ok((bytes, bytes as f64 / secs))
}

fn mbps(bytes: usize, took: Duration) -> f64 {
    bytes as f64 / MB / took.as_secs_f64()
}

/// Which registry goes first in repetition `rep`: they take turns, so that neither always runs
/// right after the other's writes, and a host that gets faster or slower during the run (this
/// one does) weighs on both alike.
fn turns(rep: usize) -> [usize; 2] {
    if rep.is_multiple_of(2) { [0, 1] } else { [1, 0] }
}

/// Writes every dirty page to disk before a timed push: distribution never `fsync`s, so its
/// pushes leave up to a gigabyte in the page cache that the kernel would otherwise write while
/// the next push (of either registry) is being timed.
async fn settle() -> anyhow::Result<()> {
    // SAFETY: sync() has no preconditions.
    tokio::task::spawn_blocking(|| unsafe { libc::sync() }).await?;
    Ok(())
}

/// Runs every workload against both registries (`servers[0]` is Berth), repetition by
/// repetition, taking turns; returns their results in the same order.
pub async fn run_all(
    plan: &Plan,
    servers: [&Server; 2],
    loopback: &LoopbackProbe,
    work: &Path,
) -> anyhow::Result<[Results; 2]> {
    let clients = [client(servers[0])?, client(servers[1])?];
    let mut results: [Results; 2] = std::array::from_fn(|_| Results {
        big_label: format!("{} MiB blob", plan.big_blob >> 20),
        concurrent_label: format!("{} × {} MiB", plan.concurrent, plan.concurrent_blob >> 20),
        layers_label: format!("{} layers", plan.layers),
        artifacts: plan.artifacts,
        ..Default::default()
    });

    eprintln!("single large blob");
    let big = Blob::new(random(plan.big_blob - 8, 2));
    for rep in 0..plan.reps {
        for i in turns(rep) {
            let (s, c, res, rep) = (servers[i], &clients[i], &mut results[i], rep as u64);
            settle().await?;
            let started = Instant::now();
            push_monolithic(c, s, "bench/big", &big, rep).await?;
            res.mono_push.push(mbps(big.len(), started.elapsed()));

            settle().await?;
            let started = Instant::now();
            push_chunked(c, s, "bench/big", &big, 1000 + rep, plan.chunk).await?;
            res.chunked_push.push(mbps(big.len(), started.elapsed()));

            res.loopback.push(loopback.measure().await?);
            let url = s.url(&format!("/v2/bench/big/blobs/{}", big.digest(rep)));
            let (got, rate) = curl_get(&url, s.creds()).await?;
            ensure!(got == big.len(), "{} pulled {got} of {} bytes", s.name(), big.len());
            res.pull.push(rate / MB);
        }
    }
    drop(big);

    eprintln!("concurrent pushes and pulls");
    let small = Blob::new(random(plan.concurrent_blob - 8, 3));
    for rep in 0..plan.reps {
        for i in turns(rep) {
            let (s, c, res) = (servers[i], &clients[i], &mut results[i]);
            let base = rep as u64 * 10_000;
            settle().await?;
            let started = Instant::now();
            let jobs: Vec<(String, u64)> =
                (0..plan.concurrent as u64).map(|i| (format!("bench/conc{i}"), base + i)).collect();
            let pushes = jobs.iter().map(|(repo, suffix)| push_monolithic(c, s, repo, &small, *suffix));
            for r in futures_util::future::join_all(pushes).await {
                r?;
            }
            res.concurrent_push.push(mbps(plan.concurrent * small.len(), started.elapsed()));

            let started = Instant::now();
            let pulls = jobs.iter().map(|(repo, suffix)| {
                let digest = small.digest(*suffix);
                async move { pull(c, s, repo, &digest).await }
            });
            let mut total = 0;
            for r in futures_util::future::join_all(pulls).await {
                total += r?;
            }
            res.concurrent_pull.push(mbps(total, started.elapsed()));
        }
    }

    eprintln!("skopeo, {} layers", plan.layers);
    let memory = tempfile::Builder::new()
        .prefix("berth-bench-")
        .tempdir_in("/dev/shm")
        .context("a folder in /dev/shm (tmpfs) for skopeo's in-memory pulls")?;
    for rep in 0..plan.reps {
        for i in turns(rep) {
            let (s, res) = (servers[i], &mut results[i]);
            let layout = work.join(format!("layout-{}-{rep}", s.name()));
            write_layout(&layout, plan.layers, plan.layer_size, (rep as u64 + 1) * 7919 + s.flavor as u64)?;
            let dest = format!("docker://{}/bench/skopeo{rep}:v1", s.host);
            settle().await?;
            let started = Instant::now();
            let from = format!("oci:{}:v1", layout.display());
            skopeo(s, &["copy", "--quiet", "--preserve-digests", &from, &dest], true, None)?;
            res.skopeo_push.push(started.elapsed().as_secs_f64());
            // Pulled twice. First as a user would: skopeo writes the layout on the disk and
            // records every blob in its blob-info cache, a BoltDB file on the disk that it syncs
            // six times per blob, one transaction at a time, whichever registry serves it. Then
            // with both in memory (tmpfs), which leaves the registries' share.
            for (memory, times) in [(None, &mut res.skopeo_pull), (Some(memory.path()), &mut res.skopeo_pull_memory)] {
                let out = memory.unwrap_or(work).join(format!("pulled-{}-{rep}", s.name()));
                let started = Instant::now();
                let to = format!("oci:{}:v1", out.display());
                skopeo(s, &["copy", "--quiet", "--preserve-digests", &dest, &to], false, memory)?;
                times.push(started.elapsed().as_secs_f64());
            }
        }
    }
    drop(memory);

    eprintln!("manifest and config blob GETs with wrk");
    let mut paths = Vec::new();
    for (s, c) in servers.iter().zip(&clients) {
        paths.push(push_small_image(c, s, "bench/small").await?);
    }
    for rep in 0..plan.reps.min(3) {
        for i in turns(rep) {
            let (s, res, (manifest_path, config_path)) = (servers[i], &mut results[i], &paths[i]);
            wrk(s, manifest_path, None, plan.wrk_seconds, &mut res.wrk_anon)?;
            if let Some((u, p)) = s.creds() {
                let token = bearer_token(s, u, p, "bench/small").await?;
                wrk(s, manifest_path, Some(&token), plan.wrk_seconds, &mut res.wrk_token)?;
            }
            wrk(s, config_path, None, plan.wrk_seconds, &mut res.wrk_blob)?;
        }
    }

    // Distribution has neither a management API nor a portal.
    let (berth, res) = (servers[0], &mut results[0]);
    eprintln!("berth: {} artifacts through the management API", plan.artifacts);
    (res.list_p50, res.list_p99) = list_artifacts(&clients[0], berth, plan.artifacts).await?;
    eprintln!("berth: portal pages, with those {} artifacts in one repository", plan.artifacts);
    res.portal = portal_pages(berth, plan.artifacts).await?;
    results[1].list_p50 = f64::NAN;
    results[1].list_p99 = f64::NAN;
    Ok(results)
}

/// Runs skopeo against `s`, pushing or pulling; with `memory` (a folder on tmpfs), its blob-info
/// cache is kept there rather than on the disk.
fn skopeo(s: &Server, args: &[&str], push: bool, memory: Option<&Path>) -> anyhow::Result<()> {
    // SAFETY: geteuid() has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut cmd = match memory {
        None => Command::new("skopeo"),
        // Run by root, skopeo keeps the cache in a fixed folder: a tmpfs is mounted over it in a
        // mount namespace of skopeo's own (private, so the machine's folder is not touched).
        Some(_) if root => {
            std::fs::create_dir_all(ROOT_BLOB_INFO_CACHE)?;
            let mut cmd = Command::new("unshare");
            cmd.args(["--mount", "sh", "-c"])
                .arg(format!("mount -t tmpfs berth-bench {ROOT_BLOB_INFO_CACHE} && exec skopeo \"$@\""))
                .arg("skopeo");
            cmd
        }
        // Anyone else's is under $XDG_DATA_HOME.
        Some(dir) => {
            let mut cmd = Command::new("skopeo");
            cmd.env("XDG_DATA_HOME", dir.join("xdg-data"));
            cmd
        }
    };
    cmd.arg(args[0]);
    if push {
        cmd.arg("--dest-tls-verify=false");
        match s.creds() {
            Some((u, p)) => cmd.arg(format!("--dest-creds={u}:{p}")),
            None => cmd.arg("--dest-no-creds"),
        };
    } else {
        cmd.arg("--src-tls-verify=false");
        match s.creds() {
            Some((u, p)) => cmd.arg(format!("--src-creds={u}:{p}")),
            None => cmd.arg("--src-no-creds"),
        };
    }
    let out = cmd.args(&args[1..]).output().context("running skopeo")?;
    if !out.status.success() {
        bail!("skopeo {args:?} against {}: {}", s.name(), String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// Where skopeo run by root keeps its blob-info cache.
const ROOT_BLOB_INFO_CACHE: &str = "/var/lib/containers/cache";

/// An OCI layout with `layers` random (uncompressed-tar typed) layers.
fn write_layout(dir: &Path, layers: usize, layer_size: usize, seed: u64) -> anyhow::Result<()> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)?;
    let put = |bytes: &[u8]| -> anyhow::Result<(String, usize)> {
        let hex = hex::encode(Sha256::digest(bytes));
        std::fs::write(blobs.join(&hex), bytes)?;
        Ok((format!("sha256:{hex}"), bytes.len()))
    };
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for i in 0..layers {
        let (d, n) = put(&random(layer_size, seed * 1000 + i as u64))?;
        diff_ids.push(d.clone());
        descs.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": n}));
    }
    let config = serde_json::to_vec(
        &json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}),
    )?;
    let (cd, cn) = put(&config)?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
        "layers": descs,
    }))?;
    let (md, mn) = put(&manifest)?;
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)?;
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
            "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}))?,
    )?;
    Ok(())
}

/// Pushes a one-layer image and returns the paths of its manifest (by tag) and its config blob.
async fn push_small_image(c: &Client, s: &Server, repo: &str) -> anyhow::Result<(String, String)> {
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let layer = random(1000, 4);
    let mut descs = Vec::new();
    for (i, data) in [config, layer].into_iter().enumerate() {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&data)));
        let r = c.post(s.url(&format!("/v2/{repo}/blobs/uploads/"))).send().await?;
        let url = location(s, &r)?;
        let len = data.len();
        let r = c.put(with_digest(&url, &digest)).body(data).send().await?;
        ensure!(r.status() == StatusCode::CREATED, "{} small blob: {}", s.name(), r.status());
        descs.push((digest, len, i));
    }
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": descs[0].0, "size": descs[0].1},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": descs[1].0, "size": descs[1].1}],
    }))?;
    let path = format!("/v2/{repo}/manifests/v1");
    let r = c
        .put(s.url(&path))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest)
        .send()
        .await?;
    ensure!(r.status() == StatusCode::CREATED, "{} manifest: {}", s.name(), r.status());
    Ok((path, format!("/v2/{repo}/blobs/{}", descs[0].0)))
}

async fn bearer_token(s: &Server, user: &str, password: &str, repo: &str) -> anyhow::Result<String> {
    let url = s.url(&format!("/service/token?service=harbor-registry&scope=repository:{repo}:pull"));
    let r: serde_json::Value = Client::new().get(url).basic_auth(user, Some(password)).send().await?.json().await?;
    Ok(r["token"].as_str().context("no token")?.to_owned())
}

/// `wrk -c32` on a manifest; appends requests/s and p50/p99 (ms) to `into`.
fn wrk(s: &Server, path: &str, token: Option<&str>, seconds: u64, into: &mut Wrk) -> anyhow::Result<()> {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", "-c32", &format!("-d{seconds}s"), "--latency"])
        .args(["-H", "Accept: application/vnd.oci.image.manifest.v1+json"]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let out = cmd.arg(s.url(path)).output().context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "wrk against {}: {text}", s.name());
    ensure!(!text.contains("Non-2xx"), "wrk against {} got errors: {text}", s.name());
    let field = |prefix: &str| text.lines().find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_owned()));
    let rps: f64 = field("Requests/sec:").context("wrk printed no Requests/sec")?.parse()?;
    into.rps.push(rps);
    into.p50.push(latency_ms(&field("50%").context("no p50")?)?);
    into.p99.push(latency_ms(&field("99%").context("no p99")?)?);
    Ok(())
}

fn latency_ms(v: &str) -> anyhow::Result<f64> {
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).context("latency unit")?);
    let n: f64 = num.parse()?;
    Ok(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        other => bail!("latency unit {other}"),
    })
}

/// Loads of each page, after one untimed load.
const PAGE_LOADS: usize = 20;

/// Times the portal's main pages as a signed-in administrator, with the `n` artifacts that
/// [`list_artifacts`] pushed into `bench/many`. Measured at the client over loopback: an upper
/// bound of the server's time.
async fn portal_pages(s: &Server, n: usize) -> anyhow::Result<Vec<(String, Vec<f64>)>> {
    let (user, password) = s.creds().context("the portal needs a user")?;
    let browser = Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let r = browser.post(s.url("/harbor/sign-in")).form(&[("principal", user), ("password", password)]).send().await?;
    ensure!(r.status() == StatusCode::SEE_OTHER, "signing in to the portal: {}", r.status());
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("no session cookie")?
        .to_owned();
    let projects: serde_json::Value =
        client(s)?.get(s.url("/api/v2.0/projects?name=bench")).send().await?.json().await?;
    let id = projects[0]["project_id"].as_i64().context("no bench project")?;
    let last = n.div_ceil(15);
    let pages = [
        ("projects".to_owned(), "/harbor/projects".to_owned()),
        ("project summary".to_owned(), format!("/harbor/projects/{id}")),
        ("repositories".to_owned(), format!("/harbor/projects/{id}/repositories")),
        (
            format!("artifacts of the {n}-artifact repository, first page"),
            format!("/harbor/projects/{id}/repositories/many"),
        ),
        ("  its last page".to_owned(), format!("/harbor/projects/{id}/repositories/many?page={last}")),
        ("artifact detail".to_owned(), format!("/harbor/projects/{id}/repositories/many/artifacts/t{}", n / 2)),
        ("members".to_owned(), format!("/harbor/projects/{id}/members")),
        ("robot accounts".to_owned(), format!("/harbor/projects/{id}/robots")),
        ("project audit log".to_owned(), format!("/harbor/projects/{id}/logs")),
        ("users".to_owned(), "/harbor/users".to_owned()),
        ("replications".to_owned(), "/harbor/replications".to_owned()),
        ("audit log".to_owned(), "/harbor/logs".to_owned()),
        ("job queue".to_owned(), "/harbor/job-service".to_owned()),
        ("system".to_owned(), "/harbor/system-info".to_owned()),
    ];
    let mut results = Vec::new();
    for (name, path) in pages {
        let mut times = Vec::with_capacity(PAGE_LOADS);
        for i in 0..=PAGE_LOADS {
            let started = Instant::now();
            let r = browser.get(s.url(&path)).header("cookie", &cookie).send().await?;
            ensure!(r.status() == StatusCode::OK, "portal page {path}: {}", r.status());
            let body = r.bytes().await?;
            ensure!(body.starts_with(b"<!doctype html>"), "portal page {path} is not a page");
            if i > 0 {
                times.push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
        results.push((name, times));
    }
    Ok(results)
}

/// Pushes `n` artifacts into one repository, then times listing them through the API.
async fn list_artifacts(c: &Client, s: &Server, n: usize) -> anyhow::Result<(f64, f64)> {
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let cd = format!("sha256:{}", hex::encode(Sha256::digest(&config)));
    let r = c.post(s.url(&format!("/v2/bench/many/blobs/uploads/?digest={cd}"))).body(config.clone()).send().await?;
    ensure!(r.status() == StatusCode::CREATED, "config blob: {}", r.status());
    let puts = (0..n).map(|i| {
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
            "layers": [], "annotations": {"n": i.to_string()},
        }))
        .expect("json");
        let c = c.clone();
        let url = s.url(&format!("/v2/bench/many/manifests/t{i}"));
        async move {
            let r = c
                .put(url)
                .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                .body(manifest)
                .send()
                .await?;
            ensure!(r.status() == StatusCode::CREATED, "manifest {i}: {}", r.status());
            Ok::<_, anyhow::Error>(())
        }
    });
    let mut stream = futures_util::stream::iter(puts).buffer_unordered(16);
    use futures_util::StreamExt;
    while let Some(r) = stream.next().await {
        r?;
    }
    let mut times = Vec::new();
    let pages = n.div_ceil(100);
    for i in 0..50 {
        let page = 1 + (i * 7) % pages;
        let started = Instant::now();
        let r = c
            .get(s.url(&format!("/api/v2.0/projects/bench/repositories/many/artifacts?page={page}&page_size=100")))
            .send()
            .await?;
        ensure!(r.status() == StatusCode::OK, "listing artifacts: {}", r.status());
        let body = r.bytes().await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        ensure!(!body.is_empty());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok((times[times.len() / 2], times[(times.len() * 99 / 100).min(times.len() - 1)]))
}
