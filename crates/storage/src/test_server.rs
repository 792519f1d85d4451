//! A real S3-compatible server for the tests: `scripts/s3-test-server` (Garage on 127.0.0.1)
//! started once per test process, or the one named by `TEST_BERTH_S3_*` variables if they are
//! already set (e.g. CI pointing the tests at another service). Never skipped: if no server can
//! be had, every S3 test fails saying why.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::S3Config;

const VARS: [&str; 5] = [
    "TEST_BERTH_S3_ENDPOINT",
    "TEST_BERTH_S3_BUCKET",
    "TEST_BERTH_S3_REGION",
    "TEST_BERTH_S3_ACCESS_KEY",
    "TEST_BERTH_S3_SECRET_KEY",
];

#[derive(Debug)]
pub(crate) struct TestS3 {
    vars: HashMap<String, String>,
}

impl TestS3 {
    /// Settings for a store under a fresh `root_directory`, so tests share the bucket without
    /// seeing each other's keys.
    pub(crate) fn config(&self) -> S3Config {
        S3Config {
            endpoint: self.vars["TEST_BERTH_S3_ENDPOINT"].clone(),
            bucket: self.vars["TEST_BERTH_S3_BUCKET"].clone(),
            region: self.vars["TEST_BERTH_S3_REGION"].clone(),
            access_key: self.vars["TEST_BERTH_S3_ACCESS_KEY"].clone(),
            secret_key: self.vars["TEST_BERTH_S3_SECRET_KEY"].clone(),
            root_directory: format!("test-{}", uuid::Uuid::new_v4().simple()),
        }
    }
}

/// The test server, started on first use. Panics with the reason if it cannot be had.
pub(crate) fn s3() -> &'static TestS3 {
    static SERVER: OnceLock<Result<TestS3, String>> = OnceLock::new();
    match SERVER.get_or_init(start) {
        Ok(server) => server,
        Err(e) => panic!("no S3 test server: {e}"),
    }
}

fn start() -> Result<TestS3, String> {
    if std::env::var_os(VARS[0]).is_some() {
        let vars = VARS
            .iter()
            .map(|v| std::env::var(v).map(|value| (v.to_string(), value)).map_err(|_| format!("{v} is not set")))
            .collect::<Result<_, _>>()?;
        return Ok(TestS3 { vars });
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/s3-test-server");
    let output =
        Command::new("bash").arg(&script).output().map_err(|e| format!("cannot run {}: {e}", script.display()))?;
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
        None => Ok(TestS3 { vars }),
    }
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
