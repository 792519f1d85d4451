//! Labels and project metadata, in process: Harbor's `/labels` (global and project labels, each
//! role's rights, duplicates, bad input), labels on artifacts (`with_label`, `q=labels=`, what
//! goes with a label, an artifact or a project) and `/projects/{p}/metadatas`, with the audit
//! events each change writes.

use crate::support::http::{Client, Response};
use crate::support::registry::api_as as api;
use crate::support::registry::*;
use crate::support::{ADMIN, TestApp, random_bytes};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PROJECT_ADMIN: (&str, &str) = ("padmin", "ProjectAdmin123");
const MAINTAINER: (&str, &str) = ("maint", "Maintainer123");
const DEVELOPER: (&str, &str) = ("dev", "Developer123");
const GUEST: (&str, &str) = ("guest", "GuestUser123");
/// The project admin of another project, `q`.
const OUTSIDER: (&str, &str) = ("outsider", "Outsider1234");

/// Project `p` with a member of each role, and `q`, administered by [`OUTSIDER`].
async fn start() -> TestApp {
    TestApp::builder()
        .with_user(PROJECT_ADMIN.0, PROJECT_ADMIN.1)
        .with_user(MAINTAINER.0, MAINTAINER.1)
        .with_user(DEVELOPER.0, DEVELOPER.1)
        .with_user(GUEST.0, GUEST.1)
        .with_user(OUTSIDER.0, OUTSIDER.1)
        .with_project("p", false)
        .with_member("p", PROJECT_ADMIN.0, 1)
        .with_member("p", MAINTAINER.0, 4)
        .with_member("p", DEVELOPER.0, 2)
        .with_member("p", GUEST.0, 3)
        .with_project("q", false)
        .with_member("q", OUTSIDER.0, 1)
        .start()
        .await
}

async fn anonymous(berth: &TestApp, method: Method, path: &str) -> Response {
    Client::new().request(method, berth.url(&format!("/api/v2.0{path}"))).send().await.unwrap()
}

async fn project_id(berth: &TestApp, name: &str) -> i64 {
    berth.meta().project_by_name(name).await.unwrap().unwrap().id
}

/// Creates a label as `who`; its id, from the `Location`.
async fn create_label(berth: &TestApp, who: (&str, &str), body: Value) -> i64 {
    let r = api(berth, who, Method::POST, "/labels", Some(body)).await;
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let id = location.rsplit('/').next().unwrap().parse().unwrap();
    assert_eq!(location, format!("/api/v2.0/labels/{id}"));
    id
}

/// The names of a label listing as `who` sees it.
async fn label_names(berth: &TestApp, who: (&str, &str), query: &str) -> Vec<String> {
    let r = api(berth, who, Method::GET, &format!("/labels?{query}"), None).await;
    assert_eq!(r.status(), StatusCode::OK, "{query}");
    let labels: Vec<Value> = r.json().await.unwrap();
    labels.iter().map(|l| l["name"].as_str().unwrap().to_owned()).collect()
}

/// The operations of the project's (or, for "", the whole) audit log on `resource_type`.
async fn operations(berth: &TestApp, project: &str, resource_type: &str) -> Vec<String> {
    let path = match project {
        "" => "/audit-logs?page_size=100".to_owned(),
        p => format!("/projects/{p}/logs?page_size=100"),
    };
    let logs: Vec<Value> = api(berth, ADMIN, Method::GET, &path, None).await.json().await.unwrap();
    logs.iter()
        .filter(|l| l["resource_type"] == resource_type)
        .map(|l| l["operation"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn labels_crud_with_each_role_duplicates_and_bad_input() {
    let berth = start().await;
    let (p, q) = (project_id(&berth, "p").await, project_id(&berth, "q").await);

    // Global labels: system administrators only; everyone reads them, as in Harbor.
    let global = json!({"name": "prod", "description": "in production", "color": "#00AA33", "scope": "g"});
    let g = create_label(&berth, ADMIN, global.clone()).await;
    let read: Value = anonymous(&berth, Method::GET, &format!("/labels/{g}")).await.json().await.unwrap();
    assert_eq!(
        (read["name"].clone(), read["scope"].clone(), read["project_id"].clone()),
        (json!("prod"), json!("g"), json!(0))
    );
    assert_eq!((read["color"].clone(), read["description"].clone()), (json!("#00AA33"), json!("in production")));
    assert!(read["creation_time"].as_str().unwrap().ends_with('Z'), "{read}");
    expect_error(
        api(&berth, PROJECT_ADMIN, Method::POST, "/labels", Some(global.clone())).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    )
    .await;
    expect_error(anonymous(&berth, Method::POST, "/labels").await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    expect_error(api(&berth, ADMIN, Method::POST, "/labels", Some(global)).await, StatusCode::CONFLICT, "CONFLICT")
        .await;

    // Project labels: the project's admins and maintainers; not developers, guests, another
    // project's admin or anonymous callers.
    let in_p = |name: &str| json!({"name": name, "color": "#123abc", "scope": "p", "project_id": p});
    create_label(&berth, PROJECT_ADMIN, in_p("team")).await;
    let mine = create_label(&berth, MAINTAINER, in_p("mine")).await;
    for who in [DEVELOPER, GUEST, OUTSIDER] {
        let r = api(&berth, who, Method::POST, "/labels", Some(in_p("nope"))).await;
        expect_error(r, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    }
    // The same name in another scope or project is another label; in the same one, 409.
    create_label(&berth, MAINTAINER, in_p("prod")).await;
    create_label(&berth, OUTSIDER, json!({"name": "team", "scope": "p", "project_id": q})).await;
    expect_error(
        api(&berth, ADMIN, Method::POST, "/labels", Some(in_p("team"))).await,
        StatusCode::CONFLICT,
        "CONFLICT",
    )
    .await;

    // Bad input: 400 (404 for a project that does not exist), nothing stored.
    let long = "x".repeat(129);
    for (body, words) in [
        (json!({"name": "", "scope": "g"}), "empty"),
        (json!({"name": "  ", "scope": "g"}), "empty"),
        (json!({"name": long, "scope": "g"}), "too long"),
        (json!({"name": "c", "scope": "g", "color": "red"}), "#RRGGBB"),
        (json!({"name": "c", "scope": "g", "color": "#12345g"}), "#RRGGBB"),
        (json!({"name": "c", "scope": "x"}), "invalid scope"),
        (json!({"name": "c"}), "invalid scope"),
        (json!({"name": "c", "scope": "p"}), "project_id"),
        (json!({"name": 5, "scope": "g"}), ""),
    ] {
        let e = expect_error(
            api(&berth, ADMIN, Method::POST, "/labels", Some(body.clone())).await,
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
        )
        .await;
        assert!(e["message"].as_str().unwrap().contains(words), "{e} lacks {words:?} for {body}");
    }
    let unknown =
        api(&berth, ADMIN, Method::POST, "/labels", Some(json!({"name": "c", "scope": "p", "project_id": 999}))).await;
    expect_error(unknown, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    assert_eq!(label_names(&berth, ADMIN, "scope=g").await, ["prod"]);
    assert_eq!(label_names(&berth, ADMIN, &format!("scope=p&project_id={p}")).await, ["mine", "prod", "team"]);

    // Listing: by scope (required), a project's for its members only, by name, paged.
    assert_eq!(label_names(&berth, GUEST, &format!("scope=p&project_id={p}&name=ea")).await, ["team"]);
    assert_eq!(label_names(&berth, GUEST, &format!("scope=p&project_id={p}&q=name%3D~i")).await, ["mine"]);
    let anon_global: Vec<Value> = anonymous(&berth, Method::GET, "/labels?scope=g").await.json().await.unwrap();
    assert_eq!(anon_global.len(), 1);
    let paged =
        api(&berth, GUEST, Method::GET, &format!("/labels?scope=p&project_id={p}&page=1&page_size=2"), None).await;
    assert_eq!(paged.headers()["x-total-count"], "3");
    let link = paged.headers()["link"].to_str().unwrap().to_owned();
    assert!(
        link.contains("scope=p") && link.contains(&format!("project_id={p}")) && link.contains("rel=\"next\""),
        "{link}"
    );
    let others = api(&berth, OUTSIDER, Method::GET, &format!("/labels?scope=p&project_id={p}"), None).await;
    expect_error(others, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    let anon = anonymous(&berth, Method::GET, &format!("/labels?scope=p&project_id={p}")).await;
    expect_error(anon, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    for query in ["", "scope=z", "scope=p", "scope=p&project_id=0", "scope=g&sort=color", "scope=g&q=color%3Dred"] {
        let r = api(&berth, ADMIN, Method::GET, &format!("/labels?{query}"), None).await;
        expect_error(r, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    }

    // Reading one: a project label for the project's members.
    assert_eq!(api(&berth, GUEST, Method::GET, &format!("/labels/{mine}"), None).await.status(), StatusCode::OK);
    let r = api(&berth, OUTSIDER, Method::GET, &format!("/labels/{mine}"), None).await;
    expect_error(r, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    for missing in ["999999", "nope"] {
        let r = api(&berth, ADMIN, Method::GET, &format!("/labels/{missing}"), None).await;
        expect_error(r, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    }

    // Changing: name, description and colour; scope and project stay.
    let change = json!({"name": "ours", "description": "d", "color": "#FFFFFF", "scope": "g", "project_id": 0});
    for who in [DEVELOPER, OUTSIDER] {
        let r = api(&berth, who, Method::PUT, &format!("/labels/{mine}"), Some(change.clone())).await;
        expect_error(r, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    }
    assert_eq!(
        api(&berth, MAINTAINER, Method::PUT, &format!("/labels/{mine}"), Some(change)).await.status(),
        StatusCode::OK
    );
    let read: Value = api(&berth, GUEST, Method::GET, &format!("/labels/{mine}"), None).await.json().await.unwrap();
    assert_eq!(
        (read["name"].clone(), read["scope"].clone(), read["project_id"].clone()),
        (json!("ours"), json!("p"), json!(p))
    );
    let clash = api(&berth, MAINTAINER, Method::PUT, &format!("/labels/{mine}"), Some(json!({"name": "team"}))).await;
    expect_error(clash, StatusCode::CONFLICT, "CONFLICT").await;
    let bad =
        api(&berth, MAINTAINER, Method::PUT, &format!("/labels/{mine}"), Some(json!({"name": "x", "color": "#12"})))
            .await;
    expect_error(bad, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    let global_by_project_admin =
        api(&berth, PROJECT_ADMIN, Method::PUT, &format!("/labels/{g}"), Some(json!({"name": "x"}))).await;
    expect_error(global_by_project_admin, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    assert_eq!(label_names(&berth, ADMIN, "scope=g").await, ["prod"]);

    // Deleting.
    let r = api(&berth, DEVELOPER, Method::DELETE, &format!("/labels/{mine}"), None).await;
    expect_error(r, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    assert_eq!(
        api(&berth, MAINTAINER, Method::DELETE, &format!("/labels/{mine}"), None).await.status(),
        StatusCode::OK
    );
    let again = api(&berth, MAINTAINER, Method::DELETE, &format!("/labels/{mine}"), None).await;
    expect_error(again, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let r = api(&berth, PROJECT_ADMIN, Method::DELETE, &format!("/labels/{g}"), None).await;
    expect_error(r, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    assert_eq!(api(&berth, ADMIN, Method::DELETE, &format!("/labels/{g}"), None).await.status(), StatusCode::OK);

    // Each change has its event: project labels in the project's log, global ones in the log.
    assert_eq!(operations(&berth, "p", "label").await.len(), 5, "team, mine, prod created; mine updated and deleted");
    let all = operations(&berth, "", "label").await;
    for op in ["create", "update", "delete"] {
        assert!(all.iter().any(|o| o == op), "no {op} in {all:?}");
    }
}

/// The digests of a listing's artifacts, and the label names of each, by digest.
async fn labelled(berth: &TestApp, path: &str) -> Vec<(String, Vec<String>)> {
    let r = api(berth, DEVELOPER, Method::GET, path, None).await;
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    let artifacts: Vec<Value> = r.json().await.unwrap();
    let mut found: Vec<(String, Vec<String>)> = artifacts
        .iter()
        .map(|a| {
            let names = a["labels"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap().to_owned());
            (a["digest"].as_str().unwrap().to_owned(), names.collect())
        })
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn labels_on_artifacts_filters_and_cascades() {
    let berth = start().await;
    let (p, q) = (project_id(&berth, "p").await, project_id(&berth, "q").await);
    let r = Registry::new(berth.url(""));
    let (_, v1) = r.push_image("p/app", "v1", &random_bytes(300, 1)).await;
    let (_, v2) = r.push_image("p/app", "v2", &random_bytes(300, 2)).await;
    let (_, lib) = r.push_image("p/lib", "v1", &random_bytes(300, 3)).await;
    let g = create_label(&berth, ADMIN, json!({"name": "global", "scope": "g"})).await;
    let blue =
        create_label(&berth, ADMIN, json!({"name": "blue", "color": "#0000ff", "scope": "p", "project_id": p})).await;
    let red = create_label(&berth, ADMIN, json!({"name": "red", "scope": "p", "project_id": p})).await;
    let theirs = create_label(&berth, ADMIN, json!({"name": "theirs", "scope": "p", "project_id": q})).await;
    let labels_of = |reference: &str| format!("/projects/p/repositories/app/artifacts/{reference}/labels");
    let app = &berth;

    // Developers put labels on artifacts (by tag or digest); guests may not; once only.
    let add = |who, reference: &str, id: i64| {
        let path = labels_of(reference);
        async move { api(app, who, Method::POST, &path, Some(json!({"id": id}))).await }
    };
    assert_eq!(add(DEVELOPER, "v1", g).await.status(), StatusCode::OK);
    assert_eq!(add(DEVELOPER, &v1, blue).await.status(), StatusCode::OK);
    assert_eq!(add(MAINTAINER, "v2", blue).await.status(), StatusCode::OK);
    assert_eq!(add(DEVELOPER, "v2", red).await.status(), StatusCode::OK);
    expect_error(add(DEVELOPER, "v1", g).await, StatusCode::CONFLICT, "CONFLICT").await;
    expect_error(add(GUEST, "v1", red).await, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    expect_error(add(OUTSIDER, "v1", red).await, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    // Another project's label, a label or an artifact that does not exist, a body without one.
    let e = expect_error(add(DEVELOPER, "v1", theirs).await, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    assert!(e["message"].as_str().unwrap().contains("another project"), "{e}");
    expect_error(add(DEVELOPER, "v1", 999_999).await, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    expect_error(add(DEVELOPER, "nope", g).await, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let no_body = api(&berth, DEVELOPER, Method::POST, &labels_of("v1"), Some(json!({"id": "x"}))).await;
    expect_error(no_body, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    let anon = anonymous(&berth, Method::POST, &labels_of("v1")).await;
    expect_error(anon, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;

    // `with_label=true` shows them, by name; without, none.
    let listing = "/projects/p/repositories/app/artifacts";
    let both = vec![
        (v1.clone(), vec!["blue".to_owned(), "global".to_owned()]),
        (v2.clone(), vec!["blue".to_owned(), "red".to_owned()]),
    ];
    let mut expected = both.clone();
    expected.sort();
    assert_eq!(labelled(&berth, &format!("{listing}?with_label=true")).await, expected);
    assert!(labelled(&berth, listing).await.iter().all(|(_, names)| names.is_empty()));
    let one: Value =
        api(&berth, GUEST, Method::GET, &format!("{listing}/v1?with_label=true"), None).await.json().await.unwrap();
    assert_eq!(one["labels"][0]["name"], "blue");
    assert_eq!(one["labels"][0]["color"], "#0000ff");
    assert_eq!(one["labels"][1]["scope"], "g");

    // `q=labels=`: one id, or all of a list, in a repository or the whole project.
    let digests = |found: Vec<(String, Vec<String>)>| found.into_iter().map(|(d, _)| d).collect::<Vec<_>>();
    let mut v1_v2 = vec![v1.clone(), v2.clone()];
    v1_v2.sort();
    assert_eq!(digests(labelled(&berth, &format!("{listing}?q=labels%3D{blue}")).await), v1_v2);
    assert_eq!(
        digests(labelled(&berth, &format!("{listing}?q=labels%3D({blue}%20{g})")).await),
        std::slice::from_ref(&v1)
    );
    assert_eq!(digests(labelled(&berth, &format!("{listing}?q=labels%3D({red}%20{g})")).await), Vec::<String>::new());
    let filtered =
        api(&berth, DEVELOPER, Method::GET, &format!("/projects/p/artifacts?q=labels%3D{red}&with_label=true"), None)
            .await;
    assert_eq!(filtered.headers()["x-total-count"], "1");
    let filtered: Vec<Value> = filtered.json().await.unwrap();
    assert_eq!(
        (filtered[0]["digest"].as_str().unwrap(), filtered[0]["labels"].as_array().unwrap().len()),
        (v2.as_str(), 2)
    );
    let paged = api(&berth, DEVELOPER, Method::GET, &format!("{listing}?q=labels%3D{blue}&page_size=1"), None).await;
    assert_eq!(paged.headers()["x-total-count"], "2");
    assert!(paged.headers()["link"].to_str().unwrap().contains("q=labels"), "the next page keeps the filter");
    for bad in ["labels%3D%7B1%202%7D", "labels%3Dx", "labels%3D(1%20x)", "tags%3Dv1"] {
        let r = api(&berth, DEVELOPER, Method::GET, &format!("{listing}?q={bad}"), None).await;
        expect_error(r, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    }

    // Taking one off: developers, once.
    let remove = |who, reference: &str, id: i64| {
        let path = format!("{}/{id}", labels_of(reference));
        async move { api(app, who, Method::DELETE, &path, None).await }
    };
    expect_error(remove(GUEST, "v2", red).await, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    assert_eq!(remove(DEVELOPER, "v2", red).await.status(), StatusCode::OK);
    expect_error(remove(DEVELOPER, "v2", red).await, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    expect_error(remove(DEVELOPER, "v2", 999_999).await, StatusCode::NOT_FOUND, "NOT_FOUND").await;

    // A deleted label leaves every artifact; a deleted artifact takes its labels along (pushed
    // again, it carries none); a deleted project takes its labels along.
    assert_eq!(api(&berth, ADMIN, Method::DELETE, &format!("/labels/{blue}"), None).await.status(), StatusCode::OK);
    let expected = vec![(v1.clone(), vec!["global".to_owned()]), (v2.clone(), Vec::new())];
    let mut sorted = expected.clone();
    sorted.sort();
    assert_eq!(labelled(&berth, &format!("{listing}?with_label=true")).await, sorted);
    assert_eq!(api(&berth, ADMIN, Method::DELETE, &format!("{listing}/{v1}"), None).await.status(), StatusCode::OK);
    r.push_image("p/app", "v1", &random_bytes(300, 1)).await;
    let again: Value =
        api(&berth, DEVELOPER, Method::GET, &format!("{listing}/v1?with_label=true"), None).await.json().await.unwrap();
    assert_eq!((again["digest"].as_str().unwrap(), again["labels"].clone()), (v1.as_str(), json!([])));
    assert!(labelled(&berth, &format!("/projects/p/artifacts?q=labels%3D{g}")).await.is_empty());
    assert_eq!(api(&berth, ADMIN, Method::DELETE, "/projects/q", None).await.status(), StatusCode::OK);
    let gone = api(&berth, ADMIN, Method::GET, &format!("/labels/{theirs}"), None).await;
    expect_error(gone, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    // The other repository never carried any.
    assert_eq!(labelled(&berth, "/projects/p/repositories/lib/artifacts?with_label=true").await, [(lib, Vec::new())]);

    // Every put-on and take-off is in the project's audit log.
    let ops = operations(&berth, "p", "artifact_label").await;
    assert_eq!(ops.iter().filter(|o| *o == "create").count(), 4, "{ops:?}");
    assert_eq!(ops.iter().filter(|o| *o == "delete").count(), 1, "{ops:?}");
}

/// The metadata of project `p` as `who` reads it.
async fn metadata(berth: &TestApp, who: (&str, &str), project: &str) -> Value {
    let r = api(berth, who, Method::GET, &format!("/projects/{project}/metadatas"), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

#[tokio::test]
async fn project_metadata_endpoints_names_values_and_roles() {
    let berth = start().await;
    let path = "/projects/p/metadatas";
    let app = &berth;

    // Every member reads it; others are refused as Harbor refuses them.
    assert_eq!(metadata(&berth, GUEST, "p").await, json!({"public": "false"}));
    let with_slash = api(&berth, GUEST, Method::GET, &format!("{path}/"), None).await;
    assert_eq!(with_slash.json::<Value>().await.unwrap(), json!({"public": "false"}));
    expect_error(api(&berth, OUTSIDER, Method::GET, path, None).await, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    expect_error(anonymous(&berth, Method::GET, path).await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;

    // Adding: project admins, one name at a time, values as Harbor reads them.
    let post = |who, body: Value| async move { api(app, who, Method::POST, path, Some(body)).await };
    assert_eq!(post(PROJECT_ADMIN, json!({"auto_scan": "1"})).await.status(), StatusCode::OK);
    assert_eq!(post(ADMIN, json!({"severity": "High"})).await.status(), StatusCode::OK);
    assert_eq!(post(ADMIN, json!({"proxy_speed_kb": "-1"})).await.status(), StatusCode::OK);
    assert_eq!(
        metadata(&berth, GUEST, "p").await,
        json!({"auto_scan": "true", "proxy_speed_kb": "-1", "public": "false", "severity": "high"})
    );
    let project: Value = api(&berth, GUEST, Method::GET, "/projects/p", None).await.json().await.unwrap();
    assert_eq!(
        project["metadata"],
        json!({"auto_scan": "true", "proxy_speed_kb": "-1", "public": "false", "severity": "high"})
    );
    for who in [MAINTAINER, DEVELOPER, GUEST] {
        expect_error(post(who, json!({"prevent_vul": "true"})).await, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    }
    expect_error(post(ADMIN, json!({"auto_scan": "false"})).await, StatusCode::CONFLICT, "CONFLICT").await;
    expect_error(post(ADMIN, json!({"public": "true"})).await, StatusCode::CONFLICT, "CONFLICT").await;
    for (body, words) in [
        (json!({"colour": "blue"}), "invalid project metadata name"),
        (json!({"prevent_vul": "yes"}), "invalid value"),
        (json!({"enable_content_trust": ""}), "invalid value"),
        (json!({"reuse_sys_cve_allowlist": "true", "prevent_vul": "true"}), "exactly one"),
        (json!({}), "exactly one"),
        (json!({"retention_id": "3"}), "tag retention"),
        (json!({"proxy_speed_kb": "fast"}), "invalid value"),
        (json!({"proxy_speed_kb": "-2"}), "invalid value"),
        (json!({"proxy_speed_kb": "99999999999"}), "invalid value"),
        (json!({"prevent_vul": true}), ""),
    ] {
        let e = expect_error(post(ADMIN, body.clone()).await, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
        assert!(e["message"].as_str().unwrap().contains(words), "{e} lacks {words:?} for {body}");
    }

    // Reading one, changing one that is set, removing one.
    let one = api(&berth, GUEST, Method::GET, &format!("{path}/severity"), None).await;
    assert_eq!(one.json::<Value>().await.unwrap(), json!({"severity": "high"}));
    let unset = api(&berth, GUEST, Method::GET, &format!("{path}/prevent_vul"), None).await;
    expect_error(unset, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let put = |who, name: &str, body: Value| {
        let path = format!("{path}/{name}");
        async move { api(app, who, Method::PUT, &path, Some(body)).await }
    };
    assert_eq!(put(PROJECT_ADMIN, "severity", json!({"severity": "LOW"})).await.status(), StatusCode::OK);
    expect_error(put(MAINTAINER, "severity", json!({"severity": "high"})).await, StatusCode::FORBIDDEN, "FORBIDDEN")
        .await;
    expect_error(put(ADMIN, "severity", json!({"severity": "urgent"})).await, StatusCode::BAD_REQUEST, "BAD_REQUEST")
        .await;
    expect_error(put(ADMIN, "severity", json!({"auto_scan": "true"})).await, StatusCode::BAD_REQUEST, "BAD_REQUEST")
        .await;
    expect_error(put(ADMIN, "prevent_vul", json!({"prevent_vul": "true"})).await, StatusCode::NOT_FOUND, "NOT_FOUND")
        .await;
    let delete = |who, name: &str| {
        let path = format!("{path}/{name}");
        async move { api(app, who, Method::DELETE, &path, None).await }
    };
    expect_error(delete(MAINTAINER, "auto_scan").await, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    assert_eq!(delete(PROJECT_ADMIN, "auto_scan").await.status(), StatusCode::OK);
    expect_error(delete(PROJECT_ADMIN, "auto_scan").await, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    expect_error(delete(ADMIN, "retention_id").await, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    assert_eq!(
        metadata(&berth, GUEST, "p").await,
        json!({"proxy_speed_kb": "-1", "public": "false", "severity": "low"})
    );

    // `public` is the project's visibility itself.
    expect_error(anonymous(&berth, Method::GET, "/projects/p").await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    assert_eq!(put(PROJECT_ADMIN, "public", json!({"public": "true"})).await.status(), StatusCode::OK);
    assert_eq!(anonymous(&berth, Method::GET, "/projects/p").await.status(), StatusCode::OK);
    assert_eq!(delete(PROJECT_ADMIN, "public").await.status(), StatusCode::OK);
    expect_error(anonymous(&berth, Method::GET, "/projects/p").await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;

    // Projects are created and changed with their metadata, checked the same way.
    let create =
        json!({"project_name": "meta", "metadata": {"public": "true", "auto_scan": "true", "severity": "critical"}});
    assert_eq!(api(&berth, ADMIN, Method::POST, "/projects", Some(create)).await.status(), StatusCode::CREATED);
    assert_eq!(
        metadata(&berth, ADMIN, "meta").await,
        json!({"auto_scan": "true", "public": "true", "severity": "critical"})
    );
    let change = json!({"metadata": {"prevent_vul": "true", "severity": "medium"}});
    assert_eq!(api(&berth, ADMIN, Method::PUT, "/projects/meta", Some(change)).await.status(), StatusCode::OK);
    let listed: Vec<Value> = api(&berth, ADMIN, Method::GET, "/projects?name=meta", None).await.json().await.unwrap();
    assert_eq!(
        listed[0]["metadata"],
        json!({"auto_scan": "true", "prevent_vul": "true", "public": "true", "severity": "medium"})
    );
    let bad = json!({"project_name": "bad", "metadata": {"severity": "urgent"}});
    expect_error(
        api(&berth, ADMIN, Method::POST, "/projects", Some(bad)).await,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    )
    .await;
    assert!(berth.meta().project_by_name("bad").await.unwrap().is_none());
    let bad = json!({"metadata": {"retention_id": "9"}});
    expect_error(
        api(&berth, ADMIN, Method::PUT, "/projects/meta", Some(bad)).await,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    )
    .await;

    // Each change through `/metadatas` has its event.
    let ops = operations(&berth, "p", "project_metadata").await;
    assert_eq!(ops.len(), 7, "3 added, 1 changed, 1 deleted, public changed twice: {ops:?}");
}
