//! The audit trail over HTTP: what is recorded, who may read it, and its filters.

use std::time::Duration;

use crate::support::http::{Client, Response};
use crate::support::registry::*;
use crate::support::{ADMIN, TestApp, random_bytes};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn api(
    berth: &TestApp,
    creds: Option<(&str, &str)>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Response {
    let mut req = Client::new().request(method, berth.url(&format!("/api/v2.0{path}")));
    if let Some((u, p)) = creds {
        req = req.basic_auth(u, Some(p));
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

/// The operations of the log at `path`, newest first, once `expected` records are there
/// (registry records are written in the background).
async fn operations(
    berth: &TestApp,
    creds: (&str, &str),
    path: &str,
    expected: usize,
) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for _ in 0..100 {
        let r = api(berth, Some(creds), Method::GET, path, None).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let logs: Value = r.json().await.unwrap();
        found = logs
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                assert_eq!(l["source_ip"], "127.0.0.1", "{l}");
                (
                    l["operation"].as_str().unwrap().to_owned(),
                    l["resource_type"].as_str().unwrap().to_owned(),
                    l["resource"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        if found.len() >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    found
}

#[tokio::test]
async fn registry_and_api_operations_are_recorded() {
    let berth = TestApp::start().await;
    berth.create_project("proj", false).await;
    berth.create_user("guest", "Passw0rdX").await;
    berth.add_member("proj", "guest", 3).await;
    berth.create_user("limited", "Passw0rdX").await;
    berth.add_member("proj", "limited", 5).await;
    let admin = Registry::new(berth.url(""));
    let (_, digest) = admin.push_image("proj/app", "v1", &random_bytes(10, 1)).await;
    let guest = Registry::with_credentials(berth.url(""), Some(("guest", "Passw0rdX")));
    assert_eq!(guest.get("/v2/proj/app/manifests/v1").await.status(), StatusCode::OK);
    let d = admin.http.delete(admin.url(&format!("/v2/proj/app/manifests/{digest}"))).send().await.unwrap();
    assert_eq!(d.status(), StatusCode::ACCEPTED);
    // A failed login, on the registry.
    let bad = Registry::with_credentials(berth.url(""), Some(("guest", "Wrong1234")));
    assert_eq!(bad.get("/v2/").await.status(), StatusCode::UNAUTHORIZED);

    let all = operations(&berth, ADMIN, "/audit-logs?page_size=100", 9).await;
    let has = |op: &str, kind: &str, resource: &str| all.iter().any(|(o, k, r)| o == op && k == kind && r == resource);
    assert!(has("create", "project", "proj"), "{all:?}");
    assert!(has("create", "user", "guest"), "{all:?}");
    assert!(has("create", "member", "guest"), "{all:?}");
    assert!(has("create", "artifact", "proj/app:v1"), "{all:?}");
    assert!(has("pull", "artifact", "proj/app:v1"), "{all:?}");
    assert!(has("delete", "artifact", &format!("proj/app@{digest}")), "{all:?}");
    assert!(has("login_failed", "user", "guest"), "{all:?}");

    // Filters.
    let pulls = operations(&berth, ADMIN, "/audit-logs?q=operation%3Dpull", 1).await;
    assert_eq!(pulls.len(), 1);
    let r = api(&berth, Some(ADMIN), Method::GET, "/audit-logs?q=operation%3Dpull", None).await;
    assert_eq!(r.json::<Value>().await.unwrap()[0]["username"], "guest");
    let app = operations(&berth, ADMIN, "/audit-logs?q=resource%3D~proj%2Fapp", 3).await;
    assert_eq!(app.len(), 3, "{app:?}");
    let future = operations(&berth, ADMIN, "/audit-logs?q=op_time%3D%5B2099-01-01%2000%3A00%3A00~%5D", 0).await;
    assert!(future.is_empty());
    let past = operations(
        &berth,
        ADMIN,
        "/audit-logs?q=op_time%3D%5B2020-01-01%2000%3A00%3A00~2099-01-01%2000%3A00%3A00%5D&page_size=100",
        9,
    )
    .await;
    assert_eq!(past.len(), all.len());
    for bad_q in ["q=op_time%3Dyesterday", "q=nosuchkey%3D1", "q=operation%3D~pu"] {
        let r = api(&berth, Some(ADMIN), Method::GET, &format!("/audit-logs?{bad_q}"), None).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad_q}");
    }

    // Who reads what: project logs for members who may read them; a user's /audit-logs holds
    // only their projects' records; anonymous callers nothing.
    let project_logs = operations(&berth, ("guest", "Passw0rdX"), "/projects/proj/logs?page_size=100", 4).await;
    assert!(project_logs.iter().all(|(_, kind, _)| kind != "user"), "{project_logs:?}");
    let mine = operations(&berth, ("guest", "Passw0rdX"), "/audit-logs?page_size=100", 4).await;
    assert!(mine.iter().all(|(_, kind, r)| kind != "user" && r.starts_with("proj") || kind == "member"), "{mine:?}");
    let limited = api(&berth, Some(("limited", "Passw0rdX")), Method::GET, "/projects/proj/logs", None).await;
    assert_eq!(limited.status(), StatusCode::FORBIDDEN);
    assert_eq!(api(&berth, None, Method::GET, "/audit-logs", None).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn robot_and_member_changes_are_recorded() {
    let berth = TestApp::start().await;
    berth.create_project("proj", false).await;
    berth.create_user("u", "Passw0rdX").await;
    let r = api(
        &berth,
        Some(ADMIN),
        Method::POST,
        "/projects/proj/members",
        Some(json!({"role_id": 2, "member_user": {"username": "u"}})),
    )
    .await;
    let mid = r.headers()["location"].to_str().unwrap().rsplit('/').next().unwrap().to_owned();
    api(&berth, Some(ADMIN), Method::DELETE, &format!("/projects/proj/members/{mid}"), None).await;
    let robot = json!({"name": "ci", "level": "project", "permissions": [{"kind": "project", "namespace": "proj", "access": [{"resource": "repository", "action": "pull"}]}]});
    let r = api(&berth, Some(ADMIN), Method::POST, "/robots", Some(robot)).await;
    let id = r.json::<Value>().await.unwrap()["id"].clone();
    api(&berth, Some(ADMIN), Method::DELETE, &format!("/robots/{id}"), None).await;
    api(&berth, Some(ADMIN), Method::DELETE, "/projects/proj", None).await.error_for_status().unwrap();
    let all = operations(&berth, ADMIN, "/audit-logs?page_size=100", 7).await;
    for (op, kind, resource) in [
        ("create", "member", "u"),
        ("delete", "member", "u"),
        ("create", "robot", "robot$proj+ci"),
        ("delete", "robot", "robot$proj+ci"),
        ("delete", "project", "proj"),
    ] {
        assert!(all.iter().any(|(o, k, r)| o == op && k == kind && r == resource), "{op} {kind} {resource}: {all:?}");
    }
}

#[tokio::test]
async fn requests_without_a_peer_address_are_served_and_recorded() {
    // In process there is no connection, so no `ConnectInfo`: the API, the registry and the
    // portal do without it, and the audit record has no source address.
    let berth = TestApp::start().await;
    let http = Client::new();
    let created = http
        .post(berth.url("/api/v2.0/projects"))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .json(&json!({"project_name": "nopeer"}))
        .without_peer()
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let v2 = http.get(berth.url("/v2/")).basic_auth(ADMIN.0, Some(ADMIN.1)).without_peer().send().await.unwrap();
    assert_eq!(v2.status(), StatusCode::OK);
    let page = http.get(berth.url("/harbor/sign-in")).without_peer().send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let logs: Value = api(&berth, Some(ADMIN), Method::GET, "/audit-logs?q=resource_type%3Dproject", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(logs[0]["resource"], "nopeer", "{logs}");
    assert_eq!(logs[0]["source_ip"], "", "{logs}");
}
