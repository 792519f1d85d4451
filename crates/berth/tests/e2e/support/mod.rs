//! What the end-to-end tests share. [`Berth`] runs the real `berth` binary on 127.0.0.1 with its
//! own data folder, for tests where a real process matters, and talks to it over HTTP as any client
//! would; `app::TestApp` runs the application in this process. Databases, the S3 server, the peer
//! registry, nginx, ports and test bytes come from `berth_testkit`.

pub mod app;
pub mod clients;
pub mod collector;
pub mod ha;
pub mod http;
pub mod layout;
pub mod pki;
pub mod registry;
pub mod s3;
pub mod upstream;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub use app::TestApp;
pub use berth_testkit::postgres::TestDatabase;
pub use berth_testkit::{free_port, path_str, random_bytes, run, sha256_digest, try_run};
use berth_testkit::{raw_get_status, wait_until_ready};

pub struct Berth {
    child: Option<Child>,
    port: u16,
    data: tempfile::TempDir,
    env: Vec<(String, String)>,
    /// The PostgreSQL database the harness made for this server (when the suite runs on
    /// PostgreSQL and the test gave none), dropped with it.
    _database: Option<TestDatabase>,
}

/// A server under test: the real binary ([`Berth`]) or the application in process
/// ([`app::TestApp`]). Both also have `url` as a method of their own, so tests need no import.
pub trait Server {
    /// `http://HOST{path}`.
    fn url(&self, path: &str) -> String;
}

/// Builds a test server; `.with_env()` sets configuration through `BERTH_*` variables.
pub struct BerthBuilder {
    env: Vec<(String, String)>,
}

impl BerthBuilder {
    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Blobs in a fresh folder of the S3 test bucket instead of the data volume.
    pub fn with_s3(mut self) -> Self {
        self.env.extend(s3::storage_env(&s3::fresh_root()));
        self
    }

    /// Blobs in a fresh folder of the bucket `settings` describe (a private server's, or one
    /// behind a proxy).
    pub fn with_s3_of(mut self, settings: &berth_testkit::s3::S3Settings) -> Self {
        self.env.extend(s3::storage_env_of(settings, &s3::fresh_root()));
        self
    }

    /// Starts the server and waits until it answers.
    pub fn start(self) -> Berth {
        let mut berth = self.spawn();
        berth.wait_ready();
        berth
    }

    /// Starts the server without waiting for it (see [`Berth::wait_ready`]), so that several
    /// can start at the same moment.
    pub fn spawn(self) -> Berth {
        let mut env = self.env;
        // On PostgreSQL (`TEST_BERTH_DATABASE=postgres`) a fresh database, unless the test gave one.
        let database = if env.iter().any(|(k, _)| k == "BERTH_DATABASE_URL") { None } else { TestDatabase::from_env() };
        if let Some(db) = &database {
            env.push(("BERTH_DATABASE_URL".to_owned(), db.url()));
        }
        let mut berth = Berth {
            child: None,
            port: free_port(),
            data: tempfile::tempdir().expect("tempdir"),
            env,
            _database: database,
        };
        berth.spawn_process();
        berth
    }
}

impl Berth {
    pub fn builder() -> BerthBuilder {
        BerthBuilder { env: Vec::new() }
    }

    pub fn start() -> Berth {
        Berth::builder().start()
    }

    fn spawn_process(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data.path().join("berth.log"))
            .expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("BERTH_HTTP_ADDRESS", "127.0.0.1")
            .env("BERTH_HTTP_PORT", self.port.to_string())
            .env("BERTH_DATA_VOLUME", self.data_dir())
            .env("BERTH_LOG_LEVEL", "debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("spawn berth"));
    }

    /// Waits until the server answers `/api/v2.0/ping` (with HTTPS, until it accepts
    /// connections); panics with its log if it exits first.
    pub fn wait_ready(&mut self) {
        let (port, log) = (self.port, self.data.path().join("berth.log"));
        let tls = self.env_value("BERTH_HTTP_TLS_CERTIFICATE").is_some();
        wait_until_ready(
            "berth",
            self.child.as_mut().expect("running"),
            Duration::from_secs(30),
            || match tls {
                true => TcpStream::connect(("127.0.0.1", port)).is_ok(),
                false => raw_get_status(port, "/api/v2.0/ping") == Some(200),
            },
            || std::fs::read_to_string(&log).unwrap_or_default(),
        );
    }

    /// The data volume: SQLite database and blobs (this server's own, unless the test gave one).
    pub fn data_dir(&self) -> PathBuf {
        match self.env_value("BERTH_DATA_VOLUME") {
            Some(path) => PathBuf::from(path),
            None => self.data.path().join("data"),
        }
    }

    /// The value the test set for a `BERTH_*` variable, if any.
    fn env_value(&self, key: &str) -> Option<&str> {
        self.env.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The server's metadata store (SQLite file or PostgreSQL database), opened beside it.
    pub async fn meta(&self) -> berth_meta::Meta {
        match self.env_value("BERTH_DATABASE_URL") {
            Some(url) => {
                berth_meta::Meta::open_postgres(url, 1, std::time::Duration::from_secs(5)).await.expect("open postgres")
            }
            None => berth_meta::Meta::open_sqlite(&self.data_dir().join("registry.db"), 1).await.expect("open sqlite"),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.path().join("berth.log")).unwrap_or_default()
    }

    /// `127.0.0.1:PORT`, as registry clients want it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// `https://127.0.0.1:PORT{path}`, for a server with `http.tls`.
    pub fn https_url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{}", self.port, path)
    }

    /// Sends the process signal `name` (`HUP`, `TERM`...).
    pub fn signal(&self, name: &str) {
        run(Command::new("kill").arg(format!("-{name}")).arg(self.pid().to_string()));
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILL: no chance to clean up, as in a crash.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for the process to exit; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        child.wait().expect("wait").success()
    }

    /// Waits for a process already sent SIGTERM to exit; returns whether it exited successfully.
    pub fn terminate_wait(&mut self) -> bool {
        let mut child = self.child.take().expect("running");
        child.wait().expect("wait").success()
    }

    /// Starts the server again on the same data and port.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn_process();
        self.wait_ready();
    }
}

impl Server for Berth {
    fn url(&self, path: &str) -> String {
        Berth::url(self, path)
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("---- berth log ----\n{}", self.log());
        }
    }
}

/// Held by the tests that load the machine most (hundreds of MiB pushed while instances are killed,
/// a fleet started at once, a memory bound measured), so that no two of them run at the same time
/// now that every end-to-end test shares one binary and its test threads; lighter tests still run
/// beside them, as they did in the separate binaries.
pub static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The `admin` user's credentials on a fresh test server.
pub const ADMIN: (&str, &str) = ("admin", "Harbor12345");

impl Berth {
    /// A blocking `/api/v2.0` request with Basic credentials `creds` (or none); returns status and
    /// body. For set-up steps of tests that otherwise drive command-line clients.
    pub fn api(&self, method: &str, path: &str, creds: Option<(&str, &str)>, body: Option<&str>) -> (u16, String) {
        use base64::Engine;
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        let mut req = format!("{method} /api/v2.0{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
        if let Some((user, password)) = creds {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            req.push_str(&format!("Authorization: Basic {token}\r\n"));
        }
        let body = body.unwrap_or("");
        req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
        s.write_all(req.as_bytes()).expect("send");
        let mut response = String::new();
        s.read_to_string(&mut response).expect("receive");
        let status = response.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status line");
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        (status, body)
    }

    /// Creates project `name` as admin.
    pub fn create_project(&self, name: &str, public: bool) {
        let body = format!(r#"{{"project_name":"{name}","metadata":{{"public":"{public}"}}}}"#);
        let (status, text) = self.api("POST", "/projects", Some(ADMIN), Some(&body));
        assert_eq!(status, 201, "creating project {name}: {text}");
    }

    /// Creates user `name` (password `password`) as admin; returns the user id.
    pub fn create_user(&self, name: &str, password: &str) -> i64 {
        let body = format!(
            r#"{{"username":"{name}","password":"{password}","email":"{name}@example.com","realname":"{name}"}}"#
        );
        let (status, text) = self.api("POST", "/users", Some(ADMIN), Some(&body));
        assert_eq!(status, 201, "creating user {name}: {text}");
        let (_, user) = self.api("GET", &format!("/users/search?username={name}"), Some(ADMIN), None);
        let users: serde_json::Value = serde_json::from_str(&user).unwrap();
        users.as_array().unwrap().iter().find(|u| u["username"] == name).unwrap()["user_id"].as_i64().unwrap()
    }

    /// Makes user `name` a member of `project` with Harbor role id `role`.
    pub fn add_member(&self, project: &str, name: &str, role: i64) {
        let body = format!(r#"{{"role_id":{role},"member_user":{{"username":"{name}"}}}}"#);
        let (status, text) = self.api("POST", &format!("/projects/{project}/members"), Some(ADMIN), Some(&body));
        assert_eq!(status, 201, "adding {name} to {project}: {text}");
    }
}
