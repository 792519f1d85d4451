//! Test harness: runs the real `berth` binary on 127.0.0.1 with its own data folder, and talks
//! to it over HTTP, as any client would.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod layout;
pub mod registry;
pub mod s3;
pub mod upstream;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Berth {
    child: Option<Child>,
    port: u16,
    data: tempfile::TempDir,
    env: Vec<(String, String)>,
    /// The PostgreSQL database the harness made for this server (when the suite runs on
    /// PostgreSQL and the test gave none), dropped with it.
    database: Option<TestDatabase>,
}

/// `TEST_BERTH_DATABASE=postgres` runs the whole suite on PostgreSQL: each test server then gets
/// a database of its own on the server of [`postgres_server`], created empty and dropped after.
pub const DATABASE_VARIABLE: &str = "TEST_BERTH_DATABASE";

/// The PostgreSQL server tests use (`TEST_BERTH_POSTGRES`, a URL without a database name; by
/// default the local one). `scripts/test-services` starts it and prints the URL.
pub fn postgres_server() -> String {
    std::env::var("TEST_BERTH_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// A fresh, empty PostgreSQL database, dropped (with its connections) when this is dropped.
pub struct TestDatabase {
    server: String,
    name: String,
}

impl TestDatabase {
    /// A new database when the suite runs on PostgreSQL ([`DATABASE_VARIABLE`]).
    pub fn from_env() -> Option<TestDatabase> {
        match std::env::var(DATABASE_VARIABLE).as_deref() {
            Ok("postgres") => Some(TestDatabase::create(&postgres_server())),
            Ok("sqlite") | Ok("") | Err(_) => None,
            Ok(other) => panic!("{DATABASE_VARIABLE}={other}: expected postgres or sqlite"),
        }
    }

    pub fn create(server: &str) -> TestDatabase {
        use rand::Rng;
        let name = format!("berth_test_{}_{:016x}", std::process::id(), rand::rng().random::<u64>());
        let db = TestDatabase { server: server.trim_end_matches('/').to_owned(), name };
        db.psql(&format!("CREATE DATABASE {}", db.name));
        db
    }

    /// A new database on the test PostgreSQL server, for tests that need PostgreSQL whatever the
    /// suite runs on (several instances on one database).
    pub fn create_required() -> TestDatabase {
        TestDatabase::create(&postgres_server())
    }

    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    /// Drops the database now, closing the connections of whoever uses it (a server under test).
    pub fn drop_now(&self) {
        self.psql(&format!("DROP DATABASE {} WITH (FORCE)", self.name));
    }

    fn psql(&self, sql: &str) {
        run(Command::new("psql").args([
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            &format!("{}/postgres", self.server),
            "-c",
            sql,
        ]));
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                "-q",
                &format!("{}/postgres", self.server),
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
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

    /// A data volume outside the server's own folder, e.g. one shared by several instances.
    pub fn with_data_volume(self, path: &Path) -> Self {
        self.with_env("BERTH_DATA_VOLUME", path_str(path))
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
        let database = if env.iter().any(|(k, _)| k == "BERTH_DATABASE_URL") { None } else { TestDatabase::from_env() };
        if let Some(db) = &database {
            env.push(("BERTH_DATABASE_URL".to_owned(), db.url()));
        }
        let mut berth =
            Berth { child: None, port: free_port(), data: tempfile::tempdir().expect("tempdir"), env, database };
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

    /// Waits until the server answers `/api/v2.0/ping`; panics with its log if it exits first.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("berth exited with {status} before it was ready:\n{}", self.log());
            }
            if raw_get_status(self.port, "/api/v2.0/ping") == Some(200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("berth not ready after 30 s:\n{}", self.log());
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
            Some(url) => berth_meta::Meta::open_postgres(url, 1).await.expect("open postgres"),
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

impl Drop for Berth {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("---- berth log ----\n{}", self.log());
        }
    }
}

/// A port nothing listens on, for a server a test starts next.
///
/// The server binds it a moment later, so it must stay free until then. A port the kernel
/// picks (`bind(0)`) comes from the ephemeral range, the same range every outgoing connection
/// of every parallel test takes its local port from, and one of those took such a port before
/// Berth could bind it. So the port is drawn at random below that range, where nothing
/// allocates ports on its own, and never handed out twice in one test binary.
pub fn free_port() -> u16 {
    use rand::Rng;
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    const LOWEST: u16 = 10_000;
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    assert!(ephemeral_start > LOWEST + 1_000, "ephemeral ports start at {ephemeral_start}: no room below them");
    let mut handed_out = HANDED_OUT.lock().unwrap();
    loop {
        let port = rand::rng().random_range(LOWEST..ephemeral_start);
        if !handed_out.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.insert(port);
            return port;
        }
    }
}

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

/// A minimal HTTP/1.1 GET, so readiness polling needs no async runtime.
pub fn raw_get_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}

/// Deterministic pseudo-random bytes (different per seed), for layers no test shares by accident.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    use rand::{RngCore, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ std::process::id() as u64);
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Runs a command, panicking with its output if it fails; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
