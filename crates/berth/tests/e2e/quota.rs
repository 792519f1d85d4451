//! Project storage quotas: refusal that stores nothing, exact usage under concurrent pushes.

use crate::support::registry::api_as as api;
use crate::support::registry::*;
use crate::support::{ADMIN, TestApp, random_bytes, sha256_digest};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn create_limited(berth: &TestApp, name: &str, limit: i64) -> i64 {
    let r =
        api(berth, ADMIN, Method::POST, "/projects", Some(json!({"project_name": name, "storage_limit": limit}))).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.headers()["location"].to_str().unwrap().rsplit('/').next().unwrap().parse().unwrap()
}

async fn used(berth: &TestApp, id: i64) -> i64 {
    let q: Value = api(berth, ADMIN, Method::GET, &format!("/quotas/{id}"), None).await.json().await.unwrap();
    q["used"]["storage"].as_i64().unwrap()
}

#[tokio::test]
async fn push_over_quota_is_refused_and_stores_nothing() {
    let berth = TestApp::start().await;
    let id = create_limited(&berth, "small", 10_000).await;
    let r = Registry::new(berth.url(""));
    let blob = random_bytes(4_000, 1);
    r.push_blob("small/a", &blob).await;
    assert_eq!(used(&berth, id).await, 4_000);
    // The same bytes in another repository of the project do not count twice.
    r.push_blob("small/b", &blob).await;
    assert_eq!(used(&berth, id).await, 4_000);

    let big = random_bytes(7_000, 2);
    let digest = sha256_digest(&big);
    let post = r
        .http
        .post(r.url(&format!("/v2/small/a/blobs/uploads/?digest={digest}")))
        .body(big.clone())
        .send()
        .await
        .unwrap();
    let e = expect_error(post, StatusCode::FORBIDDEN, "DENIED").await;
    assert!(e["message"].as_str().unwrap().contains("quota"), "{e}");
    assert_eq!(r.get(&format!("/v2/small/a/blobs/{digest}")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(used(&berth, id).await, 4_000);
    // Through a chunked session too.
    let url = r.start_upload("small/a").await;
    r.http.patch(&url).body(big.clone()).send().await.unwrap();
    let put = r.http.put(format!("{url}?digest={digest}")).send().await.unwrap();
    expect_error(put, StatusCode::FORBIDDEN, "DENIED").await;
    assert_eq!(used(&berth, id).await, 4_000);

    // An administrator raises the quota: the push goes through.
    let raise =
        api(&berth, ADMIN, Method::PUT, &format!("/quotas/{id}"), Some(json!({"hard": {"storage": 100_000}}))).await;
    assert_eq!(raise.status(), StatusCode::OK);
    assert_eq!(r.push_blob("small/a", &big).await, digest);
    assert_eq!(used(&berth, id).await, 11_000);
    let summary: Value = api(&berth, ADMIN, Method::GET, "/projects/small/summary", None).await.json().await.unwrap();
    assert_eq!(summary["quota"], json!({"hard": {"storage": 100_000}, "used": {"storage": 11_000}}));

    for bad in [json!({"hard": {"storage": 0}}), json!({"hard": {"storage": -5}}), json!({"hard": {}})] {
        let r = api(&berth, ADMIN, Method::PUT, &format!("/quotas/{id}"), Some(bad)).await;
        assert!(r.status().is_client_error());
    }
    berth.create_user("user", "Passw0rdX").await;
    let r = api(
        &berth,
        ("user", "Passw0rdX"),
        Method::PUT,
        &format!("/quotas/{id}"),
        Some(json!({"hard": {"storage": -1}})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = api(
        &berth,
        ("user", "Passw0rdX"),
        Method::POST,
        "/projects",
        Some(json!({"project_name": "mine", "storage_limit": 5})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn usage_stays_exact_under_concurrent_pushes() {
    let berth = TestApp::start().await;
    const SIZE: usize = 50_000;
    // Room for exactly five of the ten blobs pushed at once.
    let id = create_limited(&berth, "race", 5 * SIZE as i64 + 100).await;
    let r = Registry::new(berth.url(""));
    let mut tasks = Vec::new();
    for i in 0..10u64 {
        let (http, base) = (r.http.clone(), r.url(""));
        tasks.push(tokio::spawn(async move {
            let data = random_bytes(SIZE, 100 + i);
            let digest = sha256_digest(&data);
            let url = format!("{base}/v2/race/repo{i}/blobs/uploads/?digest={digest}");
            http.post(url).body(data).send().await.unwrap().status()
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::CREATED => accepted += 1,
            StatusCode::FORBIDDEN => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(accepted, 5);
    assert_eq!(used(&berth, id).await, 5 * SIZE as i64);
}

#[tokio::test]
async fn manifests_count_against_the_quota() {
    let berth = TestApp::start().await;
    let r = Registry::new(berth.url(""));
    let layer = random_bytes(1_000, 3);
    // Fits the blobs (config + layer) but not the manifest on top.
    let id = create_limited(&berth, "tight", 1_100).await;
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let cd = r.push_blob("tight/app", config).await;
    let ld = r.push_blob("tight/app", &layer).await;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": cd, "size": config.len()},
        "layers": [{"mediaType": OCI_LAYER, "digest": ld, "size": layer.len()}],
    }))
    .unwrap();
    let put = r.put_manifest("tight/app", "v1", OCI_MANIFEST, &manifest).await;
    expect_error(put, StatusCode::FORBIDDEN, "DENIED").await;
    assert_eq!(r.get("/v2/tight/app/manifests/v1").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(used(&berth, id).await, 1_000 + config.len() as i64);
}
