//! Error answers are JSON however odd the request: what they repeat of it (a name, a reference, a
//! query value) is escaped in a JSON string, the type says `application/json`, and every response
//! says `X-Content-Type-Options: nosniff`, so no browser reads one as a page. Their messages say
//! what was wrong without a library's words (a bad token), with the code of their status (413).

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::http::{Client, Response};
use crate::support::registry::{Registry, api_as};
use crate::support::{ADMIN, TestApp, random_bytes};

const PROBE: &str = "%22%3Cscript%3Ealert(1)%3C%2Fscript%3E%01%0A%00";

/// Asserts `r` is JSON (never a 500), with nothing in it raw that JSON escapes, and says nosniff;
/// returns its status and body.
async fn assert_json(r: Response, what: &str) -> (StatusCode, Value) {
    let status = r.status();
    assert!(!status.is_server_error(), "{what}: {status}");
    let headers = r.headers().clone();
    assert_eq!(headers.get("x-content-type-options").map(|v| v.to_str().unwrap()), Some("nosniff"), "{what}");
    let content_type = headers.get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert!(content_type.starts_with("application/json"), "{what}: {content_type}");
    let bytes = r.bytes().await.unwrap();
    assert!(!bytes.iter().any(|b| *b < 0x20), "{what}: a raw control character in {bytes:?}");
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{what}: {e}: {bytes:?}"));
    (status, body)
}

/// Asserts `r` is an error in the JSON the prefix's API speaks (see [`assert_json`]); returns
/// the error object.
async fn assert_json_error(r: Response, what: &str) -> Value {
    let (status, body) = assert_json(r, what).await;
    assert!(status.is_client_error(), "{what}: {status}");
    let error = &body["errors"][0];
    assert!(error["code"].as_str().is_some_and(|c| !c.is_empty()), "{what}: {body}");
    assert!(error["message"].is_string(), "{what}: {body}");
    error.clone()
}

#[tokio::test]
async fn odd_requests_get_json_errors_that_no_browser_sniffs() {
    let app = TestApp::start().await;
    Registry::new(app.url("")).push_image("library/app", "v1", &random_bytes(100, 3)).await;
    let admin = Client::new();
    let basic = |req: crate::support::http::RequestBuilder| req.basic_auth(ADMIN.0, Some(ADMIN.1));
    let paths = [
        format!("/v2/library/{PROBE}/manifests/v1"),
        format!("/v2/library/app/manifests/{PROBE}"),
        "/v2/library/app/manifests/%FF%FE".to_owned(),
        format!("/v2/library/app/blobs/sha256:{PROBE}"),
        format!("/v2/library/app/tags/list?n={PROBE}"),
        format!("/v2/_catalog?n={PROBE}"),
        format!("/v2/library/app/blobs/uploads/{PROBE}"),
        format!("/v2/library/app/referrers/{PROBE}"),
        format!("/v2/{PROBE}"),
        format!("/api/v2.0/projects/{PROBE}"),
        format!("/api/v2.0/projects?page={PROBE}"),
        format!("/api/v2.0/projects?sort={PROBE}"),
        format!("/api/v2.0/projects/library/repositories/{PROBE}"),
        "/api/v2.0/projects/library/repositories/app%2500".to_owned(),
        format!("/api/v2.0/projects/library/repositories/app/artifacts/{PROBE}"),
        format!("/api/v2.0/projects/library/repositories/app/artifacts/v1/tags/{PROBE}"),
        format!("/api/v2.0/users/{PROBE}"),
        format!("/api/v2.0/registries/{PROBE}"),
        format!("/api/v2.0/{PROBE}"),
        "/api/v2.0/users/%FF".to_owned(),
    ];
    for path in &paths {
        assert_json_error(basic(admin.get(app.url(path))).send().await.unwrap(), path).await;
    }
    // Filters find nothing by such values; they fail nothing either.
    for path in [
        format!("/v2/library/app/tags/list?n=1&last={PROBE}"),
        format!("/v2/_catalog?last={PROBE}"),
        format!("/api/v2.0/projects?q=name%3D{PROBE}"),
        format!("/api/v2.0/projects?name={PROBE}"),
        format!("/api/v2.0/repositories?q=name%3D~{PROBE}"),
        format!("/api/v2.0/users/search?username={PROBE}"),
        format!("/api/v2.0/search?q={PROBE}"),
        format!("/api/v2.0/registries?name={PROBE}"),
        format!("/api/v2.0/audit-logs?q=operation%3D{PROBE}"),
    ] {
        let (status, body) = assert_json(basic(admin.get(app.url(&path))).send().await.unwrap(), &path).await;
        if status.is_success() {
            assert!(body.as_array().is_none_or(Vec::is_empty) || body.get("tags").is_some(), "{path}: found {body}");
        }
    }
    let deleted =
        basic(admin.delete(app.url(&format!("/api/v2.0/projects/library/repositories/app/artifacts/v1/tags/{PROBE}"))));
    assert_json_error(deleted.send().await.unwrap(), "DELETE of an odd tag").await;
    // The same in a JSON body.
    let odd = "\"<script>alert(1)</script>\u{1}\n";
    let r = api_as(&app, ADMIN, Method::POST, "/projects", Some(json!({"project_name": odd}))).await;
    assert_json_error(r, "an odd project name").await;
    let r = api_as(&app, ADMIN, Method::POST, "/users", Some(json!({"username": odd, "password": "x"}))).await;
    assert_json_error(r, "an odd user").await;
    // A NUL that reaches the database: PostgreSQL cannot hold it (400), SQLite can; never a 500.
    let body = json!({"description": "a\u{0}b"});
    let r = api_as(&app, ADMIN, Method::PUT, "/projects/library/repositories/app", Some(body)).await;
    assert!(matches!(r.status().as_u16(), 200 | 400), "a NUL in a description: {}", r.status());

    // Every other answer says nosniff too: a manifest, an API listing, a portal page, an asset.
    for path in ["/v2/library/app/manifests/v1", "/api/v2.0/projects", "/harbor/sign-in", "/api/v2.0/ping"] {
        let r = basic(admin.get(app.url(path))).send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
    }
}

/// A JWT that is no token of this registry gets 401 with a fixed message: the parser's own words
/// ("unknown variant `none`…") name its internals and help nobody.
#[tokio::test]
async fn a_bad_token_is_refused_without_the_parsers_words() {
    let app = TestApp::start().await;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let claims = json!({"iss": "berth-token-issuer", "sub": "admin", "aud": "harbor-registry", "exp": 4_000_000_000u64,
        "nbf": 0, "iat": 0, "jti": "1", "access": [{"type": "repository", "name": "library/app", "actions": ["*"]}]});
    let unsigned = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims));
    let hmac = format!("{}.{}.c2lnbmF0dXJl", b64(&json!({"alg": "HS256", "typ": "JWT"})), b64(&claims));
    let expired = expired_token(&app).await;
    for (what, token) in [
        ("alg none", unsigned.as_str()),
        ("HS256", hmac.as_str()),
        ("garbage", "garbage"),
        ("not base64", "a.b.c"),
        ("expired", expired.as_str()),
    ] {
        let r = Client::new()
            .get(app.url("/v2/library/app/tags/list"))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{what}");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.contains("error=\"invalid_token\""), "{what}: {challenge}");
        let error = assert_json_error(r, what).await;
        assert_eq!(error["code"], "UNAUTHORIZED", "{what}");
        assert_eq!(error["message"], "invalid token", "{what}");
    }
}

/// A token signed with this registry's own key whose time is over.
async fn expired_token(app: &TestApp) -> String {
    let (kid, pkcs8) = app.meta().signing_key(|| unreachable!("the key exists")).await.unwrap();
    let keys = berth_auth::TokenKeys::from_pkcs8(kid, &pkcs8).unwrap();
    keys.sign(&berth_auth::Claims {
        iss: berth_auth::token::ISSUER.to_owned(),
        sub: "admin".to_owned(),
        aud: "harbor-registry".to_owned(),
        exp: 1_000,
        nbf: 0,
        iat: 0,
        jti: "1".to_owned(),
        access: Vec::new(),
    })
}

/// A body over the API's limit: 413 with its own code, in Harbor's error body.
#[tokio::test]
async fn an_oversized_api_body_is_413_with_its_code() {
    let app = TestApp::start().await;
    let description = "x".repeat(3 << 20);
    let r = api_as(
        &app,
        ADMIN,
        Method::POST,
        "/projects",
        Some(json!({"project_name": "big", "metadata": {"description": description}})),
    )
    .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let error = assert_json_error(r, "oversized body").await;
    assert_eq!(error["code"], "PAYLOAD_TOO_LARGE");
    let r = api_as(&app, ADMIN, Method::GET, "/projects/big", None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "nothing was created");
}

/// `/users/search` needs a name, as in Harbor: an empty one listed every user to anyone signed in.
#[tokio::test]
async fn user_search_needs_a_name() {
    let app = TestApp::builder().with_user("someone", "Someone123").start().await;
    app.create_user("other", "Other12345").await;
    for query in ["", "?username=", "?username=%20%20"] {
        let r = api_as(&app, ("someone", "Someone123"), Method::GET, &format!("/users/search{query}"), None).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query:?}");
        assert_eq!(assert_json_error(r, query).await["code"], "BAD_REQUEST");
    }
    let r = api_as(&app, ("someone", "Someone123"), Method::GET, "/users/search?username=oth", None).await;
    let found: Value = r.json().await.unwrap();
    let names: Vec<&str> = found.as_array().unwrap().iter().filter_map(|u| u["username"].as_str()).collect();
    assert_eq!(names, ["other"]);
}
