//! Replication policies: what to copy, from where to where, on which trigger.

use crate::db::{query, query_as, query_scalar};
use crate::{Event, Meta, MetaError, Result, now};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PolicyRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub src_registry_id: Option<i64>,
    pub dest_registry_id: Option<i64>,
    pub dest_namespace: String,
    pub dest_namespace_replace_count: i64,
    pub trigger_type: String,
    pub cron: String,
    pub filters: String,
    pub replicate_deletion: bool,
    pub override_existing: bool,
    pub enabled: bool,
    pub speed: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A policy to create or the new values of one.
#[derive(Debug)]
pub struct NewPolicy<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub src_registry_id: Option<i64>,
    pub dest_registry_id: Option<i64>,
    pub dest_namespace: &'a str,
    pub dest_namespace_replace_count: i64,
    pub trigger_type: &'a str,
    pub cron: &'a str,
    pub filters: &'a str,
    pub replicate_deletion: bool,
    pub override_existing: bool,
    pub enabled: bool,
    pub speed: i64,
}

const POLICY_COLUMNS: &str = "id, name, description, src_registry_id, dest_registry_id, dest_namespace,
     dest_namespace_replace_count, trigger_type, cron, filters, replicate_deletion, override_existing, enabled, speed,
     created_at, updated_at";

impl Meta {
    pub async fn create_policy(&self, p: &NewPolicy<'_>, event: &Event) -> Result<i64> {
        let now = now();
        let statement = query_scalar(
            "INSERT INTO replication_policies
               (name, description, src_registry_id, dest_registry_id, dest_namespace, dest_namespace_replace_count,
                trigger_type, cron, filters, replicate_deletion, override_existing, enabled, speed, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING id",
        )
        .bind(p.name)
        .bind(p.description)
        .bind(p.src_registry_id)
        .bind(p.dest_registry_id)
        .bind(p.dest_namespace)
        .bind(p.dest_namespace_replace_count)
        .bind(p.trigger_type)
        .bind(p.cron)
        .bind(p.filters)
        .bind(p.replicate_deletion)
        .bind(p.override_existing)
        .bind(p.enabled)
        .bind(p.speed)
        .bind(now);
        self.create(statement, event, "a policy with this name already exists").await
    }

    pub async fn policy(&self, id: i64) -> Result<Option<PolicyRow>> {
        let q = format!("SELECT {POLICY_COLUMNS} FROM replication_policies WHERE id = $1");
        Ok(query_as(q).bind(id).fetch_optional(&self.pool).await?)
    }

    /// One page of policies whose name contains `name`, by id; and the total.
    pub async fn list_policies(&self, name: Option<&str>, offset: i64, limit: i64) -> Result<(Vec<PolicyRow>, i64)> {
        let q = format!(
            "SELECT {POLICY_COLUMNS} FROM replication_policies WHERE ($1 IS NULL OR instr(name, $1) > 0)
             ORDER BY id LIMIT $2 OFFSET $3"
        );
        let rows = query_as(q).bind(name).bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let total = query_scalar("SELECT count(*) FROM replication_policies WHERE ($1 IS NULL OR instr(name, $1) > 0)")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok((rows, total))
    }

    /// Enabled policies with trigger `trigger_type`.
    pub async fn enabled_policies(&self, trigger_type: &str) -> Result<Vec<PolicyRow>> {
        let q = format!(
            "SELECT {POLICY_COLUMNS} FROM replication_policies WHERE enabled = TRUE AND trigger_type = $1 ORDER BY id"
        );
        Ok(query_as(q).bind(trigger_type).fetch_all(&self.pool).await?)
    }

    pub async fn update_policy(&self, id: i64, p: &NewPolicy<'_>, event: &Event) -> Result<bool> {
        let statement = query(
            "UPDATE replication_policies SET name = $1, description = $2, src_registry_id = $3, dest_registry_id = $4,
                dest_namespace = $5, dest_namespace_replace_count = $6, trigger_type = $7, cron = $8, filters = $9,
                replicate_deletion = $10, override_existing = $11, enabled = $12, speed = $13, updated_at = $14
             WHERE id = $15",
        )
        .bind(p.name)
        .bind(p.description)
        .bind(p.src_registry_id)
        .bind(p.dest_registry_id)
        .bind(p.dest_namespace)
        .bind(p.dest_namespace_replace_count)
        .bind(p.trigger_type)
        .bind(p.cron)
        .bind(p.filters)
        .bind(p.replicate_deletion)
        .bind(p.override_existing)
        .bind(p.enabled)
        .bind(p.speed)
        .bind(now())
        .bind(id);
        Ok(self.change(statement, event, "a policy with this name already exists").await? == 1)
    }

    /// Deletes a policy with no execution in progress (`InUse` otherwise), its executions with it.
    pub async fn delete_policy(&self, id: i64, event: &Event) -> Result<bool> {
        let running = self.list_executions(Some(id), None, 0, i64::MAX).await?.0;
        if running.iter().any(|e| e.status() == "InProgress") {
            return Err(MetaError::InUse("the policy has an execution in progress; stop it first".into()));
        }
        let statement = query("DELETE FROM replication_policies WHERE id = $1").bind(id);
        Ok(self.change(statement, event, "policy").await? == 1)
    }
}
