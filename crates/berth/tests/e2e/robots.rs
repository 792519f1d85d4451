//! Robot accounts over HTTP: creation, exact permissions on /v2/ and /service/token, secret
//! refresh, disable, delete.

use crate::support::http::Client;
use crate::support::registry::api_as as api;
use crate::support::registry::*;
use crate::support::{ADMIN, Berth, Server, TestApp, random_bytes};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn project_robot(name: &str, project: &str, actions: &[(&str, &str)]) -> Value {
    let access: Vec<Value> = actions.iter().map(|(r, a)| json!({"resource": r, "action": a})).collect();
    json!({"name": name, "level": "project", "duration": -1, "description": "ci",
           "permissions": [{"kind": "project", "namespace": project, "access": access}]})
}

async fn create(berth: &impl Server, creds: (&str, &str), body: Value) -> (i64, String, String) {
    let r = api(berth, creds, Method::POST, "/robots", Some(body)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    (v["id"].as_i64().unwrap(), v["name"].as_str().unwrap().to_owned(), v["secret"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn project_robot_gets_exactly_its_permissions() {
    let berth = Berth::start();
    berth.create_project("ci", false);
    berth.create_project("elsewhere", false);
    berth.create_user("owner", "Passw0rdX");
    berth.add_member("ci", "owner", 1);
    let owner = ("owner", "Passw0rdX");

    let (id, name, secret) =
        create(&berth, owner, project_robot("builder", "ci", &[("repository", "pull"), ("repository", "push")])).await;
    assert_eq!(name, "robot$ci+builder");
    assert_eq!(secret.len(), 32);
    let got: Value = api(&berth, owner, Method::GET, &format!("/robots/{id}"), None).await.json().await.unwrap();
    assert_eq!(got["name"], name);
    assert!(got.get("secret").is_none(), "the secret is shown once");
    assert_eq!(got["permissions"][0]["namespace"], "ci");

    let robot = Registry::with_credentials(berth.url(""), Some((&name, &secret)));
    let (manifest, digest) = robot.push_image("ci/app", "v1", &random_bytes(100, 1)).await;
    assert_eq!(robot.get("/v2/ci/app/manifests/v1").await.bytes().await.unwrap(), manifest);
    let d = robot.http.delete(robot.url(&format!("/v2/ci/app/manifests/{digest}"))).send().await.unwrap();
    expect_error(d, StatusCode::FORBIDDEN, "DENIED").await;
    let other = robot.http.post(robot.url("/v2/elsewhere/app/blobs/uploads/")).send().await.unwrap();
    expect_error(other, StatusCode::FORBIDDEN, "DENIED").await;

    // The token service grants the same.
    let r = Client::new()
        .get(berth.url("/service/token?service=harbor-registry&scope=repository:ci/app:pull,push,delete"))
        .basic_auth(&name, Some(&secret))
        .send()
        .await
        .unwrap();
    let token = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    use base64::Engine;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], name);
    assert_eq!(claims["access"][0]["actions"], json!(["pull", "push"]));

    // Refreshing the secret retires the old one.
    let r = api(&berth, owner, Method::PATCH, &format!("/robots/{id}"), Some(json!({}))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let new_secret = r.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    let old = Registry::with_credentials(berth.url(""), Some((&name, &secret)));
    expect_error(old.get("/v2/").await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let robot = Registry::with_credentials(berth.url(""), Some((&name, &new_secret)));
    assert_eq!(robot.get("/v2/").await.status(), StatusCode::OK);
    let weak = api(&berth, owner, Method::PATCH, &format!("/robots/{id}"), Some(json!({"secret": "weak"}))).await;
    assert_eq!(weak.status(), StatusCode::BAD_REQUEST);

    // Disabled: no login; enabled again: login.
    let put = api(&berth, owner, Method::PUT, &format!("/robots/{id}"), Some(json!({"disable": true}))).await;
    assert_eq!(put.status(), StatusCode::OK);
    let robot = Registry::with_credentials(berth.url(""), Some((&name, &new_secret)));
    expect_error(robot.get("/v2/").await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    api(&berth, owner, Method::PUT, &format!("/robots/{id}"), Some(json!({"disable": false}))).await;
    let robot = Registry::with_credentials(berth.url(""), Some((&name, &new_secret)));
    assert_eq!(robot.get("/v2/").await.status(), StatusCode::OK);

    // Listing for the project admin, by project.
    let project_id =
        api(&berth, ADMIN, Method::GET, "/projects/ci", None).await.json::<Value>().await.unwrap()["project_id"]
            .clone();
    let list =
        api(&berth, owner, Method::GET, &format!("/robots?q=Level%3Dproject,ProjectID%3D{project_id}"), None).await;
    assert_eq!(list.status(), StatusCode::OK);
    assert_eq!(list.headers()["x-total-count"], "1");
    assert_eq!(api(&berth, owner, Method::GET, "/robots", None).await.status(), StatusCode::FORBIDDEN);

    // Deleted: gone.
    assert_eq!(api(&berth, owner, Method::DELETE, &format!("/robots/{id}"), None).await.status(), StatusCode::OK);
    let robot = Registry::with_credentials(berth.url(""), Some((&name, &new_secret)));
    expect_error(robot.get("/v2/").await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    assert_eq!(api(&berth, owner, Method::GET, &format!("/robots/{id}"), None).await.status(), StatusCode::NOT_FOUND);

    // Nothing secret reached the log (which runs at debug level in tests).
    let log = berth.log();
    for secret in [secret.as_str(), new_secret.as_str(), "Passw0rdX", "Harbor12345"] {
        assert!(!log.contains(secret), "{secret} appears in the log");
    }
    assert!(log.contains("robot$ci+builder"), "the log is the server's: {log}");
}

#[tokio::test]
async fn who_may_create_what() {
    let berth = TestApp::start().await;
    berth.create_project("ci", false).await;
    berth.create_user("dev", "Passw0rdX").await;
    berth.add_member("ci", "dev", 2).await;
    let dev = ("dev", "Passw0rdX");
    let pull = project_robot("r", "ci", &[("repository", "pull")]);
    assert_eq!(api(&berth, dev, Method::POST, "/robots", Some(pull.clone())).await.status(), StatusCode::FORBIDDEN);
    let system = json!({"name": "sys", "level": "system", "duration": 30,
        "permissions": [{"kind": "project", "namespace": "*", "access": [{"resource": "repository", "action": "pull"}]}]});
    assert_eq!(api(&berth, dev, Method::POST, "/robots", Some(system.clone())).await.status(), StatusCode::FORBIDDEN);
    let anon = Client::new().post(berth.url("/api/v2.0/robots")).json(&pull).send().await.unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);

    for (body, status) in [
        (project_robot("Bad Name", "ci", &[("repository", "pull")]), StatusCode::BAD_REQUEST),
        (project_robot("r", "ci", &[("repository", "fly")]), StatusCode::BAD_REQUEST),
        (project_robot("r", "nosuch", &[("repository", "pull")]), StatusCode::NOT_FOUND),
        (json!({"name": "r", "level": "galaxy", "permissions": []}), StatusCode::BAD_REQUEST),
        (
            json!({"name": "r", "level": "project", "duration": 0, "permissions": pull["permissions"]}),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"name": "r", "level": "project", "permissions": []}), StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(api(&berth, ADMIN, Method::POST, "/robots", Some(body.clone())).await.status(), status, "{body}");
    }

    // A system robot reading every project.
    let (_, name, secret) = create(&berth, ADMIN, system).await;
    assert_eq!(name, "robot$sys");
    Registry::new(berth.url("")).push_image("ci/app", "v1", &random_bytes(10, 2)).await;
    let robot = Registry::with_credentials(berth.url(""), Some((&name, &secret)));
    assert_eq!(robot.get("/v2/ci/app/manifests/v1").await.status(), StatusCode::OK);
    let push = robot.http.post(robot.url("/v2/ci/app/blobs/uploads/")).send().await.unwrap();
    expect_error(push, StatusCode::FORBIDDEN, "DENIED").await;
    // Names are unique.
    let dup = json!({"name": "sys", "level": "system", "permissions": []});
    assert_eq!(api(&berth, ADMIN, Method::POST, "/robots", Some(dup)).await.status(), StatusCode::CONFLICT);
}
