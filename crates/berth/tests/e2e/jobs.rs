//! The event outbox and the job queue through the real binary: events written with the change
//! they describe, read in order by a cursor; the scheduled audit purge running as a durable job;
//! and the jobservice API.

use std::time::Duration;

use crate::support;
use crate::support::http;
use crate::support::registry::*;
use crate::support::{ADMIN, TestApp, random_bytes};
use berth_meta::{Cursor, EventRow, Meta};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn changes_and_their_events_are_one_transaction_and_read_in_order() {
    let berth = TestApp::start().await;
    berth.create_project("p", false).await;
    berth.create_project("small", false).await;
    let r = Registry::with_credentials(berth.url(""), Some(ADMIN));
    let (_, first) = r.push_image("p/app", "v1", &random_bytes(1000, 1)).await;
    let (_, second) = r.push_image("p/app", "v2", &random_bytes(1000, 2)).await;
    let deleted = r.http.delete(r.url("/v2/p/app/manifests/v1")).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::ACCEPTED);

    // A push the quota refuses leaves no event behind.
    let quota = api_as(&berth, ADMIN, Method::GET, "/quotas?reference_id=3", None).await;
    let quota: Value = quota.json().await.unwrap();
    let id = quota[0]["id"].as_i64().expect("quota of project small");
    let set =
        api_as(&berth, ADMIN, Method::PUT, &format!("/quotas/{id}"), Some(json!({"hard": {"storage": 1500}}))).await;
    assert_eq!(set.status(), StatusCode::OK);
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    r.push_blob("small/app", config).await;
    let refused = r
        .put_manifest(
            "small/app",
            "v1",
            OCI_MANIFEST,
            &serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": support::sha256_digest(config), "size": config.len()},
                "layers": [], "annotations": {"padding": "x".repeat(2000)}}))
            .unwrap(),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{}", refused.text().await.unwrap());

    let meta = berth.meta();
    let events = all_events(&meta).await;
    let changes: Vec<(String, String, Option<String>, Option<String>)> = events
        .iter()
        .filter(|e| e.resource_type == "artifact" || e.resource_type == "tag")
        .map(|e| (e.operation.clone(), e.resource.clone(), e.digest.clone(), e.tag.clone()))
        .collect();
    assert_eq!(
        changes,
        vec![
            ("create".into(), "p/app:v1".into(), Some(first.clone()), Some("v1".into())),
            ("create".into(), "p/app:v2".into(), Some(second.clone()), Some("v2".into())),
            ("delete".into(), "p/app:v1".into(), None, Some("v1".into())),
        ]
    );
    assert!(events.iter().all(|e| e.repository.as_deref() != Some("small/app")), "refused push left an event");

    // API changes too: an event exactly when the change happened. A refused change (a name
    // taken, a project still holding repositories) leaves none.
    let taken = api_as(&berth, ADMIN, Method::POST, "/projects", Some(json!({"project_name": "p"}))).await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    let refused = api_as(&berth, ADMIN, Method::DELETE, "/projects/p", None).await;
    assert_eq!(refused.status(), StatusCode::PRECONDITION_FAILED);
    berth.create_user("dev", "Passw0rdX").await;
    berth.add_member("p", "dev", 2).await;
    let blob = r.push_blob("p/app", b"a loose blob").await;
    let unlinked = r.http.delete(r.url(&format!("/v2/p/app/blobs/{blob}"))).send().await.unwrap();
    assert_eq!(unlinked.status(), StatusCode::ACCEPTED);
    let again = r.http.delete(r.url(&format!("/v2/p/app/blobs/{blob}"))).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    let events = all_events(&meta).await;
    let about = |resource_type: &str, resource: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e.resource_type == resource_type && e.resource == resource)
            .map(|e| e.operation.clone())
            .collect()
    };
    assert_eq!(about("project", "p"), ["create"], "one create, no delete");
    assert_eq!(about("user", "dev"), ["create"]);
    assert_eq!(about("member", "dev"), ["create"]);
    assert_eq!(about("blob", &format!("p/app@{blob}")), ["delete"], "one delete, none for the refused second");
    assert!(
        events.iter().any(|e| e.resource_type == "member" && e.project_id.is_some()),
        "member events name the project"
    );

    // A consumer reads in pages and its cursor moves only from where it stood.
    let start = meta.cursor("test-consumer").await.unwrap();
    assert_eq!(start, Cursor::default());
    let page = meta.events_after(start, 2).await.unwrap();
    let to = Cursor { txid: page[1].txid, event_id: page[1].id };
    assert!(meta.advance_cursor("test-consumer", start, to).await.unwrap());
    assert!(!meta.advance_cursor("test-consumer", start, to).await.unwrap(), "a stale cursor must not move");
    assert_eq!(meta.cursor("test-consumer").await.unwrap(), to);
    let rest = meta.events_after(to, 1000).await.unwrap();
    assert_eq!(rest.len(), events.len() - 2);
    assert_eq!(rest[0].id, events[2].id);
}

/// Every event committed so far, read once a reader may have them all: on PostgreSQL it waits
/// while a transaction that could still commit an earlier event is running (the server's own
/// background work may briefly be).
async fn all_events(meta: &Meta) -> Vec<EventRow> {
    let last = meta.stream_end().await.unwrap();
    for _ in 0..100 {
        let events = meta.events_after(Cursor::default(), 1000).await.unwrap();
        if events.last().is_some_and(|e| (e.txid, e.id) >= (last.txid, last.event_id)) {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the events up to {last:?} never became readable");
}

#[tokio::test]
async fn the_audit_purge_runs_as_a_scheduled_job_visible_through_jobservice() {
    let berth = TestApp::start().await;
    // The scheduler enqueues the hour's purge at start; a worker runs it.
    let mut job = Value::Null;
    for _ in 0..200 {
        let r = api_as(&berth, ADMIN, Method::GET, "/jobservice/jobs?kind=PURGE_AUDIT_LOG", None).await;
        assert_eq!(r.status(), StatusCode::OK);
        let jobs: Value = r.json().await.unwrap();
        if jobs[0]["status"] == "Success" {
            job = jobs[0].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(job["status"], "Success", "the purge job did not run");
    assert_eq!(job["attempts"], 1);
    let id = job["id"].as_i64().unwrap();
    let log = api_as(&berth, ADMIN, Method::GET, &format!("/jobservice/jobs/{id}/log"), None).await;
    assert_eq!(log.status(), StatusCode::OK);
    assert!(log.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let log = log.text().await.unwrap();
    assert!(
        log.contains("purged 0 audit records of every type older than 2160 hours") && log.contains("succeeded"),
        "{log}"
    );

    // This instance's pool and its workers.
    let pools: Value = api_as(&berth, ADMIN, Method::GET, "/jobservice/pools", None).await.json().await.unwrap();
    assert_eq!(pools.as_array().unwrap().len(), 1, "{pools}");
    assert_eq!(pools[0]["pid"], berth.pid());
    assert_eq!(pools[0]["concurrency"], 4);
    let pool = pools[0]["worker_pool_id"].as_str().unwrap();
    let workers: Value = api_as(&berth, ADMIN, Method::GET, &format!("/jobservice/pools/{pool}/workers"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(workers.as_array().unwrap().len(), 4, "{workers}");
    let all = api_as(&berth, ADMIN, Method::GET, "/jobservice/pools/all/workers", None).await;
    assert_eq!(all.json::<Value>().await.unwrap(), workers);

    // Queues: pause, see it paused, resume.
    let paused =
        api_as(&berth, ADMIN, Method::PUT, "/jobservice/queues/PURGE_AUDIT_LOG", Some(json!({"action": "pause"})))
            .await;
    assert_eq!(paused.status(), StatusCode::OK);
    let queues: Value = api_as(&berth, ADMIN, Method::GET, "/jobservice/queues", None).await.json().await.unwrap();
    let q = queues.as_array().unwrap().iter().find(|q| q["job_type"] == "PURGE_AUDIT_LOG").expect("queue listed");
    assert_eq!((q["paused"].clone(), q["count"].clone()), (json!(true), json!(0)));
    let resumed = api_as(&berth, ADMIN, Method::PUT, "/jobservice/queues/all", Some(json!({"action": "resume"}))).await;
    assert_eq!(resumed.status(), StatusCode::OK);

    // Bad input: clear errors, nothing changed.
    expect_error(
        api_as(&berth, ADMIN, Method::PUT, "/jobservice/queues/all", Some(json!({"action": "explode"}))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "UNPROCESSABLE_ENTITY",
    )
    .await;
    // A log is plain text (as Harbor documents it), and so is the reason there is none.
    for path in ["/jobservice/jobs/abc/log", "/jobservice/jobs/999999/log"] {
        plain_error(api_as(&berth, ADMIN, Method::GET, path, None).await, StatusCode::NOT_FOUND).await;
    }
    expect_error(
        api_as(&berth, ADMIN, Method::PUT, &format!("/jobservice/jobs/{id}"), None).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    expect_error(
        api_as(&berth, ADMIN, Method::GET, "/jobservice/pools/nosuch/workers", None).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;

    // Only system administrators see the job service.
    berth.create_user("dev", "Passw0rdX").await;
    for path in ["/jobservice/pools", "/jobservice/queues", "/jobservice/jobs"] {
        expect_error(
            api_as(&berth, ("dev", "Passw0rdX"), Method::GET, path, None).await,
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
        )
        .await;
    }
    let log = format!("/jobservice/jobs/{id}/log");
    plain_error(api_as(&berth, ("dev", "Passw0rdX"), Method::GET, &log, None).await, StatusCode::FORBIDDEN).await;
    let anonymous = http::get(berth.url("/api/v2.0/jobservice/pools")).await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

/// Asserts a plain-text error answer: `status`, `text/plain`, and a reason.
async fn plain_error(r: http::Response, status: StatusCode) {
    assert_eq!(r.status(), status, "{}", r.url());
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert!(!r.text().await.unwrap().trim().is_empty(), "an error without its reason");
}
