//! Proxy-cache projects: a project created with `registry_id` is a pull-through cache of a real
//! upstream registry, Debian's `docker-registry` (CNCF distribution 2.8) on loopback.

use std::time::Duration;

use crate::support;
use crate::support::registry::*;
use crate::support::upstream::Upstream;
use crate::support::{ADMIN, Berth, random_bytes, sha256_digest};
use reqwest::StatusCode;
use serde_json::Value;

const MIB: usize = 1024 * 1024;

/// Creates a `docker-registry` endpoint for `url` through the API; returns its id.
async fn create_endpoint(berth: &Berth, name: &str, url: &str) -> i64 {
    let body = format!(r#"{{"name":"{name}","type":"docker-registry","url":"{url}"}}"#);
    let (status, text) = berth.api("POST", "/registries", Some(ADMIN), Some(&body));
    assert_eq!(status, 201, "creating endpoint {name}: {text}");
    let (_, list) = berth.api("GET", "/registries", Some(ADMIN), None);
    let list: Value = serde_json::from_str(&list).unwrap();
    list.as_array().unwrap().iter().find(|r| r["name"] == name).unwrap()["id"].as_i64().unwrap()
}

/// A Berth with public proxy-cache project `hub` of a fresh upstream.
async fn setup() -> (Berth, Upstream, i64) {
    let upstream = Upstream::start();
    let berth = Berth::start();
    let id = create_endpoint(&berth, "upstream", &upstream.url()).await;
    let body = format!(r#"{{"project_name":"hub","registry_id":{id},"metadata":{{"public":"true"}}}}"#);
    let (status, text) = berth.api("POST", "/projects", Some(ADMIN), Some(&body));
    assert_eq!(status, 201, "{text}");
    (berth, upstream, id)
}

fn layer_of(manifest: &[u8]) -> (String, u64) {
    let m: Value = serde_json::from_slice(manifest).unwrap();
    (m["layers"][0]["digest"].as_str().unwrap().to_owned(), m["layers"][0]["size"].as_u64().unwrap())
}

async fn get_manifest(berth: &Registry, repo: &str, reference: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(berth.url(&format!("/v2/{repo}/manifests/{reference}")))
        .header("accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn fill_freshness_and_refusals() {
    let (berth, upstream, id) = setup().await;
    let layer = random_bytes(3 * MIB, 1);
    let (manifest, digest) = upstream.push_image("lib/app", "1", &layer).await;
    let (layer_digest, _) = layer_of(&manifest);

    // The project reports its endpoint.
    let (status, text) = berth.api("GET", "/projects/hub", Some(ADMIN), None);
    assert_eq!(status, 200, "{text}");
    let project: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(project["registry_id"], id);

    // Pull through Berth (anonymous: the project is public).
    let b = Registry::with_credentials(berth.url(""), None);
    let r = get_manifest(&b, "hub/lib/app", "1").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["docker-content-digest"].to_str().unwrap(), digest);
    assert_eq!(r.bytes().await.unwrap().to_vec(), manifest);
    let r = b.get(&format!("/v2/hub/lib/app/blobs/{layer_digest}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(sha256_digest(&r.bytes().await.unwrap()), layer_digest);

    // skopeo pulls the whole image through the cache (config blob fetched on demand).
    support::clients::require_tool("skopeo");
    let clients = support::clients::Clients::new();
    let dir = tempfile::tempdir().unwrap();
    clients.pull_layout(&berth.host(), "hub/lib/app:1", dir.path(), "1");
    assert_eq!(support::layout::manifest_descriptor(dir.path(), "1")["digest"], digest.as_str());
    assert_eq!(support::layout::read_blob(dir.path(), &layer_digest), layer);

    // What was cached is Berth's content now: in the API, and its blobs are linked.
    let (status, text) = berth.api("GET", "/projects/hub/repositories", Some(ADMIN), None);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"hub/lib/app\""), "{text}");
    let meta = berth.meta().await;
    assert_eq!(meta.repository_blob("hub/lib/app", &layer_digest).await.unwrap(), Some(layer.len() as i64));
    assert_eq!(cached_digest(&meta, "1").await, digest);

    // The tag moves upstream: the next pull serves the new manifest (checked by HEAD each time).
    let (manifest2, digest2) = upstream.push_image("lib/app", "1", &random_bytes(MIB, 2)).await;
    assert_ne!(digest, digest2);
    let r = get_manifest(&b, "hub/lib/app", "1").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["docker-content-digest"].to_str().unwrap(), digest2);
    assert_eq!(r.bytes().await.unwrap().to_vec(), manifest2);
    assert_eq!(cached_digest(&meta, "1").await, digest2);
    // An unchanged tag is answered from the cache after a HEAD upstream, without a GET.
    let gets = upstream.requests("\"GET /v2/lib/app/manifests/1 ");
    let r = get_manifest(&b, "hub/lib/app", "1").await;
    assert_eq!(r.headers()["docker-content-digest"].to_str().unwrap(), digest2);
    assert_eq!(upstream.requests("\"GET /v2/lib/app/manifests/1 "), gets, "{}", upstream.log());
    assert!(upstream.requests("\"HEAD /v2/lib/app/manifests/1 ") >= 3, "{}", upstream.log());
    // Unknown upstream: 404.
    let r = get_manifest(&b, "hub/lib/app", "nope").await;
    expect_error(r, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    let r = b.get(&format!("/v2/hub/lib/app/blobs/{}", sha256_digest(b"absent"))).await;
    expect_error(r, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;

    // Pushes and deletes are refused, even for the administrator.
    let admin = Registry::new(berth.url(""));
    let r = admin.http.post(admin.url("/v2/hub/lib/app/blobs/uploads/")).send().await.unwrap();
    let e = expect_error(r, StatusCode::FORBIDDEN, "DENIED").await;
    assert!(e["message"].as_str().unwrap().contains("proxy"), "{e}");
    let r = admin.put_manifest("hub/lib/app", "2", "application/vnd.oci.image.manifest.v1+json", &manifest).await;
    expect_error(r, StatusCode::FORBIDDEN, "DENIED").await;
    let r = admin.http.delete(admin.url(&format!("/v2/hub/lib/app/manifests/{digest}"))).send().await.unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "DENIED").await;

    // Creating a proxy project of an endpoint that does not exist is refused; a proxy project
    // cannot become a normal one.
    let (status, text) =
        berth.api("POST", "/projects", Some(ADMIN), Some(r#"{"project_name":"ghost","registry_id":9999}"#));
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("BAD_REQUEST"), "{text}");
    let (status, _) = berth.api("GET", "/projects/ghost", Some(ADMIN), None);
    assert_eq!(status, 404);
    let (status, text) = berth.api("PUT", "/projects/hub", Some(ADMIN), Some(r#"{"registry_id":0}"#));
    assert_eq!(status, 400, "{text}");
    // A normal project reports registry_id 0.
    berth.create_project("plain", false);
    let (_, text) = berth.api("GET", "/projects/plain", Some(ADMIN), None);
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["registry_id"], 0);
}

#[tokio::test]
async fn concurrent_pulls_fetch_a_blob_once() {
    let (berth, mut upstream, _) = setup().await;
    let layer = random_bytes(20 * MIB, 3);
    let (manifest, _) = upstream.push_image("big/app", "v1", &layer).await;
    let (layer_digest, size) = layer_of(&manifest);
    let b = Registry::with_credentials(berth.url(""), None);
    assert_eq!(get_manifest(&b, "hub/big/app", "v1").await.status(), StatusCode::OK);

    let url = b.url(&format!("/v2/hub/big/app/blobs/{layer_digest}"));
    let pulls = (0..8).map(|_| {
        let url = url.clone();
        tokio::spawn(async move {
            let r = reqwest::Client::new().get(url).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let bytes = r.bytes().await.unwrap();
            (bytes.len() as u64, sha256_digest(&bytes))
        })
    });
    for pull in futures_util::future::join_all(pulls).await {
        assert_eq!(pull.unwrap(), (size, layer_digest.clone()));
    }
    // The upstream served the blob once (its access log has one GET of it).
    let needle = format!("\"GET /v2/big/app/blobs/{layer_digest} ");
    assert_eq!(upstream.requests(&needle), 1, "{}", upstream.log());

    // And it is cached: served with the upstream gone, ranges included.
    upstream.stop();
    let r = b.get(&format!("/v2/hub/big/app/blobs/{layer_digest}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(sha256_digest(&r.bytes().await.unwrap()), layer_digest);
    let r = b.http.get(&url).header("range", "bytes=10-19").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap().to_vec(), layer[10..20].to_vec());
}

#[tokio::test]
async fn a_fill_completes_when_its_client_goes_away() {
    let (berth, upstream, _) = setup().await;
    let layer = random_bytes(32 * MIB, 4);
    let (manifest, _) = upstream.push_image("lib/gone", "v1", &layer).await;
    let (layer_digest, _) = layer_of(&manifest);
    let b = Registry::with_credentials(berth.url(""), None);
    assert_eq!(get_manifest(&b, "hub/lib/gone", "v1").await.status(), StatusCode::OK);
    // Read the first chunk, then drop the response.
    let mut r = b.get(&format!("/v2/hub/lib/gone/blobs/{layer_digest}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(!r.chunk().await.unwrap().unwrap().is_empty());
    drop(r);
    let meta = berth.meta().await;
    let started = std::time::Instant::now();
    while meta.repository_blob("hub/lib/gone", &layer_digest).await.unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(30), "the fill did not complete: {}", berth.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let needle = format!("\"GET /v2/lib/gone/blobs/{layer_digest} ");
    assert_eq!(upstream.requests(&needle), 1, "{}", upstream.log());
}

#[tokio::test]
async fn upstream_down_serves_the_cache() {
    let (berth, mut upstream, _) = setup().await;
    let (manifest, digest) = upstream.push_image("lib/app", "cached", &random_bytes(MIB, 5)).await;
    upstream.push_image("lib/app", "uncached", &random_bytes(MIB, 6)).await;
    let (layer_digest, _) = layer_of(&manifest);
    let b = Registry::with_credentials(berth.url(""), None);
    assert_eq!(get_manifest(&b, "hub/lib/app", "cached").await.status(), StatusCode::OK);
    let r = b.get(&format!("/v2/hub/lib/app/blobs/{layer_digest}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(sha256_digest(&r.bytes().await.unwrap()), layer_digest);
    // The fill is recorded just after the last byte went out: wait for it before the upstream goes.
    let meta = berth.meta().await;
    let started = std::time::Instant::now();
    while meta.repository_blob("hub/lib/app", &layer_digest).await.unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(30), "the fill did not complete: {}", berth.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    upstream.stop();
    // The cached tag still pulls, by tag and by digest.
    let r = get_manifest(&b, "hub/lib/app", "cached").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["docker-content-digest"].to_str().unwrap(), digest);
    assert_eq!(r.bytes().await.unwrap().to_vec(), manifest);
    assert_eq!(get_manifest(&b, "hub/lib/app", &digest).await.status(), StatusCode::OK);
    let r = b.get(&format!("/v2/hub/lib/app/blobs/{layer_digest}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(sha256_digest(&r.bytes().await.unwrap()), layer_digest);
    // What was never cached fails clearly.
    let r = get_manifest(&b, "hub/lib/app", "uncached").await;
    let e = expect_error(r, StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE").await;
    assert!(e["message"].as_str().unwrap().contains("upstream"), "{e}");
    let r = b.get(&format!("/v2/hub/lib/app/blobs/{}", sha256_digest(b"never"))).await;
    expect_error(r, StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE").await;

    // Back up: the uncached tag is fetched.
    upstream.restart();
    assert_eq!(get_manifest(&b, "hub/lib/app", "uncached").await.status(), StatusCode::OK);
}

/// The digest of the manifest tag `tag` of `hub/lib/app` points at in Berth's metadata.
async fn cached_digest(meta: &berth_meta::Meta, tag: &str) -> String {
    let (_, manifest) =
        meta.pull_manifest("hub", "hub/lib/app", berth_meta::ManifestRef::Tag(tag)).await.unwrap().unwrap();
    manifest.expect("the tag is cached").digest
}
