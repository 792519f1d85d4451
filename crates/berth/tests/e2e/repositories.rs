//! `/projects/{p}/repositories`, artifacts and tags over HTTP.

use crate::support::registry::api_as as api;
use crate::support::registry::*;
use crate::support::{ADMIN, TestApp, random_bytes, sha256_digest};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn get_json(berth: &TestApp, path: &str) -> Value {
    let r = api(berth, ADMIN, Method::GET, path, None).await;
    assert_eq!(r.status(), StatusCode::OK, "GET {path}");
    r.json().await.unwrap()
}

#[tokio::test]
async fn repositories_artifacts_and_tags() {
    let berth = TestApp::start().await;
    berth.create_project("proj", false).await;
    let r = Registry::new(berth.url(""));
    let (manifest, digest) = r.push_image("proj/app", "v1", &random_bytes(1000, 1)).await;
    r.push_image("proj/team/api", "latest", &random_bytes(10, 2)).await;
    r.push_image("proj/other", "x", &random_bytes(10, 3)).await;

    let list = api(&berth, ADMIN, Method::GET, "/projects/proj/repositories?page_size=2", None).await;
    assert_eq!(list.headers()["x-total-count"], "3");
    let repos: Value = list.json().await.unwrap();
    assert_eq!(repos[0]["name"], "proj/app");
    assert_eq!(repos[0]["artifact_count"], 1);
    let filtered = get_json(&berth, "/projects/proj/repositories?q=name%3D~team").await;
    assert_eq!(filtered.as_array().unwrap().len(), 1);
    assert_eq!(filtered[0]["name"], "proj/team/api");

    // Names with a slash are double-encoded.
    let repo = get_json(&berth, "/projects/proj/repositories/team%252Fapi").await;
    assert_eq!(repo["name"], "proj/team/api");
    let resp = api(&berth, ADMIN, Method::GET, "/projects/proj/repositories/nope", None).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // Description.
    let put =
        api(&berth, ADMIN, Method::PUT, "/projects/proj/repositories/app", Some(json!({"description": "the app"})))
            .await;
    assert_eq!(put.status(), StatusCode::OK);
    assert_eq!(get_json(&berth, "/projects/proj/repositories/app").await["description"], "the app");

    // Pulls are counted.
    for _ in 0..3 {
        assert_eq!(r.get("/v2/proj/app/manifests/v1").await.status(), StatusCode::OK);
    }
    let mut pulls = 0;
    for _ in 0..50 {
        pulls = get_json(&berth, "/projects/proj/repositories/app").await["pull_count"].as_i64().unwrap();
        if pulls == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(pulls, 3);

    // Artifacts.
    let arts = get_json(&berth, "/projects/proj/repositories/app/artifacts").await;
    let a = &arts[0];
    assert_eq!(a["digest"], digest.as_str());
    assert_eq!(a["type"], "IMAGE");
    assert_eq!(a["manifest_media_type"], OCI_MANIFEST);
    assert_eq!(a["tags"][0]["name"], "v1");
    let config_len = a["size"].as_i64().unwrap() - manifest.len() as i64 - 1000;
    assert!(config_len > 0, "size counts manifest, config and layer: {a}");
    let by_tag = get_json(&berth, "/projects/proj/repositories/app/artifacts/v1").await;
    assert_eq!(by_tag["id"], a["id"]);
    let no_tags = get_json(&berth, &format!("/projects/proj/repositories/app/artifacts/{digest}?with_tag=false")).await;
    assert!(no_tags.get("tags").is_none());
    let bad = api(&berth, ADMIN, Method::GET, "/projects/proj/repositories/app/artifacts/sha256:zz", None).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    // Tags: add, conflict, bad name, list, delete.
    let tags = format!("/projects/proj/repositories/app/artifacts/{digest}/tags");
    assert_eq!(
        api(&berth, ADMIN, Method::POST, &tags, Some(json!({"name": "stable"}))).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        api(&berth, ADMIN, Method::POST, &tags, Some(json!({"name": "stable"}))).await.status(),
        StatusCode::CONFLICT
    );
    assert_eq!(
        api(&berth, ADMIN, Method::POST, &tags, Some(json!({"name": "-bad"}))).await.status(),
        StatusCode::BAD_REQUEST
    );
    let names: Vec<String> = get_json(&berth, &tags)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["stable", "v1"]);
    assert_eq!(r.get("/v2/proj/app/manifests/stable").await.bytes().await.unwrap(), manifest);
    assert_eq!(api(&berth, ADMIN, Method::DELETE, &format!("{tags}/v1"), None).await.status(), StatusCode::OK);
    assert_eq!(api(&berth, ADMIN, Method::DELETE, &format!("{tags}/v1"), None).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.get("/v2/proj/app/manifests/v1").await.status(), StatusCode::NOT_FOUND);

    // Delete an artifact, then a whole repository.
    let del = api(&berth, ADMIN, Method::DELETE, "/projects/proj/repositories/other/artifacts/x", None).await;
    assert_eq!(del.status(), StatusCode::OK);
    assert_eq!(
        api(&berth, ADMIN, Method::GET, "/projects/proj/repositories/other", None).await.status(),
        StatusCode::NOT_FOUND
    );
    let del = api(&berth, ADMIN, Method::DELETE, "/projects/proj/repositories/team%252Fapi", None).await;
    assert_eq!(del.status(), StatusCode::OK);
    assert_eq!(r.get("/v2/proj/team/api/manifests/latest").await.status(), StatusCode::NOT_FOUND);
    let left: Vec<String> = get_json(&berth, "/projects/proj/repositories")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(left, ["proj/app"]);
}

#[tokio::test]
async fn index_artifacts_list_their_references() {
    let berth = TestApp::start().await;
    berth.create_project("proj", false).await;
    let r = Registry::new(berth.url(""));
    let (amd, amd_digest) = r.push_image("proj/multi", "amd", &random_bytes(10, 4)).await;
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": amd_digest, "size": amd.len(), "platform": {"os": "linux", "architecture": "amd64"}}],
    }))
    .unwrap();
    assert_eq!(r.put_manifest("proj/multi", "all", OCI_INDEX, &index).await.status(), StatusCode::CREATED);
    let a = get_json(&berth, "/projects/proj/repositories/multi/artifacts/all").await;
    assert_eq!(a["digest"], sha256_digest(&index).as_str());
    assert_eq!(a["references"][0]["child_digest"], amd_digest.as_str());
    assert_eq!(a["references"][0]["platform"]["architecture"], "amd64");
    let child = get_json(&berth, &format!("/projects/proj/repositories/multi/artifacts/{amd_digest}")).await;
    assert_eq!(a["references"][0]["child_id"], child["id"]);
}

#[tokio::test]
async fn repository_permissions_follow_roles() {
    let berth = TestApp::start().await;
    berth.create_project("proj", false).await;
    Registry::new(berth.url("")).push_image("proj/app", "v1", &random_bytes(10, 5)).await;
    berth.create_user("dev", "Passw0rdX").await;
    berth.add_member("proj", "dev", 2).await;
    berth.create_user("maint", "Passw0rdX").await;
    berth.add_member("proj", "maint", 4).await;
    let dev = ("dev", "Passw0rdX");
    assert_eq!(api(&berth, dev, Method::GET, "/projects/proj/repositories", None).await.status(), StatusCode::OK);
    let tags = "/projects/proj/repositories/app/artifacts/v1/tags";
    assert_eq!(api(&berth, dev, Method::POST, tags, Some(json!({"name": "dev"}))).await.status(), StatusCode::CREATED);
    assert_eq!(api(&berth, dev, Method::DELETE, &format!("{tags}/dev"), None).await.status(), StatusCode::FORBIDDEN);
    let del = api(&berth, dev, Method::DELETE, "/projects/proj/repositories/app", None).await;
    assert_eq!(del.status(), StatusCode::FORBIDDEN);
    let del = api(&berth, ("maint", "Passw0rdX"), Method::DELETE, "/projects/proj/repositories/app", None).await;
    assert_eq!(del.status(), StatusCode::OK);
}

/// What the portal's artifact page reads: `extra_attrs` from the image configuration, Harbor's
/// `build_history` addition, TestApp's `layers` addition, and accessories found through referrers.
#[tokio::test]
async fn artifact_details_come_from_the_manifest_and_configuration() {
    let berth = TestApp::start().await;
    berth.create_project("proj", false).await;
    let r = Registry::new(berth.url(""));
    let config = serde_json::to_vec(&json!({
        "architecture": "arm64", "os": "linux", "variant": "v8", "created": "2026-01-02T03:04:05Z",
        "config": {"Entrypoint": ["/app"], "Cmd": ["--serve"], "Env": ["MODE=prod"], "Labels": {"team": "core"}},
        "history": [{"created_by": "COPY app /app"}, {"created_by": "ENV MODE=prod", "empty_layer": true}],
        "rootfs": {"type": "layers", "diff_ids": []},
    }))
    .unwrap();
    let config_digest = r.push_blob("proj/app", &config).await;
    let mut layers = Vec::new();
    for (i, size) in [300usize, 7000].into_iter().enumerate() {
        layers.push((r.push_blob("proj/app", &random_bytes(size, 40 + i as u64)).await, size));
    }
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": layers.iter().map(|(d, n)| json!({"mediaType": OCI_LAYER, "digest": d, "size": n})).collect::<Vec<_>>(),
    }))
    .unwrap();
    assert_eq!(r.put_manifest("proj/app", "v1", OCI_MANIFEST, &manifest).await.status(), StatusCode::CREATED);
    let digest = sha256_digest(&manifest);

    let a = get_json(&berth, "/projects/proj/repositories/app/artifacts/v1").await;
    assert_eq!(a["extra_attrs"]["architecture"], "arm64");
    assert_eq!(a["extra_attrs"]["variant"], "v8");
    assert_eq!(a["extra_attrs"]["config"]["Entrypoint"], json!(["/app"]));
    assert_eq!(a["extra_attrs"]["config"]["Labels"]["team"], "core");
    let history = get_json(&berth, "/projects/proj/repositories/app/artifacts/v1/additions/build_history").await;
    assert_eq!(history[0]["created_by"], "COPY app /app");
    assert_eq!(history[1]["empty_layer"], true);
    let listed = get_json(&berth, "/projects/proj/repositories/app/artifacts/v1/additions/layers").await;
    let sizes: Vec<i64> = listed.as_array().unwrap().iter().map(|l| l["size"].as_i64().unwrap()).collect();
    assert_eq!(sizes, [300, 7000]);
    let unknown =
        api(&berth, ADMIN, Method::GET, "/projects/proj/repositories/app/artifacts/v1/additions/readme.md", None).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    // A signature-like referrer is an accessory of its subject.
    let sig_config = r.push_blob("proj/app", b"{}").await;
    let signature = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sig_config, "size": 2},
        "layers": [{"mediaType": OCI_LAYER, "digest": layers[0].0, "size": layers[0].1}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": digest, "size": manifest.len()},
    }))
    .unwrap();
    let sig_digest = sha256_digest(&signature);
    assert_eq!(r.put_manifest("proj/app", &sig_digest, OCI_MANIFEST, &signature).await.status(), StatusCode::CREATED);
    let a = get_json(&berth, "/projects/proj/repositories/app/artifacts/v1?with_accessory=true").await;
    assert_eq!(a["accessories"][0]["digest"], sig_digest);
    assert_eq!(a["accessories"][0]["type"], "signature.cosign");
    // A signature is no image: no configuration to show, no build history.
    let sig = get_json(&berth, &format!("/projects/proj/repositories/app/artifacts/{sig_digest}")).await;
    assert_eq!(sig["extra_attrs"], json!({}));
    let none = api(
        &berth,
        ADMIN,
        Method::GET,
        &format!("/projects/proj/repositories/app/artifacts/{sig_digest}/additions/build_history"),
        None,
    )
    .await;
    assert_eq!(none.status(), StatusCode::NOT_FOUND);
}
