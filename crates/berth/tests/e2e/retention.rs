//! Tag retention: Harbor's `/retentions` API (policy, schedule, executions, tasks and their logs;
//! who may; bad input), and what a run keeps and deletes for every template and selector, a dry
//! run deciding exactly what the real run then deletes, artifacts with an immutable tag skipped.
//!
//! Push and pull times a test cannot wait for (days ago) are written with SQL on the test server's
//! database ([`TestApp::execute_sql`]); the recent pull is a real pull, labels are put on
//! artifacts through the labels API.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::support::registry::{OCI_MANIFEST, Registry, api_as as api, expect_error, one_layer_image};
use crate::support::{ADMIN, TestApp, random_bytes, sha256_digest};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const DAY: i64 = 86_400;
const PROJECT_ADMIN: (&str, &str) = ("padmin", "ProjAdmin123");
const MAINTAINER: (&str, &str) = ("maint", "Maintainer123");
const OUTSIDER: (&str, &str) = ("outsider", "Outsider123");

fn selector(kind: &str, decoration: &str, pattern: &str) -> Value {
    json!({"kind": kind, "decoration": decoration, "pattern": pattern})
}

/// A rule as Harbor's portal sends it: `template` with `param`, for repository `repository`,
/// picking with `tag_selectors`.
fn rule(template: &str, param: Option<i64>, repository: &str, tag_selectors: Value) -> Value {
    let params = param.map_or(json!({}), |n| json!({ template: n }));
    json!({
        "disabled": false,
        "action": "retain",
        "template": template,
        "params": params,
        "tag_selectors": tag_selectors,
        "scope_selectors": {"repository": [selector("doublestar", "repoMatches", repository)]},
    })
}

/// Harbor's tag selector with its `extras`.
fn tags(decoration: &str, pattern: &str, untagged: bool) -> Value {
    json!({"kind": "doublestar", "decoration": decoration, "pattern": pattern,
           "extras": json!({"untagged": untagged}).to_string()})
}

fn policy(project: i64, rules: Vec<Value>, cron: &str) -> Value {
    json!({
        "algorithm": "or",
        "rules": rules,
        "trigger": {"kind": "Schedule", "settings": {"cron": cron}, "references": {}},
        "scope": {"level": "project", "ref": project},
    })
}

async fn project_id(berth: &TestApp, name: &str) -> i64 {
    berth.meta().project_by_name(name).await.unwrap().unwrap().id
}

/// Creates a policy as `who`; its id, from `Location`.
async fn create(berth: &TestApp, who: (&str, &str), body: Value) -> i64 {
    let r = api(berth, who, Method::POST, "/retentions", Some(body)).await;
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    location.strip_prefix("/api/v2.0/retentions/").expect("Location names the policy").parse().unwrap()
}

/// Runs policy `id` now (or only decides, `dry_run`) and waits for the execution to end; the
/// execution and its tasks.
async fn run(berth: &TestApp, id: i64, dry_run: bool) -> (Value, Vec<Value>) {
    let path = format!("/retentions/{id}/executions");
    let r = api(berth, ADMIN, Method::POST, &path, Some(json!({ "dry_run": dry_run }))).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let eid: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
    assert_eq!(location, format!("/api/v2.0{path}/{eid}"));
    for _ in 0..400 {
        let listed: Vec<Value> = api(berth, ADMIN, Method::GET, &path, None).await.json().await.unwrap();
        let execution = listed.into_iter().find(|e| e["id"] == eid).expect("the execution is listed");
        if execution["status"] != "Running" {
            let tasks = api(berth, ADMIN, Method::GET, &format!("{path}/{eid}/tasks?page_size=100"), None).await;
            return (execution, tasks.json().await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("execution {eid} never ended");
}

async fn task_log(berth: &TestApp, id: i64, execution: &Value, task: &Value) -> String {
    let path = format!("/retentions/{id}/executions/{}/tasks/{}", execution["id"], task["id"]);
    let r = api(berth, ADMIN, Method::GET, &path, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    r.text().await.unwrap()
}

/// The digests left in repository `p/{repository}`.
async fn digests(berth: &TestApp, repository: &str) -> BTreeSet<String> {
    let path = format!("/projects/p/repositories/{repository}/artifacts?page_size=100");
    let r = api(berth, ADMIN, Method::GET, &path, None).await;
    if r.status() == StatusCode::NOT_FOUND {
        return BTreeSet::new();
    }
    let artifacts: Vec<Value> = r.json().await.unwrap();
    artifacts.iter().map(|a| a["digest"].as_str().unwrap().to_owned()).collect()
}

/// The artifacts a test pushed, by name: repository and digest.
#[derive(Default)]
struct Pushed {
    seed: u64,
    by_name: BTreeMap<String, (String, String)>,
}

impl Pushed {
    /// Pushes an image to `p/{repository}` under `tags` (untagged if none), named `name`.
    async fn push(&mut self, registry: &Registry, repository: &str, name: &str, tags: &[&str]) {
        self.seed += 1;
        let layer = random_bytes(64, 9_000 + self.seed);
        let (config, manifest) = one_layer_image(&layer);
        let repo = format!("p/{repository}");
        registry.push_blob(&repo, &config).await;
        registry.push_blob(&repo, &layer).await;
        let digest = sha256_digest(&manifest);
        for reference in tags.iter().copied().chain(tags.is_empty().then_some(digest.as_str())) {
            let r = registry.put_manifest(&repo, reference, OCI_MANIFEST, &manifest).await;
            assert_eq!(r.status(), StatusCode::CREATED);
        }
        self.by_name.insert(name.to_owned(), (repository.to_owned(), digest));
    }

    fn digest(&self, name: &str) -> &str {
        &self.by_name[name].1
    }

    /// The digests of `names`.
    fn of(&self, names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| self.digest(n).to_owned()).collect()
    }

    /// The names of `digests`, for messages.
    fn names(&self, digests: &BTreeSet<String>) -> Vec<&str> {
        self.by_name.iter().filter(|(_, (_, d))| digests.contains(d)).map(|(n, _)| n.as_str()).collect()
    }
}

/// Sets when artifact `digest` was pushed and last pulled (`None`: left as is), in days ago.
async fn set_times(berth: &TestApp, digest: &str, pushed: Option<i64>, pulled: Option<i64>) {
    let now = berth_meta::time::now();
    for (column, days) in [("created_at", pushed), ("pull_time", pulled)] {
        if let Some(days) = days {
            let at = now - days * DAY;
            berth.execute_sql(&format!("UPDATE manifests SET {column} = {at} WHERE digest = '{digest}'")).await;
        }
    }
}

/// What every template and selector keeps of the repositories of project `p`, one repository
/// per rule; a dry run first, then the real run deleting exactly what it said.
#[tokio::test]
async fn runs_keep_what_the_rules_say_and_delete_the_rest() {
    let berth = TestApp::builder().with_project("p", false).start().await;
    let registry = Registry::new(berth.url(""));
    let mut pushed = Pushed::default();
    for (repository, names) in [
        ("pushed", &["k1", "k2", "k3", "k4"][..]),
        ("pulled", &["n1", "n2", "n3", "n4"]),
        ("days-push", &["dp1", "dp2", "dp3"]),
        ("days-pull", &["dl1", "dl2", "dl3"]),
    ] {
        for name in names {
            pushed.push(&registry, repository, name, &[name]).await;
        }
    }
    pushed.push(&registry, "tags", "v1", &["v1"]).await;
    pushed.push(&registry, "tags", "dev1", &["dev1"]).await;
    pushed.push(&registry, "tags", "both", &["v2", "dev2"]).await;
    pushed.push(&registry, "tags", "none", &[]).await;
    pushed.push(&registry, "untagged", "u-v1", &["v1"]).await;
    pushed.push(&registry, "untagged", "u-dev1", &["dev1"]).await;
    pushed.push(&registry, "untagged", "u-none", &[]).await;
    pushed.push(&registry, "labels", "labelled", &["l1"]).await;
    pushed.push(&registry, "labels", "plain", &["l2"]).await;
    pushed.push(&registry, "labels", "other-label", &["l3"]).await;
    pushed.push(&registry, "immutable", "locked", &["locked"]).await;
    pushed.push(&registry, "immutable", "free", &["free"]).await;
    pushed.push(&registry, "outside", "o1", &["o1"]).await;

    // Push times: k1 four days ago .. k4 one day ago; pull times: n1 never, n2 ten days ago,
    // n3 one day ago, n4 five days ago.
    for (i, name) in ["k1", "k2", "k3", "k4"].iter().enumerate() {
        set_times(&berth, pushed.digest(name), Some(4 - i as i64), None).await;
    }
    for (name, days) in [("n2", 10), ("n3", 1), ("n4", 5)] {
        set_times(&berth, pushed.digest(name), None, Some(days)).await;
    }
    set_times(&berth, pushed.digest("dp1"), Some(10), None).await;
    set_times(&berth, pushed.digest("dp2"), Some(2), None).await;
    set_times(&berth, pushed.digest("dl1"), None, Some(10)).await;
    // dl2 is pulled for real, now.
    let pull = registry
        .http
        .get(registry.url("/v2/p/days-pull/manifests/dl2"))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(pull.status(), StatusCode::OK);
    let meta = berth.meta();
    let repo = meta.repository_id("p/days-pull").await.unwrap().unwrap();
    for _ in 0..400 {
        if meta.artifact_by_digest(repo, pushed.digest("dl2")).await.unwrap().unwrap().pull_time > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // Labels `keep` (on `labelled`) and `other` (on `other-label`), through the labels API.
    let pid = project_id(&berth, "p").await;
    for (label, name) in [("keep", "labelled"), ("other", "other-label")] {
        let body = json!({"name": label, "scope": "p", "project_id": pid});
        let made = api(&berth, ADMIN, Method::POST, "/labels", Some(body)).await;
        assert_eq!(made.status(), StatusCode::CREATED);
        let id: i64 = made.headers()["location"].to_str().unwrap().rsplit('/').next().unwrap().parse().unwrap();
        let path = format!("/projects/p/repositories/labels/artifacts/{}/labels", pushed.digest(name));
        let put = api(&berth, ADMIN, Method::POST, &path, Some(json!({"id": id}))).await;
        assert_eq!(put.status(), StatusCode::OK, "{}", put.text().await.unwrap());
    }
    // Tag `locked` of `immutable` is immutable.
    let immutable = json!({
        "action": "immutable", "template": "immutable_template",
        "tag_selectors": [selector("doublestar", "matches", "locked")],
        "scope_selectors": {"repository": [selector("doublestar", "repoMatches", "immutable")]},
    });
    let r = api(&berth, ADMIN, Method::POST, "/projects/p/immutabletagrules", Some(immutable)).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    let any = || json!([tags("matches", "**", true)]);
    let mut disabled = rule("latestPushedK", Some(0), "outside", any());
    disabled["disabled"] = json!(true);
    let rules = vec![
        rule("latestPushedK", Some(2), "pushed", any()),
        rule("latestPulledN", Some(2), "pulled", any()),
        rule("nDaysSinceLastPush", Some(3), "days-push", any()),
        rule("nDaysSinceLastPull", Some(3), "days-pull", any()),
        rule("always", None, "tags", json!([tags("matches", "v*", false)])),
        rule("always", None, "untagged", json!([tags("excludes", "dev*", true)])),
        rule("always", None, "labels", json!([tags("matches", "**", true), selector("label", "withLabels", "keep")])),
        rule(
            "always",
            None,
            "labels",
            json!([tags("matches", "l3", false), selector("label", "withoutLabels", "keep")]),
        ),
        rule("latestPushedK", Some(0), "immutable", any()),
        disabled,
    ];
    let id = create(&berth, ADMIN, policy(pid, rules, "")).await;

    let expected: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("pushed", &["k3", "k4"][..]),
        ("pulled", &["n3", "n4"]),
        ("days-push", &["dp2", "dp3"]),
        ("days-pull", &["dl2"]),
        ("tags", &["v1", "both"]),
        ("untagged", &["u-v1", "u-none"]),
        ("labels", &["labelled", "other-label"]),
        ("immutable", &["locked"]),
    ]);
    let everything = |repository: &str| -> BTreeSet<String> {
        pushed.by_name.values().filter(|(r, _)| r == repository).map(|(_, d)| d.clone()).collect()
    };
    let doomed: BTreeSet<String> = expected
        .iter()
        .flat_map(|(repository, kept)| {
            let kept = pushed.of(kept);
            everything(repository).into_iter().filter(move |d| !kept.contains(d))
        })
        .collect();

    // The dry run: every repository in scope a task, each log naming what would go; nothing goes.
    let (dry, dry_tasks) = run(&berth, id, true).await;
    assert_eq!(dry["status"], "Success", "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["trigger"], "MANUAL");
    let scoped: BTreeSet<&str> = dry_tasks.iter().map(|t| t["repository"].as_str().unwrap()).collect();
    let expected_scope: BTreeSet<String> = expected.keys().map(|r| format!("p/{r}")).collect();
    assert_eq!(scoped, expected_scope.iter().map(String::as_str).collect(), "`outside`: only a disabled rule");
    let mut would_go = BTreeSet::new();
    for task in &dry_tasks {
        assert_eq!(task["status"], "Success", "{task}");
        let log = task_log(&berth, id, &dry, task).await;
        if task["repository"] == "p/immutable" {
            assert!(log.contains("skipped, its tag \"locked\" is immutable"), "{log}");
        }
        for line in log.lines().filter(|l| l.contains("would be deleted")) {
            let digest = line.split('@').nth(1).unwrap().split(' ').next().unwrap();
            would_go.insert(digest.to_owned());
        }
        let repository = task["repository"].as_str().unwrap().strip_prefix("p/").unwrap();
        assert_eq!(task["total"], everything(repository).len(), "{task}");
    }
    for repository in expected.keys().chain(&["outside"]) {
        assert_eq!(digests(&berth, repository).await, everything(repository), "dry run deleted in {repository}");
    }
    assert_eq!(pushed.names(&would_go), pushed.names(&doomed));

    // The real run deletes exactly that; both skip the artifact with an immutable tag, and say so.
    let (real, tasks) = run(&berth, id, false).await;
    assert_eq!(real["status"], "Success", "{real}");
    assert_eq!(real["dry_run"], false);
    for (repository, kept) in &expected {
        assert_eq!(pushed.names(&digests(&berth, repository).await), pushed.names(&pushed.of(kept)), "in {repository}");
    }
    assert_eq!(digests(&berth, "outside").await, everything("outside"), "out of scope: untouched");
    let immutable_task = tasks.iter().find(|t| t["repository"] == "p/immutable").unwrap();
    assert_eq!((immutable_task["total"].as_i64(), immutable_task["retained"].as_i64()), (Some(2), Some(1)));
    let log = task_log(&berth, id, &real, immutable_task).await;
    assert!(log.contains("skipped, its tag \"locked\" is immutable"), "{log}");
    let pushed_task = tasks.iter().find(|t| t["repository"] == "p/pushed").unwrap();
    assert_eq!((pushed_task["total"].as_i64(), pushed_task["retained"].as_i64()), (Some(4), Some(2)));

    // The deletions are the retention job's, in the audit log.
    let audit = api(&berth, ADMIN, Method::GET, "/audit-logs?q=username%3Dretention-job&page_size=100", None).await;
    let records: Vec<Value> = audit.json().await.unwrap();
    assert_eq!(records.len(), doomed.len(), "one delete record per deleted artifact");
    assert!(records.iter().all(|r| r["operation"] == "delete" && r["resource_type"] == "artifact"));

    // Executions list newest first, with end times; a finished one stops without effect.
    let listed: Vec<Value> =
        api(&berth, ADMIN, Method::GET, &format!("/retentions/{id}/executions"), None).await.json().await.unwrap();
    assert_eq!(listed.iter().map(|e| e["id"].clone()).collect::<Vec<_>>(), [real["id"].clone(), dry["id"].clone()]);
    assert!(listed.iter().all(|e| !e["end_time"].as_str().unwrap().is_empty()));
    let stop = format!("/retentions/{id}/executions/{}", real["id"]);
    let r = api(&berth, ADMIN, Method::PATCH, &stop, Some(json!({"action": "stop"}))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = api(&berth, ADMIN, Method::PATCH, &stop, Some(json!({"action": "pause"}))).await;
    expect_error(r, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    let r = api(&berth, ADMIN, Method::GET, &format!("/retentions/{id}/executions/999999/tasks"), None).await;
    expect_error(r, StatusCode::NOT_FOUND, "NOT_FOUND").await;
}

#[tokio::test]
async fn policy_api_schedule_roles_and_bad_input() {
    let berth = TestApp::builder()
        .with_user(PROJECT_ADMIN.0, PROJECT_ADMIN.1)
        .with_user(MAINTAINER.0, MAINTAINER.1)
        .with_user(OUTSIDER.0, OUTSIDER.1)
        .with_project("p", false)
        .with_project("other", false)
        .with_member("p", PROJECT_ADMIN.0, 1)
        .with_member("p", MAINTAINER.0, 4)
        .start()
        .await;
    let pid = project_id(&berth, "p").await;
    let keep_three = || rule("latestPushedK", Some(3), "**", json!([tags("matches", "**", true)]));
    let anonymous = crate::support::http::Client::new();

    // Metadata: the five templates; anonymous callers are refused.
    let r = api(&berth, OUTSIDER, Method::GET, "/retentions/metadatas", None).await;
    let metadata: Value = r.json().await.unwrap();
    let templates: Vec<&str> =
        metadata["templates"].as_array().unwrap().iter().map(|t| t["rule_template"].as_str().unwrap()).collect();
    assert_eq!(templates, ["latestPushedK", "latestPulledN", "nDaysSinceLastPush", "nDaysSinceLastPull", "always"]);
    let r = anonymous.get(berth.url("/api/v2.0/retentions/metadatas")).send().await.unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;

    // Only project admins (and system administrators) create.
    let body = policy(pid, vec![keep_three()], "0 0 2 * * *");
    for who in [MAINTAINER, OUTSIDER] {
        let r = api(&berth, who, Method::POST, "/retentions", Some(body.clone())).await;
        expect_error(r, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    }
    let r = anonymous.post(berth.url("/api/v2.0/retentions")).json(&body).send().await.unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let id = create(&berth, PROJECT_ADMIN, body.clone()).await;
    let again = api(&berth, PROJECT_ADMIN, Method::POST, "/retentions", Some(body)).await;
    expect_error(again, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;

    // It reads back with its schedule and project, and the project is linked to it.
    let path = format!("/retentions/{id}");
    let read: Value = api(&berth, PROJECT_ADMIN, Method::GET, &path, None).await.json().await.unwrap();
    assert_eq!(read["id"], id);
    assert_eq!(read["algorithm"], "or");
    assert_eq!(read["trigger"]["settings"]["cron"], "0 0 2 * * *");
    assert_eq!(read["scope"], json!({"level": "project", "ref": pid}));
    assert_eq!(read["rules"][0]["params"]["latestPushedK"], 3);
    assert_eq!(read["rules"][0]["id"], 1);
    assert_eq!(berth.meta().project_retention_policy(pid).await.unwrap().unwrap().id, id);

    // Others may not read, change, run or delete it; an unknown id is 404.
    for who in [MAINTAINER, OUTSIDER] {
        for (method, suffix, body) in [
            (Method::GET, "", None),
            (Method::PUT, "", Some(read.clone())),
            (Method::DELETE, "", None),
            (Method::GET, "/executions", None),
        ] {
            let r = api(&berth, who, method, &format!("{path}{suffix}"), body).await;
            expect_error(r, StatusCode::FORBIDDEN, "FORBIDDEN").await;
        }
        // Harbor documents text for starting a run: its refusal is text too.
        let run = api(&berth, who, Method::POST, &format!("{path}/executions"), Some(json!({"dry_run": true}))).await;
        assert_eq!(run.status(), StatusCode::FORBIDDEN);
        assert!(run.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    }
    let r = anonymous.get(berth.url(&format!("/api/v2.0{path}"))).send().await.unwrap();
    expect_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let r = api(&berth, ADMIN, Method::GET, "/retentions/999999", None).await;
    expect_error(r, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    // A policy of a project the project admin does not administer.
    let other = create(&berth, ADMIN, policy(project_id(&berth, "other").await, vec![keep_three()], "")).await;
    let r = api(&berth, PROJECT_ADMIN, Method::GET, &format!("/retentions/{other}"), None).await;
    expect_error(r, StatusCode::FORBIDDEN, "FORBIDDEN").await;

    // Bad input: 400 with Harbor's error body, nothing changed.
    let one = |template: &str, param: Option<i64>, repository: &str, tag_selectors: Value| {
        policy(pid, vec![rule(template, param, repository, tag_selectors)], "")
    };
    let any = || json!([tags("matches", "**", true)]);
    let mut bad = vec![
        (policy(pid, vec![keep_three(); 16], ""), "at most 15"),
        (one("latestK", Some(3), "**", any()), "template"),
        (one("latestPushedK", Some(-1), "**", any()), "count"),
        (one("latestPushedK", None, "**", any()), "parameter"),
        (one("always", None, "{a", any()), "braces"),
        (one("always", None, "**", json!([selector("label", "matches", "x")])), "tag selector"),
        (policy(pid, vec![keep_three()], "*/5 * * * *"), "cron"),
    ];
    let mut algorithm = policy(pid, vec![keep_three()], "");
    algorithm["algorithm"] = json!("and");
    bad.push((algorithm, "algorithm"));
    for (body, words) in bad {
        let r = api(&berth, PROJECT_ADMIN, Method::PUT, &path, Some(body.clone())).await;
        let error = expect_error(r, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
        assert!(error["message"].as_str().unwrap().contains(words), "{error} lacks {words:?} for {body}");
    }
    let unchanged: Value = api(&berth, ADMIN, Method::GET, &path, None).await.json().await.unwrap();
    assert_eq!(unchanged, read);

    // The schedule changes with the policy, and goes with an empty cron.
    let body =
        policy(pid, vec![keep_three(), rule("always", None, "keep/**", json!([tags("matches", "**", true)]))], "");
    let r = api(&berth, PROJECT_ADMIN, Method::PUT, &path, Some(body)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let read: Value = api(&berth, PROJECT_ADMIN, Method::GET, &path, None).await.json().await.unwrap();
    assert_eq!(read["trigger"]["settings"]["cron"], "");
    assert_eq!(read["rules"].as_array().unwrap().len(), 2);

    // A project admin runs it; deleting it unlinks the project, which may then have another.
    let r =
        api(&berth, PROJECT_ADMIN, Method::POST, &format!("{path}/executions"), Some(json!({"dry_run": true}))).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = api(&berth, PROJECT_ADMIN, Method::DELETE, &path, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = api(&berth, PROJECT_ADMIN, Method::GET, &path, None).await;
    expect_error(r, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    assert!(berth.meta().project_retention_policy(pid).await.unwrap().is_none());
    create(&berth, PROJECT_ADMIN, policy(pid, vec![keep_three()], "")).await;
}

/// A policy's schedule starts runs: the housekeeping loop looks at once when the server starts.
#[tokio::test]
async fn a_schedule_starts_runs() {
    let mut berth = TestApp::builder().with_project("p", false).start().await;
    let pid = project_id(&berth, "p").await;
    let always = rule("always", None, "**", json!([tags("matches", "**", true)]));
    let id = create(&berth, ADMIN, policy(pid, vec![always], "* * * * * *")).await;
    berth.restart().await;
    let path = format!("/retentions/{id}/executions");
    for _ in 0..400 {
        let listed: Vec<Value> = api(&berth, ADMIN, Method::GET, &path, None).await.json().await.unwrap();
        if let Some(run) = listed.first() {
            assert_eq!((&run["trigger"], &run["dry_run"]), (&json!("SCHEDULE"), &json!(false)), "{run}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the schedule started no run");
}
