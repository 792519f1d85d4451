//! What the tests of this folder share: a fresh database on the PostgreSQL test server (the
//! server of `TEST_BERTH_POSTGRES`, by default the local one).

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh database on the test server, dropped after the test.
pub struct Database {
    server: String,
    name: String,
}

impl Database {
    /// `label` says in the database's name which test made it, for whoever finds one left over.
    pub fn create(label: &str) -> Database {
        let server = std::env::var("TEST_BERTH_POSTGRES")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432".to_owned());
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        let name = format!("berth_{label}_{}_{nanos}", std::process::id());
        psql(&server, &format!("CREATE DATABASE {name}"));
        Database { server, name }
    }

    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        psql(&self.server, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}

fn psql(server: &str, sql: &str) {
    let out = Command::new("psql").args(["-q", &format!("{server}/postgres"), "-c", sql]).output().expect("psql");
    assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
}
