//! A real upstream registry for proxy-cache and replication tests: Debian's `docker-registry`
//! (CNCF distribution 2.8) on a free loopback port, storing on the filesystem, anonymous.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Upstream {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    /// Serving HTTPS with a self-signed certificate (see [`Upstream::restart_tls`]).
    tls: bool,
}

impl Upstream {
    pub fn start() -> Upstream {
        let dir = tempfile::tempdir().unwrap();
        let port = super::free_port();
        let mut upstream = Upstream { child: None, port, dir, tls: false };
        upstream.spawn();
        upstream
    }

    fn spawn(&mut self) {
        let config = self.dir.path().join("config.yml");
        // The access log (one line per request, on stdout) is kept: tests count requests in it.
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{}\n{}",
                self.dir.path().join("data").display(),
                self.port,
                if self.tls {
                    format!(
                        "  tls:\n    certificate: {}\n    key: {}\n",
                        self.dir.path().join("cert.pem").display(),
                        self.dir.path().join("key.pem").display()
                    )
                } else {
                    String::new()
                }
            ),
        )
        .unwrap();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry (Debian package docker-registry) must be installed");
        self.child = Some(child);
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("docker-registry exited with {status}: {}", self.log());
            }
            assert!(started.elapsed() < Duration::from_secs(30), "docker-registry not listening: {}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn log_path(&self) -> std::path::PathBuf {
        self.dir.path().join("registry.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Access-log lines of requests whose request line contains `needle` (e.g.
    /// `"GET /v2/lib/app/blobs/sha256:…`).
    pub fn requests(&self, needle: &str) -> usize {
        self.log().lines().filter(|l| l.contains(needle)).count()
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    pub fn data(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the registry (the port then refuses connections).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and storage.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Starts it again on the same port and storage, serving HTTPS with a fresh self-signed
    /// certificate for 127.0.0.1 (made with `openssl`); [`Upstream::url`] then says `https://`.
    pub fn restart_tls(&mut self) {
        let (cert, key) = (self.dir.path().join("cert.pem"), self.dir.path().join("key.pem"));
        super::run(Command::new("openssl").args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]).args(
            [
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
                super::path_str(&key),
                "-out",
                super::path_str(&cert),
            ],
        ));
        self.tls = true;
        self.restart();
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop();
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
        use super::registry::{OCI_CONFIG, OCI_LAYER, OCI_MANIFEST};
        let config = serde_json::to_vec(&serde_json::json!({"architecture":"amd64","os":"linux",
            "rootfs":{"type":"layers","diff_ids":[super::sha256_digest(layer)]}}))
        .unwrap();
        let config_digest = self.push_blob(repo, &config).await;
        let layer_digest = self.push_blob(repo, layer).await;
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": layer.len()}],
        }))
        .unwrap();
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
