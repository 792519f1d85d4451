//! The event outbox's reading bound on a real PostgreSQL server (the server of
//! `TEST_BERTH_POSTGRES`, by default the local one): a reader waits for a transaction of its own
//! database that may still commit an earlier event, and does not wait for one of another
//! database, which cannot.

use berth_meta::{AuditEntry, Cursor, Meta};
use berth_testkit::postgres::TestDatabase;
use sqlx::{Connection, PgConnection};

/// A connection of its own to `db`, holding a transaction that has taken a transaction id.
async fn running_transaction(db: &TestDatabase) -> PgConnection {
    let mut conn = PgConnection::connect(&db.url()).await.unwrap();
    sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()").execute(&mut conn).await.unwrap();
    conn
}

async fn record(meta: &Meta, resource: &str) {
    let entry = AuditEntry {
        project_id: None,
        username: "admin",
        resource,
        resource_type: "user",
        operation: "create",
        source_ip: "127.0.0.1",
    };
    meta.audit(&entry).await.unwrap();
}

async fn readable(meta: &Meta, after: Cursor) -> Vec<String> {
    meta.events_after(after, 100).await.unwrap().into_iter().map(|e| e.resource).collect()
}

/// Asserts that the events after `after` are `expected`, allowing 10 s for a short transaction of
/// the server's own (an autovacuum `ANALYZE` here) to end: what is held open in the test stays
/// open while it waits.
async fn readable_soon(meta: &Meta, after: Cursor, expected: &[&str]) {
    for _ in 0..100 {
        if readable(meta, after).await == expected {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(readable(meta, after).await, expected);
}

#[tokio::test]
async fn readers_wait_for_their_own_database_only() {
    let ours = TestDatabase::create();
    let other = TestDatabase::create();
    let meta = Meta::open_postgres(&ours.url(), 2, std::time::Duration::from_secs(5)).await.unwrap();

    // A write transaction left running in another database of the same server does not hold
    // back an event committed here.
    let mut elsewhere = running_transaction(&other).await;
    record(&meta, "first").await;
    readable_soon(&meta, Cursor::default(), &["first"]).await;

    // One running here does: it may still commit an event with a lower transaction id.
    let mut here = running_transaction(&ours).await;
    record(&meta, "second").await;
    let seen = meta.events_after(Cursor::default(), 100).await.unwrap();
    assert_eq!(seen.iter().map(|e| e.resource.as_str()).collect::<Vec<_>>(), ["first"]);
    let cursor = Cursor { txid: seen[0].txid, event_id: seen[0].id };

    // It commits its event late; a reader at the cursor gets it, before the later transaction's.
    sqlx::query(
        "INSERT INTO events (username, resource, resource_type, operation, source_ip, op_time)
         VALUES ('admin', 'late', 'user', 'create', '127.0.0.1', 0)",
    )
    .execute(&mut here)
    .await
    .unwrap();
    assert_eq!(readable(&meta, cursor).await, Vec::<String>::new(), "nothing is readable past the running one");
    sqlx::query("COMMIT").execute(&mut here).await.unwrap();
    readable_soon(&meta, cursor, &["late", "second"]).await;

    sqlx::query("COMMIT").execute(&mut elsewhere).await.unwrap();
    readable_soon(&meta, Cursor::default(), &["first", "late", "second"]).await;
    meta.close().await;
}
