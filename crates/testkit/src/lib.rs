//! What Berth's tests need, one way each: a fresh PostgreSQL database ([`postgres`]), the S3 test
//! server ([`s3`]), a PostgreSQL or S3 server of a test's own that it may stop and resume (an
//! outage; `PrivateServer` in each), a peer registry ([`peer`]), nginx ([`nginx`]), a free port, a
//! command run with its output on failure, and test bytes with their digests.
//!
//! It depends on none of Berth's crates, so every crate of the workspace can take it as a
//! dev-dependency. Everything here starts the real thing on 127.0.0.1; nothing is skipped: a
//! server that cannot be had fails the test that wanted it, saying why.

pub mod nginx;
pub mod peer;
pub mod postgres;
pub mod s3;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

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

/// Sends `signal` to process `pid` and to every process it started (PostgreSQL's backends, say),
/// children first. `SIGSTOP` makes a server hang as a wedged host does: the kernel still accepts
/// its connections, and nothing answers them, until `SIGCONT`.
pub fn signal_process_tree(pid: i32, signal: i32) {
    for child in child_processes(pid) {
        signal_process_tree(child, signal);
    }
    // SAFETY: kill only sends a signal, to a process the calling test started.
    unsafe { libc::kill(pid, signal) };
}

/// The processes whose parent is `pid` (from `/proc/*/stat`).
fn child_processes(pid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| {
            let child: i32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).ok()?;
            // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
            let ppid: i32 = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
            (ppid == pid).then_some(child)
        })
        .collect()
}

/// Runs a command, panicking with its output if it fails; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    try_run(cmd).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `cmd`: its stdout if it succeeded; if it failed, its exit status, stdout and stderr.
pub fn try_run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{cmd:?} failed with {}\nstdout:\n{stdout}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Waits until `ready()` holds, checking every 10 ms for at most `limit`. Panics with `log()` if
/// `child` (the server being waited for) exits first, or if time runs out.
pub fn wait_until_ready(
    what: &str,
    child: &mut Child,
    limit: Duration,
    mut ready: impl FnMut() -> bool,
    log: impl Fn() -> String,
) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("wait for a child process") {
            panic!("{what} exited with {status} before it was ready:\n{}", log());
        }
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{what} not ready after {} s:\n{}", limit.as_secs(), log());
}

/// A minimal HTTP/1.1 GET on 127.0.0.1, so readiness polling needs no async runtime.
pub fn raw_get_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}

/// Deterministic pseudo-random bytes (different per seed, and per test process), for layers no
/// test shares by accident.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    use rand::{RngCore, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ std::process::id() as u64);
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

/// `sha256:HEX` of `bytes`, as OCI writes digests.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
