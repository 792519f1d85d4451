//! Abuse: the login throttle (per account and address, growing delays, equal timing, argon2 off
//! the request threads), sessions ended with the password or the user, per-client rate limits
//! and the cap on concurrent uploads.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::support::http::{Client, Response};
use crate::support::registry::*;
use crate::support::{ADMIN, Berth, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::json;

const PASSWORD: &str = "Passw0rdX";

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// `GET /api/v2.0/users/current` with Basic credentials, from `from`.
async fn whoami(berth: &TestApp, (user, password): (&str, &str), from: IpAddr) -> Response {
    let req = Client::new().get(berth.url("/api/v2.0/users/current")).basic_auth(user, Some(password));
    req.sent_from(from).send().await.unwrap()
}

/// A portal sign-in (`POST /c/login`) from `from`.
async fn sign_in(berth: &TestApp, user: &str, password: &str, from: IpAddr) -> Response {
    let form = [("principal", user), ("password", password)];
    Client::new().post(berth.url("/c/login")).form(&form).sent_from(from).send().await.unwrap()
}

/// The session cookie (`sid=…`) and CSRF token a successful sign-in gave.
fn session_of(r: &Response) -> (String, String) {
    assert_eq!(r.status(), StatusCode::OK, "sign-in refused");
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    let csrf = r.headers()["x-harbor-csrf-token"].to_str().unwrap();
    (cookie.split(';').next().unwrap().to_owned(), csrf.to_owned())
}

/// Who the session `sid` is, or the status refusing it.
async fn session_user(berth: &TestApp, sid: &str) -> Result<String, StatusCode> {
    let r = Client::new().get(berth.url("/api/v2.0/users/current")).header("cookie", sid).send().await.unwrap();
    match r.status() {
        StatusCode::OK => Ok(r.json::<serde_json::Value>().await.unwrap()["username"].as_str().unwrap().to_owned()),
        status => Err(status),
    }
}

/// Asserts `r` is a 429 with `code` and a `Retry-After` of at most `max_secs`; returns it.
async fn too_many(r: Response, code: &str, max_secs: u64) -> u64 {
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=max_secs).contains(&retry), "Retry-After {retry}");
    expect_error(r, StatusCode::TOO_MANY_REQUESTS, code).await;
    retry
}

#[tokio::test]
async fn failed_logins_throttle_the_name_from_that_address_only() {
    let berth = TestApp::builder().with_user("target", PASSWORD).start().await;
    let (guesser, owner) = (ip("203.0.113.7"), ip("198.51.100.20"));
    for _ in 0..5 {
        let r = whoami(&berth, ("target", "Wrong1234"), guesser).await;
        expect_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    }
    // Blocked for a second: even the right password is answered 429, unchecked.
    too_many(whoami(&berth, ("target", PASSWORD), guesser).await, "TOO_MANY_REQUESTS", 1).await;
    // The owner, elsewhere, is not locked out.
    assert_eq!(whoami(&berth, ("target", PASSWORD), owner).await.status(), StatusCode::OK);
    session_of(&sign_in(&berth, "target", PASSWORD, owner).await);

    // A name that does not exist is throttled alike, so a 429 tells nothing about existence.
    for _ in 0..5 {
        let r = whoami(&berth, ("ghost", "Wrong1234"), guesser).await;
        expect_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    }
    too_many(whoami(&berth, ("ghost", "Wrong1234"), guesser).await, "TOO_MANY_REQUESTS", 1).await;

    // Each further failure doubles the block: 1 s after the 5th, 2 s after the 6th, 4 s after the 7th.
    for expected in [2, 4] {
        tokio::time::sleep(Duration::from_millis(expected * 500 + 100)).await;
        let r = whoami(&berth, ("target", "Wrong1234"), guesser).await;
        expect_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
        let wait = too_many(whoami(&berth, ("target", PASSWORD), guesser).await, "TOO_MANY_REQUESTS", 4).await;
        assert_eq!(wait, expected, "each block twice the last");
    }
    // Blocked everywhere: the portal's sign-in, the token service, the registry's Basic auth.
    too_many(sign_in(&berth, "target", PASSWORD, guesser).await, "TOO_MANY_REQUESTS", 4).await;
    let token =
        Client::new().get(berth.url("/service/token?service=harbor-registry")).basic_auth("target", Some(PASSWORD));
    too_many(token.sent_from(guesser).send().await.unwrap(), "TOOMANYREQUESTS", 4).await;
    let v2 = Client::new().get(berth.url("/v2/")).basic_auth("target", Some(PASSWORD));
    too_many(v2.sent_from(guesser).send().await.unwrap(), "TOOMANYREQUESTS", 4).await;
    // Once it is over, the right password works from there too, and the count starts again.
    tokio::time::sleep(Duration::from_millis(4100)).await;
    assert_eq!(whoami(&berth, ("target", PASSWORD), guesser).await.status(), StatusCode::OK);
    for _ in 0..4 {
        let r = whoami(&berth, ("target", "Wrong1234"), guesser).await;
        expect_error(r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    }
    assert_eq!(whoami(&berth, ("target", PASSWORD), guesser).await.status(), StatusCode::OK);
    // Every refusal is in the audit log, with the address.
    let log = api_as(&berth, ADMIN, Method::GET, "/audit-logs?q=operation%3Dlogin_failed&page_size=100", None).await;
    let log: serde_json::Value = log.json().await.unwrap();
    assert_eq!(log.as_array().unwrap().len(), 23, "{log}");
}

/// The median of `samples`.
fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::test]
async fn unknown_and_blocked_accounts_answer_as_slowly_as_a_wrong_password() {
    const ROUNDS: usize = 16;
    let mut builder = TestApp::builder().with_user("blocked", PASSWORD);
    for i in 0..ROUNDS / 4 {
        builder = builder.with_user(&format!("user{i}"), PASSWORD);
    }
    let berth = builder.start().await;
    let here = ip("192.0.2.50");
    for _ in 0..5 {
        whoami(&berth, ("blocked", "Wrong1234"), here).await;
    }
    // Keep it blocked for the whole test (the 5th failure alone blocks for a second).
    let meta = berth.meta();
    meta.block_login("blocked", "192.0.2.50", i64::MAX / 2).await.unwrap();

    let (mut wrong, mut unknown, mut blocked) = (Vec::new(), Vec::new(), Vec::new());
    let timed = async |user: &str| {
        let started = Instant::now();
        let status = whoami(&berth, (user, "Wrong1234"), here).await.status();
        (started.elapsed(), status)
    };
    // Interleaved, so a load on the machine weighs on the three alike. Each real account takes
    // at most 4 failures, staying below the throttle.
    for i in 0..ROUNDS {
        let (t, status) = timed(&format!("user{}", i % (ROUNDS / 4))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        wrong.push(t);
        let (t, status) = timed(&format!("nobody{i}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        unknown.push(t);
        let (t, status) = timed("blocked").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        blocked.push(t);
    }
    let (wrong, unknown, blocked) = (median(wrong), median(unknown), median(blocked));
    for (what, t) in [("unknown", unknown), ("blocked", blocked)] {
        let ratio = t.as_secs_f64() / wrong.as_secs_f64();
        assert!((0.5..=2.0).contains(&ratio), "{what} account: median {t:?} against {wrong:?} for a wrong password");
    }
}

#[tokio::test]
async fn bad_logins_in_parallel_leave_other_requests_fast() {
    let berth = Berth::start();
    let http = reqwest::Client::new();
    let ping = berth.url("/api/v2.0/ping");
    let time_pings = async |n: usize| {
        // Spread over a second or two, so they meet the guessers at every stage of their work.
        let mut samples = Vec::new();
        for _ in 0..n {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let started = Instant::now();
            assert_eq!(http.get(&ping).send().await.unwrap().status(), StatusCode::OK);
            samples.push(started.elapsed());
        }
        median(samples)
    };
    let baseline = time_pings(20).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let guessers: Vec<_> = (0..16)
        .map(|i| {
            let (http, url, stop) = (http.clone(), berth.url("/api/v2.0/users/current"), stop.clone());
            tokio::spawn(async move {
                let mut tries = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = http.get(&url).basic_auth(format!("guess{i}"), Some("Wrong1234")).send().await.unwrap();
                    assert!(matches!(r.status().as_u16(), 401 | 429), "{}", r.status());
                    tries += 1;
                }
                tries
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let loaded = time_pings(60).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut tries = 0;
    for guesser in guessers {
        tries += guesser.await.unwrap();
    }
    assert!(tries >= 16, "the guessers ran ({tries} tries)");
    // With argon2 on the request threads this was 100–300 ms.
    assert!(loaded < Duration::from_millis(50), "ping: median {loaded:?} under load, {baseline:?} without");
}

#[tokio::test]
async fn old_password_guesses_on_a_session_are_throttled() {
    let berth = TestApp::builder().with_user("carol", PASSWORD).start().await;
    let id = berth.create_user("dave", PASSWORD).await;
    let thief = ip("203.0.113.9");
    let (sid, csrf) = session_of(&sign_in(&berth, "dave", PASSWORD, thief).await);
    let change = |old: &str| {
        let body = json!({"old_password": old, "new_password": "Changed123"});
        let req = Client::new().put(berth.url(&format!("/api/v2.0/users/{id}/password")));
        req.header("cookie", &sid).header("x-harbor-csrf-token", &csrf).json(&body).sent_from(thief).send()
    };
    for _ in 0..5 {
        expect_error(change("Wrong1234").await.unwrap(), StatusCode::FORBIDDEN, "FORBIDDEN").await;
    }
    too_many(change(PASSWORD).await.unwrap(), "TOO_MANY_REQUESTS", 1).await;
    // Nothing changed; the owner still signs in, from their own address.
    assert_eq!(whoami(&berth, ("dave", PASSWORD), ip("198.51.100.1")).await.status(), StatusCode::OK);
    assert_eq!(whoami(&berth, ("carol", PASSWORD), thief).await.status(), StatusCode::OK, "other accounts unaffected");
}

#[tokio::test]
async fn sessions_end_when_the_password_changes_or_the_user_is_deleted() {
    let berth = TestApp::start().await;
    let id = berth.create_user("erin", PASSWORD).await;
    let here = ip("192.0.2.10");
    let password_url = berth.url(&format!("/api/v2.0/users/{id}/password"));
    let other = session_of(&sign_in(&berth, "admin", ADMIN.1, here).await);

    // Her own change, made on one session, ends both of hers.
    let (sid1, csrf1) = session_of(&sign_in(&berth, "erin", PASSWORD, here).await);
    let (sid2, _) = session_of(&sign_in(&berth, "erin", PASSWORD, here).await);
    assert_eq!(session_user(&berth, &sid2).await.as_deref(), Ok("erin"));
    let body = json!({"old_password": PASSWORD, "new_password": "Second123"});
    let r = Client::new().put(&password_url).header("cookie", &sid1).header("x-harbor-csrf-token", &csrf1).json(&body);
    assert_eq!(r.send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(session_user(&berth, &sid1).await, Err(StatusCode::UNAUTHORIZED));
    assert_eq!(session_user(&berth, &sid2).await, Err(StatusCode::UNAUTHORIZED));

    // An administrator's reset ends hers too, not the administrator's.
    let (sid3, _) = session_of(&sign_in(&berth, "erin", "Second123", here).await);
    let reset = json!({"new_password": "Third1234"});
    let r = api_as(&berth, ADMIN, Method::PUT, &format!("/users/{id}/password"), Some(reset)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(session_user(&berth, &sid3).await, Err(StatusCode::UNAUTHORIZED));
    assert_eq!(session_user(&berth, &other.0).await.as_deref(), Ok("admin"));

    // A refused change (wrong old password) ends nothing.
    let (sid4, csrf4) = session_of(&sign_in(&berth, "erin", "Third1234", here).await);
    let body = json!({"old_password": "Wrong1234", "new_password": "Fourth123"});
    let r = Client::new().put(&password_url).header("cookie", &sid4).header("x-harbor-csrf-token", &csrf4).json(&body);
    expect_error(r.send().await.unwrap(), StatusCode::FORBIDDEN, "FORBIDDEN").await;
    assert_eq!(session_user(&berth, &sid4).await.as_deref(), Ok("erin"));

    // Deleting her ends it.
    let r = api_as(&berth, ADMIN, Method::DELETE, &format!("/users/{id}"), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(session_user(&berth, &sid4).await, Err(StatusCode::UNAUTHORIZED));
    assert_eq!(session_user(&berth, &other.0).await.as_deref(), Ok("admin"));
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_per_client() {
    let berth = TestApp::builder()
        .with_env("BERTH_LIMITS_API_PER_SECOND", "1")
        .with_env("BERTH_LIMITS_API_BURST", "3")
        .with_env("BERTH_LIMITS_TOKEN_PER_MINUTE", "1")
        .with_env("BERTH_LIMITS_TOKEN_BURST", "2")
        .with_env("BERTH_LIMITS_LOGIN_PER_MINUTE", "1")
        .with_env("BERTH_LIMITS_LOGIN_BURST", "2")
        .start()
        .await;
    let (busy, calm) = (ip("203.0.113.30"), ip("198.51.100.30"));
    let get = |path: &str, from: IpAddr| Client::new().get(berth.url(path)).sent_from(from).send();

    for _ in 0..3 {
        assert_eq!(get("/api/v2.0/ping", busy).await.unwrap().status(), StatusCode::OK);
    }
    too_many(get("/api/v2.0/ping", busy).await.unwrap(), "TOO_MANY_REQUESTS", 1).await;
    assert_eq!(get("/api/v2.0/ping", calm).await.unwrap().status(), StatusCode::OK, "another client");
    for _ in 0..10 {
        // Loopback is exempt by default (tools on the same host).
        assert_eq!(Client::new().get(berth.url("/api/v2.0/ping")).send().await.unwrap().status(), StatusCode::OK);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get("/api/v2.0/ping", busy).await.unwrap().status(), StatusCode::OK, "the rate comes back");

    let token = "/service/token?service=harbor-registry&scope=repository:library/app:pull";
    for _ in 0..2 {
        assert_eq!(get(token, busy).await.unwrap().status(), StatusCode::OK);
    }
    let retry = too_many(get(token, busy).await.unwrap(), "TOOMANYREQUESTS", 60).await;
    assert!(retry >= 59, "one a minute: {retry}");
    // The registry's own requests are not limited.
    for _ in 0..5 {
        expect_error(get("/v2/", busy).await.unwrap(), StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    }

    for _ in 0..2 {
        assert_eq!(sign_in(&berth, "admin", "Wrong1234", busy).await.status(), StatusCode::UNAUTHORIZED);
    }
    too_many(sign_in(&berth, "admin", ADMIN.1, busy).await, "TOO_MANY_REQUESTS", 60).await;
    let form = [("principal", "admin"), ("password", ADMIN.1)];
    let portal = Client::new().post(berth.url("/harbor/sign-in")).form(&form).sent_from(busy).send().await.unwrap();
    assert_eq!(portal.status(), StatusCode::TOO_MANY_REQUESTS, "the portal's form counts as a sign-in");
    session_of(&sign_in(&berth, "admin", ADMIN.1, calm).await);
}

#[tokio::test]
async fn concurrent_uploads_per_client_are_capped() {
    let berth = Berth::builder()
        .with_env("BERTH_LIMITS_UPLOADS_PER_CLIENT", "2")
        .with_env("BERTH_LIMITS_EXEMPT_LOOPBACK", "false")
        .start();
    let r = Registry::new(berth.url(""));
    // Two uploads whose bodies keep coming until told to end.
    let mut feeds = Vec::new();
    let mut uploads = Vec::new();
    for _ in 0..2 {
        let url = r.start_upload("library/big").await;
        let (feed, body) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(1);
        feed.send(Ok(bytes::Bytes::from_static(b"first bytes"))).await.unwrap();
        let stream =
            futures_util::stream::unfold(body, |mut body| async { body.recv().await.map(|item| (item, body)) });
        let patch = r.http.patch(&url).body(reqwest::Body::wrap_stream(stream)).send();
        uploads.push(tokio::spawn(async move { patch.await.unwrap().status() }));
        feeds.push(feed);
    }
    // Give the server both requests; then a third is one too many.
    let mut refused = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let third = r.http.post(r.url("/v2/library/big/blobs/uploads/")).send().await.unwrap();
        if third.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(third);
            break;
        }
        assert_eq!(third.status(), StatusCode::ACCEPTED);
    }
    too_many(refused.expect("a third upload refused while two are in progress"), "TOOMANYREQUESTS", 1).await;
    assert_eq!(r.get("/v2/").await.status(), StatusCode::OK, "other requests go on");
    // One ends: there is room again.
    feeds.remove(0);
    assert_eq!(uploads.remove(0).await.unwrap(), StatusCode::ACCEPTED);
    r.start_upload("library/big").await;
    drop(feeds);
    assert_eq!(uploads.remove(0).await.unwrap(), StatusCode::ACCEPTED);
    let log = berth.log();
    assert!(log.contains("limits.uploads_per_client") && log.contains("answering 429"), "{log}");
}
