//! SQLite lookups on the calling thread, for the reads every pull makes.
//!
//! sqlx runs each SQLite connection on a thread of its own: a statement goes to that thread and
//! its rows come back, two thread switches per statement, plus a task to return the connection
//! to the pool. A pull's lookup is one indexed query of a few microseconds, so the switches cost
//! more than the query: profiled at ~8,000 manifest GETs/s on two cores, a third of Berth's time
//! was on the connection threads and a quarter of the runtime threads' in switching tasks.
//!
//! So those lookups run here instead, on connections of their own, on the thread that asks and
//! without an `.await`. That blocks the thread for the query alone: in WAL mode a reader never
//! waits for a writer, and sees every transaction committed before it starts, as the pool's
//! connections do.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{Connection, OpenFlags, OptionalExtension, ToSql};

use crate::db::Arg;

/// Connections kept open between lookups; more are opened while more threads read at once (a
/// lookup holds one only while it runs, so at most one per thread).
const KEPT: usize = 8;

/// Read-only lookups on the calling thread, on the database at one path.
#[derive(Debug)]
pub(crate) struct InlineReads {
    path: PathBuf,
    /// Idle connections; `None` once the store is closed.
    idle: Mutex<Option<Vec<Connection>>>,
}

impl InlineReads {
    pub(crate) fn new(path: &Path) -> InlineReads {
        InlineReads { path: path.to_owned(), idle: Mutex::new(Some(Vec::new())) }
    }

    /// The one row (if any) of read-only statement `sql` with `args` bound.
    pub(crate) fn fetch_optional<O>(&self, sql: &str, args: &[Arg]) -> Result<Option<O>, sqlx::Error>
    where
        O: for<'a> TryFrom<&'a rusqlite::Row<'a>, Error = rusqlite::Error>,
    {
        let conn = match self.idle.lock().expect("lock").as_mut() {
            None => return Err(sqlx::Error::PoolClosed),
            Some(idle) => idle.pop(),
        };
        let conn = match conn {
            Some(c) => c,
            None => self.open().map_err(driver)?,
        };
        let found = conn
            .prepare_cached(sql)
            .and_then(|mut statement| {
                let ordered = in_statement_order(&statement, args)?;
                statement.query_row(rusqlite::params_from_iter(ordered), |row| O::try_from(row))
            })
            .optional()
            .map_err(driver);
        if let Some(idle) = self.idle.lock().expect("lock").as_mut()
            && idle.len() < KEPT
        {
            idle.push(conn);
        }
        found
    }

    /// Closes the idle connections; lookups after this fail as the pool's do.
    pub(crate) fn close(&self) {
        self.idle.lock().expect("lock").take();
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        // Opened read-write (the pool created the file and made it WAL): a read-only connection
        // could not create the WAL's index files if the pool had closed them all.
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.pragma_update(None, "query_only", true)?;
        // As the pool's: a reader waits only while SQLite recovers a WAL left by a crash.
        conn.busy_timeout(Duration::from_secs(30))?;
        Ok(conn)
    }
}

/// `args` in the order SQLite numbers the statement's parameters. SQLite takes `$2` as a name,
/// numbered by where it first appears; `$n` means the n-th bound value, as sqlx binds it.
fn in_statement_order<'a>(statement: &rusqlite::Statement<'_>, args: &'a [Arg]) -> rusqlite::Result<Vec<&'a Arg>> {
    (1..=statement.parameter_count())
        .map(|i| {
            let name = statement.parameter_name(i).unwrap_or("?");
            name.strip_prefix('$')
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| args.get(n.checked_sub(1)?))
                .ok_or_else(|| rusqlite::Error::InvalidParameterName(name.to_owned()))
        })
        .collect()
}

fn driver(e: rusqlite::Error) -> sqlx::Error {
    sqlx::Error::AnyDriverError(Box::new(e))
}

impl ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Arg::Int(v) => v.map_or(ToSqlOutput::Owned(Value::Null), |v| ToSqlOutput::Owned(Value::Integer(v))),
            Arg::Bool(v) => v.map_or(ToSqlOutput::Owned(Value::Null), |v| ToSqlOutput::Owned(Value::Integer(v.into()))),
            Arg::Text(v) => v.as_deref().map_or(ToSqlOutput::Owned(Value::Null), ToSqlOutput::from),
            Arg::Bytes(v) => ToSqlOutput::from(v.as_slice()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Meta;
    use crate::db::{query, query_as};

    /// A row as the inline reader and the pool decode it.
    type Sample = (i64, bool, Option<String>, Vec<u8>);

    /// Placeholders out of order, one used twice, as the statements of this crate have them.
    const SAMPLE: &str = "SELECT $1, $3 = 3 AND $2, $4, $5 WHERE $1 = 7";

    #[tokio::test]
    async fn inline_reads_decode_as_the_pool_does_and_see_every_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let meta = Meta::open_sqlite(&path, 4).await.unwrap();
        let reads = InlineReads::new(&path);

        let args =
            [Arg::Int(Some(7)), Arg::Bool(Some(true)), Arg::Int(Some(3)), Arg::Text(None), Arg::Bytes(vec![0, 255])];
        let inline: Option<Sample> = reads.fetch_optional(SAMPLE, &args).unwrap();
        let pooled: Option<Sample> = query_as(SAMPLE)
            .bind(7i64)
            .bind(true)
            .bind(3i64)
            .bind(None::<String>)
            .bind(vec![0u8, 255])
            .fetch_optional(&meta.pool)
            .await
            .unwrap();
        assert_eq!(inline, pooled);
        assert_eq!(inline, Some((7, true, None, vec![0, 255])));
        let missing = reads.fetch_optional::<Sample>(SAMPLE, &args[..4]);
        assert!(matches!(missing, Err(sqlx::Error::AnyDriverError(_))), "{missing:?}");

        // A commit through the pool is seen by the next lookup, on a connection already open.
        query("CREATE TABLE notes (name TEXT)").execute(&meta.pool).await.unwrap();
        let get = "SELECT name FROM notes WHERE name = $1";
        let none: Option<(String,)> = reads.fetch_optional(get, &[Arg::Text(Some("seen".into()))]).unwrap();
        assert_eq!(none, None);
        query("INSERT INTO notes (name) VALUES ($1)").bind("seen").execute(&meta.pool).await.unwrap();
        let some: Option<(String,)> = reads.fetch_optional(get, &[Arg::Text(Some("seen".into()))]).unwrap();
        assert_eq!(some, Some(("seen".to_owned(),)));

        // Read-only: a write through these connections is refused and changes nothing.
        let write = reads.fetch_optional::<(String,)>("DELETE FROM notes RETURNING name", &[]);
        assert!(write.is_err(), "{write:?}");
        let still: Option<(String,)> = reads.fetch_optional(get, &[Arg::Text(Some("seen".into()))]).unwrap();
        assert_eq!(still, Some(("seen".to_owned(),)));

        reads.close();
        assert!(matches!(reads.fetch_optional::<(i64,)>("SELECT 1", &[]), Err(sqlx::Error::PoolClosed)));
        meta.close().await;
    }
}
