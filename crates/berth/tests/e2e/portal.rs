//! The portal (`/harbor/...`): its HTTP behaviour with a plain client, and the main journeys in
//! a real browser (Debian's chromium driven by playwright-core, `tests/browser/portal.mjs`).

use std::path::PathBuf;

use crate::gc;
use crate::support;
use crate::support::clients::{Clients, require_tool};
use crate::support::http::{Client, RequestBuilder, Response};
use crate::support::layout::write_image;
use crate::support::registry::api_as;
use crate::support::try_run;
use crate::support::upstream::Upstream;
use crate::support::{ADMIN, Berth, Server, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const DEV: (&str, &str) = ("dev", "Developer123");

/// A browser-like client: keeps its session cookie, does not follow redirects (so they can be
/// checked).
struct Browser {
    http: Client,
    base: String,
    cookie: std::sync::Mutex<Option<String>>,
}

impl Browser {
    fn new(berth: &impl Server) -> Browser {
        Browser { http: Client::without_redirects(), base: berth.url(""), cookie: std::sync::Mutex::new(None) }
    }

    async fn send(&self, req: RequestBuilder) -> Response {
        let cookie = self.cookie.lock().unwrap().clone();
        let req = match cookie {
            Some(c) => req.header("cookie", c),
            None => req,
        };
        let r = req.send().await.unwrap();
        if let Some(set) = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()) {
            let pair = set.split(';').next().unwrap_or("").to_owned();
            *self.cookie.lock().unwrap() = if pair.ends_with('=') { None } else { Some(pair) };
        }
        r
    }

    async fn get(&self, path: &str) -> Response {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.send(self.http.post(format!("{}{path}", self.base)).form(form)).await
    }

    async fn page(&self, path: &str) -> (StatusCode, String) {
        let r = self.get(path).await;
        (r.status(), r.text().await.unwrap())
    }

    async fn sign_in(&self, (user, password): (&str, &str)) -> Response {
        self.post(
            "/harbor/sign-in",
            &[("principal", user), ("password", password), ("redirect_url", "/harbor/projects")],
        )
        .await
    }
}

/// The CSRF token the page's forms carry.
fn csrf_of(html: &str) -> String {
    let start = html.find(r#"name="csrf" value=""#).expect("a form with a CSRF token") + 19;
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// `html` as text: tags dropped, white space folded.
fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text of the first element of `html` whose start tag contains `marker`.
fn text_of(html: &str, marker: &str) -> String {
    let start = html.find(marker).unwrap_or_else(|| panic!("no {marker} in the page"));
    let tag = html[..start].rfind('<').unwrap();
    let name: String = html[tag + 1..].chars().take_while(char::is_ascii_alphanumeric).collect();
    let end = start + html[start..].find(&format!("</{name}>")).unwrap();
    text(&html[tag..end])
}

/// The texts of the cells in column `heading` of table `id`, top to bottom.
fn column(html: &str, id: &str, heading: &str) -> Vec<String> {
    let start = html.find(&format!(r#"<table id="{id}""#)).unwrap_or_else(|| panic!("no table {id}"));
    let table = &html[start..start + html[start..].find("</table>").unwrap()];
    let (head, body) = table.split_once("</thead>").unwrap();
    let index =
        head.split("</th>").position(|th| text(th) == heading).unwrap_or_else(|| panic!("no {heading} in {id}"));
    body.split("</tr>")
        .filter(|row| row.contains("<td"))
        .map(|row| text(row.split("</td>").nth(index).unwrap_or("")))
        .collect()
}

async fn create_dev_user(berth: &impl Server) {
    let body = json!({"username": DEV.0, "password": DEV.1, "email": "dev@example.com", "realname": "Dev"});
    let r = api_as(berth, ADMIN, Method::POST, "/users", Some(body)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn signing_in_is_required_and_comes_back_to_the_page() {
    let berth = TestApp::start().await;
    let client = Browser::new(&berth);
    let r = client.get("/harbor/projects/1/members").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/harbor/sign-in?redirect_url=%2Fharbor%2Fprojects%2F1%2Fmembers");

    // A wrong password: the form again, with a message, and no session.
    let r = client.sign_in((ADMIN.0, "not-the-password")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("Wrong username or password"));

    let r = client
        .post(
            "/harbor/sign-in",
            &[("principal", ADMIN.0), ("password", ADMIN.1), ("redirect_url", "/harbor/projects/1/members")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/harbor/projects/1/members");
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let (status, html) = client.page("/harbor/projects/1/members").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"id="account-link">admin<"#));

    // Signing out ends the session on the server.
    let csrf = csrf_of(&html);
    let r = client.post("/harbor/sign-out", &[("csrf", csrf.as_str())]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = client.get("/harbor/projects").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn sign_in_never_redirects_off_the_portal() {
    let berth = TestApp::start().await;
    let client = Browser::new(&berth);
    for target in [
        "https://evil.example/",
        "//evil.example/x",
        "/api/v2.0/users",
        "/harbor/sign-out",
        "/harbor/../api/v2.0/users",
        "/harbor//evil.example",
        "/harbor/\\evil.example",
    ] {
        let r = client
            .post("/harbor/sign-in", &[("principal", ADMIN.0), ("password", ADMIN.1), ("redirect_url", target)])
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/harbor/projects", "redirect_url {target}");
    }
}

#[tokio::test]
async fn forms_without_the_sessions_csrf_token_change_nothing() {
    let berth = TestApp::start().await;
    let client = Browser::new(&berth);
    client.sign_in(ADMIN).await;
    for csrf in [None, Some("forged")] {
        let mut form = vec![("project_name", "sneaky")];
        if let Some(c) = csrf {
            form.push(("csrf", c));
        }
        let r = client.post("/harbor/projects", &form).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(r.text().await.unwrap().contains("Not allowed"));
    }
    let r = api_as(&berth, ADMIN, Method::HEAD, "/projects?project_name=sneaky", None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "a forged form created the project");
}

#[tokio::test]
async fn bad_input_is_explained_next_to_the_form() {
    let berth = TestApp::start().await;
    let client = Browser::new(&berth);
    client.sign_in(ADMIN).await;
    let (_, html) = client.page("/harbor/projects").await;
    let csrf = csrf_of(&html);
    for (name, limit, expected) in [
        ("Upper_Case", "", "lowercase letters and digits"),
        ("library", "", "already exists"),
        ("fine", "lots", "is not a number"),
        ("fine", "-5", "more than 0"),
    ] {
        let form = [("csrf", csrf.as_str()), ("project_name", name), ("storage_limit", limit)];
        let r = client.post("/harbor/projects", &form).await;
        assert!(r.status().is_client_error(), "{name} {limit}: {}", r.status());
        let body = r.text().await.unwrap();
        assert!(body.contains(expected), "{name} {limit}: no {expected:?} in the page");
        assert!(body.contains(&format!("value=\"{name}\"")), "the form lost what was typed");
    }
    let r = api_as(&berth, ADMIN, Method::HEAD, "/projects?project_name=fine", None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Unknown pages and artifacts get friendly pages, not JSON.
    for (path, status) in [
        ("/harbor/no-such-page", StatusCode::NOT_FOUND),
        ("/harbor/projects/not-a-number/members", StatusCode::NOT_FOUND),
        ("/harbor/projects/999", StatusCode::NOT_FOUND),
        ("/harbor/projects/1/repositories/nothing/artifacts/latest", StatusCode::NOT_FOUND),
    ] {
        let (got, html) = client.page(path).await;
        assert_eq!(got, status, "{path}");
        assert!(html.starts_with("<!doctype html>") && html.contains("Back to projects"), "{path}");
    }
    // A form that is no form gets a page too, and changes nothing.
    let r = client
        .send(client.http.post(berth.url("/harbor/projects")).header("content-type", "application/json").body("{}"))
        .await;
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(r.text().await.unwrap().contains("The form could not be read"));
}

#[tokio::test]
async fn administration_is_for_system_administrators_only() {
    let berth = TestApp::start().await;
    create_dev_user(&berth).await;
    let client = Browser::new(&berth);
    client.sign_in(DEV).await;
    let (status, html) = client.page("/harbor/projects").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("/harbor/users"), "a non-admin is offered the admin menu");
    for path in [
        "/harbor/users",
        "/harbor/registries",
        "/harbor/replications",
        "/harbor/labels",
        "/harbor/logs",
        "/harbor/job-service",
        "/harbor/clean-up",
        "/harbor/clean-up/gc",
        "/harbor/clean-up/gc/1/log",
        "/harbor/system-info",
    ] {
        let (status, html) = client.page(path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(html.contains("for system administrators"), "{path}");
    }
    let csrf = csrf_of(&html);
    let form = [
        ("csrf", csrf.as_str()),
        ("username", "intruder"),
        ("email", "i@x.org"),
        ("realname", "I"),
        ("password", "Intruder123"),
    ];
    let r = client.post("/harbor/users", &form).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let users: Value =
        api_as(&berth, ADMIN, Method::GET, "/users?q=username%3Dintruder", None).await.json().await.unwrap();
    assert_eq!(users.as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn pages_load_nothing_from_elsewhere_and_expose_no_secret() {
    let berth = Berth::start();
    let client = Browser::new(&berth);
    client.sign_in(ADMIN).await;
    let r = client.get("/harbor/projects/1/robots").await;
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = r.text().await.unwrap();
    for attr in ["src=\"", "href=\""] {
        for (i, _) in html.match_indices(attr) {
            let url = &html[i + attr.len()..];
            assert!(
                url.starts_with('/') || url.starts_with('#') || url.starts_with('?') || url.starts_with("data:,"),
                "a reference off the origin: {}",
                &url[..40.min(url.len())]
            );
        }
    }
    // A robot's secret is shown once in the page, never in a URL or the log.
    let csrf = csrf_of(&html);
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "builder"),
        ("permission", "repository:push"),
        ("permission", "repository:pull"),
    ];
    let r = client.post("/harbor/projects/1/robots", &form).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let url = r.url().to_string();
    let html = r.text().await.unwrap();
    let start = html.find(r#"id="robot-secret">"#).expect("the secret is shown") + 18;
    let secret = &html[start..start + html[start..].find('<').unwrap()];
    assert!(secret.len() >= 8);
    assert!(!url.contains(secret));
    assert!(!berth.log().contains(secret), "the secret is in the log");
    let (_, again) = client.page("/harbor/projects/1/robots").await;
    assert!(again.contains("robot$library+builder") && !again.contains(secret), "the secret is shown twice");
    // The secret works: the token service accepts it.
    let r = Client::new()
        .get(berth.url("/service/token?service=harbor-registry&scope=repository:library/app:push,pull"))
        .basic_auth("robot$library+builder", Some(secret))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// Where the browser test leaves its screenshots.
fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("portal-screenshots")
}

#[tokio::test]
async fn the_main_journeys_work_in_a_real_browser() {
    require_tool("skopeo");
    require_tool("node");
    require_tool("chromium");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser/portal.mjs");
    assert!(
        script.with_file_name("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run scripts/install-test-deps.sh"
    );
    let berth = Berth::start();
    let upstream = Upstream::start();
    create_dev_user(&berth).await;
    let clients = Clients::new();
    let layout = clients.path("layout");
    let image = write_image(&layout, "v1", 3, 300_000, 61);
    // Screenshots of an earlier run must not stand in for missing ones.
    let _ = std::fs::remove_dir_all(screenshots());

    let out = try_run(
        clients
            .command("node")
            .arg(&script)
            .env("PORTAL_URL", berth.url(""))
            .env("PORTAL_ADMIN_PASSWORD", ADMIN.1)
            .env("PORTAL_DEV_USER", format!("{}:{}", DEV.0, DEV.1))
            .env("PORTAL_IMAGE", image.oci_ref())
            .env("PORTAL_IMAGE_LAYERS", "3")
            .env("PORTAL_UPSTREAM_URL", upstream.url())
            .env("PORTAL_SCREENSHOTS", screenshots())
            .env("PORTAL_SKOPEO_POLICY", clients.path("policy.json")),
    )
    .unwrap_or_else(|e| panic!("{e}\n---- berth log ----\n{}", berth.log()));
    print!("{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("ok ")).count(), 19, "steps done:\n{out}");

    // What the browser did, as the API sees it.
    let summary: Value =
        api_as(&berth, ADMIN, Method::GET, "/projects/portal-e2e/summary", None).await.json().await.unwrap();
    assert_eq!(summary["quota"]["hard"]["storage"], 10 << 20, "the quota typed in the form");
    let members: Value =
        api_as(&berth, ADMIN, Method::GET, "/projects/portal-e2e/members", None).await.json().await.unwrap();
    assert!(members.as_array().unwrap().iter().any(|m| m["entity_name"] == DEV.0 && m["role_id"] == 2));
    let tags: Value =
        api_as(&berth, ADMIN, Method::GET, "/projects/portal-e2e/repositories/app/artifacts/v1/tags", None)
            .await
            .json()
            .await
            .unwrap();
    let names: Vec<&str> = tags.as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["v1"], "v2 was deleted in the browser");
    let copied = reqwest::get(format!("{}/v2/portal-e2e/app/tags/list", upstream.url())).await.unwrap();
    assert_eq!(copied.status(), StatusCode::OK, "the replication did not reach distribution");
    for shot in [
        "sign-in",
        "projects",
        "artifact",
        "members",
        "replications",
        "execution",
        "forbidden",
        "projects-360px",
        "menu-360px",
        "artifact-360px",
        "execution-360px",
    ] {
        assert!(screenshots().join(format!("{shot}.png")).exists(), "no screenshot {shot}");
    }
}

#[tokio::test]
async fn artifact_pages_say_never_pulled_and_copy_each_pull_command() {
    let berth = TestApp::start().await;
    let registry = support::registry::Registry::new(berth.url(""));
    registry.push_image("library/app", "v1", &support::random_bytes(1000, 5)).await;
    let client = Browser::new(&berth);
    client.sign_in(ADMIN).await;

    let (status, list) = client.page("/harbor/projects/1/repositories/app").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text_of(&list, r#"class="crumbs""#), "Projects / library", "the breadcrumb ends in a separator");
    assert_eq!(column(&list, "artifacts", "Pulled"), ["never"]);

    let (status, page) = client.page("/harbor/projects/1/repositories/app/artifacts/v1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text_of(&page, r#"class="crumbs""#), "Projects / library / app", "the breadcrumb ends in a separator");
    assert_eq!(text_of(&page, r#"id="artifact-pulled""#), "never");
    assert_eq!(column(&page, "tags", "Pulled"), ["never"]);
    // The tag's pull command has a Copy button, as the digest's has: it names the command's element.
    let host = berth.url("").trim_start_matches("http://").to_owned();
    assert_eq!(text_of(&page, r#"id="tag-pull-v1""#), format!("podman pull {host}/library/app:v1"));
    assert!(
        page.contains(r#"class="copy small" data-copy="tag-pull-v1""#),
        "no Copy button for the tag's pull command"
    );
    assert!(page.contains(r#"class="copy small" data-copy="digest-pull""#));

    let (_, members) = client.page("/harbor/projects/1/members").await;
    assert_eq!(text_of(&members, r#"class="crumbs""#), "Projects");
}

#[tokio::test]
async fn people_sign_up_only_when_self_registration_is_on() {
    let closed = TestApp::start().await;
    let client = Browser::new(&closed);
    let (_, html) = client.page("/harbor/sign-in").await;
    assert!(!html.contains("/harbor/sign-up"));
    let form = [
        ("username", "walkin"),
        ("email", "w@x.org"),
        ("realname", "W"),
        ("password", "Walkin123"),
        ("password_again", "Walkin123"),
    ];
    assert_eq!(client.post("/harbor/sign-up", &form).await.status(), StatusCode::NOT_FOUND);

    let open = TestApp::builder().with_env("BERTH_SELF_REGISTRATION", "true").start().await;
    let client = Browser::new(&open);
    let (_, html) = client.page("/harbor/sign-in").await;
    assert!(html.contains("/harbor/sign-up"));
    let mismatch = [
        ("username", "walkin"),
        ("email", "w@x.org"),
        ("realname", "W"),
        ("password", "Walkin123"),
        ("password_again", "Walkin124"),
    ];
    let r = client.post("/harbor/sign-up", &mismatch).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("The two passwords differ"));
    let weak = [
        ("username", "walkin"),
        ("email", "w@x.org"),
        ("realname", "W"),
        ("password", "weak"),
        ("password_again", "weak"),
    ];
    assert_eq!(client.post("/harbor/sign-up", &weak).await.status(), StatusCode::BAD_REQUEST);
    let r = client.post("/harbor/sign-up", &form).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/harbor/sign-in?signed_up=walkin");
    assert_eq!(client.sign_in(("walkin", "Walkin123")).await.status(), StatusCode::SEE_OTHER);
    let (status, html) = client.page("/harbor/account").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("w@x.org"));
}

#[tokio::test]
async fn repository_descriptions_and_replication_policies_are_edited_in_place() {
    let berth = TestApp::start().await;
    let upstream = Upstream::start();
    let r = support::registry::Registry::new(berth.url(""));
    r.push_image("library/app", "v1", &support::random_bytes(1000, 3)).await;
    let client = Browser::new(&berth);
    client.sign_in(ADMIN).await;

    let (_, html) = client.page("/harbor/projects/1/repositories/app").await;
    let csrf = csrf_of(&html);
    let r = client
        .post("/harbor/projects/1/repositories/app", &[("csrf", csrf.as_str()), ("description", "The <app>")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = client.page("/harbor/projects/1/repositories/app").await;
    assert!(
        html.contains(r#"id="description">The &#60;app&#62;<"#)
            || html.contains(r#"id="description">The &lt;app&gt;<"#),
        "description not shown escaped"
    );
    let repo: Value =
        api_as(&berth, ADMIN, Method::GET, "/projects/library/repositories/app", None).await.json().await.unwrap();
    assert_eq!(repo["description"], "The <app>");

    let endpoint = json!({"name": "dist", "type": "docker-registry", "url": upstream.url()});
    assert_eq!(api_as(&berth, ADMIN, Method::POST, "/registries", Some(endpoint)).await.status(), StatusCode::CREATED);
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "nightly"),
        ("direction", "push"),
        ("registry_id", "1"),
        ("name_filter", "library/**"),
        ("trigger", "scheduled"),
        ("cron", "0 0 3 * * *"),
        ("override", "on"),
    ];
    assert_eq!(client.post("/harbor/replications", &form).await.status(), StatusCode::SEE_OTHER);
    let bad_cron = [
        ("csrf", csrf.as_str()),
        ("name", "broken"),
        ("direction", "push"),
        ("registry_id", "1"),
        ("trigger", "scheduled"),
        ("cron", "every day"),
    ];
    let r = client.post("/harbor/replications", &bad_cron).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("cron"));
    let policies: Value = api_as(&berth, ADMIN, Method::GET, "/replication/policies", None).await.json().await.unwrap();
    assert_eq!(policies.as_array().unwrap().len(), 1, "the refused policy was stored");
    let id = policies[0]["id"].as_i64().unwrap();

    // The edit form shows the policy as it is, and saving changes it.
    let (_, html) = client.page(&format!("/harbor/replications?edit={id}")).await;
    assert!(html.contains(r#"value="library/**""#) && html.contains(r#"value="0 0 3 * * *""#));
    let edit = [
        ("csrf", csrf.as_str()),
        ("action", "save"),
        ("name", "nightly"),
        ("direction", "push"),
        ("registry_id", "1"),
        ("name_filter", "library/app"),
        ("tag_filter", "v*"),
        ("trigger", "event_based"),
    ];
    assert_eq!(client.post(&format!("/harbor/replications/{id}"), &edit).await.status(), StatusCode::SEE_OTHER);
    let policy: Value =
        api_as(&berth, ADMIN, Method::GET, &format!("/replication/policies/{id}"), None).await.json().await.unwrap();
    assert_eq!(policy["trigger"]["type"], "event_based");
    assert_eq!(policy["override"], false, "an unchecked box is false");
    let filters: Vec<(&str, &str)> = policy["filters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["type"].as_str().unwrap(), f["value"].as_str().unwrap()))
        .collect();
    assert_eq!(filters, [("name", "library/app"), ("tag", "v*")]);
}

#[tokio::test]
async fn system_settings_are_changed_from_the_settings_page() {
    let berth = TestApp::start().await;
    let client = Browser::new(&berth);
    client.sign_in(ADMIN).await;
    let (status, html) = client.page("/harbor/settings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"name="token_expiration" inputmode="numeric" required value="30""#));
    let csrf = csrf_of(&html);
    let bad = [("csrf", csrf.as_str()), ("project_creation_restriction", "everyone"), ("token_expiration", "0")];
    let r = client.post("/harbor/settings", &bad).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("must be a number of minutes from 1"));
    let good = [
        ("csrf", csrf.as_str()),
        ("self_registration", "on"),
        ("project_creation_restriction", "adminonly"),
        ("token_expiration", "45"),
    ];
    let r = client.post("/harbor/settings", &good).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Saved"));
    let c: Value = api_as(&berth, ADMIN, Method::GET, "/configurations", None).await.json().await.unwrap();
    assert_eq!(c["self_registration"]["value"], true);
    assert_eq!(c["project_creation_restriction"]["value"], "adminonly");
    assert_eq!(c["token_expiration"]["value"], 45);
    // Sign-up is offered now.
    let anonymous = Browser::new(&berth);
    assert!(anonymous.page("/harbor/sign-in").await.1.contains("/harbor/sign-up"));
}

#[tokio::test]
async fn the_audit_purge_is_scheduled_and_run_from_the_clean_up_page() {
    let berth = TestApp::start().await;
    let client = Browser::new(&berth);
    client.sign_in(ADMIN).await;
    let (status, html) = client.page("/harbor/clean-up").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Schedule: Hourly (<code>0 0 * * * *</code>)"), "{html}");
    assert!(html.contains(r#"name="audit_retention_hour" inputmode="numeric" value="2160""#), "{html}");
    let csrf = csrf_of(&html);

    let bad = [("csrf", csrf.as_str()), ("action", "save"), ("schedule_type", "Custom"), ("cron", "nightly")];
    let r = client.post("/harbor/clean-up", &bad).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("Invalid cron"));
    let before: Value =
        api_as(&berth, ADMIN, Method::GET, "/system/purgeaudit/schedule", None).await.json().await.unwrap();
    assert_eq!(before["schedule"]["type"], "Hourly", "a refused form changed the schedule");

    let daily = [
        ("csrf", csrf.as_str()),
        ("action", "save"),
        ("schedule_type", "Daily"),
        ("audit_retention_hour", "48"),
        ("limit_types", "on"),
        ("include_event_types", "pull"),
    ];
    let r = client.post("/harbor/clean-up", &daily).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Saved"));
    let set: Value =
        api_as(&berth, ADMIN, Method::GET, "/system/purgeaudit/schedule", None).await.json().await.unwrap();
    assert_eq!(set["schedule"]["type"], "Daily");
    let parameters: Value = serde_json::from_str(set["job_parameters"].as_str().unwrap()).unwrap();
    assert_eq!(parameters, json!({"audit_retention_hour": 48, "include_event_types": "pull", "dry_run": false}));

    let run = [("csrf", csrf.as_str()), ("action", "run"), ("audit_retention_hour", "1"), ("dry_run", "on")];
    let r = client.post("/harbor/clean-up", &run).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Started") && html.contains("<td data-label=\"Trigger\">MANUAL</td>"), "{html}");
    let set: Value =
        api_as(&berth, ADMIN, Method::GET, "/system/purgeaudit/schedule", None).await.json().await.unwrap();
    assert_eq!(set["schedule"]["type"], "Daily", "a run now left the schedule alone");
}

#[tokio::test]
async fn garbage_collection_is_scheduled_run_and_followed_from_the_clean_up_page() {
    let berth = gc::collecting_app().await;
    let client = Browser::new(&berth);
    client.sign_in(ADMIN).await;
    let (status, html) = client.page("/harbor/clean-up/gc").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Schedule: None."), "{html}");
    assert_eq!(column(&html, "gc-runs", "ID"), ["No runs."]);
    let csrf = csrf_of(&html);
    let schedule = || async {
        let s: Value = api_as(&berth, ADMIN, Method::GET, "/system/gc/schedule", None).await.json().await.unwrap();
        s
    };

    // Refused forms change nothing and say why.
    let bad_cron = [("csrf", csrf.as_str()), ("action", "save"), ("schedule_type", "Custom"), ("cron", "nightly")];
    let bad_workers = [("csrf", csrf.as_str()), ("action", "dry-run"), ("workers", "9")];
    let forged = [("csrf", "forged"), ("action", "run"), ("workers", "1")];
    for (form, status, why) in [
        (&bad_cron[..], StatusCode::BAD_REQUEST, "Invalid cron"),
        (&bad_workers[..], StatusCode::BAD_REQUEST, "Workers must be a whole number from 1 to 5"),
        (&forged[..], StatusCode::FORBIDDEN, "Not allowed"),
    ] {
        let r = client.post("/harbor/clean-up/gc", form).await;
        assert_eq!(r.status(), status, "{form:?}");
        let html = r.text().await.unwrap();
        assert!(html.contains(why), "{form:?}: {html}");
    }
    assert_eq!(schedule().await["schedule"]["type"], "None", "a refused form changed the schedule");
    let runs: Value = api_as(&berth, ADMIN, Method::GET, "/system/gc", None).await.json().await.unwrap();
    assert_eq!(runs, json!([]), "a refused form started a collection");

    let weekly = [
        ("csrf", csrf.as_str()),
        ("action", "save"),
        ("schedule_type", "Weekly"),
        ("delete_untagged", "on"),
        ("workers", "3"),
    ];
    let r = client.post("/harbor/clean-up/gc", &weekly).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Saved") && html.contains("Schedule: Weekly"), "{html}");
    assert!(html.contains(r#"<option value="3" selected>"#), "{html}");
    let set = schedule().await;
    assert_eq!(set["schedule"]["type"], "Weekly");
    let parameters: Value = serde_json::from_str(set["job_parameters"].as_str().unwrap()).unwrap();
    assert_eq!(parameters, json!({"delete_untagged": true, "workers": 3, "dry_run": false}));

    // Garbage: an image pushed, then deleted.
    let registry = support::registry::Registry::new(berth.url(""));
    let layer = support::random_bytes(4_000, 41);
    let (_, digest) = registry.push_image("library/old", "v1", &layer).await;
    let d = registry.http.delete(registry.url(&format!("/v2/library/old/manifests/{digest}"))).send().await.unwrap();
    assert_eq!(d.status(), StatusCode::ACCEPTED);
    gc::a_second_passes().await;

    let dry = [("csrf", csrf.as_str()), ("action", "dry-run"), ("workers", "2")];
    let r = client.post("/harbor/clean-up/gc", &dry).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("Started"), "{html}");
    assert_eq!(column(&html, "gc-runs", "Dry run"), ["Yes"]);
    assert_eq!(column(&html, "gc-runs", "Trigger"), ["MANUAL"]);
    assert_eq!(schedule().await["schedule"]["type"], "Weekly", "a run now left the schedule alone");
    let id: i64 = column(&html, "gc-runs", "ID")[0].parse().unwrap();
    let run = gc::run_ended(&berth, id).await;
    assert_eq!(run["job_status"], "Success", "{run}");
    let bytes = run["freed"]["bytes"].as_i64().unwrap();
    assert!(bytes > layer.len() as i64, "the layer and its config: {run}");

    let (_, html) = client.page("/harbor/clean-up/gc").await;
    assert_eq!(column(&html, "gc-runs", "Status"), ["Success"]);
    assert_eq!(column(&html, "gc-runs", "Freed"), [format!("{:.1} KiB (2 blobs)", bytes as f64 / 1024.0)]);
    assert!(!column(&html, "gc-runs", "Ended")[0].is_empty(), "{html}");
    assert!(html.contains(r#"aria-label="Bytes freed by the last collections"><title>"#), "no chart: {html}");
    assert!(html.contains(&format!("#{id} (dry)")), "the chart does not name the run: {html}");

    let log = client.get(&format!("/harbor/clean-up/gc/{id}/log")).await;
    assert_eq!(log.status(), StatusCode::OK);
    assert!(log.text().await.unwrap().contains(&format!("would free: 2 blobs, {bytes} bytes")));
    let (status, _) = client.page("/harbor/clean-up/gc/999999/log").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Repository names and references reach the API as the page's path gave them, one segment each:
/// a `?`, `#`, `/`, `%`, space or NUL in them names nothing (404 or 400), never another resource,
/// and never fails the page (500).
#[tokio::test]
async fn odd_path_segments_name_nothing_else() {
    let berth = TestApp::start().await;
    let registry = support::registry::Registry::new(berth.url(""));
    registry.push_image("library/app", "v1", &support::random_bytes(1000, 6)).await;
    registry.push_image("library/team/app", "v1", &support::random_bytes(1000, 7)).await;
    let client = Browser::new(&berth);
    client.sign_in(ADMIN).await;
    let nothing = |status: StatusCode, what: &str| {
        assert!(matches!(status.as_u16(), 400 | 404), "{what}: {status}");
    };

    // A name with a slash is one segment, `%2F` in the page's path.
    for page in
        ["/harbor/projects/1/repositories/team%2Fapp", "/harbor/projects/1/repositories/team%2Fapp/artifacts/v1"]
    {
        assert_eq!(client.page(page).await.0, StatusCode::OK, "{page}");
    }
    for repo in
        ["%00", "app%00", "a%20b", "app%3Fx", "app%3F", "app%23x", "app%25", "app%2541pp", "%2F", "app%2F..", "%FF"]
    {
        let (status, _) = client.page(&format!("/harbor/projects/1/repositories/{repo}")).await;
        nothing(status, repo);
        let (status, _) = client.page(&format!("/harbor/projects/1/repositories/{repo}/artifacts/v1")).await;
        nothing(status, repo);
    }
    for reference in
        ["v1%00", "v1%20x", "v1%3Fwith_tag%3Dtrue", "v1%3F", "v1%23x", "v1%2Ftags", "..", "v1%2F..%2F..", "%FF"]
    {
        let (status, _) = client.page(&format!("/harbor/projects/1/repositories/app/artifacts/{reference}")).await;
        nothing(status, reference);
    }

    // A form posted to such a path changes nothing: not the tag its segments spell out.
    let (_, page) = client.page("/harbor/projects/1/repositories/app/artifacts/v1").await;
    let csrf = csrf_of(&page);
    for path in [
        "/harbor/projects/1/repositories/app/artifacts/v1%2Ftags%2Fv1/delete",
        "/harbor/projects/1/repositories/app/artifacts/v1%3F/delete",
        "/harbor/projects/1/repositories/app%3F/artifacts/v1/delete",
    ] {
        let r = client.post(path, &[("csrf", csrf.as_str())]).await;
        nothing(r.status(), path);
    }
    let tags = api_as(&berth, ADMIN, Method::GET, "/projects/library/repositories/app/artifacts/v1/tags", None).await;
    assert_eq!(tags.status(), StatusCode::OK, "v1 is still there");
    assert_eq!(tags.json::<Value>().await.unwrap()[0]["name"], "v1");
}

/// Labels in the portal: Administration → Labels and the project's "Labels" tab create, edit
/// and delete through the API (its refusal shown next to the form); a developer sees the tab
/// without its forms and changes nothing; the artifact list shows chips and filters by label,
/// and the artifact page puts one on and takes it off.
#[tokio::test]
async fn labels_pages_manage_labels_and_label_artifacts() {
    let berth = TestApp::start().await;
    create_dev_user(&berth).await;
    berth.add_member("library", DEV.0, 2).await;
    crate::support::registry::Registry::new(berth.url(""))
        .push_image("library/app", "v1", &crate::support::random_bytes(200, 9))
        .await;
    let labels = async |query: &str| -> Vec<Value> {
        api_as(&berth, ADMIN, Method::GET, &format!("/labels?{query}"), None).await.json().await.unwrap()
    };
    let admin = Browser::new(&berth);
    admin.sign_in(ADMIN).await;
    let (status, html) = admin.page("/harbor/labels").await;
    assert_eq!(status, StatusCode::OK);
    let csrf = csrf_of(&html);
    let created = admin.post("/harbor/labels", &[("csrf", &csrf), ("name", "release"), ("color", "#1188ff")]).await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let refused = admin.post("/harbor/labels", &[("csrf", &csrf), ("name", "bad"), ("color", "blue")]).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("#RRGGBB"));
    let release = labels("scope=g").await;
    assert_eq!(release.len(), 1);
    let release = release[0]["id"].as_i64().unwrap().to_string();
    let (_, html) = admin.page("/harbor/labels").await;
    assert_eq!(column(&html, "labels", "Colour"), ["#1188ff"]);

    // The project's tab: created, renamed; a developer sees it but cannot change it.
    let tab = "/harbor/projects/1/labels";
    assert_eq!(admin.post(tab, &[("csrf", &csrf), ("name", "team")]).await.status(), StatusCode::SEE_OTHER);
    let team = labels("scope=p&project_id=1").await[0]["id"].as_i64().unwrap().to_string();
    let edit = [("csrf", csrf.as_str()), ("action", "edit"), ("name", "team-b"), ("color", "")];
    assert_eq!(admin.post(&format!("{tab}/{team}"), &edit).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(labels("scope=p&project_id=1").await[0]["name"], "team-b");
    let dev = Browser::new(&berth);
    dev.sign_in(DEV).await;
    let (status, html) = dev.page(tab).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("team-b") && !html.contains(r#"id="new-label""#), "a developer is offered the forms");
    let dev_csrf = csrf_of(&html);
    let r = dev.post(tab, &[("csrf", &dev_csrf), ("name", "mine")]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "the API's refusal, shown by the page");
    assert_eq!(labels("scope=p&project_id=1").await.len(), 1);

    // A developer labels the artifact; the list shows the chip and filters by label.
    let artifact = "/harbor/projects/1/repositories/app/artifacts/v1";
    let add = [("csrf", dev_csrf.as_str()), ("action", "add"), ("label", release.as_str())];
    assert_eq!(dev.post(&format!("{artifact}/labels"), &add).await.status(), StatusCode::SEE_OTHER);
    let (_, html) = dev.page(artifact).await;
    assert!(html.contains(r##"fill="#1188ff""##), "no coloured chip on the artifact page");
    let list = "/harbor/projects/1/repositories/app";
    let (_, html) = dev.page(list).await;
    assert_eq!(column(&html, "artifacts", "Labels"), ["release"]);
    let (_, html) = dev.page(&format!("{list}?label={team}")).await;
    assert_eq!(column(&html, "artifacts", "Digest"), ["No artifacts carrying that label."]);
    let (_, html) = dev.page(&format!("{list}?label={release}")).await;
    assert_eq!(column(&html, "artifacts", "Labels"), ["release"]);
    let remove = [("csrf", dev_csrf.as_str()), ("action", "remove"), ("label", release.as_str())];
    assert_eq!(dev.post(&format!("{artifact}/labels"), &remove).await.status(), StatusCode::SEE_OTHER);
    let carried: Value =
        api_as(&berth, DEV, Method::GET, "/projects/library/repositories/app/artifacts/v1?with_label=true", None)
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(carried["labels"], json!([]));

    // Deleted from the administration page.
    let delete = [("csrf", csrf.as_str()), ("action", "delete")];
    assert_eq!(admin.post(&format!("/harbor/labels/{release}"), &delete).await.status(), StatusCode::SEE_OTHER);
    assert!(labels("scope=g").await.is_empty());
}

/// The project's "Tag Immutability" tab: maintainers and admins list, add, disable, edit and
/// delete rules through the API (its refusals shown by the form); developers see no tab and get
/// 403; forms without the session's CSRF token change nothing.
#[tokio::test]
async fn the_immutability_tab_manages_a_projects_rules() {
    let berth = TestApp::start().await;
    berth.create_project("imm", false).await;
    create_dev_user(&berth).await;
    berth.add_member("imm", DEV.0, 2).await;
    let id = berth.meta().project_by_name("imm").await.unwrap().unwrap().id;
    let page = format!("/harbor/projects/{id}/immutability");
    let rules = async || -> Vec<Value> {
        let r = api_as(&berth, ADMIN, Method::GET, "/projects/imm/immutabletagrules", None).await;
        r.json().await.unwrap()
    };
    let admin = Browser::new(&berth);
    admin.sign_in(ADMIN).await;
    let (status, html) = admin.page(&page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!(r#"href="{page}" aria-current="page">Tag Immutability"#)), "no current tab");
    assert_eq!(column(&html, "immutability-rules", "Repositories"), ["No immutability rules."]);
    let csrf = csrf_of(&html);

    // Without the token nothing happens.
    let forged = admin.post(&page, &[("csrf", "forged"), ("repository", "**"), ("tag", "v*")]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(rules().await.is_empty());

    // A comma-separated list becomes alternatives, as in Harbor's portal.
    let form = [
        ("csrf", csrf.as_str()),
        ("repository_decoration", "repoMatches"),
        ("repository", "app, tools"),
        ("tag_decoration", "matches"),
        ("tag", "v*"),
    ];
    let added = admin.post(&page, &form).await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let stored = rules().await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["scope_selectors"]["repository"][0]["pattern"], "{app, tools}");
    let rule_id = stored[0]["id"].as_i64().unwrap();
    let (_, html) = admin.page(&page).await;
    assert_eq!(column(&html, "immutability-rules", "Tags"), ["matching v*"]);
    assert_eq!(column(&html, "immutability-rules", "Status"), ["Enabled"]);

    // The API's refusal is shown next to the form, with a 4xx.
    let bad = [("csrf", csrf.as_str()), ("repository", "**"), ("tag", "{v1")];
    let refused = admin.post(&page, &bad).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("unbalanced braces"));
    let again = admin.post(&page, &form).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(again.text().await.unwrap().contains("already exists"));
    assert_eq!(rules().await.len(), 1);

    // Disable, edit, delete.
    let rule_page = format!("{page}/{rule_id}");
    let disabled = admin.post(&rule_page, &[("csrf", csrf.as_str()), ("action", "disable")]).await;
    assert_eq!(disabled.status(), StatusCode::SEE_OTHER);
    assert_eq!(rules().await[0]["disabled"], true);
    let (_, html) = admin.page(&page).await;
    assert_eq!(column(&html, "immutability-rules", "Status"), ["Disabled"]);
    let edit = [
        ("csrf", csrf.as_str()),
        ("action", "edit"),
        ("repository_decoration", "repoExcludes"),
        ("repository", "scratch"),
        ("tag_decoration", "excludes"),
        ("tag", "dev-*"),
    ];
    assert_eq!(admin.post(&rule_page, &edit).await.status(), StatusCode::SEE_OTHER);
    let edited = &rules().await[0];
    assert_eq!(edited["disabled"], true);
    assert_eq!(edited["tag_selectors"][0]["decoration"], "excludes");
    assert_eq!(edited["scope_selectors"]["repository"][0]["pattern"], "scratch");
    let deleted = admin.post(&rule_page, &[("csrf", csrf.as_str()), ("action", "delete")]).await;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    assert!(rules().await.is_empty());

    // A developer sees no tab, and the page is refused.
    let dev = Browser::new(&berth);
    dev.sign_in(DEV).await;
    let (_, summary) = dev.page(&format!("/harbor/projects/{id}")).await;
    assert!(!summary.contains("Tag Immutability"));
    let (status, _) = dev.page(&page).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_retention_tab_manages_a_projects_policy_and_runs_it() {
    let berth = TestApp::start().await;
    berth.create_project("ret", false).await;
    create_dev_user(&berth).await;
    berth.add_member("ret", DEV.0, 4).await;
    let registry = support::registry::Registry::new(berth.url(""));
    for (seed, tag) in [(701, "v1"), (702, "v2")] {
        registry.push_image("ret/app", tag, &support::random_bytes(32, seed)).await;
    }
    let id = berth.meta().project_by_name("ret").await.unwrap().unwrap().id;
    let page = format!("/harbor/projects/{id}/retention");
    let policy = async || -> Option<Value> {
        let p = berth.meta().project_retention_policy(id).await.unwrap()?;
        let r = api_as(&berth, ADMIN, Method::GET, &format!("/retentions/{}", p.id), None).await;
        Some(r.json().await.unwrap())
    };
    let admin = Browser::new(&berth);
    admin.sign_in(ADMIN).await;
    let (status, html) = admin.page(&page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!(r#"href="{page}" aria-current="page">Tag Retention"#)), "no current tab");
    assert_eq!(column(&html, "retention-rules", "Retain"), ["No retention rules."]);
    let csrf = csrf_of(&html);

    // The first rule makes the policy; a bad one is refused next to the form, with a 4xx.
    let rule = |template: &'static str, param: &'static str, tag: &'static str| {
        let mut form = vec![("template", template), ("repository", "**"), ("tag", tag), ("untagged", "on")];
        form.extend((!param.is_empty()).then_some(("param", param)));
        form
    };
    let with = |action: &'static str, mut form: Vec<(&'static str, &'static str)>| {
        form.push(("action", action));
        form
    };
    let post = async |form: Vec<(&str, &str)>| {
        let mut form = form;
        form.push(("csrf", csrf.as_str()));
        admin.post(&page, &form).await
    };
    assert_eq!(post(with("add", rule("latestPushedK", "1", "**"))).await.status(), StatusCode::SEE_OTHER);
    let stored = policy().await.expect("a policy");
    assert_eq!(stored["rules"][0]["params"]["latestPushedK"], 1);
    let refused = post(with("add", rule("latestPushedK", "-3", "**"))).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("count"));
    assert_eq!(post(with("add", rule("always", "", "v*"))).await.status(), StatusCode::SEE_OTHER);
    let (_, html) = admin.page(&page).await;
    assert_eq!(column(&html, "retention-rules", "Retain"), ["latestPushedK 1", "always"]);

    // Edit and delete a rule; set the schedule.
    let mut edit = with("edit", rule("latestPushedK", "2", "**"));
    edit.push(("rule", "0"));
    assert_eq!(post(edit).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(policy().await.unwrap()["rules"][0]["params"]["latestPushedK"], 2);
    assert_eq!(post(vec![("action", "delete"), ("rule", "1")]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(policy().await.unwrap()["rules"].as_array().unwrap().len(), 1);
    let scheduled = post(vec![("action", "schedule"), ("cron", "0 0 3 * * *")]).await;
    assert_eq!(scheduled.status(), StatusCode::SEE_OTHER);
    assert_eq!(policy().await.unwrap()["trigger"]["settings"]["cron"], "0 0 3 * * *");
    let bad_cron = post(vec![("action", "schedule"), ("cron", "every day")]).await;
    assert_eq!(bad_cron.status(), StatusCode::BAD_REQUEST);

    // A dry run, listed with its execution page: the task and its log.
    assert_eq!(post(vec![("action", "dry_run")]).await.status(), StatusCode::SEE_OTHER);
    let mut html = String::new();
    for _ in 0..400 {
        html = admin.page(&page).await.1;
        if column(&html, "retention-executions", "Status") == ["Success"] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(column(&html, "retention-executions", "Status"), ["Success"]);
    assert_eq!(column(&html, "retention-executions", "Dry run"), ["Yes"]);
    let eid = column(&html, "retention-executions", "Id").remove(0);
    let (status, html) = admin.page(&format!("{page}/executions/{eid}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(column(&html, "retention-tasks", "Repository"), ["ret/app"]);
    assert_eq!(column(&html, "retention-tasks", "Retained"), ["2"]);
    assert!(html.contains("retained"), "the task's log is shown");

    // A maintainer sees no tab, and the page is refused.
    let dev = Browser::new(&berth);
    dev.sign_in(DEV).await;
    let (_, summary) = dev.page(&format!("/harbor/projects/{id}")).await;
    assert!(!summary.contains("Tag Retention"));
    let (status, _) = dev.page(&page).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
