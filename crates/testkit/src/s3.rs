//! The real S3-compatible test server: `scripts/s3-test-server` (Garage on 127.0.0.1) started
//! once per test process, or the one named by `TEST_BERTH_S3_*` variables if they are already set
//! (e.g. CI pointing the tests at another service). Never skipped: if no server can be had, every
//! test that wants it fails saying why.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Where the test bucket is and the key that may use it.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
}

/// The variables the script prints, in the order of [`S3Settings`]' fields.
const VARS: [&str; 5] = [
    "TEST_BERTH_S3_ENDPOINT",
    "TEST_BERTH_S3_BUCKET",
    "TEST_BERTH_S3_REGION",
    "TEST_BERTH_S3_ACCESS_KEY",
    "TEST_BERTH_S3_SECRET_KEY",
];

/// The test server, started on first use. Panics with the reason if it cannot be had.
pub fn server() -> &'static S3Settings {
    static SERVER: OnceLock<Result<S3Settings, String>> = OnceLock::new();
    match SERVER.get_or_init(start) {
        Ok(settings) => settings,
        Err(e) => panic!("no S3 test server: {e}"),
    }
}

/// A fresh `root_directory` (a folder of the bucket), so tests share the bucket without seeing
/// each other's keys.
pub fn fresh_root() -> String {
    use rand::Rng;
    format!("berth-test-{:016x}", rand::rng().random::<u64>())
}

fn start() -> Result<S3Settings, String> {
    if std::env::var_os(VARS[0]).is_some() {
        let vars = VARS
            .iter()
            .map(|v| std::env::var(v).map(|value| (v.to_string(), value)).map_err(|_| format!("{v} is not set")))
            .collect::<Result<_, _>>()?;
        return Ok(settings(vars));
    }
    run_script(&[])
}

/// Runs `scripts/s3-test-server` with `env` added, and reads the settings it prints.
fn run_script(env: &[(&str, &str)]) -> Result<S3Settings, String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/s3-test-server");
    let output = Command::new("bash")
        .arg(&script)
        .envs(env.iter().copied())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed ({}):\n{}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let vars = parse_exports(&String::from_utf8_lossy(&output.stdout));
    match VARS.iter().find(|v| !vars.contains_key(**v)) {
        Some(missing) => Err(format!("{} printed no {missing}", script.display())),
        None => Ok(settings(vars)),
    }
}

/// A Garage of one test's own (`scripts/s3-test-server` on a folder and ports of its own), which
/// the test may stop and start again (an outage) without touching the shared one. Killed and
/// removed on drop.
pub struct PrivateServer {
    dir: tempfile::TempDir,
    settings: S3Settings,
}

impl PrivateServer {
    /// A new server with its bucket and key. Panics with the reason if it cannot be had.
    pub fn start() -> PrivateServer {
        let dir = tempfile::Builder::new().prefix("berth-garage-").tempdir().expect("a temporary folder");
        let port = crate::free_port().to_string();
        let env = [("BERTH_S3_TEST_DIR", crate::path_str(dir.path())), ("BERTH_S3_TEST_PORT", port.as_str())];
        let settings = run_script(&env).unwrap_or_else(|e| panic!("no private S3 server: {e}"));
        PrivateServer { dir, settings }
    }

    pub fn settings(&self) -> &S3Settings {
        &self.settings
    }

    /// Stops the server (SIGTERM, then waits for it to exit): connections are refused until
    /// [`resume`](Self::resume).
    pub fn stop(&self) {
        let pid = self.pid();
        // SAFETY: kill only sends a signal, to the server this folder's script started.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        // SAFETY: signal 0 only asks whether the process exists.
        while unsafe { libc::kill(pid, 0) } == 0 {
            assert!(std::time::Instant::now() < deadline, "garage {pid} did not exit after SIGTERM");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Makes the server hang (SIGSTOP): connections are accepted by the kernel and never
    /// answered, until [`thaw`](Self::thaw).
    pub fn freeze(&self) {
        crate::signal_process_tree(self.pid(), libc::SIGSTOP);
    }

    /// Lets a [frozen](Self::freeze) server run on.
    pub fn thaw(&self) {
        crate::signal_process_tree(self.pid(), libc::SIGCONT);
    }

    /// Starts the stopped server again, on the same data, ports, bucket and key, and waits until
    /// its S3 API answers.
    pub fn resume(&self) {
        // The ports are read from the configuration the first run wrote.
        if let Err(e) = run_script(&[("BERTH_S3_TEST_DIR", crate::path_str(self.dir.path()))]) {
            panic!("the private S3 server did not start again: {e}");
        }
    }

    fn pid(&self) -> i32 {
        let file = self.dir.path().join("garage.pid");
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        text.trim().parse().unwrap_or_else(|e| panic!("{}: {e}: {text:?}", file.display()))
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        // No panic here: this may run while a failed test unwinds; the server may be stopped.
        if let Some(pid) =
            std::fs::read_to_string(self.dir.path().join("garage.pid")).ok().and_then(|p| p.trim().parse().ok())
        {
            // SAFETY: kill only sends a signal, to the server this folder's script started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

fn settings(mut vars: HashMap<String, String>) -> S3Settings {
    let [endpoint, bucket, region, access_key, secret_key] = VARS.map(|v| vars.remove(v).unwrap_or_default());
    S3Settings { endpoint, bucket, region, access_key, secret_key }
}

/// `export NAME=value` lines (value optionally quoted) into a map.
fn parse_exports(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("export ")?.split_once('='))
        .map(|(name, value)| {
            let value = value.trim();
            let unquoted = value
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .or_else(|| value.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
                .unwrap_or(value);
            (name.trim().to_string(), unquoted.to_string())
        })
        .collect()
}

#[test]
fn parses_export_lines() {
    let vars = parse_exports("export A=http://127.0.0.1:1\nexport B='x y'\nnoise\nexport C=\"z\"\n");
    assert_eq!(vars["A"], "http://127.0.0.1:1");
    assert_eq!(vars["B"], "x y");
    assert_eq!(vars["C"], "z");
}
