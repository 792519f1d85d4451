//! What Harbor's API clients call that Berth once lacked, in process: every repository the caller
//! may see, a project's artifacts, copying an artifact, whether a project can be deleted, the
//! storage volume, the root certificate; and robot permissions meaning what Harbor's table says.

use crate::support::registry::*;
use crate::support::{ADMIN, TestApp, random_bytes, sha256_digest};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const DEV: (&str, &str) = ("dev", "Passw0rdX");

async fn json(app: &TestApp, creds: (&str, &str), path: &str) -> Value {
    let r = api_as(app, creds, Method::GET, path, None).await;
    assert_eq!(r.status(), StatusCode::OK, "GET {path}");
    r.json().await.unwrap()
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn every_repository_the_caller_may_see_and_a_projects_artifacts() {
    let app = TestApp::builder()
        .with_user("dev", DEV.1)
        .with_project("open", true)
        .with_project("team", false)
        .with_project("secret", false)
        .with_member("team", "dev", 2)
        .start()
        .await;
    let r = Registry::new(app.url(""));
    r.push_image("open/app", "v1", &random_bytes(300, 1)).await;
    r.push_image("team/api", "v1", &random_bytes(300, 2)).await;
    r.push_image("team/api", "v2", &random_bytes(300, 3)).await;
    r.push_image("team/web", "v1", &random_bytes(300, 4)).await;
    r.push_image("secret/x", "v1", &random_bytes(300, 5)).await;

    let all = json(&app, ADMIN, "/repositories").await;
    assert_eq!(names(&all), ["open/app", "secret/x", "team/api", "team/web"]);
    let dev = json(&app, DEV, "/repositories").await;
    assert_eq!(names(&dev), ["open/app", "team/api", "team/web"], "no repository of a project dev cannot see");
    let team_id = json(&app, ADMIN, "/projects/team").await["project_id"].clone();
    assert!(dev.as_array().unwrap().iter().filter(|r| r["name"] != "open/app").all(|r| r["project_id"] == team_id));
    let anonymous = crate::support::http::get(app.url("/api/v2.0/repositories?q=name%3D~app")).await.unwrap();
    assert_eq!(names(&anonymous.json::<Value>().await.unwrap()), ["open/app"]);
    let paged = api_as(&app, ADMIN, Method::GET, "/repositories?page=2&page_size=3", None).await;
    assert_eq!(paged.headers()["x-total-count"], "4");
    assert_eq!(names(&paged.json::<Value>().await.unwrap()), ["team/web"]);

    let artifacts = json(&app, DEV, "/projects/team/artifacts").await;
    let repos: Vec<&str> =
        artifacts.as_array().unwrap().iter().map(|a| a["repository_name"].as_str().unwrap()).collect();
    assert_eq!(repos.len(), 3, "{artifacts}");
    assert!(repos.iter().all(|r| r.starts_with("team/")));
    let latest = json(&app, DEV, "/projects/team/artifacts?latest_in_repository=true").await;
    let latest: Vec<(&str, &str)> = latest
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["repository_name"].as_str().unwrap(), a["tags"][0]["name"].as_str().unwrap()))
        .collect();
    assert_eq!(latest, [("team/web", "v1"), ("team/api", "v2")], "the last push of each repository, newest first");
    let refused = api_as(&app, DEV, Method::GET, "/projects/secret/artifacts", None).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_artifact_is_copied_with_its_tags_and_accessories_moving_no_bytes() {
    let app = TestApp::builder()
        .with_user("dev", DEV.1)
        .with_project("src", false)
        .with_project("dst", false)
        .with_member("dst", "dev", 2)
        .start()
        .await;
    let r = Registry::new(app.url(""));
    let (manifest, digest) = r.push_image("src/app", "v1", &random_bytes(500, 7)).await;
    // A second tag on it, and a signature-like accessory whose subject it is.
    let tag = api_as(
        &app,
        ADMIN,
        Method::POST,
        "/projects/src/repositories/app/artifacts/v1/tags",
        Some(json!({"name": "stable"})),
    )
    .await;
    assert_eq!(tag.status(), StatusCode::CREATED);
    let config = b"{}";
    let config_digest = r.push_blob("src/app", config).await;
    let accessory = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config_digest, "size": 2},
        "layers": [], "subject": {"mediaType": OCI_MANIFEST, "digest": digest, "size": manifest.len()}}))
    .unwrap();
    let accessory_digest = sha256_digest(&accessory);
    assert_eq!(
        r.put_manifest("src/app", &accessory_digest, OCI_MANIFEST, &accessory).await.status(),
        StatusCode::CREATED
    );

    // dev may create artifacts in dst but cannot read src: refused, nothing copied.
    assert_eq!(copy(&app, DEV, "src/app:v1").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        api_as(&app, ADMIN, Method::GET, "/projects/dst/repositories/app", None).await.status(),
        StatusCode::NOT_FOUND
    );

    let copied = copy(&app, ADMIN, "src/app:v1").await;
    assert_eq!(copied.status(), StatusCode::CREATED, "{}", copied.text().await.unwrap());
    assert_eq!(copied.headers()["location"], "/api/v2.0/projects/dst/repositories/app/artifacts/v1");
    let got = r.get("/v2/dst/app/manifests/stable").await;
    assert_eq!(got.headers()["docker-content-digest"], digest.as_str());
    assert_eq!(got.bytes().await.unwrap(), manifest);
    let tags = json(&app, ADMIN, &format!("/projects/dst/repositories/app/artifacts/{digest}/tags")).await;
    assert_eq!(names(&tags), ["stable", "v1"]);
    let referrers: Value = r.get(&format!("/v2/dst/app/referrers/{digest}")).await.json().await.unwrap();
    assert_eq!(referrers["manifests"][0]["digest"], accessory_digest.as_str(), "the accessory came along");
    // The layer is linked, its bytes shared: pulled from the copy, it is the same blob.
    let layer = serde_json::from_slice::<Value>(&manifest).unwrap()["layers"][0]["digest"].as_str().unwrap().to_owned();
    assert_eq!(r.get(&format!("/v2/dst/app/blobs/{layer}")).await.status(), StatusCode::OK);

    // Bad sources: malformed, missing; and never into a proxy cache.
    for (from, status) in [
        ("src/app", StatusCode::BAD_REQUEST),
        ("src/app:nope", StatusCode::NOT_FOUND),
        ("src/none@sha256:0000000000000000000000000000000000000000000000000000000000000000", StatusCode::NOT_FOUND),
    ] {
        let answer = copy(&app, ADMIN, from).await;
        assert_eq!(answer.status(), status, "{from}: {}", answer.text().await.unwrap());
    }
    let endpoint = json!({"name": "up", "type": "docker-registry", "url": "http://127.0.0.1:9"});
    assert_eq!(api_as(&app, ADMIN, Method::POST, "/registries", Some(endpoint)).await.status(), StatusCode::CREATED);
    let proxy = json!({"project_name": "cache", "registry_id": 1});
    assert_eq!(api_as(&app, ADMIN, Method::POST, "/projects", Some(proxy)).await.status(), StatusCode::CREATED);
    let into_cache =
        api_as(&app, ADMIN, Method::POST, "/projects/cache/repositories/app/artifacts?from=src/app:v1", None).await;
    assert_eq!(into_cache.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// `POST /projects/dst/repositories/app/artifacts?from=<from>` as `creds`.
async fn copy(app: &TestApp, creds: (&str, &str), from: &str) -> crate::support::http::Response {
    api_as(app, creds, Method::POST, &format!("/projects/dst/repositories/app/artifacts?from={from}"), None).await
}

#[tokio::test]
async fn deletable_volumes_and_the_certificate() {
    let app =
        TestApp::builder().with_user("dev", DEV.1).with_project("p", false).with_member("p", "dev", 2).start().await;
    let empty = json(&app, ADMIN, "/projects/p/_deletable").await;
    assert_eq!(empty, json!({"deletable": true, "message": ""}));
    Registry::new(app.url("")).push_image("p/app", "v1", &random_bytes(100, 9)).await;
    let full = json(&app, ADMIN, "/projects/p/_deletable").await;
    assert_eq!(full["deletable"], false);
    assert!(full["message"].as_str().unwrap().contains("repositories"), "{full}");
    assert_eq!(api_as(&app, DEV, Method::GET, "/projects/p/_deletable", None).await.status(), StatusCode::FORBIDDEN);

    let volumes = json(&app, ADMIN, "/systeminfo/volumes").await;
    let storage = &volumes["storage"][0];
    assert!(storage["total"].as_u64().unwrap() > 0 && storage["free"].as_u64() <= storage["total"].as_u64());
    assert_eq!(api_as(&app, DEV, Method::GET, "/systeminfo/volumes", None).await.status(), StatusCode::FORBIDDEN);

    let cert = crate::support::http::get(app.url("/api/v2.0/systeminfo/getcert")).await.unwrap();
    assert_eq!(cert.status(), StatusCode::NOT_FOUND);
    assert_eq!(cert.headers()["content-type"], "application/octet-stream");
}

#[tokio::test]
async fn a_robot_lists_and_reads_artifacts_and_tags_with_just_those_permissions() {
    let app = TestApp::builder().with_project("ci", false).start().await;
    Registry::new(app.url("")).push_image("ci/app", "v1", &random_bytes(100, 11)).await;
    let access = [("artifact", "list"), ("artifact", "read"), ("tag", "list")]
        .map(|(resource, action)| json!({"resource": resource, "action": action}));
    let body = json!({"name": "reader", "level": "project", "duration": -1,
                      "permissions": [{"kind": "project", "namespace": "ci", "access": access}]});
    let created: Value = api_as(&app, ADMIN, Method::POST, "/robots", Some(body)).await.json().await.unwrap();
    let robot = (created["name"].as_str().unwrap(), created["secret"].as_str().unwrap());

    let artifacts = json(&app, robot, "/projects/ci/repositories/app/artifacts").await;
    assert_eq!(artifacts[0]["tags"][0]["name"], "v1");
    assert_eq!(json(&app, robot, "/projects/ci/repositories/app/artifacts/v1").await["digest"], artifacts[0]["digest"]);
    assert_eq!(names(&json(&app, robot, "/projects/ci/repositories/app/artifacts/v1/tags").await), ["v1"]);
    // Nothing it was not given: the repository itself, nor a tag.
    let repository = api_as(&app, robot, Method::GET, "/projects/ci/repositories/app", None).await;
    assert_eq!(repository.status(), StatusCode::FORBIDDEN);
    let tag = json!({"name": "mine"});
    let created = api_as(&app, robot, Method::POST, "/projects/ci/repositories/app/artifacts/v1/tags", Some(tag)).await;
    assert_eq!(created.status(), StatusCode::FORBIDDEN);
}
