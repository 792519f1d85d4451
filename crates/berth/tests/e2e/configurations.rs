//! Harbor's `/api/v2.0/configurations`: settings an administrator changes at run time. They are
//! stored in the database, override the configuration file, and take effect at once.

use crate::support::http::Client;
use crate::support::registry::api_as;
use crate::support::{ADMIN, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const DEV: (&str, &str) = ("dev", "Developer123");

async fn configurations(berth: &TestApp) -> Value {
    let r = api_as(berth, ADMIN, Method::GET, "/configurations", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

async fn put(berth: &TestApp, creds: (&str, &str), body: Value) -> (StatusCode, String) {
    let r = api_as(berth, creds, Method::PUT, "/configurations", Some(body)).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (status, body["errors"][0]["message"].as_str().unwrap_or("").to_owned())
}

async fn token_lifetime(berth: &TestApp) -> i64 {
    let r = Client::new()
        .get(berth.url("/service/token?service=harbor-registry&scope=repository:library/app:pull"))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["expires_in"].as_i64().unwrap()
}

#[tokio::test]
async fn settings_change_at_run_time_and_outlive_a_restart() {
    let mut berth = TestApp::start().await;
    berth.create_user(DEV.0, DEV.1).await;
    let c = configurations(&berth).await;
    assert_eq!(c["self_registration"], json!({"value": false, "editable": true}));
    assert_eq!(c["project_creation_restriction"], json!({"value": "everyone", "editable": true}));
    assert_eq!(c["token_expiration"], json!({"value": 30, "editable": true}));
    assert_eq!(c["auth_mode"]["editable"], false);
    assert_eq!(token_lifetime(&berth).await, 1800);

    let (status, _) = put(
        &berth,
        ADMIN,
        json!({"self_registration": true, "project_creation_restriction": "adminonly", "token_expiration": 5}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // In force at once: tokens, sign-up, project creation.
    assert_eq!(token_lifetime(&berth).await, 300);
    let signup = json!({"username": "walkin", "password": "Walkin123", "email": "w@x.org", "realname": "W"});
    let r = Client::new().post(berth.url("/api/v2.0/users")).json(&signup).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "self-registration is on");
    let r = api_as(&berth, DEV, Method::POST, "/projects", Some(json!({"project_name": "mine"}))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "only administrators create projects now");
    let info: Value = Client::new().get(berth.url("/api/v2.0/systeminfo")).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["self_registration"], true);

    // The change is audited.
    let logs: Value = api_as(&berth, ADMIN, Method::GET, "/audit-logs?q=resource_type%3Dconfiguration", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(logs[0]["operation"], "update");
    assert_eq!(logs[0]["username"], "admin");

    // Stored: a restart (same configuration file) keeps them.
    berth.restart().await;
    let c = configurations(&berth).await;
    assert_eq!(c["self_registration"]["value"], true);
    assert_eq!(c["project_creation_restriction"]["value"], "adminonly");
    assert_eq!(token_lifetime(&berth).await, 300);
}

#[tokio::test]
async fn bad_changes_are_refused_whole_and_change_nothing() {
    let berth = TestApp::start().await;
    berth.create_user(DEV.0, DEV.1).await;
    for (body, expected) in [
        (json!({"self_registration": "yes"}), "self_registration must be true or false"),
        (json!({"project_creation_restriction": "nobody"}), "\"everyone\" or \"adminonly\""),
        (json!({"token_expiration": 0}), "token_expiration must be a number of minutes"),
        (json!({"token_expiration": -5}), "token_expiration must be a number of minutes"),
        (json!({"auth_mode": "ldap_auth"}), "auth_mode is not a setting that can be changed here"),
        (json!({"no_such_thing": 1}), "no_such_thing is not a setting"),
        // A valid change next to a bad one is not made either.
        (json!({"self_registration": true, "token_expiration": "soon"}), "token_expiration"),
    ] {
        let (status, text) = put(&berth, ADMIN, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {text}");
        assert!(text.to_lowercase().contains(&expected.to_lowercase()), "{body}: {text}");
    }
    let (status, text) = put(&berth, ADMIN, json!(["self_registration"])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "not an object: {text}");
    let (status, _) = put(&berth, DEV, json!({"self_registration": true})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let r = Client::new()
        .put(berth.url("/api/v2.0/configurations"))
        .json(&json!({"self_registration": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api_as(&berth, DEV, Method::GET, "/configurations", None).await.status(), StatusCode::FORBIDDEN);

    let c = configurations(&berth).await;
    assert_eq!(c["self_registration"]["value"], false);
    assert_eq!(c["token_expiration"]["value"], 30);
    assert_eq!(token_lifetime(&berth).await, 1800);
}
