//! A thin HTTP client for the distribution API, for tests that speak the protocol directly, to a
//! real server or an in-process one (see [`super::http`]).

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::http::{Client, Response};
use super::{Server, sha256_digest};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

pub struct Registry {
    pub http: Client,
    pub base: String,
}

impl Registry {
    /// A client authenticating as `admin` with Basic credentials on every request.
    pub fn new(base: String) -> Registry {
        Registry::with_credentials(base, Some(super::ADMIN))
    }

    /// A client with the given Basic credentials, or anonymous.
    pub fn with_credentials(base: String, creds: Option<(&str, &str)>) -> Registry {
        use base64::Engine;
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some((user, password)) = creds {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            headers.insert("authorization", format!("Basic {token}").parse().unwrap());
        }
        Registry { http: Client::with_default_headers(headers), base }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Resolves a `Location` header (relative or absolute) to a URL.
    pub fn location(&self, r: &Response) -> String {
        let loc = r.headers()["location"].to_str().unwrap().to_owned();
        if loc.starts_with("http") { loc } else { self.url(&loc) }
    }

    /// Monolithic upload; returns the digest.
    pub async fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        let r = self
            .http
            .post(self.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}")))
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "push blob: {}", r.text().await.unwrap());
        digest
    }

    /// Starts an upload session; returns its URL.
    pub async fn start_upload(&self, repo: &str) -> String {
        let r = self.http.post(self.url(&format!("/v2/{repo}/blobs/uploads/"))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        self.location(&r)
    }

    pub async fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> Response {
        self.http
            .put(self.url(&format!("/v2/{repo}/manifests/{reference}")))
            .header("content-type", media_type)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// Pushes a one-layer image (config + layer blobs, manifest under `tag`); returns the
    /// manifest bytes and digest.
    pub async fn push_image(&self, repo: &str, tag: &str, layer: &[u8]) -> (Vec<u8>, String) {
        let (config, manifest) = one_layer_image(layer);
        self.push_blob(repo, &config).await;
        self.push_blob(repo, layer).await;
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &manifest).await;
        assert_eq!(r.status(), StatusCode::CREATED, "push manifest: {}", r.text().await.unwrap());
        let digest = sha256_digest(&manifest);
        (manifest, digest)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }
}

/// The config and the manifest of a linux/amd64 image whose one layer is `layer`.
pub fn one_layer_image(layer: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let config = serde_json::to_vec(
        &json!({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[sha256_digest(layer)]}}),
    )
    .unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256_digest(&config), "size": config.len()},
        "layers": [{"mediaType": OCI_LAYER, "digest": sha256_digest(layer), "size": layer.len()}],
    }))
    .unwrap();
    (config, manifest)
}

/// Asserts `r` is an OCI error response with `status` and `code`; returns the error object.
pub async fn expect_error(r: impl Into<Response>, status: StatusCode, code: &str) -> Value {
    let r = r.into();
    assert_eq!(r.status(), status, "unexpected status for {}", r.url());
    let body: Value = r.json().await.expect("error body is JSON");
    let error = body["errors"][0].clone();
    assert_eq!(error["code"], code, "unexpected error body {body}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "error without message: {body}");
    error
}

/// One `/api/v2.0` request as `creds`.
pub async fn api_as(
    berth: &impl Server,
    creds: (&str, &str),
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Response {
    let mut req =
        Client::new().request(method, berth.url(&format!("/api/v2.0{path}"))).basic_auth(creds.0, Some(creds.1));
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}
