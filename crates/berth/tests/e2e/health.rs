//! `/api/v2.0/health` (Harbor's component report) and `/api/v2.0/health/ready` (the load
//! balancer's probe), healthy and with the database or the blob store gone under a running
//! instance.

use crate::support::http;
use crate::support::{TestApp, TestDatabase};
use serde_json::Value;

/// `GET /api/v2.0{path}` without credentials: status and JSON body.
async fn get(berth: &TestApp, path: &str) -> (u16, Value) {
    let r = http::get(berth.url(&format!("/api/v2.0{path}"))).await.unwrap();
    let (status, body) = (r.status().as_u16(), r.text().await.unwrap());
    (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}")))
}

/// The component named `name` of a health report.
fn component<'a>(health: &'a Value, name: &str) -> &'a Value {
    health["components"]
        .as_array()
        .unwrap_or_else(|| panic!("no components: {health}"))
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no component {name}: {health}"))
}

/// Asserts every component is healthy and the instance is ready.
async fn assert_healthy(berth: &TestApp) {
    let (status, health) = get(berth, "/health").await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "healthy", "{health}");
    for name in ["core", "database", "storage"] {
        assert_eq!(component(&health, name)["status"], "healthy", "{health}");
        assert!(component(&health, name).get("error").is_none(), "{health}");
    }
    let (status, ready) = get(berth, "/health/ready").await;
    assert_eq!(status, 200, "{ready}");
}

/// Asserts component `name` (only) is unhealthy with an error, and the instance not ready.
async fn assert_unhealthy(berth: &TestApp, name: &str) {
    let (status, health) = get(berth, "/health").await;
    // Harbor answers 200 and puts the verdict in the body; the readiness probe uses the status.
    assert_eq!(status, 200);
    assert_eq!(health["status"], "unhealthy", "{health}");
    let broken = component(&health, name);
    assert_eq!(broken["status"], "unhealthy", "{health}");
    assert!(broken["error"].as_str().is_some_and(|e| !e.is_empty()), "no error message: {health}");
    for other in ["core", "database", "storage"].into_iter().filter(|c| *c != name) {
        assert_eq!(component(&health, other)["status"], "healthy", "{health}");
    }
    let (status, ready) = get(berth, "/health/ready").await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(component(&ready, name)["status"], "unhealthy", "{ready}");
}

#[tokio::test]
async fn healthy_instance_reports_every_component_and_is_ready() {
    let berth = TestApp::start().await;
    assert_healthy(&berth).await;
    // The probe leaves nothing behind in the store.
    let leftovers: Vec<_> = std::fs::read_dir(berth.data_dir().join("storage"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with(".health"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn dropped_database_makes_the_instance_unready() {
    let db = TestDatabase::create();
    let berth = TestApp::builder().with_env("BERTH_DATABASE_URL", &db.url()).start().await;
    assert_healthy(&berth).await;
    db.drop_now();
    assert_unhealthy(&berth, "database").await;
}

#[tokio::test]
async fn missing_storage_folder_makes_the_instance_unready_until_it_returns() {
    let berth = TestApp::start().await;
    assert_healthy(&berth).await;
    // Permissions do not stop root, as whom tests often run: take the folder away instead, as a
    // lost mount would.
    let storage = berth.data_dir().join("storage");
    let moved = berth.data_dir().join("storage.moved");
    std::fs::rename(&storage, &moved).unwrap();
    assert_unhealthy(&berth, "storage").await;
    std::fs::rename(&moved, &storage).unwrap();
    assert_healthy(&berth).await;
}
