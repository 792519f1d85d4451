//! Online garbage collection (`/system/gc*`, `berth gc`): what a collection frees and keeps,
//! dry runs, quotas after deletes, the API's checks and who may call it, the command line, and
//! collections racing pushes that share, mount and re-push the blobs being collected.
//!
//! The apps here run with `gc.time_window_hours: 0` and `gc.upload_idle_hours: 0`: everything
//! unreferenced is collectable at once, the hardest case for the protocol.

use std::collections::HashSet;
use std::time::Duration;

use crate::support::ha::Cluster;
use crate::support::registry::{OCI_MANIFEST, Registry, api_as, expect_error, one_layer_image};
use crate::support::{ADMIN, Server, TestApp, http, random_bytes, sha256_digest};
use berth_jobs::gc::GarbageCollection;
use berth_meta::GcResult;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const USER: (&str, &str) = ("u", "Passw0rdX");

pub(crate) async fn collecting_app() -> TestApp {
    TestApp::builder()
        .with_env("BERTH_GC_TIME_WINDOW_HOURS", "0")
        .with_env("BERTH_GC_UPLOAD_IDLE_HOURS", "0")
        .with_user(USER.0, USER.1)
        .start()
        .await
}

/// Starts a collection through the API with `parameters`; its id (from `Location`).
async fn run_now(berth: &impl Server, parameters: Value) -> i64 {
    let body = json!({"schedule": {"type": "Manual"}, "parameters": parameters});
    let r = api_as(berth, ADMIN, Method::POST, "/system/gc/schedule", Some(body)).await;
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    location.strip_prefix("/api/v2.0/system/gc/").expect("Location names the run").parse().unwrap()
}

/// Run `id` (`GET /system/gc/{id}`) once it ended.
pub(crate) async fn run_ended(berth: &impl Server, id: i64) -> Value {
    for _ in 0..800 {
        let run: Value =
            api_as(berth, ADMIN, Method::GET, &format!("/system/gc/{id}"), None).await.json().await.unwrap();
        if ["Success", "Error", "Stopped"].contains(&run["job_status"].as_str().unwrap_or_default()) {
            return run;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("collection {id} never ended");
}

/// Run `id` once it ended, with what it freed (which the API shows too).
async fn ended(berth: &TestApp, id: i64) -> (Value, Option<GcResult>) {
    let run = run_ended(berth, id).await;
    let result = berth.meta().gc_result(id).await.unwrap();
    let freed = result.as_ref().map(|r| json!({"blobs": r.blobs, "bytes": r.bytes}));
    assert_eq!(run.get("freed"), freed.as_ref(), "{run}");
    (run, result)
}

/// Runs a collection through the API and waits for its result.
async fn collect(berth: &TestApp, parameters: Value) -> GcResult {
    let id = run_now(berth, parameters).await;
    let (run, result) = ended(berth, id).await;
    if run["job_status"] != "Success" {
        let log = api_as(berth, ADMIN, Method::GET, &format!("/system/gc/{id}/log"), None).await;
        panic!("collection {id} did not succeed: {run}\n{}", log.text().await.unwrap());
    }
    result.expect("a successful run records its result")
}

/// Where blob `digest` lies on the filesystem backend.
fn blob_file(berth: &TestApp, digest: &str) -> std::path::PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap();
    berth.data_dir().join("storage/blobs/sha256").join(&hex[..2]).join(hex)
}

/// Lets the clock pass a whole second: with a time window of 0, what was used in the second a
/// collection starts stays (the comparison is strict, see docs/architecture.md).
pub(crate) async fn a_second_passes() {
    tokio::time::sleep(Duration::from_millis(1_100)).await;
}

async fn used(berth: &TestApp, project_id: i64) -> i64 {
    let q: Value =
        api_as(berth, ADMIN, Method::GET, &format!("/quotas/{project_id}"), None).await.json().await.unwrap();
    q["used"]["storage"].as_i64().unwrap()
}

/// Pulls `digest` of `repo` and every blob it references, checking each against its digest.
async fn pulls_completely(r: &Registry, repo: &str, digest: &str) {
    let m = r.get(&format!("/v2/{repo}/manifests/{digest}")).await;
    assert_eq!(m.status(), StatusCode::OK, "manifest {repo}@{digest}");
    let manifest: Value = serde_json::from_slice(&m.bytes().await.unwrap()).unwrap();
    let mut blobs = vec![manifest["config"]["digest"].as_str().unwrap().to_owned()];
    blobs.extend(manifest["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_owned()));
    for blob in blobs {
        let got = r.get(&format!("/v2/{repo}/blobs/{blob}")).await;
        assert_eq!(got.status(), StatusCode::OK, "blob {blob} of {repo}@{digest}");
        assert_eq!(sha256_digest(&got.bytes().await.unwrap()), blob, "blob {blob} of {repo}@{digest}");
    }
}

#[tokio::test]
async fn a_collection_frees_what_deleted_artifacts_alone_held_and_a_dry_run_reports_it_first() {
    let berth = collecting_app().await;
    let r = Registry::new(berth.url(""));
    let shared = random_bytes(3_000, 1);
    let only_old = random_bytes(5_000, 2);
    let (_, kept) = r.push_image("library/a", "kept", &shared).await;
    r.push_image("library/b", "kept", &shared).await;
    let (old_manifest, old) = r.push_image("library/a", "old", &only_old).await;
    let (old_config, _) = one_layer_image(&only_old);
    let library = 1;
    let before = used(&berth, library).await;

    // The delete makes the usage drop at once, exactly by what only the artifact held.
    let d = r.http.delete(r.url(&format!("/v2/library/a/manifests/{old}"))).send().await.unwrap();
    assert_eq!(d.status(), StatusCode::ACCEPTED);
    let alone = (only_old.len() + old_config.len() + old_manifest.len()) as i64;
    assert_eq!(used(&berth, library).await, before - alone);

    // Leftovers a crash leaves: stray bytes no row names, upload data without a session.
    let stray = random_bytes(700, 3);
    let stray_file = blob_file(&berth, &sha256_digest(&stray));
    std::fs::create_dir_all(stray_file.parent().unwrap()).unwrap();
    std::fs::write(&stray_file, &stray).unwrap();
    let stray_upload = berth.data_dir().join("storage/uploads").join(uuid::Uuid::new_v4().to_string());
    std::fs::write(&stray_upload, b"half an upload").unwrap();
    // An upload session nobody continues (idle time 0).
    let idle = r.start_upload("library/a").await;
    a_second_passes().await;

    let dry = collect(&berth, json!({"dry_run": true})).await;
    assert!(dry.dry_run);
    assert_eq!((dry.blobs, dry.bytes), (2, (only_old.len() + old_config.len()) as i64), "{dry:?}");
    assert_eq!((dry.uploads, dry.strays), (1, 2), "{dry:?}");
    for digest in [sha256_digest(&only_old), sha256_digest(&old_config)] {
        assert!(blob_file(&berth, &digest).exists(), "the dry run deleted {digest}");
    }
    assert!(stray_file.exists() && stray_upload.exists());

    let real = collect(&berth, json!({"workers": 3})).await;
    assert_eq!(
        (real.blobs, real.bytes, real.uploads, real.strays),
        (dry.blobs, dry.bytes, dry.uploads, dry.strays),
        "the real run freed what the dry run reported"
    );
    for digest in [sha256_digest(&only_old), sha256_digest(&old_config)] {
        assert!(!blob_file(&berth, &digest).exists(), "{digest} is still stored");
        assert_eq!(berth.meta().blob_size(&digest).await.unwrap(), None, "{digest} still has a row");
    }
    assert!(!stray_file.exists() && !stray_upload.exists());
    let patch = r.http.patch(&idle).body(b"late".to_vec()).send().await.unwrap();
    expect_error(patch, StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN").await;
    // What others still reference stays, whole; the usage did not move.
    assert!(blob_file(&berth, &sha256_digest(&shared)).exists());
    pulls_completely(&r, "library/a", &kept).await;
    pulls_completely(&r, "library/b", "kept").await;
    assert_eq!(used(&berth, library).await, before - alone);

    // A second run finds nothing more; the history lists both runs, newest first, with logs.
    let again = collect(&berth, json!({})).await;
    assert_eq!((again.blobs, again.bytes, again.manifests), (0, 0, 0));
    let history = api_as(&berth, ADMIN, Method::GET, "/system/gc?page=1&page_size=2", None).await;
    assert_eq!(history.headers()["x-total-count"], "3");
    let runs: Vec<Value> = history.json().await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!((&runs[0]["job_name"], &runs[0]["job_kind"]), (&json!("GARBAGE_COLLECTION"), &json!("MANUAL")));
    let log = api_as(&berth, ADMIN, Method::GET, &format!("/system/gc/{}/log", runs[1]["id"]), None).await;
    let log = log.text().await.unwrap();
    assert!(log.contains(&format!("freed: 2 blobs, {} bytes", real.bytes)), "{log}");
}

#[tokio::test]
async fn untagged_artifacts_go_when_asked_and_accessories_of_kept_ones_stay() {
    let berth = collecting_app().await;
    let r = Registry::new(berth.url(""));
    let (_, tagged) = r.push_image("library/u", "v1", &random_bytes(1_000, 10)).await;
    let (_, untagged) = r.push_image("library/u", "v2", &random_bytes(1_000, 11)).await;
    let d = r.http.delete(r.url("/v2/library/u/manifests/v2")).send().await.unwrap();
    assert_eq!(d.status(), StatusCode::ACCEPTED);
    // An accessory (a referrer) of the tagged artifact: untagged itself, kept with its subject.
    let (config, _) = one_layer_image(b"signature");
    r.push_blob("library/u", &config).await;
    r.push_blob("library/u", b"signature").await;
    let size = r.get(&format!("/v2/library/u/manifests/{tagged}")).await.bytes().await.unwrap().len();
    let accessory = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256_digest(&config), "size": config.len()},
        "layers": [{"mediaType": "application/octet-stream", "digest": sha256_digest(b"signature"), "size": 9}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": tagged, "size": size},
    }))
    .unwrap();
    let accessory_digest = sha256_digest(&accessory);
    let put = r.put_manifest("library/u", &accessory_digest, OCI_MANIFEST, &accessory).await;
    assert_eq!(put.status(), StatusCode::CREATED);

    a_second_passes().await;
    // Without delete_untagged, untagged artifacts stay.
    assert_eq!(collect(&berth, json!({})).await.manifests, 0);
    assert_eq!(r.get(&format!("/v2/library/u/manifests/{untagged}")).await.status(), StatusCode::OK);

    let dry = collect(&berth, json!({"delete_untagged": true, "dry_run": true})).await;
    assert_eq!(dry.manifests, 1);
    let run = collect(&berth, json!({"delete_untagged": true})).await;
    assert_eq!(run.manifests, 1);
    assert_eq!(run.blobs, 2, "the untagged artifact's config and layer go in the same run");
    assert_eq!(r.get(&format!("/v2/library/u/manifests/{untagged}")).await.status(), StatusCode::NOT_FOUND);
    pulls_completely(&r, "library/u", &tagged).await;
    pulls_completely(&r, "library/u", &accessory_digest).await;
    // The delete went through the artifact delete path, with its event.
    let audit = api_as(&berth, ADMIN, Method::GET, "/audit-logs?q=operation%3Ddelete", None).await;
    let audit: Vec<Value> = audit.json().await.unwrap();
    assert!(
        audit.iter().any(|e| e["username"] == "garbage-collection" && e["resource"] == format!("library/u@{untagged}")),
        "{audit:?}"
    );
}

#[tokio::test]
async fn the_gc_api_is_for_system_admins_and_refuses_bad_input() {
    let berth = collecting_app().await;
    let anonymous = http::Client::new().get(berth.url("/api/v2.0/system/gc")).send().await.unwrap();
    expect_error(anonymous, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let manual = json!({"schedule": {"type": "Manual"}});
    for (method, path, body) in [
        (Method::GET, "/system/gc", None),
        (Method::GET, "/system/gc/schedule", None),
        (Method::POST, "/system/gc/schedule", Some(manual.clone())),
        (Method::PUT, "/system/gc/schedule", Some(manual.clone())),
        (Method::GET, "/system/gc/1", None),
        (Method::PUT, "/system/gc/1", None),
    ] {
        let r = api_as(&berth, USER, method, path, body).await;
        expect_error(r, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    }
    let log = api_as(&berth, USER, Method::GET, "/system/gc/1/log", None).await;
    assert_eq!(log.status(), StatusCode::FORBIDDEN);

    // No schedule until one is set.
    let schedule = || api_as(&berth, ADMIN, Method::GET, "/system/gc/schedule", None);
    let none: Value = schedule().await.json().await.unwrap();
    assert_eq!(none["schedule"]["type"], "None", "{none}");
    for bad in [
        json!({}),
        json!({"schedule": {"type": "Custom", "cron": "*/5 * * * *"}}),
        json!({"schedule": {"type": "Custom", "cron": "every day"}}),
        json!({"schedule": {"type": "Daily"}, "parameters": {"workers": 0}}),
        json!({"schedule": {"type": "Daily"}, "parameters": {"workers": 6}}),
        json!({"schedule": {"type": "Daily"}, "parameters": {"workers": "two"}}),
        json!({"schedule": {"type": "Daily"}, "parameters": {"dry_run": "yes"}}),
        json!({"schedule": {"type": "Daily"}, "parameters": {"delete_everything": true}}),
        json!({"schedule": {"type": "Manual"}, "parameters": {"workers": 9}}),
    ] {
        for method in [Method::POST, Method::PUT] {
            let r = api_as(&berth, ADMIN, method, "/system/gc/schedule", Some(bad.clone())).await;
            expect_error(r, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
        }
    }
    assert_eq!(schedule().await.json::<Value>().await.unwrap(), none, "a refused schedule changed it");
    let runs = api_as(&berth, ADMIN, Method::GET, "/system/gc", None).await;
    assert_eq!(runs.headers()["x-total-count"], "0", "a refused run was enqueued");

    // A schedule is kept with its parameters.
    let custom = json!({"schedule": {"type": "Custom", "cron": "0 15 3 * * *"},
                        "parameters": {"delete_untagged": true, "workers": 2}});
    let r = api_as(&berth, ADMIN, Method::PUT, "/system/gc/schedule", Some(custom)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let set: Value = schedule().await.json().await.unwrap();
    assert_eq!((&set["schedule"]["type"], &set["schedule"]["cron"]), (&json!("Custom"), &json!("0 15 3 * * *")));
    assert!(set["schedule"]["next_scheduled_time"].as_str().unwrap().ends_with("T03:15:00Z"), "{set}");
    let parameters: Value = serde_json::from_str(set["job_parameters"].as_str().unwrap()).unwrap();
    assert_eq!(parameters, json!({"delete_untagged": true, "dry_run": false, "workers": 2}));

    // Unknown runs are 404; stopping a finished run changes nothing.
    for path in ["/system/gc/99999", "/system/gc/99999/log"] {
        let r = api_as(&berth, ADMIN, Method::GET, path, None).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let r = api_as(&berth, ADMIN, Method::PUT, "/system/gc/99999", None).await;
    expect_error(r, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let id = run_now(&berth, json!({})).await;
    let (finished, _) = ended(&berth, id).await;
    let r = api_as(&berth, ADMIN, Method::PUT, &format!("/system/gc/{id}"), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let (after, _) = ended(&berth, id).await;
    assert_eq!(after["job_status"], finished["job_status"]);
}

#[tokio::test]
async fn berth_gc_on_the_command_line_collects_beside_a_running_instance() {
    let berth = collecting_app().await;
    let r = Registry::new(berth.url(""));
    let layer = random_bytes(2_000, 20);
    let (_, digest) = r.push_image("library/cli", "v1", &layer).await;
    let d = r.http.delete(r.url(&format!("/v2/library/cli/manifests/{digest}"))).send().await.unwrap();
    assert_eq!(d.status(), StatusCode::ACCEPTED);
    a_second_passes().await;
    let (data, database) = (berth.data_dir(), berth.database_url());
    let berth_gc = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_berth"));
        command.arg("gc").args(args).env("BERTH_DATA_VOLUME", &data);
        command.env("BERTH_GC_TIME_WINDOW_HOURS", "0");
        if let Some(url) = &database {
            command.env("BERTH_DATABASE_URL", url);
        }
        // Off the runtime's thread: the app in this process keeps serving meanwhile.
        tokio::task::spawn_blocking(move || command.output().unwrap())
    };
    let dry = berth_gc(&["--dry-run"]).await.unwrap();
    let out = String::from_utf8_lossy(&dry.stdout);
    assert!(dry.status.success(), "{out}{}", String::from_utf8_lossy(&dry.stderr));
    assert!(out.contains("would free: 2 blobs"), "{out}");
    assert!(blob_file(&berth, &sha256_digest(&layer)).exists());
    let real = berth_gc(&["--delete-untagged", "--workers", "2"]).await.unwrap();
    let out = String::from_utf8_lossy(&real.stdout);
    assert!(real.status.success(), "{out}{}", String::from_utf8_lossy(&real.stderr));
    assert!(out.contains("freed: 2 blobs"), "{out}");
    assert!(!blob_file(&berth, &sha256_digest(&layer)).exists());

    // Bad input fails with a message; so does a run while another holds the collection lock.
    let bad = berth_gc(&["--workers", "6"]).await.unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("workers must be from 1 to 5"));
    assert!(berth.meta().take_gc_lock("someone-else", berth_meta::time::now() + 60).await.unwrap());
    let busy = berth_gc(&[]).await.unwrap();
    assert!(!busy.status.success());
    assert!(String::from_utf8_lossy(&busy.stderr).contains("another garbage collection is running"));
    berth.meta().release_gc_lock("someone-else").await.unwrap();
}

/// What one pushing client saw: manifests it got 201 for and still holds, and refusals.
#[derive(Default)]
struct Pushes {
    live: Vec<(String, String)>,
    /// Manifest pushes refused with MANIFEST_BLOB_UNKNOWN (then retried after uploading again).
    blob_unknown: usize,
}

/// Client `c` pushes `rounds` images to its repository: a layer shared by every client (HEAD
/// first, uploaded only if absent — the check a collection may race), mounted from the next
/// client's repository when it can, and a layer of its own; every other round it deletes the
/// previous image, whose blobs become garbage at once.
async fn push_while_collecting(r: Registry, c: usize, rounds: usize) -> Pushes {
    let mut seen = Pushes::default();
    let repo = format!("library/race{c}");
    let neighbour = format!("library/race{}", (c + 1) % 4);
    for round in 0..rounds {
        let shared = random_bytes(1_500, 100 + (round % 3) as u64);
        let own = random_bytes(1_000 + round, 1_000 * c as u64 + round as u64);
        let (config, manifest) = two_layer_image(&shared, &own);
        let digest = sha256_digest(&manifest);
        let tag = format!("r{round}");
        let mut attempts = 0;
        loop {
            attempts += 1;
            for blob in [&shared, &own, &config] {
                ensure_blob(&r, &repo, &neighbour, blob).await;
            }
            let put = r.put_manifest(&repo, &tag, OCI_MANIFEST, &manifest).await;
            if put.status() == StatusCode::CREATED {
                break;
            }
            expect_error(put, StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN").await;
            seen.blob_unknown += 1;
            assert!(attempts < 5, "client {c} round {round}: the manifest never went in");
        }
        seen.live.push((repo.clone(), digest));
        if round % 2 == 1 {
            let (_, previous) = seen.live.remove(seen.live.len() - 2);
            let d = r.http.delete(r.url(&format!("/v2/{repo}/manifests/{previous}"))).send().await.unwrap();
            assert_eq!(d.status(), StatusCode::ACCEPTED);
        }
    }
    seen
}

/// The config and manifest of an image with layers `a` and `b`.
fn two_layer_image(a: &[u8], b: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (config, manifest) = one_layer_image(a);
    let mut manifest: Value = serde_json::from_slice(&manifest).unwrap();
    let second = json!({"mediaType": manifest["layers"][0]["mediaType"], "digest": sha256_digest(b), "size": b.len()});
    manifest["layers"].as_array_mut().unwrap().push(second);
    (config, serde_json::to_vec(&manifest).unwrap())
}

/// Makes `blob` present in `repo` as a client does: HEAD, else a mount from `from`, else an upload.
async fn ensure_blob(r: &Registry, repo: &str, from: &str, blob: &[u8]) {
    let digest = sha256_digest(blob);
    if r.http.head(r.url(&format!("/v2/{repo}/blobs/{digest}"))).send().await.unwrap().status() == StatusCode::OK {
        return;
    }
    let mount =
        r.http.post(r.url(&format!("/v2/{repo}/blobs/uploads/?mount={digest}&from={from}"))).send().await.unwrap();
    if mount.status() == StatusCode::CREATED {
        return;
    }
    r.push_blob(repo, blob).await;
}

/// Four clients push, share, mount, delete and re-push while collections loop; afterwards every
/// manifest any client got a 201 for (and did not delete) pulls completely. With a time window
/// of 0 the only failure allowed is a clean MANIFEST_BLOB_UNKNOWN for a blob checked before a
/// collection's mark (the client uploads again and succeeds); with a window of a few seconds,
/// none at all.
#[tokio::test]
async fn collections_racing_pushes_lose_nothing_a_push_was_told_is_stored() {
    let berth = collecting_app().await;
    for (window_hours, failures_allowed) in [(0.0, true), (5.0 / 3600.0, false)] {
        let mut config = berth.config().clone();
        config.gc.time_window_hours = window_hours;
        // Not 0 here: a one-request upload's data has no session row while it is written, and
        // would be a stray to a collection that took everything as old.
        config.gc.upload_idle_hours = 1.0;
        let done = tokio_util::sync::CancellationToken::new();
        let collector = {
            let (config, done) = (config.clone(), done.clone());
            tokio::spawn(async move {
                let mut runs = 0;
                while !done.is_cancelled() || runs == 0 {
                    let run = GarbageCollection { workers: 2, ..GarbageCollection::default() };
                    berth::gc::collect(&config, &run).await.expect("a collection");
                    runs += 1;
                }
                runs
            })
        };
        let clients: Vec<_> =
            (0..4).map(|c| tokio::spawn(push_while_collecting(Registry::new(berth.url("")), c, 8))).collect();
        let mut seen = Vec::new();
        for client in clients {
            seen.push(client.await.unwrap());
        }
        done.cancel();
        let runs = collector.await.unwrap();
        assert!(runs > 1, "the collections did not overlap the pushes");
        let refused: usize = seen.iter().map(|s| s.blob_unknown).sum();
        eprintln!("time window {window_hours} h: {runs} collections, {refused} manifest pushes refused");
        if !failures_allowed {
            assert_eq!(refused, 0, "a push failed with a time window of {window_hours} h");
        }
        let r = Registry::new(berth.url(""));
        let mut pulled = HashSet::new();
        for (repo, digest) in seen.iter().flat_map(|s| &s.live) {
            pulls_completely(&r, repo, digest).await;
            pulled.insert(digest.clone());
        }
        assert_eq!(pulled.len(), 16, "each client keeps half its 8 images");
        // A last collection with nothing racing it leaves every kept image whole as well.
        let final_run = GarbageCollection::default();
        berth::gc::collect(&config, &final_run).await.unwrap();
        for (repo, digest) in seen.iter().flat_map(|s| &s.live) {
            pulls_completely(&r, repo, digest).await;
        }
        // The next round pushes the same tags again: clean the repositories' tags out of its way.
        for (repo, digest) in seen.iter().flat_map(|s| &s.live) {
            r.http.delete(r.url(&format!("/v2/{repo}/manifests/{digest}"))).send().await.unwrap();
        }
    }
}

/// The scale-out deployment: two instances on one PostgreSQL database and one bucket (Garage),
/// behind nginx. Collections started through the load balancer run on whichever instance claims
/// them, one at a time, while four clients push, mount, delete and re-push through it, with a
/// time window of 0. Every manifest a client was told is stored and kept pulls completely; after a
/// last run, the database and the bucket hold exactly the blobs of the kept images.
#[tokio::test]
async fn collections_on_two_instances_and_a_bucket_lose_nothing_a_push_was_told_is_stored() {
    let _heavy = crate::support::HEAVY.lock().await;
    let cluster = Cluster::start_with(2, &[("BERTH_GC_TIME_WINDOW_HOURS", "0"), ("BERTH_GC_UPLOAD_IDLE_HOURS", "1")]);
    let done = tokio_util::sync::CancellationToken::new();
    let collections = async {
        let mut runs = 0;
        while !done.is_cancelled() || runs == 0 {
            let id = run_now(&cluster.lb, json!({"workers": 2})).await;
            let run = run_ended(&cluster.lb, id).await;
            assert_eq!(run["job_status"], "Success", "{run}");
            runs += 1;
        }
        runs
    };
    let pushes = async {
        let clients: Vec<_> =
            (0..4).map(|c| tokio::spawn(push_while_collecting(Registry::new(cluster.lb.url("")), c, 6))).collect();
        let mut seen = Vec::new();
        for client in clients {
            seen.push(client.await.unwrap());
        }
        done.cancel();
        seen
    };
    let (runs, seen) = tokio::join!(collections, pushes);
    assert!(runs > 1, "the collections did not overlap the pushes");
    let r = Registry::new(cluster.lb.url(""));
    for (repo, digest) in seen.iter().flat_map(|s| &s.live) {
        pulls_completely(&r, repo, digest).await;
    }
    // A last run with nothing racing: the blobs left are exactly those the kept images use.
    a_second_passes().await;
    let id = run_now(&cluster.lb, json!({})).await;
    assert_eq!(run_ended(&cluster.lb, id).await["job_status"], "Success");
    let kept: HashSet<String> =
        seen.iter().flat_map(|s| &s.live).flat_map(|(repo, digest)| image_blobs(&cluster, repo, digest)).collect();
    let rows: HashSet<String> =
        cluster.sql("SELECT string_agg(digest, ' ') FROM blobs").split_whitespace().map(str::to_owned).collect();
    assert_eq!(rows, kept, "blob rows are those of the kept images");
    let stored = cluster.store.open().await.stored_blobs().await.unwrap();
    let objects: HashSet<String> = stored.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(objects, kept, "the bucket holds the kept images' blobs and nothing else");
    for (repo, digest) in seen.iter().flat_map(|s| &s.live) {
        pulls_completely(&r, repo, digest).await;
    }
}

/// The blobs image `digest` of `repo` references, from its stored manifest.
fn image_blobs(cluster: &Cluster, repo: &str, digest: &str) -> Vec<String> {
    let content = cluster.sql(&format!(
        "SELECT convert_from(m.content, 'UTF8') FROM manifests m JOIN repositories r ON r.id = m.repository_id
         WHERE r.name = '{repo}' AND m.digest = '{digest}'"
    ));
    let manifest: Value = serde_json::from_str(&content).unwrap();
    let mut blobs = vec![manifest["config"]["digest"].as_str().unwrap().to_owned()];
    blobs.extend(manifest["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_owned()));
    blobs
}

/// `berth gc` killed with SIGKILL while it deletes blobs: the next run finishes what it began
/// (rows left `deleting` lose their bytes, then their rows), and nothing referenced is lost.
#[tokio::test]
async fn a_collection_killed_mid_sweep_is_finished_by_the_next() {
    let berth = collecting_app().await;
    let r = Registry::new(berth.url(""));
    let (_, kept) = r.push_image("library/kill", "kept", &random_bytes(2_000, 30)).await;
    let garbage: Vec<String> = {
        let mut digests = Vec::new();
        for i in 0..400 {
            digests.push(r.push_blob("library/kill", &random_bytes(300, 10_000 + i)).await);
        }
        digests
    };
    a_second_passes().await;
    let (data, database) = (berth.data_dir(), berth.database_url());
    let berth_gc = move || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_berth"));
        command.arg("gc").env("BERTH_DATA_VOLUME", &data).env("BERTH_GC_TIME_WINDOW_HOURS", "0");
        if let Some(url) = &database {
            command.env("BERTH_DATABASE_URL", url);
        }
        command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        command
    };
    // Killed as soon as it reaches the blobs (the step after the links).
    let mut child = berth_gc().spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            if line.unwrap().contains("repository links") {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
    })
    .await
    .unwrap();

    // The killed run's lock lease runs out; then a run finishes the work.
    let mut rerun = None;
    for _ in 0..40 {
        let mut command = berth_gc();
        let out = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
        if out.status.success() {
            rerun = Some(out);
            break;
        }
        assert!(String::from_utf8_lossy(&out.stderr).contains("another garbage collection is running"));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let rerun = rerun.expect("the killed run's lock was never released");
    assert!(rerun.status.success(), "{}", String::from_utf8_lossy(&rerun.stderr));
    for digest in &garbage {
        assert!(!blob_file(&berth, digest).exists(), "{digest} survived");
        assert_eq!(berth.meta().blob_size(digest).await.unwrap(), None);
    }
    assert!(berth.meta().deleting_blobs(10).await.unwrap().is_empty());
    pulls_completely(&r, "library/kill", &kept).await;
}

/// A run stopped through the API (`PUT /system/gc/{id}`) ends as Stopped (or had already
/// succeeded); it holds the collection lock no more, and the next run frees what it left.
#[tokio::test]
async fn a_stopped_collection_leaves_the_next_one_free_to_finish() {
    let berth = collecting_app().await;
    let r = Registry::new(berth.url(""));
    let mut garbage = Vec::new();
    for i in 0..200 {
        garbage.push(r.push_blob("library/stop", &random_bytes(200, 20_000 + i)).await);
    }
    a_second_passes().await;
    let id = run_now(&berth, json!({})).await;
    let stop = api_as(&berth, ADMIN, Method::PUT, &format!("/system/gc/{id}"), None).await;
    assert_eq!(stop.status(), StatusCode::OK);
    let (run, _) = ended(&berth, id).await;
    assert!(["Stopped", "Success"].contains(&run["job_status"].as_str().unwrap()), "{run}");
    collect(&berth, json!({"workers": 5})).await;
    for digest in &garbage {
        assert!(!blob_file(&berth, digest).exists(), "{digest} survived");
    }
    assert!(berth.meta().deleting_blobs(10).await.unwrap().is_empty());
}

/// Tag tombstones (the time of a tag's deletion, which a replicated write must be newer than) go
/// once older than the audit log's retention (the event outbox replication reads); recent ones
/// stay.
#[tokio::test]
async fn tag_tombstones_older_than_the_outbox_go_and_recent_ones_stay() {
    let berth = collecting_app().await;
    let r = Registry::new(berth.url(""));
    r.push_image("library/t", "v1", &random_bytes(500, 40)).await;
    // A tag deleted now, here: a recent tombstone.
    let d = r.http.delete(r.url("/v2/library/t/manifests/v1")).send().await.unwrap();
    assert_eq!(d.status(), StatusCode::ACCEPTED);
    // A delete replicated from a peer, made there long ago: an old tombstone.
    let old = berth_meta::time::now() - 200 * 86_400;
    r.http
        .delete(r.url("/v2/library/t/manifests/gone"))
        .header("x-berth-origin", "peer")
        .header("x-berth-change-time", old.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(collect(&berth, json!({"dry_run": true})).await.tombstones, 1);
    assert_eq!(collect(&berth, json!({})).await.tombstones, 1);
    assert_eq!(collect(&berth, json!({})).await.tombstones, 0, "the recent tombstone went too");
    assert_eq!(berth.meta().tag_change("library/t", "v1").await.unwrap().map(|(_, written)| written), Some(false));
    assert_eq!(berth.meta().tag_change("library/t", "gone").await.unwrap(), None);
}
