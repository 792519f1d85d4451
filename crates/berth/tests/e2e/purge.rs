//! Harbor's audit purge API (`/system/purgeaudit*`) and the bounded history: the schedule and
//! its checks, runs as durable jobs (history, status, log, stop), dry runs and event types, who
//! may; and the job history purge scheduled beside it.

use std::time::Duration;

use crate::support::registry::{api_as, expect_error};
use crate::support::{ADMIN, TestApp, http};
use berth_meta::{Event, RegistryEvent};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const USER: (&str, &str) = ("u", "Passw0rdX");

/// The run `id` once it ended.
async fn ended(berth: &TestApp, id: i64) -> Value {
    for _ in 0..400 {
        let run: Value =
            api_as(berth, ADMIN, Method::GET, &format!("/system/purgeaudit/{id}"), None).await.json().await.unwrap();
        if ["Success", "Error", "Stopped"].contains(&run["job_status"].as_str().unwrap_or_default()) {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("purge run {id} never ended");
}

/// Starts a run now with `parameters`; its id (from `Location`).
async fn run_now(berth: &TestApp, parameters: Value) -> i64 {
    let body = json!({"schedule": {"type": "Manual"}, "parameters": parameters});
    let r = api_as(berth, ADMIN, Method::POST, "/system/purgeaudit/schedule", Some(body)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    location.strip_prefix("/api/v2.0/system/purgeaudit/").expect("Location names the run").parse().unwrap()
}

async fn text(berth: &TestApp, path: &str) -> String {
    let r = api_as(berth, ADMIN, Method::GET, path, None).await;
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    r.text().await.unwrap()
}

/// How many audit records `q` (a `q=` value, URL-encoded) finds.
async fn audit_count(berth: &TestApp, q: &str) -> i64 {
    let r = api_as(berth, ADMIN, Method::GET, &format!("/audit-logs?q={q}"), None).await;
    r.headers()["x-total-count"].to_str().unwrap().parse().unwrap()
}

/// Asserts `r` is an error with `status`: Harbor's error JSON, or, from a log (plain text by
/// Harbor's document), the message as text.
async fn refused(r: http::Response, status: StatusCode, code: &str) {
    if r.url().ends_with("/log") {
        assert_eq!(r.status(), status, "{}", r.url());
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        assert!(!r.text().await.unwrap().is_empty());
    } else {
        expect_error(r, status, code).await;
    }
}

/// An audit record `hours` old.
fn record(operation: &'static str, resource_type: &'static str, hours: i64) -> RegistryEvent {
    let event = Event {
        project: String::new(),
        username: "admin".into(),
        resource: format!("old/{operation}"),
        resource_type,
        operation,
        source_ip: "127.0.0.1".into(),
        op_time: berth_meta::time::now() - hours * 3600,
        repository: None,
        digest: None,
        tag: None,
        origin: None,
    };
    RegistryEvent { event, pulled_from: None }
}

#[tokio::test]
async fn the_schedule_is_checked_whole_and_kept_for_system_admins() {
    let berth = TestApp::builder().with_user(USER.0, USER.1).start().await;
    let schedule = || api_as(&berth, ADMIN, Method::GET, "/system/purgeaudit/schedule", None);

    // Until an administrator sets one, the configuration's: hourly, 90 days, every type.
    let default: Value = schedule().await.json().await.unwrap();
    assert_eq!(default["schedule"]["type"], "Hourly", "{default}");
    assert_eq!(default["schedule"]["cron"], "0 0 * * * *");
    assert!(default["schedule"]["next_scheduled_time"].as_str().is_some(), "{default}");
    let parameters: Value = serde_json::from_str(default["job_parameters"].as_str().unwrap()).unwrap();
    assert_eq!(parameters, json!({"audit_retention_hour": 2160, "dry_run": false}));

    // Anonymous callers and users who are not system administrators are refused, everywhere.
    let anonymous = http::Client::new().get(berth.url("/api/v2.0/system/purgeaudit")).send().await.unwrap();
    expect_error(anonymous, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let manual = json!({"schedule": {"type": "Manual"}});
    for (method, path, body) in [
        (Method::GET, "/system/purgeaudit", None),
        (Method::GET, "/system/purgeaudit/schedule", None),
        (Method::POST, "/system/purgeaudit/schedule", Some(manual.clone())),
        (Method::PUT, "/system/purgeaudit/schedule", Some(manual.clone())),
        (Method::GET, "/system/purgeaudit/1", None),
        (Method::PUT, "/system/purgeaudit/1", None),
        (Method::GET, "/system/purgeaudit/1/log", None),
    ] {
        let r = api_as(&berth, USER, method, path, body).await;
        refused(r, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    }

    // Bad input: 400, nothing changed, nothing run.
    let runs_before = api_as(&berth, ADMIN, Method::GET, "/system/purgeaudit", None).await;
    let runs_before = runs_before.headers()["x-total-count"].clone();
    for bad in [
        json!({}),
        json!({"schedule": {"type": "Monthly"}}),
        json!({"schedule": {"type": "Custom", "cron": "*/5 * * * *"}}),
        json!({"schedule": {"type": "Custom", "cron": "every day"}}),
        json!({"schedule": {"type": "Custom"}}),
        json!({"schedule": {"type": "Daily"}, "parameters": {"audit_retention_hour": -1}}),
        json!({"schedule": {"type": "Daily"}, "parameters": {"audit_retention_hour": 0}}),
        json!({"schedule": {"type": "Daily"}, "parameters": {"audit_retention_hour": "soon"}}),
        json!({"schedule": {"type": "Daily"}, "parameters": {"include_event_types": "create,explode"}}),
        json!({"schedule": {"type": "Daily"}, "parameters": {"include_event_types": ["pull"]}}),
        json!({"schedule": {"type": "Daily"}, "parameters": {"dry_run": "yes"}}),
        json!({"schedule": {"type": "Daily"}, "parameters": {"purge_everything": true}}),
        json!({"schedule": {"type": "Manual"}, "parameters": {"audit_retention_hour": -5}}),
    ] {
        for method in [Method::POST, Method::PUT] {
            let r = api_as(&berth, ADMIN, method, "/system/purgeaudit/schedule", Some(bad.clone())).await;
            expect_error(r, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
        }
    }
    let not_json = http::Client::new()
        .put(berth.url("/api/v2.0/system/purgeaudit/schedule"))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    assert_eq!(schedule().await.json::<Value>().await.unwrap(), default, "a refused schedule changed it");
    let runs_after = api_as(&berth, ADMIN, Method::GET, "/system/purgeaudit", None).await;
    assert_eq!(runs_after.headers()["x-total-count"], runs_before, "a refused Manual run was enqueued");

    // A custom schedule is kept, with its parameters, and replaced by the next.
    let custom = json!({"schedule": {"type": "Custom", "cron": "0 30 2 * * *"},
                        "parameters": {"audit_retention_hour": 168, "include_event_types": "pull_artifact,Delete", "dry_run": true}});
    let r = api_as(&berth, ADMIN, Method::POST, "/system/purgeaudit/schedule", Some(custom)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let set: Value = schedule().await.json().await.unwrap();
    assert_eq!(set["schedule"]["type"], "Custom", "{set}");
    assert_eq!(set["schedule"]["cron"], "0 30 2 * * *");
    assert!(set["schedule"]["next_scheduled_time"].as_str().unwrap().ends_with("T02:30:00Z"), "{set}");
    let parameters: Value = serde_json::from_str(set["job_parameters"].as_str().unwrap()).unwrap();
    assert_eq!(
        parameters,
        json!({"audit_retention_hour": 168, "include_event_types": "pull_artifact,delete", "dry_run": true})
    );
    let weekly = json!({"schedule": {"type": "Weekly"}});
    let r = api_as(&berth, ADMIN, Method::PUT, "/system/purgeaudit/schedule", Some(weekly)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let set: Value = schedule().await.json().await.unwrap();
    assert_eq!((&set["schedule"]["type"], &set["schedule"]["cron"]), (&json!("Weekly"), &json!("0 0 0 * * 0")));
    let none = json!({"schedule": {"type": "None"}});
    let r = api_as(&berth, ADMIN, Method::PUT, "/system/purgeaudit/schedule", Some(none)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let set: Value = schedule().await.json().await.unwrap();
    assert_eq!(set["schedule"]["type"], "None");
    assert!(set["schedule"].get("next_scheduled_time").is_none(), "{set}");
}

#[tokio::test]
async fn manual_runs_purge_the_named_types_dry_runs_delete_nothing_and_history_shows_them() {
    let berth = TestApp::start().await;
    let mut old = vec![record("create", "project", 48), record("delete", "artifact", 48)];
    old.extend((0..3).map(|_| record("pull", "artifact", 48)));
    old.push(record("pull", "artifact", 1));
    berth.meta().record_registry_events(&old).await.unwrap();
    assert_eq!(audit_count(&berth, "operation%3Dpull").await, 4);

    // A dry run counts what would go and deletes nothing.
    let dry =
        run_now(&berth, json!({"audit_retention_hour": 24, "include_event_types": "pull", "dry_run": true})).await;
    let run = ended(&berth, dry).await;
    assert_eq!(
        (&run["job_status"], &run["job_kind"], &run["job_name"]),
        (&json!("Success"), &json!("MANUAL"), &json!("PURGE_AUDIT_LOG"))
    );
    let log = text(&berth, &format!("/system/purgeaudit/{dry}/log")).await;
    assert!(
        log.contains("dry run: would purge 3 audit records of types [pull] older than 24 hours; deleted none"),
        "{log}"
    );
    assert_eq!(audit_count(&berth, "operation%3Dpull").await, 4, "the dry run deleted records");

    // A real run takes the named types past the retention, nothing else.
    let real =
        run_now(&berth, json!({"audit_retention_hour": 24, "include_event_types": "pull_artifact,create_project"}))
            .await;
    assert_eq!(ended(&berth, real).await["job_status"], "Success");
    let log = text(&berth, &format!("/system/purgeaudit/{real}/log")).await;
    assert!(
        log.contains("purged 4 audit records of types [pull_artifact, create_project] older than 24 hours"),
        "{log}"
    );
    assert_eq!(audit_count(&berth, "operation%3Dpull").await, 1, "the recent pull stays");
    assert_eq!(audit_count(&berth, "resource%3Dold/delete").await, 1, "a type not named stays");
    assert_eq!(audit_count(&berth, "resource%3Dold/create").await, 0);

    // Harbor's rule: naming no type purges nothing.
    let empty = run_now(&berth, json!({"audit_retention_hour": 1, "include_event_types": ""})).await;
    assert_eq!(ended(&berth, empty).await["job_status"], "Success");
    assert_eq!(audit_count(&berth, "resource%3Dold/delete").await, 1);

    // History: the runs, newest first by default, paged, filtered, sorted.
    let r = api_as(&berth, ADMIN, Method::GET, "/system/purgeaudit?page_size=1", None).await;
    let total: i64 = r.headers()["x-total-count"].to_str().unwrap().parse().unwrap();
    assert!(total >= 3, "{total}");
    assert!(r.headers()["link"].to_str().unwrap().contains("page=2&page_size=1>; rel=\"next\""));
    let newest: Value = r.json().await.unwrap();
    assert_eq!(newest[0]["id"], empty);
    let oldest_first: Value =
        api_as(&berth, ADMIN, Method::GET, "/system/purgeaudit?sort=creation_time,id&q=job_status%3DSuccess", None)
            .await
            .json()
            .await
            .unwrap();
    let ids: Vec<i64> = oldest_first.as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]) && ids.ends_with(&[dry, real, empty]), "{ids:?}");
    let parameters: Value =
        serde_json::from_str(oldest_first[ids.len() - 3]["job_parameters"].as_str().unwrap()).unwrap();
    assert_eq!(parameters["dry_run"], true);
    for bad in ["sort=name", "q=job_status%3D~Succ", "q=kind%3DGC", "page=0"] {
        let r = api_as(&berth, ADMIN, Method::GET, &format!("/system/purgeaudit?{bad}"), None).await;
        expect_error(r, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    }

    // Runs are the purge's jobs only.
    let jobs: Value =
        api_as(&berth, ADMIN, Method::GET, "/jobservice/jobs?kind=PURGE_JOB_HISTORY", None).await.json().await.unwrap();
    let other = jobs[0]["id"].as_i64().expect("the job history purge is scheduled at start");
    for path in [
        format!("/system/purgeaudit/{other}"),
        format!("/system/purgeaudit/{other}/log"),
        "/system/purgeaudit/99999".into(),
        "/system/purgeaudit/abc".into(),
    ] {
        let r = api_as(&berth, ADMIN, Method::GET, &path, None).await;
        refused(r, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    }
}

#[tokio::test]
async fn a_run_can_be_stopped_and_the_job_history_purge_runs_beside_it() {
    let berth = TestApp::start().await;
    let pause = json!({"action": "pause"});
    let r = api_as(&berth, ADMIN, Method::PUT, "/jobservice/queues/PURGE_AUDIT_LOG", Some(pause)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let waiting = run_now(&berth, json!({})).await;
    let run: Value =
        api_as(&berth, ADMIN, Method::GET, &format!("/system/purgeaudit/{waiting}"), None).await.json().await.unwrap();
    assert_eq!(run["job_status"], "Pending");
    let r = api_as(&berth, ADMIN, Method::PUT, &format!("/system/purgeaudit/{waiting}"), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(ended(&berth, waiting).await["job_status"], "Stopped");
    // Stopping a run that ended is a no-op (Harbor's too): it stays as it ended.
    let done = run_now(&berth, json!({"dry_run": true})).await;
    let resume = json!({"action": "resume"});
    let r = api_as(&berth, ADMIN, Method::PUT, "/jobservice/queues/PURGE_AUDIT_LOG", Some(resume)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(ended(&berth, done).await["job_status"], "Success");
    for id in [waiting, done] {
        let again = api_as(&berth, ADMIN, Method::PUT, &format!("/system/purgeaudit/{id}"), None).await;
        assert_eq!(again.status(), StatusCode::OK);
    }
    assert_eq!(ended(&berth, waiting).await["job_status"], "Stopped");
    assert_eq!(ended(&berth, done).await["job_status"], "Success");

    // The history purge: an hourly job of its own, run once cluster-wide, saying what it did.
    let mut job = Value::Null;
    for _ in 0..400 {
        let jobs: Value = api_as(&berth, ADMIN, Method::GET, "/jobservice/jobs?kind=PURGE_JOB_HISTORY", None)
            .await
            .json()
            .await
            .unwrap();
        if jobs[0]["status"] == "Success" {
            job = jobs[0].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(job["status"], "Success", "the job history purge did not run");
    let log = text(&berth, &format!("/jobservice/jobs/{}/log", job["id"])).await;
    let purged = "purged 0 replication executions, 0 retention executions and 0 other jobs finished over 30 days ago";
    assert!(log.contains(purged), "{log}");
}
