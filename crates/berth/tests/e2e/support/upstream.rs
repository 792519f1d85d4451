//! A real upstream registry for proxy-cache and replication tests: the peer registry of
//! `berth_testkit` (Debian's `docker-registry`), with the uploads tests make to it.

use std::ops::{Deref, DerefMut};

use berth_testkit::peer::PeerRegistry;

/// A [`PeerRegistry`] that tests push images to.
pub struct Upstream(PeerRegistry);

impl Upstream {
    pub fn start() -> Upstream {
        Upstream(PeerRegistry::start())
    }
}

impl Deref for Upstream {
    type Target = PeerRegistry;

    fn deref(&self) -> &PeerRegistry {
        &self.0
    }
}

impl DerefMut for Upstream {
    fn deref_mut(&mut self) -> &mut PeerRegistry {
        &mut self.0
    }
}

impl Upstream {
    /// Uploads a blob (POST, then PUT with the bytes: distribution has no one-request upload);
    /// returns its digest.
    pub async fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let http = reqwest::Client::new();
        let digest = super::sha256_digest(bytes);
        let r = http.post(format!("{}/v2/{repo}/blobs/uploads/", self.url())).send().await.unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED, "start upload: {}", r.text().await.unwrap());
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        let location = if location.starts_with("http") { location } else { format!("{}{location}", self.url()) };
        let sep = if location.contains('?') { '&' } else { '?' };
        let r = http.put(format!("{location}{sep}digest={digest}")).body(bytes.to_vec()).send().await.unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::CREATED, "finish upload: {}", r.text().await.unwrap());
        digest
    }

    /// Pushes a one-layer OCI image under `tag`; returns the manifest bytes and digest.
    pub async fn push_image(&self, repo: &str, tag: &str, layer: &[u8]) -> (Vec<u8>, String) {
        use super::registry::{OCI_MANIFEST, one_layer_image};
        let (config, manifest) = one_layer_image(layer);
        self.push_blob(repo, &config).await;
        self.push_blob(repo, layer).await;
        let r = reqwest::Client::new()
            .put(format!("{}/v2/{repo}/manifests/{tag}", self.url()))
            .header("content-type", OCI_MANIFEST)
            .body(manifest.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::CREATED, "push manifest: {}", r.text().await.unwrap());
        let digest = super::sha256_digest(&manifest);
        (manifest, digest)
    }
}
