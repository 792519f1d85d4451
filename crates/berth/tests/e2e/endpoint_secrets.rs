//! A registry endpoint's stored password goes only to the origin (scheme, host, port) it was
//! given for: `POST /registries/ping` and `PUT /registries/{id}` that move the endpoint elsewhere
//! must carry the password again. Proved with real listeners that record every `Authorization`
//! header they receive.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::registry::api_as;
use crate::support::{ADMIN, TestApp};

const USER: &str = "robot";
const SECRET: &str = "s3cret-Pa55";

/// A registry root on a loopback port that asks for Basic credentials and keeps what each
/// request to it carried in `Authorization` (`None`: nothing).
struct Recorder {
    url: String,
    seen: Arc<Mutex<Vec<Option<String>>>>,
}

impl Recorder {
    async fn start() -> Recorder {
        let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
        let record = seen.clone();
        let app = Router::new().fallback(move |headers: HeaderMap| {
            let record = record.clone();
            async move {
                let auth = headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("<binary>").to_owned());
                let known = auth.is_some();
                record.lock().unwrap().push(auth);
                if known {
                    StatusCode::OK.into_response()
                } else {
                    (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Basic realm=\"recorder\"")]).into_response()
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Recorder { url, seen }
    }

    fn requests(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// The Basic credentials received, decoded (`user:password`).
    fn credentials(&self) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .flatten()
            .map(|v| {
                let encoded = v.strip_prefix("Basic ").unwrap_or(v);
                let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap_or_default();
                String::from_utf8_lossy(&bytes).into_owned()
            })
            .collect()
    }
}

async fn api(app: &TestApp, method: Method, path: &str, body: Value) -> (StatusCode, String) {
    let r = api_as(app, ADMIN, method, path, Some(body)).await;
    (r.status(), r.text().await.unwrap())
}

/// `app` with endpoint `dist` at `at` holding the password; its id.
async fn endpoint(app: &TestApp, at: &Recorder) -> i64 {
    let body = json!({"name": "dist", "type": "docker-registry", "url": at.url,
        "credential": {"type": "basic", "access_key": USER, "access_secret": SECRET}});
    let (status, text) = api(app, Method::POST, "/registries", body).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    app.meta().list_registries(None, 0, 10).await.unwrap().0[0].id
}

fn assert_refused_as_moved((status, text): (StatusCode, String), what: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["errors"][0]["code"], "BAD_REQUEST", "{what}: {text}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("give the credential"), "{what}: {text}");
}

#[tokio::test]
async fn a_stored_password_never_follows_a_changed_url() {
    let app = TestApp::start().await;
    let (home, elsewhere) = (Recorder::start().await, Recorder::start().await);
    let id = endpoint(&app, &home).await;

    // Where it was given for, the password is sent: the recorder does see passwords.
    let (status, text) = api(&app, Method::POST, "/registries/ping", json!({"id": id})).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(home.credentials(), [format!("{USER}:{SECRET}")]);
    // The same origin spelt otherwise is the same origin.
    let same = home.url.replace("http://", "HTTP://") + "/";
    let (status, text) = api(&app, Method::POST, "/registries/ping", json!({"id": id, "url": same})).await;
    assert_eq!(status, StatusCode::OK, "{text}");

    // Another port, scheme or host, with the password left out or given back as listed: refused
    // before any request leaves.
    let home_port = home.url.rsplit(':').next().unwrap();
    let moved =
        [elsewhere.url.clone(), format!("https://127.0.0.1:{home_port}"), format!("http://localhost:{home_port}")];
    for url in &moved {
        for extra in [json!({}), json!({"access_secret": "*****"}), json!({"access_key": USER})] {
            let mut body = json!({"id": id, "url": url});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            let what = format!("ping {body}");
            assert_refused_as_moved(api(&app, Method::POST, "/registries/ping", body.clone()).await, &what);
            body.as_object_mut().unwrap().remove("id");
            let what = format!("update {body}");
            assert_refused_as_moved(api(&app, Method::PUT, &format!("/registries/{id}"), body).await, &what);
        }
    }
    assert_eq!(elsewhere.requests(), 0, "nothing reached the other origin");
    assert_eq!(home.credentials().len(), 2, "nothing more reached home either");
    let row = app.meta().registry(id).await.unwrap().unwrap();
    assert_eq!(row.url, home.url, "refused updates change nothing");
    assert!(row.access_secret.is_some());

    // Moved with a password of its own, the endpoint sends that one, never the stored one.
    let body = json!({"url": elsewhere.url, "access_secret": "an0ther-Pa55"});
    let (status, text) = api(&app, Method::PUT, &format!("/registries/{id}"), body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (status, text) = api(&app, Method::POST, "/registries/ping", json!({"id": id})).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(elsewhere.credentials(), [format!("{USER}:an0ther-Pa55")]);

    // Or without any credential: nothing to send.
    let body = json!({"url": home.url, "credential_type": ""});
    let (status, text) = api(&app, Method::PUT, &format!("/registries/{id}"), body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let before = home.requests();
    let (status, _) = api(&app, Method::POST, "/registries/ping", json!({"id": id})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "home asks for credentials, and has none now");
    assert!(home.requests() > before);
    assert_eq!(home.credentials().len(), 2, "no password went with it");
}
