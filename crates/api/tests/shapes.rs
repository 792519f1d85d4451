//! Harbor's shapes where Berth once answered differently, checked against the API router in
//! process on a fresh SQLite database: the `Location` of a project named in it, artifacts'
//! addition links, every configuration and system-info key, robots' creators, Harbor's zero time
//! for times never set, the error body of a 405, and 403 rather than 404 for a private project.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use berth_api::{ApiState, Editable, ProjectCreation, Settings};
use berth_api_types::{
    Access, Artifact, ConfigurationsResponse, Errors, GeneralInfo, ProjectMetadata, ProjectReq, Robot, RobotCreate,
    RobotCreated, RobotPermission, UserCreationReq, UserResp,
};
use berth_auth::Auth;
use berth_content::{Actor, Check, Content, Storing};
use berth_meta::{Meta, NewUser};
use berth_oci::{Digest, Reference, RepoName, Tag};
use berth_replication::{Endpoints, Sealer};
use berth_storage::BlobStore;
use http_body_util::BodyExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower::ServiceExt;

const ADMIN: (&str, &str) = ("admin", "Harbor12345");
const STRANGER: (&str, &str) = ("stranger", "Stranger123");
const ZERO_TIME: &str = "0001-01-01T00:00:00.000Z";

/// The API router on a database of its own, with `admin` and `library` as a first start makes
/// them, and the content store (to push images without the registry).
struct Api {
    router: Router,
    content: Content,
    _data: tempfile::TempDir,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    fn error_code(&self) -> String {
        self.json::<Errors>().errors[0].code.clone()
    }
}

impl Api {
    async fn start() -> Api {
        let data = tempfile::tempdir().unwrap();
        let meta = Meta::open_sqlite(&data.path().join("registry.db"), 4).await.unwrap();
        let hash = berth_auth::password::hash(ADMIN.1);
        let admin =
            NewUser { username: ADMIN.0, email: None, realname: "", comment: "", password_hash: &hash, sysadmin: true };
        meta.first_start(&admin, "library").await.unwrap();
        let store = BlobStore::open_filesystem(data.path().join("storage")).await.unwrap();
        let auth = Auth::new(meta.clone(), "harbor-registry".to_owned(), Duration::from_secs(1800)).await.unwrap();
        let content = Content::new(meta.clone(), store);
        let endpoints = Endpoints::new(meta, Sealer::new("a secret of sixteen or more"), "this-registry".to_owned());
        let editable =
            Editable { self_registration: false, project_creation: ProjectCreation::Everyone, token_expiration: 30 };
        let state = ApiState::new(Arc::new(auth), Settings::new(None, editable), content.clone(), endpoints);
        Api { router: berth_api::router(state), content, _data: data }
    }

    async fn call<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        who: Option<(&str, &str)>,
        headers: &[(&str, &str)],
        body: Option<&B>,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(format!("/api/v2.0{path}")).header("host", "berth.test");
        if let Some((user, password)) = who {
            use base64::Engine;
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            req = req.header(header::AUTHORIZATION, format!("Basic {basic}"));
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let body = match body {
            Some(b) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(b).unwrap())
            }
            None => Body::empty(),
        };
        let response = self.router.clone().oneshot(req.body(body).unwrap()).await.unwrap();
        let (parts, body) = response.into_parts();
        Answer { status: parts.status, headers: parts.headers, body: body.collect().await.unwrap().to_bytes() }
    }

    async fn get(&self, path: &str, who: Option<(&str, &str)>) -> Answer {
        self.call(Method::GET, path, who, &[], None::<&()>).await
    }

    async fn create_project(&self, name: &str, headers: &[(&str, &str)]) -> Answer {
        let req = ProjectReq {
            project_name: Some(name.to_owned()),
            metadata: Some(ProjectMetadata { public: Some("false".to_owned()) }),
            ..ProjectReq::default()
        };
        self.call(Method::POST, "/projects", Some(ADMIN), headers, Some(&req)).await
    }

    async fn create_stranger(&self) {
        let user = UserCreationReq {
            username: STRANGER.0.to_owned(),
            email: None,
            realname: String::new(),
            password: STRANGER.1.to_owned(),
            comment: String::new(),
        };
        let created = self.call(Method::POST, "/users", Some(ADMIN), &[], Some(&user)).await;
        assert_eq!(created.status, StatusCode::CREATED);
    }

    /// Pushes an image (a config with a history, one layer) as `repo:tag`; returns its digest.
    async fn push_image(&self, repo: &str, tag: &str) -> String {
        let name = RepoName::parse(repo).unwrap();
        let config = br#"{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/app"]},"history":[{"created_by":"COPY app /app"}],"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let layer = b"layer bytes".as_slice();
        for blob in [config.as_slice(), layer] {
            let body = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::copy_from_slice(blob))]);
            self.content.write_blob(&name, &Digest::sha256_of(blob), body).await.unwrap();
        }
        let descriptor = |media_type: &str, blob: &[u8]| {
            format!(r#"{{"mediaType":"{media_type}","digest":"{}","size":{}}}"#, Digest::sha256_of(blob), blob.len())
        };
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[{}]}}"#,
            descriptor("application/vnd.oci.image.config.v1+json", config),
            descriptor("application/vnd.oci.image.layer.v1.tar", layer),
        );
        let reference = Reference::Tag(Tag::parse(tag).unwrap());
        let how = Storing { check: Check::References, stamp: None };
        let actor = Actor::system("admin", None);
        self.content.store_manifest(&name, &reference, manifest.as_bytes(), None, how, &actor).await.unwrap();
        Digest::sha256_of(manifest.as_bytes()).to_string()
    }
}

#[tokio::test]
async fn a_new_projects_location_ends_with_its_name_when_asked() {
    let api = Api::start().await;
    let by_id = api.create_project("by-id", &[]).await;
    assert_eq!(by_id.status, StatusCode::CREATED);
    let id = api.get("/projects/by-id", Some(ADMIN)).await.json::<berth_api_types::Project>().project_id;
    assert_eq!(by_id.headers[header::LOCATION], format!("/api/v2.0/projects/{id}"));

    let by_name = api.create_project("by-name", &[("X-Resource-Name-In-Location", "true")]).await;
    assert_eq!(by_name.status, StatusCode::CREATED);
    assert_eq!(by_name.headers[header::LOCATION], "/api/v2.0/projects/by-name");
}

#[tokio::test]
async fn a_private_project_refuses_signed_in_strangers_with_403_and_anonymous_callers_with_401() {
    let api = Api::start().await;
    api.create_stranger().await;
    assert_eq!(api.create_project("secret", &[]).await.status, StatusCode::CREATED);
    for path in
        ["/projects/secret", "/projects/secret/summary", "/projects/secret/repositories", "/projects/secret/logs"]
    {
        let stranger = api.get(path, Some(STRANGER)).await;
        assert_eq!((stranger.status, stranger.error_code().as_str()), (StatusCode::FORBIDDEN, "FORBIDDEN"), "{path}");
        let anonymous = api.get(path, None).await;
        assert_eq!(
            (anonymous.status, anonymous.error_code().as_str()),
            (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            "{path}"
        );
    }
    // What does not exist is still not found, and what is public is still readable.
    assert_eq!(api.get("/projects/nothing", Some(STRANGER)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(api.get("/projects/library", Some(STRANGER)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_method_a_path_does_not_take_gets_harbors_error_body() {
    let api = Api::start().await;
    let answer = api.call(Method::DELETE, "/systeminfo", Some(ADMIN), &[], None::<&()>).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.error_code(), "METHOD_NOT_ALLOWED");
    assert!(answer.json::<Errors>().errors[0].message.contains("DELETE"));
    assert!(answer.headers[header::ALLOW].to_str().unwrap().contains("GET"));
}

#[tokio::test]
async fn configurations_and_systeminfo_carry_every_key_harbor_documents() {
    let api = Api::start().await;
    // Typed: a key Harbor documents that the answer lacks fails here.
    let c: ConfigurationsResponse = api.get("/configurations", Some(ADMIN)).await.json();
    assert_eq!((c.self_registration.value, c.self_registration.editable), (false, true));
    assert_eq!((c.token_expiration.value, c.token_expiration.editable), (30, true));
    assert_eq!((c.ldap_uid.value.as_str(), c.ldap_uid.editable), ("cn", false));
    assert_eq!(c.robot_name_prefix.value, "robot$");
    assert_eq!(c.session_timeout.value, 480);

    let info: GeneralInfo = api.get("/systeminfo", Some(ADMIN)).await.json();
    let every_key = [
        info.banner_message.is_some(),
        info.current_time.is_some(),
        info.registry_url.as_deref() == Some("berth.test"),
        info.external_url.as_deref() == Some("http://berth.test"),
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
    let anonymous: GeneralInfo = api.get("/systeminfo", None).await.json();
    assert_eq!(anonymous.project_creation_restriction, None);
    assert_eq!(anonymous.current_time, None);
    assert_eq!(anonymous.external_url, None);
}

#[tokio::test]
async fn robots_name_their_creator() {
    let api = Api::start().await;
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
    let created: RobotCreated = api.call(Method::POST, "/robots", Some(ADMIN), &[], Some(&robot)).await.json();
    let read: Robot = api.get(&format!("/robots/{}", created.id), Some(ADMIN)).await.json();
    let admin: UserResp = api.get("/users/current", Some(ADMIN)).await.json();
    assert_eq!((read.creator_type.as_str(), read.creator_ref), ("local", admin.user_id));
}

#[tokio::test]
async fn artifacts_link_their_additions_and_a_time_never_set_is_harbors_zero_time() {
    let api = Api::start().await;
    let digest = api.push_image("library/team/app", "v1").await;
    let path = "/projects/library/repositories/team%252Fapp/artifacts/v1";
    let artifact: Artifact = api.get(path, Some(ADMIN)).await.json();
    let base = format!("/api/v2.0/projects/library/repositories/team%252Fapp/artifacts/{digest}/additions");
    let (history, layers) = (format!("{base}/build_history"), format!("{base}/layers"));
    let links: Vec<(&str, &str, bool)> =
        artifact.addition_links.iter().map(|(k, l)| (k.as_str(), l.href.as_str(), l.absolute)).collect();
    assert_eq!(links, [("build_history", history.as_str(), false), ("layers", layers.as_str(), false)]);
    for href in [&history, &layers] {
        assert_eq!(api.get(href.strip_prefix("/api/v2.0").unwrap(), Some(ADMIN)).await.status, StatusCode::OK);
    }
    // Never pulled.
    assert_eq!(artifact.pull_time, ZERO_TIME);
    assert_eq!(artifact.tags.unwrap()[0].pull_time, ZERO_TIME);
}
