//! A peer registry: Debian's `docker-registry` (CNCF distribution 2.8) on a free loopback port,
//! storing on the filesystem of its own temp folder, for replication, proxy-cache and remote
//! client tests. Anonymous unless the test adds an `auth:` section.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{free_port, path_str, run, wait_until_ready};

pub struct PeerRegistry {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    /// Configuration appended to the standard one (top-level sections, e.g. `auth:`).
    extra: String,
    /// Serving HTTPS with a self-signed certificate (see [`PeerRegistry::restart_tls`]).
    tls: bool,
}

/// distribution's configuration: a filesystem store under `data`, deletes enabled, listening on
/// `127.0.0.1:port`, logging errors (and, on stdout, one access-log line per request).
pub fn config(data: &Path, port: u16) -> String {
    format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
        data.display()
    )
}

impl PeerRegistry {
    /// An anonymous registry, listening when this returns.
    pub fn start() -> PeerRegistry {
        PeerRegistry::start_with(|_| String::new())
    }

    /// A registry with `extra(its folder)` appended to its configuration (e.g. an `auth:` section
    /// whose files the function writes into the folder).
    pub fn start_with(extra: impl FnOnce(&Path) -> String) -> PeerRegistry {
        let dir = tempfile::tempdir().expect("tempdir");
        let extra = extra(dir.path());
        let mut peer = PeerRegistry { child: None, port: free_port(), dir, extra, tls: false };
        peer.spawn();
        peer
    }

    fn spawn(&mut self) {
        let dir = self.dir.path();
        let tls = if self.tls {
            format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                dir.join("cert.pem").display(),
                dir.join("key.pem").display()
            )
        } else {
            String::new()
        };
        let file = dir.join("config.yml");
        std::fs::write(&file, format!("{}{tls}{}", config(&dir.join("data"), self.port), self.extra))
            .expect("write config.yml");
        // The access log (one line per request, on stdout) is kept: tests count requests in it.
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).expect("log file");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry (Debian package docker-registry) must be installed");
        // Kept first, so that a failed start still stops it (on drop).
        self.child = Some(child);
        let (port, log) = (self.port, self.log_path());
        wait_until_ready(
            "docker-registry",
            self.child.as_mut().unwrap(),
            Duration::from_secs(30),
            || TcpStream::connect(("127.0.0.1", port)).is_ok(),
            || std::fs::read_to_string(&log).unwrap_or_default(),
        );
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
    /// certificate for 127.0.0.1 (made with `openssl`); [`PeerRegistry::url`] then says `https://`.
    pub fn restart_tls(&mut self) {
        let (cert, key) = (self.dir.path().join("cert.pem"), self.dir.path().join("key.pem"));
        run(Command::new("openssl").args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]).args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            path_str(&key),
            "-out",
            path_str(&cert),
        ]));
        self.tls = true;
        self.restart();
    }
}

impl Drop for PeerRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}
