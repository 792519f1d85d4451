use sqlx::AssertSqlSafe;

use crate::{Meta, Result, Sort, now};

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

macro_rules! audit_where {
    () => {
        "WHERE ($1 IS NULL OR project_id = $1)
           AND ($2 IS NULL OR project_id IN (SELECT project_id FROM project_members WHERE user_id = $2 AND role_id <> 5))
           AND ($3 IS NULL OR username = $3)
           AND ($4 IS NULL OR instr(resource, $4) > 0)
           AND ($5 IS NULL OR resource_type = $5)
           AND ($6 IS NULL OR operation = $6)
           AND ($7 IS NULL OR op_time >= $7)
           AND ($8 IS NULL OR op_time <= $8)"
    };
}

impl Meta {
    pub async fn audit(&self, e: &AuditEntry<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_logs (project_id, username, resource, resource_type, operation, source_ip, op_time)
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

    /// One page of audit records, newest first; and the total.
    pub async fn list_audit(
        &self,
        f: &AuditFilter<'_>,
        sort: &Sort,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<AuditRow>, i64)> {
        const Q: &str = concat!(
            "SELECT id, project_id, username, resource, resource_type, operation, source_ip, op_time FROM audit_logs ",
            audit_where!()
        );
        let q = format!("{Q} ORDER BY {} LIMIT $9 OFFSET $10", sort.sql());
        const COUNT: &str = concat!("SELECT count(*) FROM audit_logs ", audit_where!());
        macro_rules! bind_filter {
            ($q:expr) => {
                $q.bind(f.project_id)
                    .bind(f.visible_to)
                    .bind(f.username)
                    .bind(f.resource)
                    .bind(f.resource_type)
                    .bind(f.operation)
                    .bind(f.from)
                    .bind(f.to)
            };
        }
        let rows =
            bind_filter!(sqlx::query_as(AssertSqlSafe(q))).bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let total = bind_filter!(sqlx::query_scalar(COUNT)).fetch_one(&self.pool).await?;
        Ok((rows, total))
    }

    /// Deletes records older than `before` (unix seconds); returns how many.
    pub async fn purge_audit(&self, before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM audit_logs WHERE op_time < $1").bind(before).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}

/// A registry event to record: an audit entry naming its project, and for pulls the artifact
/// pulled `(repository id, digest, tag)`.
#[derive(Debug, Clone)]
pub struct RegistryEvent {
    pub project: String,
    pub username: String,
    pub resource: String,
    pub resource_type: &'static str,
    pub operation: &'static str,
    pub source_ip: String,
    pub op_time: i64,
    pub pull: Option<(i64, String, Option<String>)>,
}

impl Meta {
    /// Records a batch of registry events (audit rows and pull statistics) in one transaction:
    /// one commit for many pulls instead of one each.
    pub async fn record_registry_events(&self, events: &[RegistryEvent]) -> Result<()> {
        let mut tx = self.write_tx().await?;
        for e in events {
            sqlx::query(
                "INSERT INTO audit_logs (project_id, username, resource, resource_type, operation, source_ip, op_time)
                 VALUES ((SELECT id FROM projects WHERE name = $1), $2, $3, $4, $5, $6, $7)",
            )
            .bind(&e.project)
            .bind(&e.username)
            .bind(&e.resource)
            .bind(e.resource_type)
            .bind(e.operation)
            .bind(&e.source_ip)
            .bind(e.op_time)
            .execute(&mut *tx)
            .await?;
            if let Some((repo, digest, tag)) = &e.pull {
                sqlx::query("UPDATE repositories SET pull_count = pull_count + 1 WHERE id = $1")
                    .bind(repo)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE manifests SET pull_time = $1 WHERE repository_id = $2 AND digest = $3")
                    .bind(e.op_time)
                    .bind(repo)
                    .bind(digest)
                    .execute(&mut *tx)
                    .await?;
                if let Some(tag) = tag {
                    sqlx::query("UPDATE tags SET pull_time = $1 WHERE repository_id = $2 AND name = $3")
                        .bind(e.op_time)
                        .bind(repo)
                        .bind(tag)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
