//! Every committed seed and regression input of a fuzz target passes its checks: crashes the
//! fuzzer once found stay fixed under a plain `cargo test`.

use std::path::{Path, PathBuf};

use berth_fuzz_checks::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, none if the directory does not exist.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind).join(target)) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.map(|e| e.expect("a directory entry").path()).collect();
    files.sort();
    files
}

fn run(target: &str) {
    let (_, check) = TARGETS.iter().find(|(name, _)| *name == target).expect("a target");
    let seeds = inputs("corpus", target);
    assert!(seeds.len() >= 3, "fuzz/corpus/{target} should hold seeds, has {}", seeds.len());
    for file in seeds.iter().chain(&inputs("regressions", target)) {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        eprintln!("{}", file.display());
        check(&data);
    }
}

#[test]
fn manifest() {
    run("manifest");
}

#[test]
fn reference() {
    run("reference");
}

#[test]
fn query() {
    run("query");
}

#[test]
fn token() {
    run("token");
}

#[test]
fn range() {
    run("range");
}

/// A directory under fuzz/ named for no target would be skipped silently.
#[test]
fn every_input_directory_is_a_target() {
    for kind in ["corpus", "regressions"] {
        for entry in std::fs::read_dir(fuzz_dir().join(kind)).expect("fuzz/ directory") {
            let name = entry.expect("an entry").file_name().into_string().expect("UTF-8");
            assert!(TARGETS.iter().any(|(t, _)| *t == name), "fuzz/{kind}/{name} names no target");
        }
    }
}
