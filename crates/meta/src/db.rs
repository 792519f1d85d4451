//! The database: SQLite (embedded default) or PostgreSQL (scale-out), behind one query API.
//!
//! Every statement in this crate is written once, in the SQL both engines accept (`$n`
//! placeholders, `ON CONFLICT`, `RETURNING`; the few SQLite functions PostgreSQL lacks are defined
//! by its migrations). [`query`], [`query_as`] and [`query_scalar`] collect the bound values and,
//! when the statement runs, hand them to the engine the store was opened on; rows are decoded by
//! each engine's own driver, so types keep their native meaning (a `BOOLEAN` is a `bool` on both).

use std::borrow::Cow;
use std::marker::PhantomData;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Connection, FromRow, PgConnection, Postgres, Sqlite, SqliteConnection};

use crate::Result;
use crate::inline::InlineReads;

/// The metadata store. Cheap to clone (pool handles).
#[derive(Clone, Debug)]
pub struct Meta {
    /// Commits here are on disk when they return (SQLite `synchronous=FULL`, PostgreSQL's default
    /// `synchronous_commit`).
    pub(crate) pool: Pool,
    /// For bookkeeping that need not outlive a power cut by itself: an upload session's creation,
    /// lease and progress. Its commits skip the wait for the disk. Both engines keep one log in
    /// commit order, so any later commit through `pool` makes these durable too; a power cut
    /// before that loses only sessions in progress, which clients start again. Never for
    /// anything a client is told is stored (blobs, manifests, tags, settings).
    pub(crate) bookkeeping: Pool,
    /// SQLite only: the lookups every pull makes, run on the calling thread (see [`crate::inline`]).
    pub(crate) inline: Option<Arc<InlineReads>>,
}

#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
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
        let pool = SqlitePoolOptions::new().max_connections(max_connections).connect_with(options.clone()).await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        // NORMAL in WAL mode: the commit is in the log, which the next FULL commit syncs.
        let bookkeeping = SqlitePoolOptions::new()
            .max_connections(bookkeeping_connections(max_connections))
            .connect_with(options.synchronous(SqliteSynchronous::Normal))
            .await?;
        let inline = Some(Arc::new(InlineReads::new(path)));
        Ok(Meta { pool: Pool::Sqlite(pool), bookkeeping: Pool::Sqlite(bookkeeping), inline })
    }

    /// Connects to the PostgreSQL database at `url` with at most `max_connections` connections
    /// and applies pending migrations. The migrator holds a PostgreSQL advisory lock while it
    /// runs, so instances starting together migrate once, one after the other.
    ///
    /// A request waits at most `acquire_timeout` for a connection: while the server is down it
    /// fails with [`MetaError::Unavailable`](crate::MetaError::Unavailable) after that, and the
    /// pool connects again by itself once the server is back.
    pub async fn open_postgres(url: &str, max_connections: u32, acquire_timeout: Duration) -> Result<Meta> {
        let options = PgConnectOptions::from_str(url)?.application_name("berth");
        // One connection by hand first: the pool retries a refused connection until its acquire
        // timeout and then says only "pool timed out"; this says why ("connection refused").
        connect_once(&options, acquire_timeout).await?.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        // Asynchronous commit: visible to every session at once, flushed with the next WAL flush.
        let bookkeeping = PgPoolOptions::new()
            .max_connections(bookkeeping_connections(max_connections))
            .acquire_timeout(acquire_timeout)
            .connect_with(options.options([("synchronous_commit", "off")]))
            .await?;
        Ok(Meta { pool: Pool::Postgres(pool), bookkeeping: Pool::Postgres(bookkeeping), inline: None })
    }

    pub fn backend(&self) -> Backend {
        Exec::from(&self.pool).backend()
    }

    /// A transaction for a read-then-write that must not interleave with another writer of the
    /// same data (a quota check and the insert it allows; "every referenced blob exists" and the
    /// manifest insert). SQLite takes its database-wide write lock up front (`BEGIN IMMEDIATE`,
    /// so the upgrade never fails with SQLITE_BUSY); PostgreSQL takes a transaction-scoped
    /// advisory lock on `scope` only, so pushes to different projects do not wait for each other.
    pub(crate) async fn write_tx(&self, scope: LockScope<'_>) -> Result<Tx> {
        match &self.pool {
            Pool::Sqlite(pool) => Ok(Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?)),
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let lock = match scope {
                    LockScope::Repository(id) => sqlx::query(
                        "SELECT pg_advisory_xact_lock(hashtext('project:' || split_part(name, '/', 1)))
                         FROM repositories WHERE id = $1",
                    )
                    .bind(id),
                    LockScope::ProjectId(id) => sqlx::query(
                        "SELECT pg_advisory_xact_lock(hashtext('project:' || name)) FROM projects WHERE id = $1",
                    )
                    .bind(id),
                    LockScope::Project(name) => {
                        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('project:' || $1))").bind(name)
                    }
                    LockScope::Named(name) => {
                        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('named:' || $1))").bind(name)
                    }
                    LockScope::None => return Ok(Tx::Postgres(tx)),
                };
                lock.execute(&mut *tx).await?;
                Ok(Tx::Postgres(tx))
            }
        }
    }

    /// Waits for connections to be returned and closes them (SQLite: clean checkpoint of the WAL).
    pub async fn close(&self) {
        if let Some(inline) = &self.inline {
            inline.close();
        }
        for pool in [&self.bookkeeping, &self.pool] {
            match pool {
                Pool::Sqlite(p) => p.close().await,
                Pool::Postgres(p) => p.close().await,
            }
        }
    }

    /// A round trip to the database, for health checks. While PostgreSQL is down the pool would
    /// only say, after its acquire timeout, that it timed out: when it has not answered within
    /// [`PING_PATIENCE`], a connection of its own tells at once why (refused, unknown host...).
    pub async fn ping(&self) -> Result<()> {
        let round_trip = query("SELECT 1").execute(&self.pool);
        let Pool::Postgres(pool) = &self.pool else {
            round_trip.await?;
            return Ok(());
        };
        tokio::pin!(round_trip);
        let why_not = async {
            tokio::time::sleep(PING_PATIENCE).await;
            match connect_once(&pool.connect_options(), 4 * PING_PATIENCE).await {
                Ok(connection) => {
                    let _ = connection.close().await;
                    std::future::pending().await
                }
                Err(e) => e,
            }
        };
        tokio::select! {
            done = &mut round_trip => done.map(drop).map_err(Into::into),
            e = why_not => Err(e.into()),
        }
    }
}

/// How long a health check waits for the pool before it looks for the reason itself.
const PING_PATIENCE: Duration = Duration::from_millis(500);

/// One connection to PostgreSQL, with the server's own error (or a timeout after `limit`).
async fn connect_once(options: &PgConnectOptions, limit: Duration) -> Result<PgConnection, sqlx::Error> {
    match tokio::time::timeout(limit, PgConnection::connect_with(options)).await {
        Ok(connected) => connected,
        Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer within {} s", limit.as_secs_f32()),
        ))),
    }
}

/// Whether `e` says the database cannot be reached now rather than that a statement failed: no
/// connection within the acquire timeout, a broken or refused connection, or PostgreSQL shutting
/// down, starting up or out of connections.
pub(crate) fn is_unavailable(e: &sqlx::Error) -> bool {
    use sqlx::Error as E;
    match e {
        E::PoolTimedOut | E::PoolClosed | E::Io(_) | E::Tls(_) | E::WorkerCrashed => true,
        E::Database(db) => db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some_and(|pg| {
            // Class 08: connection exceptions; 57P01-03: admin or crash shutdown, cannot connect
            // now (starting up); 53300: too many connections.
            let code = pg.code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// Connections of the bookkeeping pool: a quarter of the main pool's, at least two (an upload's
/// lease renewal beside its progress).
fn bookkeeping_connections(max_connections: u32) -> u32 {
    (max_connections / 4).max(2)
}

/// What a write transaction must exclude concurrent writers of (see [`Meta::write_tx`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum LockScope<'a> {
    /// The project of the repository with this id.
    Repository(i64),
    /// The project with this name.
    Project(&'a str),
    /// The project with this id.
    ProjectId(i64),
    /// A named piece of global state (the signing key, the user table).
    Named(&'static str),
    /// Nothing beyond the rows the transaction writes (SQLite still takes its write lock up front).
    None,
}

/// An open transaction on either engine; dropped without `commit`, it rolls back.
pub(crate) enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }
}

/// Where a statement runs: a pool, or an open transaction.
pub(crate) enum Exec<'e> {
    SqlitePool(&'e SqlitePool),
    PgPool(&'e PgPool),
    Sqlite(&'e mut SqliteConnection),
    Postgres(&'e mut PgConnection),
}

impl Exec<'_> {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Exec::SqlitePool(_) | Exec::Sqlite(_) => Backend::Sqlite,
            Exec::PgPool(_) | Exec::Postgres(_) => Backend::Postgres,
        }
    }

    /// The same target, for one more statement.
    pub(crate) fn reborrow(&mut self) -> Exec<'_> {
        match self {
            Exec::SqlitePool(p) => Exec::SqlitePool(p),
            Exec::PgPool(p) => Exec::PgPool(p),
            Exec::Sqlite(c) => Exec::Sqlite(c),
            Exec::Postgres(c) => Exec::Postgres(c),
        }
    }
}

impl<'e> From<&'e Pool> for Exec<'e> {
    fn from(pool: &'e Pool) -> Exec<'e> {
        match pool {
            Pool::Sqlite(p) => Exec::SqlitePool(p),
            Pool::Postgres(p) => Exec::PgPool(p),
        }
    }
}

impl<'e> From<&'e mut Tx> for Exec<'e> {
    fn from(tx: &'e mut Tx) -> Exec<'e> {
        match tx {
            Tx::Sqlite(t) => Exec::Sqlite(&mut *t),
            Tx::Postgres(t) => Exec::Postgres(&mut *t),
        }
    }
}

/// A value bound to a statement.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(Option<i64>),
    Bool(Option<bool>),
    Text(Option<String>),
    Bytes(Vec<u8>),
}

pub(crate) trait IntoArg {
    fn into_arg(self) -> Arg;
}

macro_rules! into_arg {
    ($variant:ident: $($t:ty => |$v:ident| $e:expr),+ $(,)?) => {
        $(impl IntoArg for $t {
            fn into_arg(self) -> Arg {
                let $v = self;
                Arg::$variant($e)
            }
        })+
    };
}

into_arg!(Int: i64 => |v| Some(v), Option<i64> => |v| v, &i64 => |v| Some(*v), &Option<i64> => |v| *v);
into_arg!(Bool: bool => |v| Some(v), Option<bool> => |v| v);
into_arg!(Text:
    &str => |v| Some(v.to_owned()),
    String => |v| Some(v),
    &String => |v| Some(v.clone()),
    &&str => |v| Some((*v).to_owned()),
    Option<&str> => |v| v.map(str::to_owned),
    Option<String> => |v| v,
    &Option<String> => |v| v.clone(),
);
into_arg!(Bytes: &[u8] => |v| v.to_vec(), Vec<u8> => |v| v, &Vec<u8> => |v| v.clone());

/// A statement with its bound values, not yet sent.
pub(crate) struct Statement<O> {
    sql: Cow<'static, str>,
    args: Vec<Arg>,
    output: PhantomData<fn() -> O>,
}

/// The outcome of a statement that returns no rows.
pub(crate) struct Done(u64);

impl Done {
    pub(crate) fn rows_affected(&self) -> u64 {
        self.0
    }
}

/// A statement whose rows are not read.
pub(crate) fn query(sql: impl Into<Cow<'static, str>>) -> Statement<()> {
    Statement { sql: sql.into(), args: Vec::new(), output: PhantomData }
}

/// A statement whose rows decode into `O` (a `FromRow` struct or a tuple).
pub(crate) fn query_as<O>(sql: impl Into<Cow<'static, str>>) -> Statement<O> {
    Statement { sql: sql.into(), args: Vec::new(), output: PhantomData }
}

/// A statement whose rows are one column each, decoding into `T`.
pub(crate) fn query_scalar<T>(sql: impl Into<Cow<'static, str>>) -> Scalar<T> {
    Scalar(query_as(sql))
}

/// Binds `args` to a statement of either engine (the two arms differ only in types).
macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for arg in $args {
            q = match arg {
                Arg::Int(v) => q.bind(v),
                Arg::Bool(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
                Arg::Bytes(v) => q.bind(v),
            };
        }
        q
    }};
}

/// Runs `$method` of the statement on whichever engine `$exec` is, decoding rows as `$O`.
macro_rules! run_as {
    ($self:ident, $exec:expr, $O:ty, $method:ident) => {{
        let sql = AssertSqlSafe($self.sql);
        match $exec.into() {
            Exec::SqlitePool(p) => bind_all!(sqlx::query_as::<Sqlite, $O>(sql), $self.args).$method(p).await,
            Exec::PgPool(p) => bind_all!(sqlx::query_as::<Postgres, $O>(sql), $self.args).$method(p).await,
            Exec::Sqlite(c) => bind_all!(sqlx::query_as::<Sqlite, $O>(sql), $self.args).$method(c).await,
            Exec::Postgres(c) => bind_all!(sqlx::query_as::<Postgres, $O>(sql), $self.args).$method(c).await,
        }
    }};
}

impl<O> Statement<O> {
    pub(crate) fn bind(mut self, value: impl IntoArg) -> Self {
        self.args.push(value.into_arg());
        self
    }

    pub(crate) async fn execute<'e>(self, exec: impl Into<Exec<'e>>) -> Result<Done, sqlx::Error> {
        let sql = AssertSqlSafe(self.sql);
        let rows = match exec.into() {
            Exec::SqlitePool(p) => bind_all!(sqlx::query::<Sqlite>(sql), self.args).execute(p).await?.rows_affected(),
            Exec::PgPool(p) => bind_all!(sqlx::query::<Postgres>(sql), self.args).execute(p).await?.rows_affected(),
            Exec::Sqlite(c) => bind_all!(sqlx::query::<Sqlite>(sql), self.args).execute(c).await?.rows_affected(),
            Exec::Postgres(c) => bind_all!(sqlx::query::<Postgres>(sql), self.args).execute(c).await?.rows_affected(),
        };
        Ok(Done(rows))
    }
}

/// Row types both engines can decode.
pub(crate) trait Row: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}
impl<T> Row for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}

impl<O: Row> Statement<O> {
    pub(crate) async fn fetch_one<'e>(self, exec: impl Into<Exec<'e>>) -> Result<O, sqlx::Error> {
        run_as!(self, exec, O, fetch_one)
    }

    pub(crate) async fn fetch_optional<'e>(self, exec: impl Into<Exec<'e>>) -> Result<Option<O>, sqlx::Error> {
        run_as!(self, exec, O, fetch_optional)
    }

    pub(crate) async fn fetch_all<'e>(self, exec: impl Into<Exec<'e>>) -> Result<Vec<O>, sqlx::Error> {
        run_as!(self, exec, O, fetch_all)
    }
}

impl<O> Statement<O>
where
    O: Row + for<'a> TryFrom<&'a rusqlite::Row<'a>, Error = rusqlite::Error>,
{
    /// [`fetch_optional`](Self::fetch_optional) on `meta`'s main pool, for a short indexed
    /// lookup on the request path: on SQLite it runs on the calling thread (see
    /// [`crate::inline`]).
    pub(crate) async fn fetch_optional_inline(self, meta: &Meta) -> Result<Option<O>, sqlx::Error> {
        match &meta.inline {
            Some(inline) => inline.fetch_optional(&self.sql, &self.args),
            None => self.fetch_optional(&meta.pool).await,
        }
    }
}

/// A statement whose rows are one column each (see [`query_scalar`]).
pub(crate) struct Scalar<T>(Statement<(T,)>);

impl<T> Scalar<T> {
    pub(crate) fn bind(self, value: impl IntoArg) -> Self {
        Scalar(self.0.bind(value))
    }
}

impl<T> Scalar<T>
where
    (T,): Row,
{
    pub(crate) async fn fetch_one<'e>(self, exec: impl Into<Exec<'e>>) -> Result<T, sqlx::Error> {
        Ok(self.0.fetch_one(exec).await?.0)
    }

    pub(crate) async fn fetch_optional<'e>(self, exec: impl Into<Exec<'e>>) -> Result<Option<T>, sqlx::Error> {
        Ok(self.0.fetch_optional(exec).await?.map(|(v,)| v))
    }

    pub(crate) async fn fetch_all<'e>(self, exec: impl Into<Exec<'e>>) -> Result<Vec<T>, sqlx::Error> {
        Ok(self.0.fetch_all(exec).await?.into_iter().map(|(v,)| v).collect())
    }
}

impl<T> Scalar<T>
where
    (T,): Row + for<'a> TryFrom<&'a rusqlite::Row<'a>, Error = rusqlite::Error>,
{
    /// See [`Statement::fetch_optional_inline`].
    pub(crate) async fn fetch_optional_inline(self, meta: &Meta) -> Result<Option<T>, sqlx::Error> {
        Ok(self.0.fetch_optional_inline(meta).await?.map(|(v,)| v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a pool's commits wait for, as its engine reports it.
    async fn durability(pool: &Pool) -> String {
        match pool {
            // 2 is FULL, 1 is NORMAL.
            Pool::Sqlite(p) => {
                sqlx::query_scalar::<_, i64>("PRAGMA synchronous").fetch_one(p).await.unwrap().to_string()
            }
            Pool::Postgres(p) => sqlx::query_scalar("SHOW synchronous_commit").fetch_one(p).await.unwrap(),
        }
    }

    #[tokio::test]
    async fn only_the_bookkeeping_pool_commits_without_waiting_for_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open_sqlite(&dir.path().join("db"), 8).await.unwrap();
        let got = (durability(&meta.pool).await, durability(&meta.bookkeeping).await);
        meta.close().await;
        assert_eq!(got, ("2".to_owned(), "1".to_owned()), "SQLite");

        let db = berth_testkit::postgres::TestDatabase::create();
        let meta = Meta::open_postgres(&db.url(), 8, Duration::from_secs(5)).await.unwrap();
        let got = (durability(&meta.pool).await, durability(&meta.bookkeeping).await);
        meta.close().await;
        assert_eq!(got, ("on".to_owned(), "off".to_owned()), "PostgreSQL");
    }
}
