use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::Result;

/// The metadata store. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct Meta {
    pub(crate) pool: SqlitePool,
}

impl Meta {
    /// Opens (creating if needed) the SQLite database at `path` and applies pending migrations.
    pub async fn open_sqlite(path: &Path, max_connections: u32) -> Result<Meta> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed transaction survives power loss, not only a process crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(max_connections).connect_with(options).await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Meta { pool })
    }

    /// A write transaction that takes SQLite's write lock up front, so a read-then-write inside it
    /// never fails with SQLITE_BUSY on lock upgrade.
    pub(crate) async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

impl Meta {
    /// Waits for connections to be returned and closes them (clean checkpoint of the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl Meta {
    /// A round trip to the database, for health checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
