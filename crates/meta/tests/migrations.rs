//! The SQLite and the PostgreSQL migrations make the same tables with the same columns. Every
//! statement is written once for both engines (docs/architecture.md, "One set of queries, two
//! databases"), so a column one engine's migrations lack would fail only on that engine, at run
//! time; here it fails at once, naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use berth_meta::Meta;
use berth_testkit::postgres::TestDatabase;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

/// Column names by table.
type Schema = BTreeMap<String, BTreeSet<String>>;

/// The migrator's record of the migrations it applied: its own, and not the same on both engines.
const MIGRATOR_TABLE: &str = "_sqlx_migrations";

fn schema(rows: Vec<(String, String)>) -> Schema {
    let mut schema = Schema::new();
    for (table, column) in rows.into_iter().filter(|(table, _)| table != MIGRATOR_TABLE) {
        schema.entry(table).or_default().insert(column);
    }
    schema
}

/// The tables of the SQLite database at `path`. Tables named `sqlite_…` are left out: the name is
/// reserved for SQLite's own (`sqlite_sequence` for AUTOINCREMENT, `sqlite_stat1` after ANALYZE),
/// so no migration makes one.
async fn sqlite_schema(path: &Path) -> Schema {
    let mut conn = SqliteConnectOptions::new().filename(path).read_only(true).connect().await.unwrap();
    let rows = sqlx::query_as(
        "SELECT t.name, c.name FROM sqlite_master AS t, pragma_table_info(t.name) AS c
         WHERE t.type = 'table' AND t.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    schema(rows)
}

/// The tables of the PostgreSQL database at `url`, in the schema the migrations write to.
async fn postgres_schema(url: &str) -> Schema {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let rows = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text FROM information_schema.columns AS c
         JOIN information_schema.tables AS t USING (table_schema, table_name)
         WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    schema(rows)
}

/// What `ours` has that `theirs` lacks, a line per table: a whole table, or its missing columns.
fn lacking(ours: &Schema, theirs: &Schema) -> Vec<String> {
    ours.iter()
        .filter_map(|(table, columns)| match theirs.get(table) {
            None => Some(format!("  table {table} ({})", Vec::from_iter(columns.iter().cloned()).join(", "))),
            Some(other) => {
                let missing = Vec::from_iter(columns.difference(other).cloned());
                (!missing.is_empty()).then(|| format!("  {table}: {}", missing.join(", ")))
            }
        })
        .collect()
}

#[tokio::test]
async fn sqlite_and_postgres_migrations_make_the_same_tables_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    Meta::open_sqlite(&path, 2).await.unwrap().close().await;
    let sqlite = sqlite_schema(&path).await;

    let db = TestDatabase::create();
    Meta::open_postgres(&db.url(), 2, std::time::Duration::from_secs(5)).await.unwrap().close().await;
    let postgres = postgres_schema(&db.url()).await;

    // Both read something, so an empty answer on both sides cannot pass for agreement.
    for (engine, schema) in [("SQLite", &sqlite), ("PostgreSQL", &postgres)] {
        assert!(schema.contains_key("repositories"), "{engine}: no table repositories among {:?}", schema.keys());
    }
    let only_sqlite = lacking(&sqlite, &postgres);
    let only_postgres = lacking(&postgres, &sqlite);
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "the migrations of the two engines differ\nonly in SQLite:\n{}\nonly in PostgreSQL:\n{}",
        only_sqlite.join("\n"),
        only_postgres.join("\n"),
    );
}
