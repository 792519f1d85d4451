//! Harbor's shapes where Berth once answered differently, in process, read as Harbor's models
//! (`berth_api_types`): the `Location` of a project named in it, artifacts' addition links, every
//! configuration and system-info key, robots' creators, Harbor's zero time for times never set,
//! the error body of a 405, and 403 rather than 404 for a private project.

use berth_api_types::{
    Access, Artifact, ConfigurationsResponse, Errors, GeneralInfo, Project, Robot, RobotCreate, RobotCreated,
    RobotPermission, UserResp,
};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::support::http::{self, Response};
use crate::support::registry::*;
use crate::support::{ADMIN, TestApp, random_bytes};

const STRANGER: (&str, &str) = ("stranger", "Stranger123");
const ZERO_TIME: &str = "0001-01-01T00:00:00.000Z";

async fn read<T: DeserializeOwned>(r: Response) -> T {
    let text = r.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

async fn get<T: DeserializeOwned>(app: &TestApp, path: &str) -> T {
    read(api_as(app, ADMIN, Method::GET, path, None).await).await
}

/// The status and Harbor error code of `r`.
async fn refusal(r: Response) -> (StatusCode, String) {
    let status = r.status();
    (status, read::<Errors>(r).await.errors[0].code.clone())
}

#[tokio::test]
async fn a_new_projects_location_ends_with_its_name_when_asked() {
    let app = TestApp::start().await;
    let by_id = api_as(&app, ADMIN, Method::POST, "/projects", Some(json!({"project_name": "by-id"}))).await;
    assert_eq!(by_id.status(), StatusCode::CREATED);
    let id = get::<Project>(&app, "/projects/by-id").await.project_id;
    assert_eq!(by_id.headers()["location"], format!("/api/v2.0/projects/{id}").as_str());

    let by_name = http::Client::new()
        .post(app.url("/api/v2.0/projects"))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .header("X-Resource-Name-In-Location", "true")
        .json(&json!({"project_name": "by-name"}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_name.status(), StatusCode::CREATED);
    assert_eq!(by_name.headers()["location"], "/api/v2.0/projects/by-name");
}

#[tokio::test]
async fn a_private_project_refuses_signed_in_strangers_with_403_and_anonymous_callers_with_401() {
    let app = TestApp::builder().with_user(STRANGER.0, STRANGER.1).with_project("secret", false).start().await;
    for path in
        ["/projects/secret", "/projects/secret/summary", "/projects/secret/repositories", "/projects/secret/logs"]
    {
        let stranger = refusal(api_as(&app, STRANGER, Method::GET, path, None).await).await;
        assert_eq!(stranger, (StatusCode::FORBIDDEN, "FORBIDDEN".to_owned()), "{path}");
        let anonymous = refusal(http::get(app.url(&format!("/api/v2.0{path}"))).await.unwrap()).await;
        assert_eq!(anonymous, (StatusCode::UNAUTHORIZED, "UNAUTHORIZED".to_owned()), "{path}");
    }
    // What does not exist is still not found, and what is public is still readable.
    let nothing = api_as(&app, STRANGER, Method::GET, "/projects/nothing", None).await;
    assert_eq!(nothing.status(), StatusCode::NOT_FOUND);
    assert_eq!(api_as(&app, STRANGER, Method::GET, "/projects/library", None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_method_a_path_does_not_take_gets_harbors_error_body() {
    let app = TestApp::start().await;
    let answer = api_as(&app, ADMIN, Method::DELETE, "/systeminfo", None).await;
    assert_eq!(answer.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(answer.headers()["allow"].to_str().unwrap().contains("GET"));
    let error = &read::<Errors>(answer).await.errors[0];
    assert_eq!(error.code, "METHOD_NOT_ALLOWED");
    assert!(error.message.contains("DELETE"), "{}", error.message);
}

#[tokio::test]
async fn configurations_and_systeminfo_carry_every_key_harbor_documents() {
    let app = TestApp::start().await;
    // Typed: a key Harbor documents that the answer lacks fails here.
    let c: ConfigurationsResponse = get(&app, "/configurations").await;
    assert_eq!((c.self_registration.value, c.self_registration.editable), (false, true));
    assert_eq!((c.token_expiration.value, c.token_expiration.editable), (30, true));
    assert_eq!((c.ldap_uid.value.as_str(), c.ldap_uid.editable), ("cn", false));
    assert_eq!(c.robot_name_prefix.value, "robot$");
    assert_eq!(c.session_timeout.value, 480);

    let info: GeneralInfo = get(&app, "/systeminfo").await;
    let every_key = [
        info.banner_message.is_some(),
        info.current_time.is_some(),
        info.registry_url.as_deref() == Some(app.host().as_str()),
        info.external_url.as_deref() == Some(app.url("").as_str()),
        info.auth_mode.is_some(),
        info.primary_auth_mode.is_some(),
        info.project_creation_restriction.is_some(),
        info.self_registration.is_some(),
        info.has_ca_root.is_some(),
        info.harbor_version.is_some(),
        info.registry_storage_provider_name.as_deref() == Some("filesystem"),
        info.read_only.is_some(),
        info.notification_enable.is_some(),
        info.oidc_provider_name.is_some(),
    ];
    assert!(every_key.iter().all(|k| *k), "{info:?}");
    // As Harbor: what it protects stays hidden from anonymous callers.
    let anonymous: GeneralInfo = read(http::get(app.url("/api/v2.0/systeminfo")).await.unwrap()).await;
    assert_eq!(anonymous.project_creation_restriction, None);
    assert_eq!(anonymous.current_time, None);
    assert_eq!(anonymous.external_url, None);
}

#[tokio::test]
async fn robots_name_their_creator() {
    let app = TestApp::start().await;
    let access = Access { resource: "repository".to_owned(), action: "pull".to_owned(), effect: None };
    let robot = RobotCreate {
        name: "ci".to_owned(),
        description: String::new(),
        secret: None,
        level: "project".to_owned(),
        disable: false,
        duration: None,
        permissions: vec![RobotPermission {
            kind: "project".into(),
            namespace: "library".into(),
            access: vec![access],
        }],
    };
    let body = serde_json::to_value(&robot).unwrap();
    let created: RobotCreated = read(api_as(&app, ADMIN, Method::POST, "/robots", Some(body)).await).await;
    let stored: Robot = get(&app, &format!("/robots/{}", created.id)).await;
    let admin: UserResp = get(&app, "/users/current").await;
    assert_eq!((stored.creator_type.as_str(), stored.creator_ref), ("local", admin.user_id));
}

#[tokio::test]
async fn artifacts_link_their_additions_and_a_time_never_set_is_harbors_zero_time() {
    let app = TestApp::start().await;
    let (_, digest) = Registry::new(app.url("")).push_image("library/team/app", "v1", &random_bytes(100, 21)).await;
    let artifact: Artifact = get(&app, "/projects/library/repositories/team%252Fapp/artifacts/v1").await;
    let base = format!("/api/v2.0/projects/library/repositories/team%252Fapp/artifacts/{digest}/additions");
    let (history, layers) = (format!("{base}/build_history"), format!("{base}/layers"));
    let links: Vec<(&str, &str, bool)> =
        artifact.addition_links.iter().map(|(k, l)| (k.as_str(), l.href.as_str(), l.absolute)).collect();
    assert_eq!(links, [("build_history", history.as_str(), false), ("layers", layers.as_str(), false)]);
    for href in [&history, &layers] {
        let path = href.strip_prefix("/api/v2.0").unwrap();
        assert_eq!(api_as(&app, ADMIN, Method::GET, path, None).await.status(), StatusCode::OK, "{href}");
    }
    // Never pulled.
    assert_eq!(artifact.pull_time, ZERO_TIME);
    assert_eq!(artifact.tags.unwrap()[0].pull_time, ZERO_TIME);
}
