//! Signing out changes state, so it takes a POST with the session's CSRF token: a link, an image
//! or a form on another site must not end anyone's session.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::http::{Client, Response};
use crate::support::{ADMIN, TestApp};

/// Signs in as admin; the session's cookie (`sid=…`) and CSRF token.
async fn sign_in(app: &TestApp, http: &Client) -> (String, String) {
    let r = http.post(app.url("/c/login")).form(&[("principal", ADMIN.0), ("password", ADMIN.1)]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    (cookie, r.headers()["x-harbor-csrf-token"].to_str().unwrap().to_owned())
}

async fn session_works(app: &TestApp, http: &Client, cookie: &str) -> bool {
    let r = http.get(app.url("/api/v2.0/users/current")).header("cookie", cookie).send().await.unwrap();
    r.status() == StatusCode::OK
}

async fn harbor_code(r: Response) -> String {
    let body: Value = r.json().await.unwrap();
    body["errors"][0]["code"].as_str().unwrap_or_default().to_owned()
}

/// `POST /c/log_out` with session cookie `cookie` and CSRF token `token`.
async fn log_out(app: &TestApp, http: &Client, cookie: &str, token: Option<&str>) -> Response {
    let mut req = http.post(app.url("/c/log_out")).header("cookie", cookie);
    if let Some(t) = token {
        req = req.header("x-harbor-csrf-token", t);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn log_out_takes_a_post_with_the_csrf_token() {
    let app = TestApp::start().await;
    let http = Client::without_redirects();
    let (cookie, csrf) = sign_in(&app, &http).await;
    assert!(session_works(&app, &http, &cookie).await);

    // A GET, as a cross-site link or image makes it: refused, and the session goes on.
    let r = http.get(app.url("/c/log_out")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.headers().get("set-cookie").is_none(), "the cookie is kept");
    assert_eq!(harbor_code(r).await, "METHOD_NOT_ALLOWED");
    let r = http.get(app.url("/harbor/sign-out")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "the portal's sign-out is a form's POST too");
    assert!(session_works(&app, &http, &cookie).await, "a GET signed the user out");

    // A POST without the token (a cross-site form) or with another one: refused too.
    for token in [None, Some("forged"), Some("")] {
        let r = log_out(&app, &http, &cookie, token).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "token {token:?}");
        assert!(r.headers().get("set-cookie").is_none());
        assert_eq!(harbor_code(r).await, "FORBIDDEN");
        assert!(session_works(&app, &http, &cookie).await, "signed out with token {token:?}");
    }
    let (other_cookie, other_csrf) = sign_in(&app, &http).await;
    let r = log_out(&app, &http, &cookie, Some(&other_csrf)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "another session's token");
    assert!(session_works(&app, &http, &cookie).await);

    // With its own token: the session ends and the cookie expires.
    let r = log_out(&app, &http, &cookie, Some(&csrf)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert!(!session_works(&app, &http, &cookie).await, "still signed in");
    assert!(session_works(&app, &http, &other_cookie).await, "only that session ended");
    // Without a session there is nothing to protect: the cookie is expired all the same.
    let r = log_out(&app, &http, &cookie, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
}
