//! Project metadata (Harbor's `/projects/{p}/metadatas`): one string value per name, beside the
//! project's own columns. `public` is not here: it is `projects.public`, its one truth.

use crate::db::{LockScope, Tx, query, query_scalar};
use crate::events::insert_event;
use crate::{Event, Meta, MetaError, Result, now};

const DUPLICATE: &str = "the project already has this metadata";

impl Meta {
    /// The metadata stored for `project`, by name.
    pub async fn project_metadata(&self, project: i64) -> Result<Vec<(String, String)>> {
        Ok(crate::db::query_as("SELECT name, value FROM project_metadata WHERE project_id = $1 ORDER BY name")
            .bind(project)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Sets `public` (when given) and each of `values` (added or replaced) on `project`, with
    /// `event`, in one transaction.
    pub async fn set_project_metadata(
        &self,
        project: i64,
        public: Option<bool>,
        values: &[(&str, &str)],
        event: &Event,
    ) -> Result<()> {
        let mut tx = self.write_tx(LockScope::ProjectId(project)).await?;
        if let Some(public) = public {
            query("UPDATE projects SET public = $1, updated_at = $2 WHERE id = $3")
                .bind(public)
                .bind(now())
                .bind(project)
                .execute(&mut tx)
                .await?;
        }
        upsert_metadata(&mut tx, project, values).await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds `name` = `value` to `project` with its `event`; `Conflict` if it has `name` already.
    pub async fn add_project_metadata(&self, project: i64, name: &str, value: &str, event: &Event) -> Result<()> {
        let insert = query_scalar(
            "INSERT INTO project_metadata (project_id, name, value, updated_at) VALUES ($1, $2, $3, $4)
             RETURNING project_id",
        )
        .bind(project)
        .bind(name)
        .bind(value)
        .bind(now());
        self.create(insert, event, DUPLICATE).await?;
        Ok(())
    }

    /// Changes `name` of `project` to `value` with its `event`; `false` if it has no `name`.
    pub async fn update_project_metadata(&self, project: i64, name: &str, value: &str, event: &Event) -> Result<bool> {
        let update =
            query("UPDATE project_metadata SET value = $3, updated_at = $4 WHERE project_id = $1 AND name = $2")
                .bind(project)
                .bind(name)
                .bind(value)
                .bind(now());
        Ok(self.change(update, event, DUPLICATE).await? > 0)
    }

    /// Removes `name` from `project` with its `event`; `false` if it has no `name`.
    pub async fn delete_project_metadata(&self, project: i64, name: &str, event: &Event) -> Result<bool> {
        let delete = query("DELETE FROM project_metadata WHERE project_id = $1 AND name = $2").bind(project).bind(name);
        Ok(self.change(delete, event, DUPLICATE).await? > 0)
    }
}

/// Adds or replaces each of `values` of `project`, in the caller's transaction.
pub(crate) async fn upsert_metadata(tx: &mut Tx, project: i64, values: &[(&str, &str)]) -> Result<()> {
    for (name, value) in values {
        query(
            "INSERT INTO project_metadata (project_id, name, value, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (project_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(project)
        .bind(*name)
        .bind(*value)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(MetaError::from)?;
    }
    Ok(())
}
