//! Replication against real peers: Debian's docker-registry (CNCF distribution 2.8) and other
//! Berth instances. Registry endpoints, policies with filters, manual, scheduled and event-based
//! triggers, deletions, catch-up after a peer was down, and two masters replicating to each
//! other.

use std::time::{Duration, Instant};

use crate::support;
use crate::support::registry::{OCI_INDEX, OCI_MANIFEST, Registry, api_as};
use crate::support::upstream::Upstream;
use crate::support::{ADMIN, Berth, Server, TestApp, random_bytes, sha256_digest};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// How long replication may take to show at the destination.
const CONVERGE: Duration = Duration::from_secs(90);

async fn api(
    berth: &impl Server,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value, Option<String>) {
    let r = api_as(berth, ADMIN, method, path, body).await;
    let status = r.status();
    let location = r.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)), location)
}

/// Creates a registry endpoint; returns its id.
async fn create_endpoint(berth: &impl Server, name: &str, kind: &str, url: &str, creds: Option<(&str, &str)>) -> i64 {
    let mut body = json!({"name": name, "type": kind, "url": url, "insecure": false});
    if let Some((user, password)) = creds {
        body["credential"] = json!({"type": "basic", "access_key": user, "access_secret": password});
    }
    let (status, text, location) = api(berth, Method::POST, "/registries", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "create endpoint: {text}");
    location.unwrap().rsplit('/').next().unwrap().parse().unwrap()
}

/// Creates a policy; returns its id.
async fn create_policy(berth: &impl Server, body: Value) -> i64 {
    let (status, text, location) = api(berth, Method::POST, "/replication/policies", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "create policy: {text}");
    location.unwrap().rsplit('/').next().unwrap().parse().unwrap()
}

pub(crate) async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < CONVERGE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The digest `reference` has in `repo` of the registry at `base` (`None`: absent).
async fn head(base: &str, creds: Option<(&str, &str)>, repo: &str, reference: &str) -> Option<String> {
    let mut req = reqwest::Client::new()
        .head(format!("{base}/v2/{repo}/manifests/{reference}"))
        .header("accept", format!("{OCI_MANIFEST}, {OCI_INDEX}"));
    if let Some((u, p)) = creds {
        req = req.basic_auth(u, Some(p));
    }
    let r = req.send().await.unwrap();
    match r.status() {
        StatusCode::OK => Some(r.headers()["docker-content-digest"].to_str().unwrap().to_owned()),
        StatusCode::NOT_FOUND => None,
        s => panic!("HEAD {repo}:{reference} at {base}: {s}"),
    }
}

fn berth_base(b: &Berth) -> String {
    b.url("").trim_end_matches('/').to_owned()
}

/// Tags of `repo` at a Berth (empty if the repository is unknown).
async fn berth_tags(b: &Berth, repo: &str) -> Vec<String> {
    let r = Registry::new(berth_base(b)).get(&format!("/v2/{repo}/tags/list")).await;
    if r.status() == StatusCode::NOT_FOUND {
        return Vec::new();
    }
    let v: Value = r.json().await.unwrap();
    let mut tags: Vec<String> =
        v["tags"].as_array().map(|a| a.iter().map(|t| t.as_str().unwrap().to_owned()).collect()).unwrap_or_default();
    tags.sort();
    tags
}

async fn executions(b: &Berth, policy: i64) -> Vec<Value> {
    let (status, list, _) =
        api(b, Method::GET, &format!("/replication/executions?policy_id={policy}&page_size=100"), None).await;
    assert_eq!(status, StatusCode::OK);
    list.as_array().unwrap().clone()
}

/// The executions of event-based `policy` that events started. Such a policy is also reconciled
/// at every full hour (trigger "scheduled"); those are left out, so a test that runs across a
/// full hour sees the same executions.
async fn event_runs(b: &Berth, policy: i64) -> Vec<Value> {
    executions(b, policy).await.into_iter().filter(|e| e["trigger"] != "scheduled").collect()
}

#[tokio::test]
async fn registry_endpoints_are_managed_checked_and_their_passwords_sealed() {
    let berth = TestApp::start().await;
    let upstream = Upstream::start();
    let id = create_endpoint(&berth, "dist", "docker-registry", &upstream.url(), Some(("robot", "s3cret-Pa55"))).await;

    let (status, got, _) = api(&berth, Method::GET, &format!("/registries/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["name"], "dist");
    assert_eq!(got["type"], "docker-registry");
    assert_eq!(got["url"], upstream.url());
    assert_eq!(got["credential"]["access_key"], "robot");
    assert_eq!(got["credential"]["access_secret"], "*****", "the password is never returned");
    // At rest the password is sealed, not stored as given.
    let row = berth.meta().registry(id).await.unwrap().unwrap();
    let stored = row.access_secret.unwrap();
    assert!(!stored.contains("s3cret-Pa55") && stored.starts_with("v1:"), "stored as {stored}");

    // The anonymous docker-registry accepts anyone: ping works.
    let (status, text, _) = api(&berth, Method::POST, "/registries/ping", Some(json!({"id": id}))).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (_, got, _) = api(&berth, Method::GET, &format!("/registries/{id}"), None).await;
    assert_eq!(got["status"], "healthy");
    // A port nothing listens on: a clear 400.
    let dead = format!("http://127.0.0.1:{}", support::free_port());
    let (status, err, _) =
        api(&berth, Method::POST, "/registries/ping", Some(json!({"type": "docker-registry", "url": dead}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(err["errors"][0]["message"].as_str().unwrap().contains("failed to ping"), "{err}");

    // Bad inputs change nothing.
    for (body, needle) in [
        (json!({"name": "x", "type": "quay", "url": upstream.url()}), "type"),
        (json!({"name": "x", "type": "harbor", "url": "ftp://example"}), "url"),
        (json!({"name": "x", "type": "harbor", "url": "http://127.0.0.1:1/path"}), "url"),
        (json!({"name": "", "type": "harbor", "url": upstream.url()}), "name"),
        (
            json!({"name": "x", "type": "harbor", "url": upstream.url(), "credential": {"access_key": "u"}}),
            "credential",
        ),
    ] {
        let (status, err, _) = api(&berth, Method::POST, "/registries", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {err}");
        assert!(err["errors"][0]["message"].as_str().unwrap().contains(needle), "{body} -> {err}");
    }
    let (status, _, _) = api(
        &berth,
        Method::POST,
        "/registries",
        Some(json!({"name": "dist", "type": "harbor", "url": upstream.url()})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, list, _) = api(&berth, Method::GET, "/registries", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    // Update keeps the password when given back as listed.
    let (status, _, _) = api(
        &berth,
        Method::PUT,
        &format!("/registries/{id}"),
        Some(json!({"description": "lab", "access_secret": "*****"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let row = berth.meta().registry(id).await.unwrap().unwrap();
    assert_eq!(row.description, "lab");
    assert!(row.access_secret.is_some());

    let (_, adapters, _) = api(&berth, Method::GET, "/replication/adapters", None).await;
    assert_eq!(adapters, json!(["harbor", "docker-registry"]));
    let (_, info, _) = api(&berth, Method::GET, &format!("/registries/{id}/info"), None).await;
    assert_eq!(info["supported_triggers"], json!(["manual", "scheduled", "event_based"]));

    // In use by a policy: 412; then deleted.
    let policy =
        create_policy(&berth, json!({"name": "p", "dest_registry": {"id": id}, "trigger": {"type": "manual"}})).await;
    let (status, _, _) = api(&berth, Method::DELETE, &format!("/registries/{id}"), None).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    let (status, _, _) = api(&berth, Method::DELETE, &format!("/replication/policies/{policy}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = api(&berth, Method::DELETE, &format!("/registries/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = api(&berth, Method::GET, &format!("/registries/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Non-administrators are refused.
    berth.create_user("dev", "Passw0rdDev").await;
    let r = api_as(&berth, ("dev", "Passw0rdDev"), Method::GET, "/registries", None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn policies_refuse_bad_input() {
    let berth = TestApp::start().await;
    let upstream = Upstream::start();
    let id = create_endpoint(&berth, "dist", "docker-registry", &upstream.url(), None).await;
    let cases = [
        (json!({"name": "a", "trigger": {"type": "manual"}}), "src_registry"),
        (json!({"name": "a", "src_registry": {"id": id}, "dest_registry": {"id": id}}), "not both"),
        (json!({"name": "a", "dest_registry": {"id": 999}}), "does not exist"),
        (json!({"name": "a", "dest_registry": {"id": id}, "trigger": {"type": "hourly"}}), "trigger"),
        (
            json!({"name": "a", "dest_registry": {"id": id}, "trigger": {"type": "scheduled", "trigger_settings": {"cron": "every day"}}}),
            "cron",
        ),
        (json!({"name": "a", "src_registry": {"id": id}, "trigger": {"type": "event_based"}}), "push-based"),
        (json!({"name": "a", "dest_registry": {"id": id}, "filters": [{"type": "colour", "value": "red"}]}), "filter"),
        (
            json!({"name": "a", "dest_registry": {"id": id}, "filters": [{"type": "tag", "value": "v*", "decoration": "maybe"}]}),
            "decoration",
        ),
        (json!({"name": "a", "dest_registry": {"id": id}, "dest_namespace": "Bad Name"}), "dest_namespace"),
        (json!({"name": "a", "dest_registry": {"id": id}, "speed": -5}), "speed"),
    ];
    for (body, needle) in cases {
        let (status, err, _) = api(&berth, Method::POST, "/replication/policies", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {err}");
        assert!(err["errors"][0]["message"].as_str().unwrap().contains(needle), "{body} -> {err}");
    }
    let (_, list, _) = api(&berth, Method::GET, "/replication/policies", None).await;
    assert_eq!(list, json!([]), "nothing was created");
    let p = create_policy(&berth, json!({"name": "ok", "dest_registry": {"id": id}, "enabled": false})).await;
    let (status, _, _) = api(&berth, Method::POST, "/replication/executions", Some(json!({"policy_id": p}))).await;
    // What the body names is wrong: 400, the code Harbor documents for this operation.
    assert_eq!(status, StatusCode::BAD_REQUEST, "a disabled policy does not run");
    let (status, _, _) = api(&berth, Method::POST, "/replication/executions", Some(json!({"policy_id": 4242}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) =
        api(&berth, Method::POST, "/replication/policies", Some(json!({"name": "ok", "dest_registry": {"id": id}})))
            .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn event_based_push_to_distribution_with_filters_indexes_referrers_and_deletions() {
    let berth = Berth::start();
    let upstream = Upstream::start();
    let dist = create_endpoint(&berth, "dist", "docker-registry", &upstream.url(), None).await;
    create_policy(
        &berth,
        json!({
            "name": "to-dist",
            "dest_registry": {"id": dist},
            "trigger": {"type": "event_based"},
            "filters": [
                {"type": "name", "value": "library/app*"},
                {"type": "tag", "value": "dev-*", "decoration": "excludes"},
            ],
            "replicate_deletion": true,
        }),
    )
    .await;
    let reg = Registry::new(berth_base(&berth));
    let (release_manifest, release) = reg.push_image("library/app", "1.0", &random_bytes(3 << 20, 1)).await;
    let (_, dev) = reg.push_image("library/app", "dev-1", &random_bytes(1000, 2)).await;
    let (_, other) = reg.push_image("library/other", "1.0", &random_bytes(1000, 3)).await;
    // A multi-arch index with two children, and a signature-like referrer of the release.
    let (amd, amd_digest) = reg.push_image("library/app-multi", "amd64-only", &random_bytes(2000, 4)).await;
    let (arm, arm_digest) = reg.push_image("library/app-multi", "arm64-only", &random_bytes(2000, 5)).await;
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": amd_digest, "size": amd.len(), "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": OCI_MANIFEST, "digest": arm_digest, "size": arm.len(), "platform": {"architecture": "arm64", "os": "linux"}},
        ],
    }))
    .unwrap();
    let r = reg.put_manifest("library/app-multi", "latest", OCI_INDEX, &index).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let index_digest = sha256_digest(&index);

    let dist_url = upstream.url();
    wait_for("library/app:1.0 at distribution", || async {
        head(&dist_url, None, "library/app", "1.0").await.is_some()
    })
    .await;
    assert_eq!(head(&dist_url, None, "library/app", "1.0").await.as_deref(), Some(release.as_str()));
    wait_for("the index at distribution", || async {
        head(&dist_url, None, "library/app-multi", "latest").await.is_some()
    })
    .await;
    assert_eq!(head(&dist_url, None, "library/app-multi", "latest").await.as_deref(), Some(index_digest.as_str()));
    for child in [&amd_digest, &arm_digest] {
        assert!(
            head(&dist_url, None, "library/app-multi", child).await.is_some(),
            "child {child} copied with its index"
        );
    }
    // A signature-like referrer pushed afterwards, by digest, follows its subject.
    let sig_blob = reg.push_blob("library/app", b"signature").await;
    let empty = reg.push_blob("library/app", b"{}").await;
    let referrer = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/vnd.example.signature", "digest": sig_blob, "size": 9}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": release, "size": release_manifest.len()},
    }))
    .unwrap();
    let referrer_digest = sha256_digest(&referrer);
    let r = reg.put_manifest("library/app", &referrer_digest, OCI_MANIFEST, &referrer).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    wait_for("the referrer at distribution", || async {
        head(&dist_url, None, "library/app", &referrer_digest).await.is_some()
    })
    .await;
    // A second repository sharing the big layer: the destination mounts it instead of receiving
    // the bytes again.
    let (app2, _) = reg.push_image("library/app2", "1.0", &random_bytes(3 << 20, 1)).await;
    wait_for("library/app2:1.0 at distribution", || async {
        head(&dist_url, None, "library/app2", "1.0").await.is_some()
    })
    .await;
    let layer: Value = serde_json::from_slice(&app2).unwrap();
    let layer = layer["layers"][0]["digest"].as_str().unwrap();
    let mounts = upstream
        .log()
        .lines()
        .filter(|l| l.contains("/v2/library/app2/blobs/uploads/?") && l.contains("mount=") && l.contains(&layer[7..]))
        .count();
    assert_eq!(mounts, 1, "{}", upstream.log());
    let uploads = upstream
        .log()
        .lines()
        .filter(|l| l.contains("\"PUT /v2/library/app2/blobs/uploads/") && l.contains(&layer[7..]))
        .count();
    assert_eq!(uploads, 0, "the shared layer's bytes were not sent again: {}", upstream.log());

    // Filtered out: the dev tag and the other repository.
    assert_eq!(head(&dist_url, None, "library/app", "dev-1").await, None, "excluded tag {dev}");
    assert_eq!(head(&dist_url, None, "library/other", "1.0").await, None, "other repository {other}");

    // The artifact deleted here is deleted there.
    let r = reg.http.delete(reg.url(&format!("/v2/library/app/manifests/{release}"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    wait_for("deletion at distribution", || async { head(&dist_url, None, "library/app", &release).await.is_none() })
        .await;

    // Executions and tasks are visible, with logs.
    let (_, policies, _) = api(&berth, Method::GET, "/replication/policies", None).await;
    let policy = policies[0]["id"].as_i64().unwrap();
    let runs = event_runs(&berth, policy).await;
    assert!(!runs.is_empty());
    assert!(runs.iter().all(|e| e["trigger"] == "event_based"));
    wait_for("every execution to finish", || async {
        executions(&berth, policy).await.iter().all(|e| e["status"] == "Succeed")
    })
    .await;
    let first = runs.last().unwrap()["id"].as_i64().unwrap();
    let (_, tasks, _) = api(&berth, Method::GET, &format!("/replication/executions/{first}/tasks"), None).await;
    let task = &tasks.as_array().unwrap()[0];
    assert_eq!(task["status"], "Succeed");
    let r =
        api_as(&berth, ADMIN, Method::GET, &format!("/replication/executions/{first}/tasks/{}/log", task["id"]), None)
            .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("library/app"), "task log names what it copied");

    // A deleted tag: the distribution API deletes by digest only, so the destination keeps it
    // (deleting the artifact would take tags the source still has) and the task says so.
    let before = event_runs(&berth, policy).await.len();
    let r = reg.http.delete(reg.url("/v2/library/app2/manifests/1.0")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    wait_for("the tag deletion's execution", || async {
        let runs = event_runs(&berth, policy).await;
        runs.len() > before && runs.iter().all(|e| e["status"] == "Succeed")
    })
    .await;
    let last = event_runs(&berth, policy).await[0]["id"].as_i64().unwrap();
    let (_, tasks, _) = api(&berth, Method::GET, &format!("/replication/executions/{last}/tasks"), None).await;
    let path = format!("/replication/executions/{last}/tasks/{}/log", tasks[0]["id"]);
    let log = api_as(&berth, ADMIN, Method::GET, &path, None).await.text().await.unwrap();
    assert!(log.contains("left in place"), "{log}");
    assert!(head(&dist_url, None, "library/app2", "1.0").await.is_some());
}

/// A manual pull-based policy copying `team/tool` of `upstream` into project `mirror`; its id.
async fn pull_team_tool_into_mirror(berth: &Berth, upstream: &Upstream) -> i64 {
    let dist = create_endpoint(berth, "dist", "docker-registry", &upstream.url(), None).await;
    create_policy(
        berth,
        json!({
            "name": "from-dist", "src_registry": {"id": dist}, "dest_namespace": "mirror",
            "dest_namespace_replace_count": 1, "trigger": {"type": "manual"},
            "filters": [{"type": "name", "value": "team/tool"}],
        }),
    )
    .await
}

/// Starts an execution of `policy`; its id.
async fn start_execution(berth: &Berth, policy: i64) -> String {
    let (status, _, location) =
        api(berth, Method::POST, "/replication/executions", Some(json!({"policy_id": policy}))).await;
    assert_eq!(status, StatusCode::CREATED);
    location.unwrap().rsplit('/').next().unwrap().to_owned()
}

#[tokio::test]
async fn pull_based_manual_and_scheduled_replication() {
    let berth = Berth::start();
    let upstream = Upstream::start();
    let (_, v1) = upstream.push_image("team/tool", "v1", &random_bytes(5 << 20, 10)).await;
    let (_, v2) = upstream.push_image("team/tool", "v2", &random_bytes(1000, 11)).await;
    upstream.push_image("team/other", "v1", &random_bytes(1000, 12)).await;
    let policy = pull_team_tool_into_mirror(&berth, &upstream).await;
    let execution = start_execution(&berth, policy).await;
    wait_for("the manual execution", || async {
        let (_, e, _) = api(&berth, Method::GET, &format!("/replication/executions/{execution}"), None).await;
        assert_ne!(e["status"], "Failed", "{e}");
        e["status"] == "Succeed"
    })
    .await;
    let (_, e, _) = api(&berth, Method::GET, &format!("/replication/executions/{execution}"), None).await;
    assert_eq!((e["total"].as_i64(), e["succeed"].as_i64(), e["trigger"].as_str()), (Some(2), Some(2), Some("manual")));
    let base = berth_base(&berth);
    // The destination project did not exist: replication created it, as a real project.
    let (status, project, _) = api(&berth, Method::GET, "/projects/mirror", None).await;
    assert_eq!(status, StatusCode::OK, "{project}");
    assert_eq!(head(&base, Some(ADMIN), "mirror/tool", "v1").await, Some(v1.clone()));
    assert_eq!(head(&base, Some(ADMIN), "mirror/tool", "v2").await, Some(v2));
    assert_eq!(berth_tags(&berth, "mirror/other").await, Vec::<String>::new(), "filtered out");
    // The bytes are really here: the big layer pulls back with its digest.
    let manifest: Value = Registry::new(base.clone()).get("/v2/mirror/tool/manifests/v1").await.json().await.unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let bytes = Registry::new(base.clone()).get(&format!("/v2/mirror/tool/blobs/{layer}")).await.bytes().await.unwrap();
    assert_eq!(sha256_digest(&bytes), layer);

    // A second run finds nothing to do.
    let again = start_execution(&berth, policy).await;
    wait_for("the second execution", || async {
        let (_, e, _) = api(&berth, Method::GET, &format!("/replication/executions/{again}"), None).await;
        e["status"] == "Succeed"
    })
    .await;
    let (_, e, _) = api(&berth, Method::GET, &format!("/replication/executions/{again}"), None).await;
    assert_eq!(e["total"], 0, "nothing differs: {e}");

    // Scheduled: every 2 seconds; a new upstream tag arrives without anyone asking.
    let (_, v3) = upstream.push_image("team/tool", "v3", &random_bytes(1000, 13)).await;
    let (status, _, _) = api(
        &berth,
        Method::PUT,
        &format!("/replication/policies/{policy}"),
        Some(json!({"trigger": {"type": "scheduled", "trigger_settings": {"cron": "*/2 * * * * *"}}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    wait_for("the scheduled copy of v3", || async { head(&base, Some(ADMIN), "mirror/tool", "v3").await.is_some() })
        .await;
    assert_eq!(head(&base, Some(ADMIN), "mirror/tool", "v3").await, Some(v3));
    assert!(executions(&berth, policy).await.iter().any(|e| e["trigger"] == "scheduled"));
}

/// A peer that was down gets everything that happened meanwhile, with nobody touching the policy.
#[tokio::test]
async fn a_peer_that_was_down_catches_up() {
    let source = Berth::start();
    let mut peer = Berth::start();
    let endpoint = create_endpoint(&source, "peer", "harbor", &berth_base(&peer), Some(ADMIN)).await;
    create_policy(
        &source,
        json!({"name": "to-peer", "dest_registry": {"id": endpoint}, "trigger": {"type": "event_based"},
               "replicate_deletion": true}),
    )
    .await;
    source.create_project("apps", false);
    let reg = Registry::new(berth_base(&source));
    reg.push_image("apps/web", "first", &random_bytes(1000, 20)).await;
    wait_for("the first push at the peer", || async { berth_tags(&peer, "apps/web").await == ["first"] }).await;

    assert!(peer.terminate(), "the peer stops");
    let mut expected = vec!["first".to_owned()];
    for i in 0..10 {
        reg.push_image("apps/web", &format!("t{i}"), &random_bytes(1000, 100 + i)).await;
        expected.push(format!("t{i}"));
    }
    for i in [2, 5, 7] {
        let r = reg.http.delete(reg.url(&format!("/v2/apps/web/manifests/t{i}"))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        expected.retain(|t| t != &format!("t{i}"));
    }
    expected.sort();
    tokio::time::sleep(Duration::from_secs(3)).await;
    peer.restart();
    wait_for("the peer to converge", || async { berth_tags(&peer, "apps/web").await == expected }).await;
    for tag in &expected {
        let here = head(&berth_base(&source), Some(ADMIN), "apps/web", tag).await;
        assert_eq!(head(&berth_base(&peer), Some(ADMIN), "apps/web", tag).await, here, "{tag}");
    }
}

/// Whether `repo` has exactly `tags` on both registries.
async fn same(a: &Berth, b: &Berth, repo: &str, tags: &[&str]) -> bool {
    let want: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
    berth_tags(a, repo).await == want && berth_tags(b, repo).await == want
}

/// Two masters, each replicating to the other: no loop, and the same content after pushes and
/// deletes on both sides, including while one was down.
#[tokio::test]
async fn two_masters_converge_without_looping() {
    let a = Berth::start();
    let mut b = Berth::start();
    let to_b = create_endpoint(&a, "b", "harbor", &berth_base(&b), Some(ADMIN)).await;
    let to_a = create_endpoint(&b, "a", "harbor", &berth_base(&a), Some(ADMIN)).await;
    let policy = json!({"trigger": {"type": "event_based"}, "replicate_deletion": true});
    let mut pa = policy.clone();
    pa["name"] = json!("a-to-b");
    pa["dest_registry"] = json!({"id": to_b});
    let mut pb = policy;
    pb["name"] = json!("b-to-a");
    pb["dest_registry"] = json!({"id": to_a});
    let policy_a = create_policy(&a, pa).await;
    let policy_b = create_policy(&b, pb).await;
    let (ra, rb) = (Registry::new(berth_base(&a)), Registry::new(berth_base(&b)));

    ra.push_image("library/x", "1", &random_bytes(1000, 30)).await;
    rb.push_image("library/y", "1", &random_bytes(1000, 31)).await;
    rb.push_image("library/x", "2", &random_bytes(1000, 32)).await;
    wait_for("x on both", || same(&a, &b, "library/x", &["1", "2"])).await;
    wait_for("y on both", || same(&a, &b, "library/y", &["1"])).await;

    // No ping-pong: once settled, no new executions appear on either side.
    wait_for("executions to settle", || async {
        let all = [executions(&a, policy_a).await, executions(&b, policy_b).await].concat();
        all.iter().all(|e| e["status"] != "InProgress")
    })
    .await;
    let counts = (event_runs(&a, policy_a).await.len(), event_runs(&b, policy_b).await.len());
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!((event_runs(&a, policy_a).await.len(), event_runs(&b, policy_b).await.len()), counts, "no loop");

    // A delete on one side goes to the other.
    let r = rb.http.delete(rb.url("/v2/library/x/manifests/1")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    wait_for("x:1 deleted on both", || same(&a, &b, "library/x", &["2"])).await;

    // B down: A changes things; B changes nothing meanwhile; then both converge.
    assert!(b.terminate());
    ra.push_image("library/z", "1", &random_bytes(1000, 33)).await;
    let r = ra.http.delete(ra.url("/v2/library/y/manifests/1")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    b.restart();
    rb.push_image("library/w", "1", &random_bytes(1000, 34)).await;
    wait_for("z on both", || same(&a, &b, "library/z", &["1"])).await;
    wait_for("y gone on both", || same(&a, &b, "library/y", &[])).await;
    wait_for("w on both", || same(&a, &b, "library/w", &["1"])).await;
    wait_for("x unchanged on both", || same(&a, &b, "library/x", &["2"])).await;
}

/// Starts a manual pull-based execution that copies `big/thing:v1`, a 4 MiB layer, from a new
/// upstream at 64 KB/s (the policy's `speed`): about a minute. Returns the upstream, to keep
/// alive, and the execution's id.
pub(crate) async fn start_slow_copy(berth: &Berth) -> (Upstream, String) {
    let upstream = Upstream::start();
    upstream.push_image("big/thing", "v1", &random_bytes(4 << 20, 40)).await;
    let dist = create_endpoint(berth, "dist", "docker-registry", &upstream.url(), None).await;
    let policy = create_policy(
        berth,
        json!({"name": "slow", "src_registry": {"id": dist}, "trigger": {"type": "manual"}, "speed": 64}),
    )
    .await;
    let (status, _, location) =
        api(berth, Method::POST, "/replication/executions", Some(json!({"policy_id": policy}))).await;
    assert_eq!(status, StatusCode::CREATED);
    (upstream, location.unwrap().rsplit('/').next().unwrap().to_owned())
}

/// A slow copy (the policy's `speed` limit) is stopped through the API: the execution ends as
/// `Stopped` and nothing half-copied shows.
#[tokio::test]
async fn a_running_execution_is_stopped() {
    let berth = Berth::start();
    let (_upstream, execution) = start_slow_copy(&berth).await;
    wait_for("the copy to be under way", || async {
        let (_, tasks, _) = api(&berth, Method::GET, &format!("/replication/executions/{execution}/tasks"), None).await;
        tasks.as_array().is_some_and(|t| t.iter().any(|t| t["status"] == "InProgress"))
    })
    .await;
    let (status, _, _) = api(&berth, Method::PUT, &format!("/replication/executions/{execution}"), None).await;
    assert_eq!(status, StatusCode::OK);
    wait_for("the execution to stop", || async {
        let (_, e, _) = api(&berth, Method::GET, &format!("/replication/executions/{execution}"), None).await;
        e["status"] == "Stopped"
    })
    .await;
    let (_, e, _) = api(&berth, Method::GET, &format!("/replication/executions/{execution}"), None).await;
    assert_eq!((e["stopped"].as_i64(), e["succeed"].as_i64()), (Some(1), Some(0)), "{e}");
    assert!(e["end_time"].is_string(), "{e}");
    assert_eq!(head(&berth_base(&berth), Some(ADMIN), "big/thing", "v1").await, None);
    let (status, _, _) = api(&berth, Method::PUT, "/replication/executions/999", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Two masters whose link was cut (both policies disabled) change the same tags differently; once
/// replication resumes both settle on the last change, whichever side made it: a newer push wins
/// over an older one and over an older delete.
#[tokio::test]
async fn two_masters_settle_conflicts_on_the_last_change() {
    let a = Berth::start();
    let b = Berth::start();
    let to_b = create_endpoint(&a, "b", "harbor", &berth_base(&b), Some(ADMIN)).await;
    let to_a = create_endpoint(&b, "a", "harbor", &berth_base(&a), Some(ADMIN)).await;
    let policy_a = create_policy(
        &a,
        json!({"name": "a-to-b", "dest_registry": {"id": to_b}, "trigger": {"type": "event_based"}, "replicate_deletion": true}),
    )
    .await;
    let policy_b = create_policy(
        &b,
        json!({"name": "b-to-a", "dest_registry": {"id": to_a}, "trigger": {"type": "event_based"}, "replicate_deletion": true}),
    )
    .await;
    let (ra, rb) = (Registry::new(berth_base(&a)), Registry::new(berth_base(&b)));
    ra.push_image("library/e", "t", &random_bytes(1000, 50)).await;
    wait_for("e:t on both", || same(&a, &b, "library/e", &["t"])).await;

    let enable = |on: bool| {
        let (a, b) = (&a, &b);
        async move {
            for (berth, policy) in [(a, policy_a), (b, policy_b)] {
                let path = format!("/replication/policies/{policy}");
                let (status, _, _) = api(berth, Method::PUT, &path, Some(json!({"enabled": on}))).await;
                assert_eq!(status, StatusCode::OK);
            }
        }
    };
    enable(false).await;
    // Older changes...
    let r = rb.http.delete(rb.url("/v2/library/e/manifests/t")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    ra.push_image("library/c", "t", &random_bytes(1000, 51)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // ...then newer ones, on the other sides.
    let (_, c_newer) = rb.push_image("library/c", "t", &random_bytes(1000, 52)).await;
    let (_, e_newer) = ra.push_image("library/e", "t", &random_bytes(1000, 53)).await;
    enable(true).await;

    let (base_a, base_b) = (berth_base(&a), berth_base(&b));
    wait_for("c:t settled on B's newer push", || async {
        head(&base_a, Some(ADMIN), "library/c", "t").await.as_deref() == Some(c_newer.as_str())
            && head(&base_b, Some(ADMIN), "library/c", "t").await.as_deref() == Some(c_newer.as_str())
    })
    .await;
    wait_for("e:t settled on A's push, newer than B's delete", || async {
        head(&base_a, Some(ADMIN), "library/e", "t").await.as_deref() == Some(e_newer.as_str())
            && head(&base_b, Some(ADMIN), "library/e", "t").await.as_deref() == Some(e_newer.as_str())
    })
    .await;
    // And it stays settled: nothing flips back.
    wait_for("executions to settle", || async {
        let all = [executions(&a, policy_a).await, executions(&b, policy_b).await].concat();
        all.iter().all(|e| e["status"] != "InProgress")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(head(&base_a, Some(ADMIN), "library/c", "t").await, Some(c_newer.clone()));
    assert_eq!(head(&base_b, Some(ADMIN), "library/c", "t").await, Some(c_newer));
    assert_eq!(head(&base_b, Some(ADMIN), "library/e", "t").await, Some(e_newer));
}

/// An endpoint with a self-signed certificate is refused unless marked `insecure`; then a
/// pull-based run copies over TLS. With `override` off, a tag this registry already has with
/// other content is left alone.
#[tokio::test]
async fn insecure_endpoints_over_tls_and_override_off() {
    let berth = Berth::start();
    let mut upstream = Upstream::start();
    let (_, v1) = upstream.push_image("team/tls", "v1", &random_bytes(1000, 60)).await;
    upstream.push_image("team/tls", "v2", &random_bytes(1000, 61)).await;
    upstream.restart_tls();
    assert!(upstream.url().starts_with("https://"));

    let verified = create_endpoint(&berth, "verified", "docker-registry", &upstream.url(), None).await;
    let (status, err, _) = api(&berth, Method::POST, "/registries/ping", Some(json!({"id": verified}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a self-signed certificate is not trusted: {err}");
    let (_, got, _) = api(&berth, Method::GET, &format!("/registries/{verified}"), None).await;
    assert_eq!(got["status"], "unhealthy");
    let (status, _, _) =
        api(&berth, Method::PUT, &format!("/registries/{verified}"), Some(json!({"insecure": true}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, err, _) = api(&berth, Method::POST, "/registries/ping", Some(json!({"id": verified}))).await;
    assert_eq!(status, StatusCode::OK, "{err}");

    // This registry already has team/tls:v2, with other content.
    berth.create_project("team", false);
    let (_, mine) = Registry::new(berth_base(&berth)).push_image("team/tls", "v2", &random_bytes(1000, 62)).await;
    let policy = create_policy(
        &berth,
        json!({"name": "tls", "src_registry": {"id": verified}, "trigger": {"type": "manual"}, "override": false}),
    )
    .await;
    let (_, _, location) =
        api(&berth, Method::POST, "/replication/executions", Some(json!({"policy_id": policy}))).await;
    let execution = location.unwrap().rsplit('/').next().unwrap().to_owned();
    wait_for("the execution over TLS", || async {
        let (_, e, _) = api(&berth, Method::GET, &format!("/replication/executions/{execution}"), None).await;
        assert_ne!(e["status"], "Failed", "{e}");
        e["status"] == "Succeed"
    })
    .await;
    let base = berth_base(&berth);
    assert_eq!(head(&base, Some(ADMIN), "team/tls", "v1").await, Some(v1));
    assert_eq!(head(&base, Some(ADMIN), "team/tls", "v2").await, Some(mine), "override off keeps ours");
}

/// Pull-based replication into a project whose rule makes `v*` immutable: a tag moved upstream
/// is refused here, the task's log says so in Harbor's words, and the tag keeps its content.
#[tokio::test]
async fn replication_into_an_immutable_tag_is_refused_in_the_task_log() {
    let berth = Berth::start();
    let upstream = Upstream::start();
    let (_, first) = upstream.push_image("team/tool", "v1", &random_bytes(1000, 30)).await;
    berth.create_project("mirror", false);
    let rule = json!({
        "action": "immutable", "template": "immutable_template",
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]},
    });
    let (status, text, _) = api(&berth, Method::POST, "/projects/mirror/immutabletagrules", Some(rule)).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let policy = pull_team_tool_into_mirror(&berth, &upstream).await;
    // The first copy of v1 is a first push: allowed.
    let execution = start_execution(&berth, policy).await;
    wait_for("the first execution", || async {
        let (_, e, _) = api(&berth, Method::GET, &format!("/replication/executions/{execution}"), None).await;
        e["status"] == "Succeed"
    })
    .await;
    let base = berth_base(&berth);
    assert_eq!(head(&base, Some(ADMIN), "mirror/tool", "v1").await, Some(first.clone()));

    // v1 moves upstream; copying it here would move an immutable tag.
    upstream.push_image("team/tool", "v1", &random_bytes(1000, 31)).await;
    let execution = start_execution(&berth, policy).await;
    let log = async || -> String {
        let (_, tasks, _) = api(&berth, Method::GET, &format!("/replication/executions/{execution}/tasks"), None).await;
        let Some(task) = tasks.as_array().and_then(|t| t.first()).map(|t| t["id"].clone()) else {
            return String::new();
        };
        let path = format!("/replication/executions/{execution}/tasks/{task}/log");
        api(&berth, Method::GET, &path, None).await.1.as_str().unwrap_or_default().to_owned()
    };
    wait_for("the task's refusal", || async { log().await.contains("configured as immutable") }).await;
    assert!(log().await.contains("the tag v1 configured as immutable, cannot be updated"), "{}", log().await);
    assert_eq!(head(&base, Some(ADMIN), "mirror/tool", "v1").await, Some(first));
}
