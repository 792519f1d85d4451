//! Users, projects, members, the token service and the role matrix, over real HTTP against the
//! real binary.

use crate::support::http::{self, Client, Response};
use crate::support::registry::*;
use crate::support::{ADMIN, TestApp, random_bytes};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = "Passw0rdX";

/// An `/api/v2.0` client with optional Basic credentials.
struct Api {
    http: Client,
    base: String,
    creds: Option<(String, String)>,
}

impl Api {
    fn new(berth: &TestApp, creds: Option<(&str, &str)>) -> Api {
        Api {
            http: Client::new(),
            base: berth.url("/api/v2.0"),
            creds: creds.map(|(u, p)| (u.to_owned(), p.to_owned())),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some((u, p)) = &self.creds {
            req = req.basic_auth(u, Some(p));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    async fn status(&self, method: Method, path: &str, body: Option<Value>) -> StatusCode {
        self.call(method, path, body).await.status()
    }

    async fn json(&self, path: &str) -> Value {
        let r = self.call(Method::GET, path, None).await;
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.json().await.unwrap()
    }
}

/// Asserts a Harbor error response: status and `{"errors":[{"code","message"}]}`.
async fn harbor_error(r: Response, status: StatusCode, code: &str) {
    assert_eq!(r.status(), status, "{}", r.url());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], code, "{body}");
    assert!(body["errors"][0]["message"].as_str().is_some_and(|m| !m.is_empty()));
}

async fn token(berth: &TestApp, creds: Option<(&str, &str)>, scopes: &[&str]) -> Response {
    let mut url = format!("{}?service=harbor-registry", berth.url("/service/token"));
    for s in scopes {
        url.push_str(&format!("&scope={s}"));
    }
    let mut req = Client::new().get(url);
    if let Some((u, p)) = creds {
        req = req.basic_auth(u, Some(p));
    }
    req.send().await.unwrap()
}

fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn bearer(base: String, token: &str) -> Registry {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    Registry { http: Client::with_default_headers(headers), base }
}

#[tokio::test]
async fn challenge_points_at_the_token_service() {
    let berth = TestApp::start().await;
    let anon = Registry::with_credentials(berth.url(""), None);
    let r = anon.get("/v2/").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert_eq!(
        challenge,
        format!("Bearer realm=\"http://{}/service/token\",service=\"harbor-registry\"", berth.host())
    );
    expect_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    // A client saying it came through a TLS-terminating proxy is not believed...
    let r = anon.http.get(anon.url("/v2/")).header("x-forwarded-proto", "https").send().await.unwrap();
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer realm=\"http://"));
    // A scoped request names its scope.
    let r = anon.get("/v2/hidden/app/tags/list").await;
    let c = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(c.ends_with(",scope=\"repository:hidden/app:pull\""), "{c}");
    // Wrong password: 401 with the challenge, on /v2/ and on the token service.
    let bad = Registry::with_credentials(berth.url(""), Some(("admin", "Wrong1234")));
    expect_error(bad.get("/v2/").await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    harbor_error(token(&berth, Some(("admin", "Wrong1234")), &[]).await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
        .await;
}

#[tokio::test]
async fn trusted_proxies_choose_the_realm_unless_external_url_is_set() {
    // The in-process client's address is 127.0.0.1.
    let berth = TestApp::builder().with_env("BERTH_HTTP_TRUSTED_PROXIES", "127.0.0.0/8").start().await;
    let anon = Registry::with_credentials(berth.url(""), None);
    let forwarded = |r: &Registry| {
        r.http.get(r.url("/v2/")).header("x-forwarded-proto", "https").header("x-forwarded-host", "reg.example:8443")
    };
    let r = forwarded(&anon).send().await.unwrap();
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer realm=\"https://reg.example:8443/"));
    let fixed = TestApp::builder()
        .with_env("BERTH_HTTP_TRUSTED_PROXIES", "127.0.0.0/8")
        .with_env("BERTH_EXTERNAL_URL", "https://registry.example.com")
        .start()
        .await;
    let anon = Registry::with_credentials(fixed.url(""), None);
    let r = forwarded(&anon).send().await.unwrap();
    assert!(
        r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer realm=\"https://registry.example.com/")
    );
}

#[tokio::test]
async fn external_url_is_the_realm() {
    let berth = TestApp::builder().with_env("BERTH_EXTERNAL_URL", "https://registry.example.com").start().await;
    let r = Registry::with_credentials(berth.url(""), None).get("/v2/").await;
    let c = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(c.starts_with("Bearer realm=\"https://registry.example.com/service/token\""), "{c}");
}

#[tokio::test]
async fn tokens_grant_requested_scope_intersected_with_policy() {
    let berth = TestApp::builder()
        .with_project("team", false)
        .with_user("dev", PASSWORD)
        .with_member("team", "dev", 2)
        .start()
        .await;

    let r =
        token(&berth, Some(("dev", PASSWORD)), &["repository:team/app:pull,push,delete", "registry:catalog:*"]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token"], body["access_token"]);
    assert_eq!(body["expires_in"], 1800);
    assert!(body["issued_at"].as_str().unwrap().ends_with('Z'));
    let c = claims(body["token"].as_str().unwrap());
    assert_eq!(c["sub"], "dev");
    assert_eq!(c["aud"], "harbor-registry");
    assert_eq!(c["access"][0], json!({"type": "repository", "name": "team/app", "actions": ["pull", "push"]}));
    assert_eq!(c["access"][1]["actions"], json!([]), "catalog is for administrators only");

    // The token works for what it grants, and only that.
    let dev = bearer(berth.url(""), body["token"].as_str().unwrap());
    let (_, digest) = dev.push_image("team/app", "v1", &random_bytes(100, 1)).await;
    assert_eq!(dev.get("/v2/team/app/manifests/v1").await.status(), StatusCode::OK);
    let d = dev.http.delete(dev.url(&format!("/v2/team/app/manifests/{digest}"))).send().await.unwrap();
    assert_eq!(d.status(), StatusCode::UNAUTHORIZED);
    assert!(d.headers()["www-authenticate"].to_str().unwrap().contains("error=\"insufficient_scope\""));
    let other = dev.get("/v2/team/other/tags/list").await;
    expect_error(other, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;

    // Admin gets the catalog.
    let r = token(&berth, Some(ADMIN), &["registry:catalog:*"]).await;
    let t = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&t)["access"][0]["actions"], json!(["*"]));
    let cat: Value = bearer(berth.url(""), &t).get("/v2/_catalog").await.json().await.unwrap();
    assert_eq!(cat["repositories"], json!(["team/app"]));

    // Anonymous: pull from public projects only.
    let r = token(&berth, None, &["repository:library/x:pull,push", "repository:team/app:pull"]).await;
    let c = claims(r.json::<Value>().await.unwrap()["token"].as_str().unwrap());
    assert_eq!(c["sub"], "");
    assert_eq!(c["access"][0]["actions"], json!(["pull"]));
    assert_eq!(c["access"][1]["actions"], json!([]));

    // Malformed scope, unknown service.
    harbor_error(token(&berth, Some(ADMIN), &["nonsense"]).await, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    let r = http::get(berth.url("/service/token?service=other")).await.unwrap();
    harbor_error(r, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
}

#[tokio::test]
async fn tampered_and_foreign_tokens_are_refused() {
    let berth = TestApp::start().await;
    let other = TestApp::start().await;
    let r = token(&berth, Some(ADMIN), &["repository:library/app:pull"]).await;
    let t = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    assert_eq!(bearer(berth.url(""), &t).get("/v2/").await.status(), StatusCode::OK);

    // Flip the payload to grant push: the signature no longer matches.
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = t.split('.').collect();
    let mut c = claims(&t);
    c["access"][0]["actions"] = json!(["pull", "push", "delete"]);
    let forged = format!("{}.{}.{}", parts[0], engine.encode(c.to_string()), parts[2]);
    let r = bearer(berth.url(""), &forged).get("/v2/").await;
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""));
    expect_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    expect_error(bearer(berth.url(""), "garbage").get("/v2/").await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;

    // A token from another TestApp (another key) is worthless here.
    let r = token(&other, Some(ADMIN), &["repository:library/app:pull"]).await;
    let foreign = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    expect_error(bearer(berth.url(""), &foreign).get("/v2/").await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
}

#[tokio::test]
async fn signing_key_survives_restart() {
    let mut berth = TestApp::start().await;
    let r = token(&berth, Some(ADMIN), &["repository:library/app:pull"]).await;
    let t = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_owned();
    berth.restart().await;
    assert_eq!(bearer(berth.url(""), &t).get("/v2/").await.status(), StatusCode::OK);
}

/// Every role against every registry and member operation in a private project.
#[tokio::test]
async fn role_matrix() {
    let berth = TestApp::start().await;
    berth.create_project("secret", false).await;
    let admin = Registry::new(berth.url(""));
    let layer = random_bytes(64, 2);
    let (manifest, _) = admin.push_image("secret/base", "v1", &layer).await;

    // (user, role id or 0 for non-member, may push, may delete, may list members, may add members)
    let cases = [
        ("padmin", 1, true, true, true, true),
        ("maint", 4, true, true, true, false),
        ("dev", 2, true, false, true, false),
        ("guest", 3, false, false, true, false),
        ("limited", 5, false, false, false, false),
        ("outsider", 0, false, false, false, false),
    ];
    for (i, (user, role, push, delete, list_members, add_members)) in cases.into_iter().enumerate() {
        berth.create_user(user, PASSWORD).await;
        if role > 0 {
            berth.add_member("secret", user, role).await;
        }
        let r = Registry::with_credentials(berth.url(""), Some((user, PASSWORD)));
        let pull = r.get("/v2/secret/base/manifests/v1").await;
        if role > 0 {
            assert_eq!(pull.status(), StatusCode::OK, "{user} pull");
            assert_eq!(pull.bytes().await.unwrap(), manifest);
        } else {
            expect_error(pull, StatusCode::FORBIDDEN, "DENIED").await;
        }

        let repo = format!("secret/{user}");
        let upload = r.http.post(r.url(&format!("/v2/{repo}/blobs/uploads/"))).send().await.unwrap();
        assert_eq!(upload.status() == StatusCode::ACCEPTED, push, "{user} push: {}", upload.status());
        if !push {
            expect_error(upload, StatusCode::FORBIDDEN, "DENIED").await;
        }

        // Delete an artifact pushed by the admin for this case.
        let tag = format!("d{i}");
        let (_, digest) = admin.push_image("secret/base", &tag, &random_bytes(64, 100 + i as u64)).await;
        let d = r.http.delete(r.url(&format!("/v2/secret/base/manifests/{digest}"))).send().await.unwrap();
        assert_eq!(d.status() == StatusCode::ACCEPTED, delete, "{user} delete: {}", d.status());

        let api = Api::new(&berth, Some((user, PASSWORD)));
        let list = api.status(Method::GET, "/projects/secret/members", None).await;
        let expected = if list_members { StatusCode::OK } else { StatusCode::FORBIDDEN };
        assert_eq!(list, expected, "{user} list members");
        let add = api
            .status(
                Method::POST,
                "/projects/secret/members",
                Some(json!({"role_id": 3, "member_user": {"username": "admin"}})),
            )
            .await;
        let expected = if add_members {
            StatusCode::CONFLICT // admin is already a member (owner): the right to add was granted
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(add, expected, "{user} add member");

        // Logs, robots, whole repositories.
        let logs = api.status(Method::GET, "/projects/secret/logs", None).await;
        let may_read_logs = role > 0 && role != 5;
        let expected = if may_read_logs { StatusCode::OK } else { StatusCode::FORBIDDEN };
        assert_eq!(logs, expected, "{user} read logs");
        let robot = json!({"name": format!("bot{i}"), "level": "project",
            "permissions": [{"kind": "project", "namespace": "secret", "access": [{"resource": "repository", "action": "pull"}]}]});
        let created = api.status(Method::POST, "/robots", Some(robot)).await;
        let expected = if add_members { StatusCode::CREATED } else { StatusCode::FORBIDDEN };
        assert_eq!(created, expected, "{user} create robot");
        let doomed = format!("doomed{i}");
        admin.push_image(&format!("secret/{doomed}"), "v1", &random_bytes(16, 200 + i as u64)).await;
        let removed = api.status(Method::DELETE, &format!("/projects/secret/repositories/{doomed}"), None).await;
        let expected = if delete { StatusCode::OK } else { StatusCode::FORBIDDEN };
        assert_eq!(removed, expected, "{user} delete repository");

        // The permissions API answers from the same policy.
        let project_id = api_project_id(&berth, "secret").await;
        let perms = Api::new(&berth, Some((user, PASSWORD)))
            .json(&format!("/users/current/permissions?scope=/project/{project_id}&relative=true"))
            .await;
        let has = |resource: &str, action: &str| {
            perms.as_array().unwrap().iter().any(|p| p["resource"] == resource && p["action"] == action)
        };
        assert_eq!(has("repository", "push"), push, "{user} permissions: {perms}");
        assert_eq!(has("repository", "delete"), delete, "{user} permissions");
        assert_eq!(has("member", "create"), add_members, "{user} permissions");
    }
    // Anonymous: nothing in a private project.
    let anon = Registry::with_credentials(berth.url(""), None);
    expect_error(anon.get("/v2/secret/base/manifests/v1").await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
}

async fn api_project_id(berth: &TestApp, name: &str) -> i64 {
    Api::new(berth, Some(ADMIN)).json(&format!("/projects/{name}")).await["project_id"].as_i64().unwrap()
}

#[tokio::test]
async fn public_projects_are_pullable_anonymously_and_only_that() {
    let berth = TestApp::start().await;
    let admin = Registry::new(berth.url(""));
    let (manifest, _) = admin.push_image("library/app", "v1", &random_bytes(64, 3)).await;
    let anon = Registry::with_credentials(berth.url(""), None);
    let r = anon.get("/v2/library/app/manifests/v1").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap(), manifest);
    let push = anon.http.post(anon.url("/v2/library/app/blobs/uploads/")).send().await.unwrap();
    expect_error(push, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    expect_error(anon.get("/v2/_catalog").await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;

    // Making it private closes it.
    let api = Api::new(&berth, Some(ADMIN));
    assert_eq!(
        api.status(Method::PUT, "/projects/library", Some(json!({"metadata": {"public": "false"}}))).await,
        StatusCode::OK
    );
    expect_error(anon.get("/v2/library/app/manifests/v1").await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
}

/// Manifest pulls decide access on the project loaded together with the manifest: every kind
/// of caller gets the answer it got when the project was loaded on its own.
#[tokio::test]
async fn manifest_pull_answers_each_caller_as_before() {
    let berth = TestApp::start().await;
    let admin = Registry::new(berth.url(""));
    let (manifest, digest) = admin.push_image("library/app", "v1", &random_bytes(64, 5)).await;
    let api = Api::new(&berth, Some(ADMIN));
    let body = json!({"project_name": "secret", "metadata": {"public": "false"}});
    assert_eq!(api.status(Method::POST, "/projects", Some(body)).await, StatusCode::CREATED);
    admin.push_image("secret/app", "v1", &random_bytes(64, 6)).await;
    let user = json!({"username": "carol", "password": PASSWORD, "email": "carol@example.com", "realname": "c"});
    assert_eq!(api.status(Method::POST, "/users", Some(user)).await, StatusCode::CREATED);

    let anon = Registry::with_credentials(berth.url(""), None);
    let carol = Registry::with_credentials(berth.url(""), Some(("carol", PASSWORD)));
    // Public project: by tag and by digest, for anyone; a missing tag is MANIFEST_UNKNOWN.
    for path in ["/v2/library/app/manifests/v1".to_owned(), format!("/v2/library/app/manifests/{digest}")] {
        let r = anon.get(&path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.bytes().await.unwrap(), manifest);
    }
    expect_error(anon.get("/v2/library/app/manifests/v9").await, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN").await;
    expect_error(anon.get("/v2/library/none/manifests/v1").await, StatusCode::NOT_FOUND, "NAME_UNKNOWN").await;
    // Private project: anonymous callers are asked to log in, whether or not the manifest (or
    // the project) exists, so names do not leak; a user who is not a member is denied.
    for path in ["/v2/secret/app/manifests/v1", "/v2/secret/app/manifests/v9", "/v2/nosuch/app/manifests/v1"] {
        expect_error(anon.get(path).await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    }
    expect_error(carol.get("/v2/secret/app/manifests/v1").await, StatusCode::FORBIDDEN, "DENIED").await;
    expect_error(carol.get("/v2/nosuch/app/manifests/v1").await, StatusCode::NOT_FOUND, "NAME_UNKNOWN").await;
    assert_eq!(admin.get("/v2/secret/app/manifests/v1").await.status(), StatusCode::OK);
    // Tokens: one for another repository falls short; one for a missing project says so.
    let t = token(&berth, Some(ADMIN), &["repository:library/app:pull"]).await.json::<Value>().await.unwrap();
    let other = bearer(berth.url(""), t["token"].as_str().unwrap());
    expect_error(other.get("/v2/secret/app/manifests/v1").await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    expect_error(other.get("/v2/nosuch/app/manifests/v1").await, StatusCode::NOT_FOUND, "NAME_UNKNOWN").await;
    assert_eq!(other.get("/v2/library/app/manifests/v1").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn pushing_into_a_missing_project_is_refused() {
    let berth = TestApp::start().await;
    let admin = Registry::new(berth.url(""));
    let r = admin.http.post(admin.url("/v2/nosuch/app/blobs/uploads/")).send().await.unwrap();
    let e = expect_error(r, StatusCode::NOT_FOUND, "NAME_UNKNOWN").await;
    assert!(e["message"].as_str().unwrap().contains("nosuch"));
}

#[tokio::test]
async fn users_api() {
    let berth = TestApp::start().await;
    let admin = Api::new(&berth, Some(ADMIN));
    let anon = Api::new(&berth, None);
    let create = |name: &str, password: &str| json!({"username": name, "password": password, "email": format!("{name}@example.com"), "realname": name});

    let r = admin.call(Method::POST, "/users", Some(create("alice", PASSWORD))).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/api/v2.0/users/"));
    let alice_id: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
    harbor_error(
        admin.call(Method::POST, "/users", Some(create("alice", PASSWORD))).await,
        StatusCode::CONFLICT,
        "CONFLICT",
    )
    .await;
    for weak in ["short1A", "nouppercase1", "NoDigitsAtAll"] {
        harbor_error(
            admin.call(Method::POST, "/users", Some(create("bob", weak))).await,
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
        )
        .await;
    }
    harbor_error(
        admin.call(Method::POST, "/users", Some(create("bad name", PASSWORD))).await,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    )
    .await;
    let r = admin
        .call(Method::POST, "/users", Some(json!({"username": "x", "password": PASSWORD, "email": "not-an-email"})))
        .await;
    harbor_error(r, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    let r = admin
        .http
        .post(format!("{}/users", admin.base))
        .basic_auth("admin", Some("Harbor12345"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    harbor_error(r, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    // Self-registration is off: anonymous sign-up refused.
    harbor_error(
        anon.call(Method::POST, "/users", Some(create("eve", PASSWORD))).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    )
    .await;

    let alice = Api::new(&berth, Some(("alice", PASSWORD)));
    let me = alice.json("/users/current").await;
    assert_eq!(me["username"], "alice");
    assert_eq!(me["sysadmin_flag"], false);
    assert!(me.get("password").is_none() && me.get("password_hash").is_none());
    harbor_error(alice.call(Method::GET, "/users", None).await, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    harbor_error(anon.call(Method::GET, "/users", None).await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    harbor_error(alice.call(Method::GET, "/users/1", None).await, StatusCode::FORBIDDEN, "FORBIDDEN").await;

    // Listing with paging headers.
    for i in 0..3 {
        assert_eq!(
            admin.status(Method::POST, "/users", Some(create(&format!("user{i}"), PASSWORD))).await,
            StatusCode::CREATED
        );
    }
    let r = admin.call(Method::GET, "/users?page=1&page_size=2", None).await;
    assert_eq!(r.headers()["x-total-count"], "5");
    assert_eq!(r.headers()["link"], "</api/v2.0/users?page=2&page_size=2>; rel=\"next\"");
    assert_eq!(r.json::<Value>().await.unwrap().as_array().unwrap().len(), 2);
    let r = admin.call(Method::GET, "/users?page=2&page_size=2", None).await;
    let link = r.headers()["link"].to_str().unwrap();
    assert!(link.contains("rel=\"prev\"") && link.contains("rel=\"next\""), "{link}");
    harbor_error(admin.call(Method::GET, "/users?page_size=101", None).await, StatusCode::BAD_REQUEST, "BAD_REQUEST")
        .await;
    harbor_error(admin.call(Method::GET, "/users?page=0", None).await, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    let found = alice.json("/users/search?username=user").await;
    assert_eq!(found.as_array().unwrap().len(), 3);

    // Profile and password.
    let path = format!("/users/{alice_id}");
    assert_eq!(alice.status(Method::PUT, &path, Some(json!({"realname": "Alice A."}))).await, StatusCode::OK);
    assert_eq!(alice.json(&path).await["realname"], "Alice A.");
    let pw = format!("{path}/password");
    let r =
        alice.call(Method::PUT, &pw, Some(json!({"old_password": "Wrong1234", "new_password": "Newpass123"}))).await;
    harbor_error(r, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    let r = alice.call(Method::PUT, &pw, Some(json!({"old_password": PASSWORD, "new_password": "weak"}))).await;
    harbor_error(r, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    assert_eq!(
        alice.status(Method::PUT, &pw, Some(json!({"old_password": PASSWORD, "new_password": "Newpass123"}))).await,
        StatusCode::OK
    );
    harbor_error(alice.call(Method::GET, "/users/current", None).await, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    let alice = Api::new(&berth, Some(("alice", "Newpass123")));
    assert_eq!(alice.status(Method::GET, "/users/current", None).await, StatusCode::OK);
    // Administrators reset without the old password.
    assert_eq!(admin.status(Method::PUT, &pw, Some(json!({"new_password": PASSWORD}))).await, StatusCode::OK);
    let alice = Api::new(&berth, Some(("alice", PASSWORD)));

    // Sysadmin flag.
    assert_eq!(
        admin.status(Method::PUT, &format!("{path}/sysadmin"), Some(json!({"sysadmin_flag": true}))).await,
        StatusCode::OK
    );
    assert_eq!(alice.status(Method::GET, "/users", None).await, StatusCode::OK);
    harbor_error(
        admin.call(Method::PUT, "/users/1/sysadmin", Some(json!({"sysadmin_flag": false}))).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    )
    .await;

    // Delete.
    harbor_error(admin.call(Method::DELETE, "/users/1", None).await, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    assert_eq!(admin.status(Method::DELETE, &path, None).await, StatusCode::OK);
    harbor_error(admin.call(Method::GET, &path, None).await, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    // An id that is not a number names no user: Harbor documents 404 for this operation, not 400.
    harbor_error(admin.call(Method::GET, "/users/notanumber", None).await, StatusCode::NOT_FOUND, "NOT_FOUND").await;
}

#[tokio::test]
async fn self_registration_when_enabled() {
    let berth = TestApp::builder().with_env("BERTH_SELF_REGISTRATION", "true").start().await;
    let anon = Api::new(&berth, None);
    let r = anon
        .call(
            Method::POST,
            "/users",
            Some(json!({"username": "eve", "password": PASSWORD, "email": "eve@example.com"})),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let eve = Api::new(&berth, Some(("eve", PASSWORD)));
    assert_eq!(eve.json("/users/current").await["sysadmin_flag"], false);
    assert_eq!(anon.json("/systeminfo").await["self_registration"], true);
}

#[tokio::test]
async fn projects_api() {
    let berth = TestApp::start().await;
    berth.create_user("owner", PASSWORD).await;
    berth.create_user("stranger", PASSWORD).await;
    let admin = Api::new(&berth, Some(ADMIN));
    let owner = Api::new(&berth, Some(("owner", PASSWORD)));
    let stranger = Api::new(&berth, Some(("stranger", PASSWORD)));
    let anon = Api::new(&berth, None);

    let r = owner
        .call(Method::POST, "/projects", Some(json!({"project_name": "mine", "metadata": {"public": "false"}})))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id: i64 = r.headers()["location"].to_str().unwrap().rsplit('/').next().unwrap().parse().unwrap();
    harbor_error(
        owner.call(Method::POST, "/projects", Some(json!({"project_name": "mine"}))).await,
        StatusCode::CONFLICT,
        "CONFLICT",
    )
    .await;
    for bad in ["Upper", "a..b", "-a", "", "a/b"] {
        let r = owner.call(Method::POST, "/projects", Some(json!({"project_name": bad}))).await;
        harbor_error(r, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    }
    let r =
        owner.call(Method::POST, "/projects", Some(json!({"project_name": "x", "metadata": {"public": "yes"}}))).await;
    harbor_error(r, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    harbor_error(
        anon.call(Method::POST, "/projects", Some(json!({"project_name": "anon"}))).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    )
    .await;

    // The creator is its project admin.
    let p = owner.json("/projects/mine").await;
    assert_eq!(p["project_id"], id);
    assert_eq!(p["owner_name"], "owner");
    assert_eq!(p["metadata"]["public"], "false");
    assert_eq!(p["current_user_role_id"], 1);
    assert_eq!(owner.json(&format!("/projects/{id}")).await["name"], "mine");

    // Visibility: private projects are not listed for strangers and anonymous users, and refused
    // to them as Harbor refuses them.
    harbor_error(stranger.call(Method::GET, "/projects/mine", None).await, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    let names =
        |v: Value| v.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert_eq!(names(stranger.json("/projects").await), ["library"]);
    assert_eq!(names(anon.json("/projects").await), ["library"]);
    assert_eq!(names(owner.json("/projects").await), ["library", "mine"]);
    assert_eq!(names(admin.json("/projects?name=min").await), ["mine"]);
    assert_eq!(names(admin.json("/projects?public=true").await), ["library"]);
    let r = admin.call(Method::GET, "/projects?page_size=1", None).await;
    assert_eq!(r.headers()["x-total-count"], "2");
    assert!(r.headers()["link"].to_str().unwrap().contains("page=2&page_size=1>; rel=\"next\""));

    assert_eq!(owner.status(Method::HEAD, "/projects?project_name=mine", None).await, StatusCode::OK);
    assert_eq!(owner.status(Method::HEAD, "/projects?project_name=none", None).await, StatusCode::NOT_FOUND);

    // Update: project admins only.
    let public = Some(json!({"metadata": {"public": "true"}}));
    harbor_error(
        stranger.call(Method::PUT, "/projects/mine", public.clone()).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    )
    .await;
    assert_eq!(owner.status(Method::PUT, "/projects/mine", public).await, StatusCode::OK);
    assert_eq!(names(stranger.json("/projects").await), ["library", "mine"]);
    harbor_error(
        stranger.call(Method::PUT, "/projects/mine", Some(json!({}))).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    )
    .await;

    // Delete is refused while the project holds repositories.
    let r = Registry::with_credentials(berth.url(""), Some(("owner", PASSWORD)));
    let (_, digest) = r.push_image("mine/app", "v1", &random_bytes(10, 4)).await;
    let s = owner.json("/projects/mine/summary").await;
    assert_eq!(s["repo_count"], 1);
    assert_eq!(s["project_admin_count"], 1);
    harbor_error(
        owner.call(Method::DELETE, "/projects/mine", None).await,
        StatusCode::PRECONDITION_FAILED,
        "PRECONDITION",
    )
    .await;
    let d = r.http.delete(r.url(&format!("/v2/mine/app/manifests/{digest}"))).send().await.unwrap();
    assert_eq!(d.status(), StatusCode::ACCEPTED);
    harbor_error(stranger.call(Method::DELETE, "/projects/mine", None).await, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    assert_eq!(owner.status(Method::DELETE, "/projects/mine", None).await, StatusCode::OK);
    harbor_error(owner.call(Method::GET, "/projects/mine", None).await, StatusCode::NOT_FOUND, "NOT_FOUND").await;
}

#[tokio::test]
async fn project_creation_restricted_to_admins() {
    let berth = TestApp::builder().with_env("BERTH_PROJECT_CREATION_RESTRICTION", "adminonly").start().await;
    berth.create_user("user", PASSWORD).await;
    let user = Api::new(&berth, Some(("user", PASSWORD)));
    harbor_error(
        user.call(Method::POST, "/projects", Some(json!({"project_name": "p"}))).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    )
    .await;
    assert_eq!(
        Api::new(&berth, Some(ADMIN)).status(Method::POST, "/projects", Some(json!({"project_name": "p"}))).await,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn members_api() {
    let berth = TestApp::start().await;
    berth.create_project("team", false).await;
    berth.create_user("m1", PASSWORD).await;
    let admin = Api::new(&berth, Some(ADMIN));
    let r = admin
        .call(Method::POST, "/projects/team/members", Some(json!({"role_id": 2, "member_user": {"username": "m1"}})))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let mid: i64 = r.headers()["location"].to_str().unwrap().rsplit('/').next().unwrap().parse().unwrap();
    let m = admin.json(&format!("/projects/team/members/{mid}")).await;
    assert_eq!(m["entity_name"], "m1");
    assert_eq!(m["role_name"], "developer");
    assert_eq!(m["entity_type"], "u");
    let list = admin.call(Method::GET, "/projects/team/members", None).await;
    assert_eq!(list.headers()["x-total-count"], "2");
    assert_eq!(admin.json("/projects/team/members?entityname=m1").await.as_array().unwrap().len(), 1);

    for (body, status) in [
        (json!({"role_id": 9, "member_user": {"username": "m1"}}), StatusCode::BAD_REQUEST),
        (json!({"role_id": 2, "member_user": {"username": "ghost"}}), StatusCode::NOT_FOUND),
        (json!({"role_id": 2}), StatusCode::BAD_REQUEST),
        (json!({"role_id": 2, "member_user": {"username": "m1"}}), StatusCode::CONFLICT),
    ] {
        assert_eq!(admin.status(Method::POST, "/projects/team/members", Some(body)).await, status);
    }
    let path = format!("/projects/team/members/{mid}");
    assert_eq!(admin.status(Method::PUT, &path, Some(json!({"role_id": 4}))).await, StatusCode::OK);
    assert_eq!(admin.json(&path).await["role_name"], "maintainer");
    assert_eq!(admin.status(Method::PUT, &path, Some(json!({"role_id": 0}))).await, StatusCode::BAD_REQUEST);
    // Now a maintainer, m1 may delete artifacts.
    let m1 = Registry::with_credentials(berth.url(""), Some(("m1", PASSWORD)));
    let (_, digest) = m1.push_image("team/app", "v1", &random_bytes(10, 5)).await;
    assert_eq!(
        m1.http.delete(m1.url(&format!("/v2/team/app/manifests/{digest}"))).send().await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(admin.status(Method::DELETE, &path, None).await, StatusCode::OK);
    assert_eq!(admin.status(Method::GET, &path, None).await, StatusCode::NOT_FOUND);
    // Removed: no more access.
    let r = m1.http.post(m1.url("/v2/team/app/blobs/uploads/")).send().await.unwrap();
    expect_error(r, StatusCode::FORBIDDEN, "DENIED").await;
}

#[tokio::test]
async fn system_endpoints_and_conventions() {
    let berth = TestApp::start().await;
    let anon = Api::new(&berth, None);
    let r = anon.call(Method::GET, "/ping", None).await;
    assert_eq!(r.text().await.unwrap(), "Pong");
    let health = anon.json("/health").await;
    assert_eq!(health["status"], "healthy");
    assert!(
        health["components"].as_array().unwrap().iter().any(|c| c["name"] == "database" && c["status"] == "healthy")
    );
    let info = anon.json("/systeminfo").await;
    assert_eq!(info["auth_mode"], "db_auth");
    assert!(info.get("project_creation_restriction").is_none());
    let info = Api::new(&berth, Some(ADMIN)).json("/systeminfo").await;
    assert_eq!(info["project_creation_restriction"], "everyone");
    harbor_error(anon.call(Method::GET, "/no/such/thing", None).await, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    // Request ids: echoed when given, made up when not.
    let r = anon.http.get(format!("{}/ping", anon.base)).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    let r = anon.call(Method::GET, "/ping", None).await;
    assert!(!r.headers()["x-request-id"].is_empty());
}

#[tokio::test]
async fn browser_sessions_with_csrf() {
    let berth = TestApp::start().await;
    let http = Client::new();
    let login = |password: &str| {
        http.post(berth.url("/c/login")).form(&[("principal", "admin"), ("password", password)]).send()
    };
    assert_eq!(login("Wrong1234").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let r = login("Harbor12345").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let sid = cookie.split(';').next().unwrap().to_owned();
    let csrf = r.headers()["x-harbor-csrf-token"].to_str().unwrap().to_owned();

    let me = http.get(berth.url("/api/v2.0/users/current")).header("cookie", &sid).send().await.unwrap();
    assert_eq!(me.json::<Value>().await.unwrap()["username"], "admin");
    // A state change on the session needs the CSRF token.
    let create = |token: Option<&str>, name: &str| {
        let mut req =
            http.post(berth.url("/api/v2.0/projects")).header("cookie", &sid).json(&json!({"project_name": name}));
        if let Some(t) = token {
            req = req.header("x-harbor-csrf-token", t);
        }
        req.send()
    };
    harbor_error(create(None, "viaportal").await.unwrap(), StatusCode::FORBIDDEN, "FORBIDDEN").await;
    harbor_error(create(Some("forged"), "viaportal").await.unwrap(), StatusCode::FORBIDDEN, "FORBIDDEN").await;
    assert_eq!(create(Some(&csrf), "viaportal").await.unwrap().status(), StatusCode::CREATED);

    // Sessions live in the database: a restarted server still knows them.
    let mut berth = berth;
    berth.restart().await;
    let me = Client::new().get(berth.url("/api/v2.0/users/current")).header("cookie", &sid).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let out = Client::new()
        .post(berth.url("/c/log_out"))
        .header("cookie", &sid)
        .header("x-harbor-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    let me = Client::new().get(berth.url("/api/v2.0/users/current")).header("cookie", &sid).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    // Robots have no portal.
    let r = Client::new()
        .post(berth.url("/c/login"))
        .form(&[("principal", "robot$x"), ("password", "Whatever1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn search_and_statistics_show_only_what_the_caller_may_see() {
    let berth = TestApp::start().await;
    berth.create_project("secret", false).await;
    let admin = Registry::new(berth.url(""));
    admin.push_image("secret/app", "v1", &random_bytes(10, 7)).await;
    admin.push_image("library/app", "v1", &random_bytes(10, 8)).await;
    berth.create_user("u", PASSWORD).await;
    let user = Api::new(&berth, Some(("u", PASSWORD)));
    let found = user.json("/search?q=app").await;
    let repos: Vec<&str> =
        found["repository"].as_array().unwrap().iter().map(|r| r["repository_name"].as_str().unwrap()).collect();
    assert_eq!(repos, ["library/app"]);
    let found = Api::new(&berth, Some(ADMIN)).json("/search?q=sec").await;
    assert_eq!(found["project"][0]["name"], "secret");
    assert_eq!(found["repository"][0]["repository_name"], "secret/app");

    let stats = user.json("/statistics").await;
    assert_eq!(stats["total_project_count"], 1);
    assert_eq!(stats["public_repo_count"], 1);
    assert_eq!(stats["private_repo_count"], 0);
    assert!(stats.get("total_storage_consumption").is_none());
    let stats = Api::new(&berth, Some(ADMIN)).json("/statistics").await;
    assert_eq!(stats["total_project_count"], 2);
    assert_eq!(stats["total_repo_count"], 2);
    assert!(stats["total_storage_consumption"].as_i64().unwrap() > 0);
    harbor_error(
        Api::new(&berth, None).call(Method::GET, "/statistics", None).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    )
    .await;
}

/// Tokens signed with the server's real key but expired, or for another audience, are refused.
/// The key is read from the database the way a second instance would.
#[tokio::test]
async fn expired_and_wrong_audience_tokens_are_refused() {
    let berth = TestApp::start().await;
    let meta = berth.meta();
    let (kid, pkcs8) = meta.signing_key(|| panic!("the server made the key at start")).await.unwrap();
    let keys = berth_auth::TokenKeys::from_pkcs8(kid, &pkcs8).unwrap();
    let now = berth_meta::time::now() as u64;
    let claims = |aud: &str, iat: u64, exp: u64| berth_auth::Claims {
        iss: berth_auth::token::ISSUER.into(),
        sub: "admin".into(),
        aud: aud.into(),
        exp,
        nbf: iat,
        iat,
        jti: "t".into(),
        access: vec![berth_auth::token::Access {
            kind: "repository".into(),
            name: "library/app".into(),
            actions: vec!["pull".into(), "push".into()],
        }],
    };
    let valid = keys.sign(&claims("harbor-registry", now, now + 60));
    assert_eq!(bearer(berth.url(""), &valid).get("/v2/").await.status(), StatusCode::OK, "control: a good token works");
    for (what, token) in [
        ("expired", keys.sign(&claims("harbor-registry", now - 3600, now - 1800))),
        ("wrong audience", keys.sign(&claims("another-registry", now, now + 60))),
        ("not yet valid", keys.sign(&claims("harbor-registry", now + 600, now + 900))),
    ] {
        let r = bearer(berth.url(""), &token).get("/v2/library/app/tags/list").await;
        assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"), "{what}");
        expect_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    }
}

#[tokio::test]
async fn lists_sort_as_asked() {
    let berth = TestApp::start().await;
    for name in ["bravo", "alpha", "charlie"] {
        berth.create_project(name, false).await;
    }
    let admin = Api::new(&berth, Some(ADMIN));
    let names =
        |v: Value| v.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert_eq!(names(admin.json("/projects").await), ["alpha", "bravo", "charlie", "library"]);
    assert_eq!(names(admin.json("/projects?sort=-name").await), ["library", "charlie", "bravo", "alpha"]);
    assert_eq!(names(admin.json("/projects?sort=-creation_time,name&page_size=2").await).len(), 2);
    let r = admin.call(Method::GET, "/projects?sort=-name&page_size=1", None).await;
    assert!(r.headers()["link"].to_str().unwrap().contains("sort=-name"));
    harbor_error(
        admin.call(Method::GET, "/projects?sort=owner_id", None).await,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    )
    .await;
    harbor_error(
        admin.call(Method::GET, "/projects?sort=name;drop", None).await,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    )
    .await;
    for (i, user) in ["zed", "amy"].iter().enumerate() {
        berth.create_user(user, &format!("Passw0rd{i}")).await;
    }
    let users = admin.json("/users?sort=username").await;
    let order: Vec<&str> = users.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(order, ["admin", "amy", "zed"]);
    let perms = admin.json("/permissions").await;
    assert!(
        perms["project"].as_array().unwrap().iter().any(|p| p["resource"] == "repository" && p["action"] == "push")
    );
}
