//! Fresh PostgreSQL databases on the test server, and the `TEST_BERTH_DATABASE` switch that runs
//! the end-to-end suite on PostgreSQL.

use std::process::Command;

/// `TEST_BERTH_DATABASE=postgres` runs the end-to-end suite on PostgreSQL: each test server then
/// gets a database of its own on the server of [`server`], created empty and dropped after.
pub const DATABASE_VARIABLE: &str = "TEST_BERTH_DATABASE";

/// The PostgreSQL server tests use (`TEST_BERTH_POSTGRES`, a URL without a database name; by
/// default the local one). `scripts/test-services` starts it and prints the URL.
pub fn server() -> String {
    std::env::var("TEST_BERTH_POSTGRES")
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// A fresh, empty PostgreSQL database, dropped (with its connections) when this is dropped, which
/// also happens when the test panics.
pub struct TestDatabase {
    server: String,
    name: String,
}

impl TestDatabase {
    /// A new database on the test server ([`server`]).
    pub fn create() -> TestDatabase {
        use rand::Rng;
        let name = format!("berth_test_{}_{:016x}", std::process::id(), rand::rng().random::<u64>());
        let db = TestDatabase { server: server(), name };
        db.psql_admin(&format!("CREATE DATABASE {}", db.name));
        db
    }

    /// A new database when the suite runs on PostgreSQL ([`DATABASE_VARIABLE`]), none on SQLite.
    pub fn from_env() -> Option<TestDatabase> {
        match std::env::var(DATABASE_VARIABLE).as_deref() {
            Ok("postgres") => Some(TestDatabase::create()),
            Ok("sqlite") | Ok("") | Err(_) => None,
            Ok(other) => panic!("{DATABASE_VARIABLE}={other}: expected postgres or sqlite"),
        }
    }

    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    /// Drops the database now, closing the connections of whoever uses it (a server under test).
    pub fn drop_now(&self) {
        self.psql_admin(&format!("DROP DATABASE {} WITH (FORCE)", self.name));
    }

    /// The output of one query in this database (`psql -tA`, trimmed), e.g. a count.
    pub fn sql(&self, query: &str) -> String {
        crate::run(Command::new("psql").args(["-qtA", "-v", "ON_ERROR_STOP=1", &self.url(), "-c", query]))
            .trim()
            .to_owned()
    }

    /// A statement run in the server's `postgres` database (creating or dropping this one).
    fn psql_admin(&self, sql: &str) {
        crate::run(Command::new("psql").args([
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
        // No panic here: this may run while a failed test unwinds.
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

/// A PostgreSQL server of one test's own: a cluster made by `initdb` in a temporary folder,
/// listening on a free port of 127.0.0.1 only, which the test may stop and start again (an
/// outage) without touching the shared server other tests run on. Stopped and removed on drop.
/// Run as root, PostgreSQL's tools run as the `postgres` user (they refuse root).
pub struct PrivateServer {
    dir: tempfile::TempDir,
    port: u16,
    bin: std::path::PathBuf,
}

impl PrivateServer {
    /// A new cluster, started. Panics with the tools' output if it cannot be made.
    pub fn start() -> PrivateServer {
        let dir = tempfile::Builder::new().prefix("berth-pg-").tempdir().expect("a temporary folder");
        let server = PrivateServer { dir, port: crate::free_port(), bin: postgres_bin() };
        if running_as_root() {
            crate::run(Command::new("chown").args(["-R", "postgres:postgres", crate::path_str(server.dir.path())]));
        }
        let data = server.data();
        crate::run(&mut server.tool("initdb", &["-D", &data, "-U", "postgres", "--auth=trust", "--no-sync"]));
        server.resume();
        server
    }

    /// `postgres://postgres@127.0.0.1:PORT` (no database name, as [`server`]).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server as an administrator would (`pg_ctl stop -m fast`): sessions are ended
    /// and new connections refused until [`resume`](Self::resume).
    pub fn stop(&self) {
        crate::run(&mut self.tool("pg_ctl", &["stop", "-D", &self.data(), "-m", "fast", "-w"]));
    }

    /// Makes the server hang (SIGSTOP to it and its backends): connections are accepted by the
    /// kernel and never answered, queries in flight never finish, until [`thaw`](Self::thaw).
    pub fn freeze(&self) {
        crate::signal_process_tree(self.pid().expect("a running server"), libc::SIGSTOP);
    }

    /// Lets a [frozen](Self::freeze) server run on.
    pub fn thaw(&self) {
        crate::signal_process_tree(self.pid().expect("a running server"), libc::SIGCONT);
    }

    /// The postmaster's process id (the first line of `postmaster.pid`), while it runs.
    fn pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(format!("{}/postmaster.pid", self.data())).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// Starts the (stopped) server again on the same port and data, and waits until it accepts
    /// connections.
    pub fn resume(&self) {
        // fsync=off: the machine does not crash under a test, and a stopped server has written
        // everything; the tests' own writes are what they measure, not the disk's.
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=100",
            self.port,
            crate::path_str(self.dir.path())
        );
        let log = format!("{}/server.log", crate::path_str(self.dir.path()));
        crate::run(
            &mut self.tool("pg_ctl", &["start", "-D", &self.data(), "-l", &log, "-o", &options, "-w", "-t", "60"]),
        );
    }

    fn data(&self) -> String {
        format!("{}/data", crate::path_str(self.dir.path()))
    }

    /// One of PostgreSQL's tools, run as `postgres` when this process is root.
    fn tool(&self, name: &str, args: &[&str]) -> Command {
        let program = self.bin.join(name);
        let mut command = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        command.args(args);
        command
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        // No panic here: this may run while a failed test unwinds; the server may be stopped, or
        // frozen (it could not stop then).
        if let Some(pid) = self.pid() {
            crate::signal_process_tree(pid, libc::SIGCONT);
        }
        let _ = self.tool("pg_ctl", &["stop", "-D", &self.data(), "-m", "immediate"]).output();
    }
}

/// The `bin` folder of the newest PostgreSQL installed (Debian keeps them by version).
fn postgres_bin() -> std::path::PathBuf {
    let versions = std::fs::read_dir("/usr/lib/postgresql").expect("PostgreSQL is installed in /usr/lib/postgresql");
    versions
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .max()
        .map(|v| std::path::PathBuf::from(format!("/usr/lib/postgresql/{v}/bin")))
        .expect("a PostgreSQL version in /usr/lib/postgresql")
}

fn running_as_root() -> bool {
    // SAFETY: geteuid only reads the process's effective user id.
    unsafe { libc::geteuid() == 0 }
}
