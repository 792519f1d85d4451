//! The real S3-compatible test server (`scripts/s3-test-server`: Garage on 127.0.0.1), started
//! once per test process, and the `BERTH_STORAGE_S3_*` settings that put a test server's blobs in
//! a fresh folder (`root_directory`) of its bucket. Never skipped: if no server can be had, the
//! test fails saying why.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The variables the script prints (the test runner may also set them to point elsewhere).
const VARS: [&str; 5] = [
    "TEST_BERTH_S3_ENDPOINT",
    "TEST_BERTH_S3_BUCKET",
    "TEST_BERTH_S3_REGION",
    "TEST_BERTH_S3_ACCESS_KEY",
    "TEST_BERTH_S3_SECRET_KEY",
];

fn server() -> &'static HashMap<String, String> {
    static SERVER: OnceLock<Result<HashMap<String, String>, String>> = OnceLock::new();
    match SERVER.get_or_init(start) {
        Ok(vars) => vars,
        Err(e) => panic!("no S3 test server: {e}"),
    }
}

fn start() -> Result<HashMap<String, String>, String> {
    if std::env::var_os(VARS[0]).is_some() {
        return VARS
            .iter()
            .map(|v| std::env::var(v).map(|x| (v.to_string(), x)).map_err(|_| format!("{v} unset")))
            .collect();
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/s3-test-server");
    let out = Command::new("bash").arg(&script).output().map_err(|e| format!("{}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!("{} failed: {}", script.display(), String::from_utf8_lossy(&out.stderr)));
    }
    let vars: HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("export ")?.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches(|c| c == '\'' || c == '"').to_owned()))
        .collect();
    match VARS.iter().find(|v| !vars.contains_key(**v)) {
        Some(missing) => Err(format!("{} printed no {missing}", script.display())),
        None => Ok(vars),
    }
}

/// Settings that put a Berth's blobs under `root_directory` of the test bucket.
pub fn storage_env(root_directory: &str) -> Vec<(String, String)> {
    let s = server();
    [
        ("BERTH_STORAGE_S3_ENDPOINT", "TEST_BERTH_S3_ENDPOINT"),
        ("BERTH_STORAGE_S3_BUCKET", "TEST_BERTH_S3_BUCKET"),
        ("BERTH_STORAGE_S3_REGION", "TEST_BERTH_S3_REGION"),
        ("BERTH_STORAGE_S3_ACCESS_KEY", "TEST_BERTH_S3_ACCESS_KEY"),
        ("BERTH_STORAGE_S3_SECRET_KEY", "TEST_BERTH_S3_SECRET_KEY"),
    ]
    .into_iter()
    .map(|(berth, test)| (berth.to_owned(), s[test].clone()))
    .chain([("BERTH_STORAGE_S3_ROOT_DIRECTORY".to_owned(), root_directory.to_owned())])
    .collect()
}

/// A fresh `root_directory` name.
pub fn fresh_root() -> String {
    use rand::Rng;
    format!("berth-test-{:016x}", rand::rng().random::<u64>())
}
