//! Registry endpoints: other registries that replication and proxy caches reach.

use crate::db::{LockScope, query, query_as, query_scalar};
use crate::events::insert_event;
use crate::{Event, Meta, MetaError, Result, now};

/// A remote registry endpoint. `access_secret` is sealed (see the replication crate).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RegistryRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub kind: String,
    pub url: String,
    pub access_key: Option<String>,
    pub access_secret: Option<String>,
    pub insecure: bool,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An endpoint to create or the new values of one.
#[derive(Debug)]
pub struct NewRegistry<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub kind: &'a str,
    pub url: &'a str,
    pub access_key: Option<&'a str>,
    pub access_secret: Option<&'a str>,
    pub insecure: bool,
}

const REGISTRY_COLUMNS: &str =
    "id, name, description, kind, url, access_key, access_secret, insecure, status, created_at, updated_at";

impl Meta {
    pub async fn create_registry(&self, r: &NewRegistry<'_>, event: &Event) -> Result<i64> {
        let now = now();
        let statement = query_scalar(
            "INSERT INTO registries (name, description, kind, url, access_key, access_secret, insecure, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
        )
        .bind(r.name)
        .bind(r.description)
        .bind(r.kind)
        .bind(r.url)
        .bind(r.access_key)
        .bind(r.access_secret)
        .bind(r.insecure)
        .bind(now);
        self.create(statement, event, "a registry with this name already exists").await
    }

    pub async fn registry(&self, id: i64) -> Result<Option<RegistryRow>> {
        let q = format!("SELECT {REGISTRY_COLUMNS} FROM registries WHERE id = $1");
        Ok(query_as(q).bind(id).fetch_optional(&self.pool).await?)
    }

    /// One page of endpoints whose name contains `name`, by id; and the total.
    pub async fn list_registries(
        &self,
        name: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<RegistryRow>, i64)> {
        let q = format!(
            "SELECT {REGISTRY_COLUMNS} FROM registries WHERE ($1 IS NULL OR instr(name, $1) > 0)
             ORDER BY id LIMIT $2 OFFSET $3"
        );
        let rows = query_as(q).bind(name).bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let total = query_scalar("SELECT count(*) FROM registries WHERE ($1 IS NULL OR instr(name, $1) > 0)")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok((rows, total))
    }

    pub async fn update_registry(&self, id: i64, r: &NewRegistry<'_>, event: &Event) -> Result<bool> {
        let statement = query(
            "UPDATE registries SET name = $1, description = $2, url = $3, access_key = $4, access_secret = $5,
                                   insecure = $6, updated_at = $7, status = 'unknown'
             WHERE id = $8",
        )
        .bind(r.name)
        .bind(r.description)
        .bind(r.url)
        .bind(r.access_key)
        .bind(r.access_secret)
        .bind(r.insecure)
        .bind(now())
        .bind(id);
        Ok(self.change(statement, event, "a registry with this name already exists").await? == 1)
    }

    pub async fn set_registry_status(&self, id: i64, status: &str) -> Result<()> {
        query("UPDATE registries SET status = $1 WHERE id = $2").bind(status).bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// Deletes an endpoint no policy and no proxy-cache project uses: `InUse` otherwise,
    /// `false` if there is none. The check and the delete are one transaction.
    pub async fn delete_registry(&self, id: i64, event: &Event) -> Result<bool> {
        let mut tx = self.write_tx(LockScope::Named("registries")).await?;
        let policies: i64 = query_scalar(
            "SELECT count(*) FROM replication_policies WHERE src_registry_id = $1 OR dest_registry_id = $1",
        )
        .bind(id)
        .fetch_one(&mut tx)
        .await?;
        let projects: i64 =
            query_scalar("SELECT count(*) FROM projects WHERE registry_id = $1").bind(id).fetch_one(&mut tx).await?;
        if policies + projects > 0 {
            return Err(MetaError::InUse(format!(
                "the registry is used by {policies} replication policies and {projects} proxy-cache projects"
            )));
        }
        let done = query("DELETE FROM registries WHERE id = $1").bind(id).execute(&mut tx).await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }
}
