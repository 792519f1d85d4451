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
