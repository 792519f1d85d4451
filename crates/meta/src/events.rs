use std::collections::BTreeMap;

use crate::db::{Backend, Exec, LockScope, Scalar, Statement, query, query_as, query_scalar};
use crate::{Meta, MetaError, Result, Sort, now};

/// One audit record to write.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub project_id: Option<i64>,
    pub username: &'a str,
    pub resource: &'a str,
    pub resource_type: &'a str,
    pub operation: &'a str,
    pub source_ip: &'a str,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub project_id: Option<i64>,
    pub username: String,
    pub resource: String,
    pub resource_type: String,
    pub operation: String,
    pub source_ip: String,
    pub op_time: i64,
}

/// Filters of an audit listing; `None` matches anything.
#[derive(Debug, Default)]
pub struct AuditFilter<'a> {
    /// Only this project's records.
    pub project_id: Option<i64>,
    /// Only records of projects this user may read logs of (non-administrators).
    pub visible_to: Option<i64>,
    pub username: Option<&'a str>,
    /// Substring of the resource.
    pub resource: Option<&'a str>,
    pub resource_type: Option<&'a str>,
    pub operation: Option<&'a str>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// How many matching records `list_audit` counts at most. Counting is linear in the records
/// counted, and a registry that serves pulls writes one record per pull: an exact total of
/// millions would make every page of the log slow. Beyond this the total reads as this number
/// (and `AuditPage::capped` says so).
pub const AUDIT_TOTAL_CAP: i64 = 10_000;

/// A value bound to the audit log's filter.
enum FilterArg<'a> {
    Int(i64),
    Text(&'a str),
}

/// The `WHERE` clause of `f` with only the filters that are set (so an index on the column can
/// be used), and its values in placeholder order.
fn audit_where<'a>(f: &AuditFilter<'a>) -> (String, Vec<FilterArg<'a>>) {
    let mut conditions = Vec::new();
    let mut args = Vec::new();
    let mut add = |sql: &str, arg: FilterArg<'a>| {
        args.push(arg);
        conditions.push(sql.replace('?', &format!("${}", args.len())));
    };
    if let Some(p) = f.project_id {
        add("project_id = ?", FilterArg::Int(p));
    }
    if let Some(u) = f.visible_to {
        add(
            "project_id IN (SELECT project_id FROM project_members WHERE user_id = ? AND role_id <> 5)",
            FilterArg::Int(u),
        );
    }
    if let Some(u) = f.username {
        add("username = ?", FilterArg::Text(u));
    }
    if let Some(r) = f.resource {
        add("instr(resource, ?) > 0", FilterArg::Text(r));
    }
    if let Some(t) = f.resource_type {
        add("resource_type = ?", FilterArg::Text(t));
    }
    if let Some(o) = f.operation {
        add("operation = ?", FilterArg::Text(o));
    }
    if let Some(t) = f.from {
        add("op_time >= ?", FilterArg::Int(t));
    }
    if let Some(t) = f.to {
        add("op_time <= ?", FilterArg::Int(t));
    }
    let sql = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
    (sql, args)
}

/// One page of the audit log and the number of matching records, counted up to
/// [`AUDIT_TOTAL_CAP`].
pub struct AuditPage {
    pub rows: Vec<AuditRow>,
    pub total: i64,
    /// More records match than `total` says.
    pub capped: bool,
}

/// On PostgreSQL, the events after the cursor `($1, $2)` and below the first transaction id whose
/// events may still be committing: the lowest transaction this statement's snapshot sees
/// running, or, with none running, the next id to be given. Rows commit in another order than
/// their ids, so a reader stops below it and its cursor never passes a row that commits late.
/// Transaction ids are counted for the whole server, so transactions that `pg_stat_activity`
/// shows in another database are left out: they cannot write these events, and a long one there
/// (a migration, a batch, another test's database) would otherwise hold every consumer here
/// back. A transaction it does not show (a prepared one) still counts: waiting is safe, skipping
/// is not. Its `backend_xid` is 32 bits, the snapshot's ids 64, hence the modulo.
const POSTGRES_SETTLED_AFTER: &str = "(txid, id) > ($1, $2) AND txid < coalesce(
    (SELECT min(x::text::bigint) FROM pg_snapshot_xip(pg_current_snapshot()) AS x
     WHERE x::text::bigint % 4294967296 NOT IN (
         SELECT backend_xid::text::bigint FROM pg_stat_activity
         WHERE datname <> current_database() AND backend_xid IS NOT NULL)),
    pg_snapshot_xmax(pg_current_snapshot())::text::bigint)";

impl Meta {
    pub async fn audit(&self, e: &AuditEntry<'_>) -> Result<()> {
        query(
            "INSERT INTO events (project_id, username, resource, resource_type, operation, source_ip, op_time)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(e.project_id)
        .bind(e.username)
        .bind(e.resource)
        .bind(e.resource_type)
        .bind(e.operation)
        .bind(e.source_ip)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One page of audit records in `sort` order, and how many match (up to
    /// [`AUDIT_TOTAL_CAP`]).
    pub async fn list_audit(&self, f: &AuditFilter<'_>, sort: &Sort, offset: i64, limit: i64) -> Result<AuditPage> {
        let (filter, args) = audit_where(f);
        let n = args.len();
        let page = format!(
            "SELECT id, project_id, username, resource, resource_type, operation, source_ip, op_time FROM events
             {filter} ORDER BY {} LIMIT ${} OFFSET ${}",
            sort.sql(),
            n + 1,
            n + 2
        );
        let count = format!("SELECT count(*) FROM (SELECT 1 FROM events {filter} LIMIT ${}) AS matching", n + 1);
        let (mut page, mut count) = (query_as(page), query_scalar::<i64>(count));
        for arg in &args {
            (page, count) = match *arg {
                FilterArg::Int(v) => (page.bind(v), count.bind(v)),
                FilterArg::Text(v) => (page.bind(v), count.bind(v)),
            };
        }
        let rows = page.bind(limit).bind(offset).fetch_all(&self.pool).await?;
        // One more than the cap tells "exactly the cap" from "more than that".
        let counted = count.bind(AUDIT_TOTAL_CAP + 1).fetch_one(&self.pool).await?;
        Ok(AuditPage { rows, total: counted.min(AUDIT_TOTAL_CAP), capped: counted > AUDIT_TOTAL_CAP })
    }
}

/// One event for the outbox: what happened to which resource, who did it and from where. Written
/// in the same transaction as the change it describes ([`insert_event`]), or in batches for
/// pulls ([`Meta::record_registry_events`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Event {
    /// The project's name ("" when the change belongs to none).
    pub project: String,
    pub username: String,
    pub resource: String,
    pub resource_type: &'static str,
    pub operation: &'static str,
    pub source_ip: String,
    pub op_time: i64,
    pub repository: Option<String>,
    pub digest: Option<String>,
    pub tag: Option<String>,
    /// The id of the registry this change was replicated from, if it came by replication.
    pub origin: Option<String>,
}

/// An event row as consumers read it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub txid: i64,
    pub project_id: Option<i64>,
    pub username: String,
    pub resource: String,
    pub resource_type: String,
    pub operation: String,
    pub repository: Option<String>,
    pub digest: Option<String>,
    pub tag: Option<String>,
    pub origin: Option<String>,
    pub op_time: i64,
}

/// A consumer's position in the event stream: the last event it has handled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Cursor {
    pub txid: i64,
    pub event_id: i64,
}

/// A registry event queued for a batch: for a pull, also the id of the repository pulled from
/// (its pull count and the artifact's and tag's pull times are updated with the event).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegistryEvent {
    pub event: Event,
    pub pulled_from: Option<i64>,
}

/// Writes `e` where `exec` says: inside the caller's transaction, so the event exists if and only
/// if the change does.
pub(crate) async fn insert_event<'e>(exec: impl Into<Exec<'e>>, e: &Event) -> Result<()> {
    insert_events(exec, &[e]).await
}

/// Events written by one `INSERT` at most (11 values each): a batch of pulls costs a few
/// statements, not one each, and a statement's CPU stays in short bursts between which the
/// writer yields its thread.
const EVENTS_PER_INSERT: usize = 20;

/// Writes `events` in order, with one statement per [`EVENTS_PER_INSERT`] of them.
async fn insert_events<'e>(exec: impl Into<Exec<'e>>, events: &[&Event]) -> Result<()> {
    let mut exec = exec.into();
    // On SQLite, `$n` is a named placeholder: SQLite finds it by walking the statement's list of
    // names, at parse and again at every bind (sqlx asks each value's name), so a statement's cost
    // grows with the square of its values. This was 7% of a registry's CPU under a pull load. A
    // bare `?` has no name and takes the next value; the values are bound in the order written.
    let backend = exec.backend();
    let placeholder = |n: usize| match backend {
        Backend::Sqlite => "?".to_owned(),
        Backend::Postgres => format!("${n}"),
    };
    for chunk in events.chunks(EVENTS_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO events
               (project_id, username, resource, resource_type, operation, source_ip, op_time, repository, digest, tag, origin)
             VALUES ",
        );
        for i in 0..chunk.len() {
            let n = i * 11;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("((SELECT id FROM projects WHERE name = {})", placeholder(n + 1)));
            for k in 2..=11 {
                sql.push_str(&format!(", {}", placeholder(n + k)));
            }
            sql.push(')');
        }
        let mut q = query(sql);
        for e in chunk {
            q = q
                .bind(&e.project)
                .bind(&e.username)
                .bind(&e.resource)
                .bind(e.resource_type)
                .bind(e.operation)
                .bind(&e.source_ip)
                .bind(e.op_time)
                .bind(&e.repository)
                .bind(&e.digest)
                .bind(&e.tag)
                .bind(&e.origin);
        }
        q.execute(exec.reborrow()).await?;
    }
    Ok(())
}

impl Meta {
    /// Runs `statement` and, when it changed a row, records `event`, in one transaction: the
    /// event exists exactly when the change does. A unique violation becomes `Conflict(what)`.
    pub(crate) async fn change(&self, statement: Statement<()>, event: &Event, conflict: &'static str) -> Result<u64> {
        let mut tx = self.write_tx(LockScope::None).await?;
        let done = statement.execute(&mut tx).await.map_err(|e| MetaError::conflict_or(e, conflict))?;
        if done.rows_affected() > 0 {
            insert_event(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Runs an `INSERT … RETURNING id` and records `event`, in one transaction.
    pub(crate) async fn create(&self, statement: Scalar<i64>, event: &Event, conflict: &'static str) -> Result<i64> {
        let mut tx = self.write_tx(LockScope::None).await?;
        let id = statement.fetch_one(&mut tx).await.map_err(|e| MetaError::conflict_or(e, conflict))?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Records a batch of registry events (pulls, and their statistics) in one transaction: one
    /// commit for many pulls instead of one each.
    pub async fn record_registry_events(&self, events: &[RegistryEvent]) -> Result<()> {
        // Statistics are summed per repository, and the latest pull time kept per artifact and
        // per tag, so a burst of pulls of one image is three updates.
        let mut pulls: BTreeMap<i64, i64> = BTreeMap::new();
        let mut artifact_times: BTreeMap<(i64, &str), i64> = BTreeMap::new();
        let mut tag_times: BTreeMap<(i64, &str), i64> = BTreeMap::new();
        for RegistryEvent { event: e, pulled_from } in events {
            let Some(repo) = *pulled_from else { continue };
            *pulls.entry(repo).or_default() += 1;
            if let Some(digest) = &e.digest {
                let t = artifact_times.entry((repo, digest)).or_default();
                *t = (*t).max(e.op_time);
            }
            if let Some(tag) = &e.tag {
                let t = tag_times.entry((repo, tag)).or_default();
                *t = (*t).max(e.op_time);
            }
        }
        let mut tx = self.write_tx(LockScope::None).await?;
        let all: Vec<&Event> = events.iter().map(|r| &r.event).collect();
        insert_events(&mut tx, &all).await?;
        for (repo, n) in pulls {
            query("UPDATE repositories SET pull_count = pull_count + $1 WHERE id = $2")
                .bind(n)
                .bind(repo)
                .execute(&mut tx)
                .await?;
        }
        let latest = [
            ("UPDATE manifests SET pull_time = $1 WHERE repository_id = $2 AND digest = $3", artifact_times),
            ("UPDATE tags SET pull_time = $1 WHERE repository_id = $2 AND name = $3", tag_times),
        ];
        for (sql, times) in latest {
            for ((repo, key), time) in times {
                query(sql).bind(time).bind(repo).bind(key).execute(&mut tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Up to `limit` events after `cursor`, in the order consumers must see them. On PostgreSQL
    /// only events of transactions older than every transaction still running are returned, so
    /// an event committed late can never fall behind a cursor that already moved past its id.
    pub async fn events_after(&self, cursor: Cursor, limit: i64) -> Result<Vec<EventRow>> {
        // Written so each engine reads from the cursor on, however long the table: SQLite seeks
        // the rowid (its txid is always 0), PostgreSQL the (txid, id) index.
        let after = match self.backend() {
            Backend::Sqlite => "txid = $1 AND id > $2",
            Backend::Postgres => POSTGRES_SETTLED_AFTER,
        };
        let q = format!(
            "SELECT id, txid, project_id, username, resource, resource_type, operation, repository, digest, tag, origin, op_time
             FROM events WHERE {after} ORDER BY txid, id LIMIT $3"
        );
        Ok(query_as(q).bind(cursor.txid).bind(cursor.event_id).bind(limit).fetch_all(&self.pool).await?)
    }

    /// The position after the last event written so far: a new consumer that starts here sees
    /// only what happens from now on.
    pub async fn stream_end(&self) -> Result<Cursor> {
        Ok(query_as("SELECT txid, id AS event_id FROM events ORDER BY txid DESC, id DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?
            .unwrap_or_default())
    }

    /// Where `consumer` stands (the start of the stream if it never read).
    pub async fn cursor(&self, consumer: &str) -> Result<Cursor> {
        Ok(query_as("SELECT txid, event_id FROM event_cursors WHERE consumer = $1")
            .bind(consumer)
            .fetch_optional(&self.pool)
            .await?
            .unwrap_or_default())
    }

    /// Moves `consumer` from `from` to `to`; `false` (nothing changed) if another instance moved
    /// it first, so two instances never both hand on the same events.
    pub async fn advance_cursor(&self, consumer: &str, from: Cursor, to: Cursor) -> Result<bool> {
        move_cursor(&self.pool, consumer, from, to).await
    }
}

/// [`Meta::advance_cursor`] where `exec` says: in a transaction, the move commits with what the
/// consumer made of the events.
pub(crate) async fn move_cursor<'e>(
    exec: impl Into<Exec<'e>>,
    consumer: &str,
    from: Cursor,
    to: Cursor,
) -> Result<bool> {
    let done = query(
        "INSERT INTO event_cursors (consumer, txid, event_id, updated_at) VALUES ($1, $4, $5, $6)
         ON CONFLICT (consumer) DO UPDATE SET txid = excluded.txid, event_id = excluded.event_id,
                                              updated_at = excluded.updated_at
         WHERE event_cursors.txid = $2 AND event_cursors.event_id = $3",
    )
    .bind(consumer)
    .bind(from.txid)
    .bind(from.event_id)
    .bind(to.txid)
    .bind(to.event_id)
    .bind(now())
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}
