//! Tag immutability: Harbor's `/projects/{p}/immutabletagrules` API (its roles, paging and bad
//! input), and the refusals wherever a tag would move or go: a `/v2/` push, the API's tag, artifact
//! and repository deletes and its copy, and skopeo against the real binary.

use crate::support::clients::{Clients, require_tool};
use crate::support::layout::write_image;
use crate::support::registry::api_as as api;
use crate::support::registry::*;
use crate::support::{ADMIN, Berth, TestApp, random_bytes};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const MAINTAINER: (&str, &str) = ("maint", "Maintainer123");
const DEVELOPER: (&str, &str) = ("dev", "Developer123");
const GUEST: (&str, &str) = ("guest", "GuestUser123");

/// A rule body as Harbor's portal sends it.
fn rule(repository: (&str, &str), tag: (&str, &str)) -> Value {
    json!({
        "disabled": false,
        "action": "immutable",
        "template": "immutable_template",
        "params": {},
        "tag_selectors": [{"kind": "doublestar", "decoration": tag.0, "pattern": tag.1}],
        "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": repository.0, "pattern": repository.1}]},
    })
}

async fn create_rule(berth: &TestApp, project: &str, body: Value) -> i64 {
    let r = api(berth, ADMIN, Method::POST, &format!("/projects/{project}/immutabletagrules"), Some(body)).await;
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    r.headers()["location"].to_str().unwrap().rsplit('/').next().unwrap().parse().unwrap()
}

async fn rules(berth: &TestApp, project: &str) -> Vec<Value> {
    let r = api(berth, ADMIN, Method::GET, &format!("/projects/{project}/immutabletagrules?page_size=100"), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// Asserts a Harbor error body with `status` and `code` whose message contains `words`.
async fn refused(r: crate::support::http::Response, status: StatusCode, code: &str, words: &str) {
    assert_eq!(r.status(), status, "unexpected status for {}", r.url());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], code, "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains(words), "{body} lacks {words:?}");
}

#[tokio::test]
async fn rules_api_crud_paging_roles_and_bad_input() {
    let berth = TestApp::builder()
        .with_user(MAINTAINER.0, MAINTAINER.1)
        .with_user(DEVELOPER.0, DEVELOPER.1)
        .with_user(GUEST.0, GUEST.1)
        .with_project("p", false)
        .with_member("p", MAINTAINER.0, 4)
        .with_member("p", DEVELOPER.0, 2)
        .with_member("p", GUEST.0, 3)
        .with_project("other", false)
        .start()
        .await;
    let path = "/projects/p/immutabletagrules";

    // A maintainer creates a rule: 201 with its Location; it reads back in Harbor's shape.
    let r = api(&berth, MAINTAINER, Method::POST, path, Some(rule(("repoMatches", "**"), ("matches", "v*")))).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let id: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
    assert_eq!(location, format!("/api/v2.0/projects/p/immutabletagrules/{id}"));
    let listed = rules(&berth, "p").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["template"], "immutable_template");
    assert_eq!(listed[0]["action"], "immutable");
    assert_eq!(listed[0]["disabled"], false);
    assert_eq!(listed[0]["tag_selectors"][0]["pattern"], "v*");
    assert_eq!(listed[0]["scope_selectors"]["repository"][0]["decoration"], "repoMatches");
    // By the project's id, and by its name said to be one.
    let project_id = berth.meta().project_by_name("p").await.unwrap().unwrap().id;
    let by_id = api(&berth, ADMIN, Method::GET, &format!("/projects/{project_id}/immutabletagrules"), None).await;
    assert_eq!(by_id.json::<Vec<Value>>().await.unwrap().len(), 1);
    let by_name = crate::support::http::Client::new()
        .get(berth.url(&format!("/api/v2.0{path}")))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .header("X-Is-Resource-Name", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(by_name.status(), StatusCode::OK);

    // The same selectors again: 409, as Harbor.
    let again = api(&berth, MAINTAINER, Method::POST, path, Some(rule(("repoMatches", "**"), ("matches", "v*")))).await;
    refused(again, StatusCode::CONFLICT, "CONFLICT", "already exists").await;

    // Bad input: 400, nothing stored.
    let mut bad_bodies = vec![
        (rule(("repoMatches", "**"), ("sometimes", "v*")), "decoration"),
        (rule(("matches", "**"), ("matches", "v*")), "decoration"),
        (rule(("repoMatches", "**"), ("matches", "")), "empty"),
        (rule(("repoMatches", "{a,b"), ("matches", "v*")), "braces"),
        (rule(("repoMatches", "**"), ("matches", "[a-")), "'['"),
        (json!({"action": "immutable"}), "missing field"),
    ];
    for (field, value, words) in [
        ("template", json!("latestPushedK"), "template"),
        ("action", json!("retain"), "action"),
        ("params", json!({"latestPushedK": {}}), "params"),
    ] {
        let mut body = rule(("repoMatches", "**"), ("matches", "x"));
        body[field] = value;
        bad_bodies.push((body, words));
    }
    let mut regex = rule(("repoMatches", "**"), ("matches", "x"));
    regex["tag_selectors"][0]["kind"] = json!("regex");
    bad_bodies.push((regex, "kind"));
    let mut two = rule(("repoMatches", "**"), ("matches", "x"));
    two["tag_selectors"] = json!([two["tag_selectors"][0], two["tag_selectors"][0]]);
    bad_bodies.push((two, "exactly one tag selector"));
    let mut unscoped = rule(("repoMatches", "**"), ("matches", "x"));
    unscoped["scope_selectors"] = json!({});
    bad_bodies.push((unscoped, "exactly one repository selector"));
    let mut namespaced = rule(("repoMatches", "**"), ("matches", "x"));
    namespaced["scope_selectors"]["namespace"] = namespaced["scope_selectors"]["repository"].clone();
    bad_bodies.push((namespaced, "namespace"));
    for (body, words) in bad_bodies {
        let r = api(&berth, ADMIN, Method::POST, path, Some(body.clone())).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let e: Value = r.json().await.unwrap();
        assert!(e["errors"][0]["message"].as_str().unwrap().contains(words), "{e} lacks {words:?} for {body}");
    }
    let not_json = crate::support::http::Client::new()
        .post(berth.url(&format!("/api/v2.0{path}")))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    refused(not_json, StatusCode::BAD_REQUEST, "BAD_REQUEST", "").await;
    assert_eq!(rules(&berth, "p").await.len(), 1);

    // Roles: developers and guests may not even list them (Harbor's policy); anonymous is 401.
    for who in [DEVELOPER, GUEST] {
        let list = api(&berth, who, Method::GET, path, None).await;
        refused(list, StatusCode::FORBIDDEN, "FORBIDDEN", "").await;
        let create = api(&berth, who, Method::POST, path, Some(rule(("repoMatches", "a"), ("matches", "b")))).await;
        refused(create, StatusCode::FORBIDDEN, "FORBIDDEN", "").await;
        let delete = api(&berth, who, Method::DELETE, &format!("{path}/{id}"), None).await;
        refused(delete, StatusCode::FORBIDDEN, "FORBIDDEN", "").await;
    }
    let anonymous =
        crate::support::http::Client::new().get(berth.url(&format!("/api/v2.0{path}"))).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(rules(&berth, "p").await.len(), 1);

    // Paging, and Harbor's cap of 15 rules a project.
    for i in 1..15 {
        create_rule(&berth, "p", rule(("repoMatches", "**"), ("matches", &format!("release-{i}")))).await;
    }
    let first = api(&berth, ADMIN, Method::GET, &format!("{path}?page=1&page_size=10"), None).await;
    assert_eq!(first.headers()["x-total-count"], "15");
    let link = first.headers()["link"].to_str().unwrap().to_owned();
    assert!(link.contains("page=2&page_size=10") && link.contains("rel=\"next\""), "{link}");
    assert_eq!(first.json::<Vec<Value>>().await.unwrap().len(), 10);
    let second = api(&berth, ADMIN, Method::GET, &format!("{path}?page=2&page_size=10"), None).await;
    assert_eq!(second.json::<Vec<Value>>().await.unwrap().len(), 5);
    let sixteenth = api(&berth, ADMIN, Method::POST, path, Some(rule(("repoMatches", "**"), ("matches", "x")))).await;
    refused(sixteenth, StatusCode::BAD_REQUEST, "BAD_REQUEST", "at most 15").await;
    assert_eq!(rules(&berth, "p").await.len(), 15);

    // PUT: the path's id must be the body's; toggling `disabled` changes only that (Harbor's
    // controller); otherwise the selectors are replaced.
    let mut body = rule(("repoMatches", "app"), ("excludes", "dev-*"));
    body["id"] = json!(id + 1000);
    let mismatch = api(&berth, MAINTAINER, Method::PUT, &format!("{path}/{id}"), Some(body.clone())).await;
    refused(mismatch, StatusCode::BAD_REQUEST, "BAD_REQUEST", "doesn't match").await;
    body["id"] = json!(id);
    body["disabled"] = json!(true);
    let toggle = api(&berth, MAINTAINER, Method::PUT, &format!("{path}/{id}"), Some(body.clone())).await;
    assert_eq!(toggle.status(), StatusCode::OK);
    let now = rules(&berth, "p").await.into_iter().find(|r| r["id"] == id).unwrap();
    assert_eq!((now["disabled"].clone(), now["tag_selectors"][0]["pattern"].clone()), (json!(true), json!("v*")));
    let update = api(&berth, MAINTAINER, Method::PUT, &format!("{path}/{id}"), Some(body.clone())).await;
    assert_eq!(update.status(), StatusCode::OK);
    let now = rules(&berth, "p").await.into_iter().find(|r| r["id"] == id).unwrap();
    assert_eq!(now["tag_selectors"][0], json!({"kind": "doublestar", "decoration": "excludes", "pattern": "dev-*"}));
    assert_eq!(now["scope_selectors"]["repository"][0]["pattern"], "app");
    body["tag_selectors"][0]["pattern"] = json!("{oops");
    let bad = api(&berth, MAINTAINER, Method::PUT, &format!("{path}/{id}"), Some(body)).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let mut renamed = rule(("repoMatches", "**"), ("matches", "release-1"));
    renamed["id"] = json!(id);
    renamed["disabled"] = json!(true);
    let clash = api(&berth, MAINTAINER, Method::PUT, &format!("{path}/{id}"), Some(renamed)).await;
    assert_eq!(clash.status(), StatusCode::CONFLICT);

    // A rule of another project, or none: 404; a delete removes it once.
    let missing = api(&berth, ADMIN, Method::DELETE, &format!("/projects/other/immutabletagrules/{id}"), None).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let gone = api(&berth, MAINTAINER, Method::DELETE, &format!("{path}/{id}"), None).await;
    assert_eq!(gone.status(), StatusCode::OK);
    let again = api(&berth, MAINTAINER, Method::DELETE, &format!("{path}/{id}"), None).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    assert_eq!(rules(&berth, "p").await.len(), 14);

    // Each change is in the project's audit log.
    let logs: Vec<Value> =
        api(&berth, ADMIN, Method::GET, "/projects/p/logs?page_size=100", None).await.json().await.unwrap();
    let operations: Vec<&str> = logs
        .iter()
        .filter(|l| l["resource_type"] == "immutable_rule")
        .map(|l| l["operation"].as_str().unwrap())
        .collect();
    for op in ["create", "disable", "update", "delete"] {
        assert!(operations.contains(&op), "no {op} in {operations:?}");
    }
}

/// The tags of the artifacts `path` lists as `name=immutable`, sorted.
async fn immutable_tags(berth: &TestApp, path: &str) -> Vec<String> {
    let artifacts: Vec<Value> = api(berth, ADMIN, Method::GET, path, None).await.json().await.unwrap();
    let mut tags: Vec<String> = artifacts
        .iter()
        .flat_map(|a| a["tags"].as_array().cloned().unwrap_or_default())
        .map(|t| format!("{}={}", t["name"].as_str().unwrap(), t["immutable"]))
        .collect();
    tags.sort();
    tags
}

#[tokio::test]
async fn immutable_tags_cannot_move_or_go() {
    let berth = TestApp::start().await;
    berth.create_project("p", false).await;
    berth.create_project("src", false).await;
    let r = Registry::new(berth.url(""));
    let (_, a) = r.push_image("p/app", "v1", &random_bytes(500, 1)).await;
    r.push_image("p/app", "dev", &random_bytes(500, 2)).await;
    r.push_image("p/lib", "v1", &random_bytes(500, 3)).await;
    let rule_id = create_rule(&berth, "p", rule(("repoMatches", "app"), ("matches", "v*"))).await;
    // Tags say whether a rule protects them (Harbor's `immutable`), in tag and artifact listings.
    assert_eq!(immutable_tags(&berth, "/projects/p/repositories/app/artifacts").await, ["dev=false", "v1=true"]);
    assert_eq!(immutable_tags(&berth, "/projects/p/artifacts").await, ["dev=false", "v1=false", "v1=true"]);
    let tags = api(&berth, ADMIN, Method::GET, "/projects/p/repositories/app/artifacts/v1/tags", None).await;
    assert_eq!(tags.json::<Value>().await.unwrap()[0]["immutable"], true);

    // Moving v1 to other content is refused with Harbor's words; v1 still names A.
    let (config, manifest) = one_layer_image(&random_bytes(500, 4));
    r.push_blob("p/app", &config).await;
    r.push_blob("p/app", &random_bytes(500, 4)).await;
    let moved = r.put_manifest("p/app", "v1", OCI_MANIFEST, &manifest).await;
    let e = expect_error(moved, StatusCode::PRECONDITION_FAILED, "PRECONDITION").await;
    assert_eq!(e["message"], "Failed to process request due to 'app:v1' configured as immutable.");
    let head = r.http.head(r.url("/v2/p/app/manifests/v1")).send().await.unwrap();
    assert_eq!(head.headers()["docker-content-digest"], a.as_str());
    // The same content again, a first push of a matching tag, and tags no rule selects are fine.
    r.push_image("p/app", "v1", &random_bytes(500, 1)).await;
    assert_eq!(r.put_manifest("p/app", "v2", OCI_MANIFEST, &manifest).await.status(), StatusCode::CREATED);
    assert_eq!(r.put_manifest("p/app", "dev", OCI_MANIFEST, &manifest).await.status(), StatusCode::CREATED);
    r.push_image("p/lib", "v1", &random_bytes(500, 5)).await;

    // Deleting the tag, its artifact or the repository: 412 through the API and /v2/.
    let tag_delete =
        api(&berth, ADMIN, Method::DELETE, "/projects/p/repositories/app/artifacts/v1/tags/v1", None).await;
    refused(
        tag_delete,
        StatusCode::PRECONDITION_FAILED,
        "PRECONDITION",
        "the tag v1 configured as immutable, cannot be deleted",
    )
    .await;
    let artifact_delete =
        api(&berth, ADMIN, Method::DELETE, &format!("/projects/p/repositories/app/artifacts/{a}"), None).await;
    refused(
        artifact_delete,
        StatusCode::PRECONDITION_FAILED,
        "PRECONDITION",
        "configured as immutable, cannot be deleted",
    )
    .await;
    let repository_delete = api(&berth, ADMIN, Method::DELETE, "/projects/p/repositories/app", None).await;
    refused(repository_delete, StatusCode::PRECONDITION_FAILED, "PRECONDITION", "configured as immutable").await;
    for reference in ["v1", a.as_str()] {
        let d = r.http.delete(r.url(&format!("/v2/p/app/manifests/{reference}"))).send().await.unwrap();
        let e = expect_error(d, StatusCode::PRECONDITION_FAILED, "PRECONDITION").await;
        assert!(e["message"].as_str().unwrap().contains("configured as immutable, cannot be deleted"), "{e}");
    }
    assert_eq!(r.get("/v2/p/app/manifests/v1").await.status(), StatusCode::OK);
    // Another tag of the same artifact can go.
    let tag = api(
        &berth,
        ADMIN,
        Method::POST,
        "/projects/p/repositories/app/artifacts/v1/tags",
        Some(json!({"name": "extra"})),
    )
    .await;
    assert_eq!(tag.status(), StatusCode::CREATED);
    let extra = api(&berth, ADMIN, Method::DELETE, "/projects/p/repositories/app/artifacts/v1/tags/extra", None).await;
    assert_eq!(extra.status(), StatusCode::OK);

    // Copying another artifact onto v1 is refused (Harbor's "cannot be updated").
    r.push_image("src/app", "v1", &random_bytes(500, 6)).await;
    let copy = api(&berth, ADMIN, Method::POST, "/projects/p/repositories/app/artifacts?from=src/app:v1", None).await;
    refused(
        copy,
        StatusCode::PRECONDITION_FAILED,
        "PRECONDITION",
        "the tag v1 configured as immutable, cannot be updated",
    )
    .await;
    let head = r.http.head(r.url("/v2/p/app/manifests/v1")).send().await.unwrap();
    assert_eq!(head.headers()["docker-content-digest"], a.as_str());

    // Disabled, the rule does nothing.
    let mut off = rule(("repoMatches", "app"), ("matches", "v*"));
    off["id"] = json!(rule_id);
    off["disabled"] = json!(true);
    let put = api(&berth, ADMIN, Method::PUT, &format!("/projects/p/immutabletagrules/{rule_id}"), Some(off)).await;
    assert_eq!(put.status(), StatusCode::OK);
    let tag_delete =
        api(&berth, ADMIN, Method::DELETE, "/projects/p/repositories/app/artifacts/v1/tags/v1", None).await;
    assert_eq!(tag_delete.status(), StatusCode::OK);

    // An excluding tag selector protects everything else.
    create_rule(&berth, "p", rule(("repoExcludes", "app"), ("excludes", "dev-*"))).await;
    r.push_image("p/lib", "dev-1", &random_bytes(500, 7)).await;
    r.push_image("p/lib", "dev-1", &random_bytes(500, 8)).await;
    r.push_blob("p/lib", &config).await;
    r.push_blob("p/lib", &random_bytes(500, 4)).await;
    let lib = r.put_manifest("p/lib", "v1", OCI_MANIFEST, &manifest).await;
    expect_error(lib, StatusCode::PRECONDITION_FAILED, "PRECONDITION").await;
}

/// skopeo pushing onto an immutable tag sees Harbor's refusal; the same image again is fine.
#[test]
fn skopeo_cannot_overwrite_an_immutable_tag() {
    require_tool("skopeo");
    let berth = Berth::start();
    let host = berth.host();
    berth.create_project("proj", false);
    let clients = Clients::with_creds(ADMIN);
    let first = write_image(&clients.path("first"), "v1", 1, 4096, 11);
    let second = write_image(&clients.path("second"), "v1", 1, 4096, 12);
    clients.push_layout(&first, &host, "proj/app:v1");
    let body = rule(("repoMatches", "**"), ("matches", "v*")).to_string();
    let (status, text) = berth.api("POST", "/projects/proj/immutabletagrules", Some(ADMIN), Some(&body));
    assert_eq!(status, 201, "{text}");

    let refusal = clients.push_layout_as(&second, &host, "proj/app:v1", clients.creds()).unwrap_err();
    assert!(refusal.contains("configured as immutable"), "skopeo said: {refusal}");
    clients.push_layout(&first, &host, "proj/app:v1");
    let info = clients.inspect_json(&host, "proj/app:v1");
    assert_eq!(info["Digest"], first.manifest_digest.as_str(), "{info}");
}
