//! Labels (Harbor's `/labels`): global ones and a project's own, and the labels artifacts carry.
//! A label's links to artifacts go with either (the tables' cascades), and a project's labels
//! with the project.

use crate::db::{LockScope, query, query_as, query_scalar};
use crate::events::insert_event;
use crate::{Event, Meta, MetaError, Result, Sort, now};

/// A label as stored: `scope` `g` (global, no project) or `p` (of `project_id`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LabelRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub color: String,
    pub scope: String,
    pub project_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A label an artifact (manifest row `manifest_id`) carries.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ArtifactLabel {
    pub manifest_id: i64,
    #[sqlx(flatten)]
    pub label: LabelRow,
}

/// What a label is made or changed with; checked by the caller.
#[derive(Debug, Clone, Copy)]
pub struct NewLabel<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub color: &'a str,
}

/// The labels a listing shows: one scope, for a project label one project, names containing
/// `name`.
#[derive(Debug, Clone, Copy)]
pub struct LabelFilter<'a> {
    pub scope: &'a str,
    pub project_id: Option<i64>,
    pub name: &'a str,
}

const SELECT: &str =
    "SELECT l.id, l.name, l.description, l.color, l.scope, l.project_id, l.created_at, l.updated_at FROM labels l";
const DUPLICATE: &str = "a label of that name already exists in its scope";
const FILTER: &str = "WHERE l.scope = $1 AND ($2 IS NULL OR l.project_id = $2) AND instr(l.name, $3) > 0";

/// SQL: artifact `m` carries each of `count` labels bound from placeholder `$first` on (ids
/// without repeats); nothing when `count` is 0. Only placeholders and a count go into the text.
pub(crate) fn carrying_labels(first: usize, count: usize) -> String {
    if count == 0 {
        return String::new();
    }
    let placeholders: Vec<String> = (first..first + count).map(|i| format!("${i}")).collect();
    format!(
        " AND (SELECT count(*) FROM artifact_labels al WHERE al.manifest_id = m.id AND al.label_id IN ({})) = {count}",
        placeholders.join(", ")
    )
}

impl Meta {
    /// Creates a label of `scope` (of `project` for a project label) with its `event`;
    /// `Conflict` if its scope has one of that name.
    pub async fn create_label(
        &self,
        label: &NewLabel<'_>,
        scope: &str,
        project: Option<i64>,
        event: &Event,
    ) -> Result<i64> {
        let now = now();
        let insert = query_scalar(
            "INSERT INTO labels (name, description, color, scope, project_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(label.name)
        .bind(label.description)
        .bind(label.color)
        .bind(scope)
        .bind(project)
        .bind(now);
        self.create(insert, event, DUPLICATE).await
    }

    pub async fn label(&self, id: i64) -> Result<Option<LabelRow>> {
        Ok(query_as(format!("{SELECT} WHERE l.id = $1")).bind(id).fetch_optional(&self.pool).await?)
    }

    /// One page of the labels `filter` selects, in `sort` order; and the total.
    pub async fn list_labels(
        &self,
        filter: &LabelFilter<'_>,
        sort: &Sort,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<LabelRow>, i64)> {
        let rows = query_as(format!("{SELECT} {FILTER} ORDER BY {} LIMIT $4 OFFSET $5", sort.sql()))
            .bind(filter.scope)
            .bind(filter.project_id)
            .bind(filter.name)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let total = query_scalar(format!("SELECT count(*) FROM labels l {FILTER}"))
            .bind(filter.scope)
            .bind(filter.project_id)
            .bind(filter.name)
            .fetch_one(&self.pool)
            .await?;
        Ok((rows, total))
    }

    /// Renames, describes and colours label `id` with its `event`; `false` if there is no such
    /// label, `Conflict` if its scope has another of the new name.
    pub async fn update_label(&self, id: i64, label: &NewLabel<'_>, event: &Event) -> Result<bool> {
        let update = query("UPDATE labels SET name = $2, description = $3, color = $4, updated_at = $5 WHERE id = $1")
            .bind(id)
            .bind(label.name)
            .bind(label.description)
            .bind(label.color)
            .bind(now());
        Ok(self.change(update, event, DUPLICATE).await? > 0)
    }

    /// Deletes label `id`, and so takes it off every artifact, with its `event`; `false` if there
    /// is no such label.
    pub async fn delete_label(&self, id: i64, event: &Event) -> Result<bool> {
        Ok(self.change(query("DELETE FROM labels WHERE id = $1").bind(id), event, DUPLICATE).await? > 0)
    }

    /// Puts label `label` on artifact `manifest` of repository `repo` with its `event`; `false`
    /// if the artifact or the label is gone, `Conflict` if the artifact carries it already.
    pub async fn add_artifact_label(&self, repo: i64, manifest: i64, label: i64, event: &Event) -> Result<bool> {
        // The repository's lock: an artifact delete cannot slip between this check and the insert.
        let mut tx = self.write_tx(LockScope::Repository(repo)).await?;
        let done = query(
            "INSERT INTO artifact_labels (label_id, manifest_id, created_at)
             SELECT l.id, m.id, $4 FROM manifests m JOIN labels l ON l.id = $3
             WHERE m.id = $1 AND m.repository_id = $2",
        )
        .bind(manifest)
        .bind(repo)
        .bind(label)
        .bind(now())
        .execute(&mut tx)
        .await
        .map_err(|e| MetaError::conflict_or(e, "the label is already added to the artifact"))?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Takes label `label` off artifact `manifest` with its `event`; `false` if it did not
    /// carry it.
    pub async fn remove_artifact_label(&self, manifest: i64, label: i64, event: &Event) -> Result<bool> {
        let delete =
            query("DELETE FROM artifact_labels WHERE manifest_id = $1 AND label_id = $2").bind(manifest).bind(label);
        Ok(self.change(delete, event, DUPLICATE).await? > 0)
    }

    /// The labels the artifacts `manifests` carry, by name.
    pub async fn labels_of_artifacts(&self, manifests: &[i64]) -> Result<Vec<ArtifactLabel>> {
        if manifests.is_empty() {
            return Ok(Vec::new());
        }
        // Only placeholders are formatted into the statement; the ids are bound.
        let placeholders: Vec<String> = (1..=manifests.len()).map(|i| format!("${i}")).collect();
        let q = format!(
            "SELECT al.manifest_id, l.id, l.name, l.description, l.color, l.scope, l.project_id, l.created_at,
                    l.updated_at
             FROM artifact_labels al JOIN labels l ON l.id = al.label_id
             WHERE al.manifest_id IN ({}) ORDER BY l.name, l.id",
            placeholders.join(", ")
        );
        let mut statement = query_as(q);
        for id in manifests {
            statement = statement.bind(*id);
        }
        Ok(statement.fetch_all(&self.pool).await?)
    }
}
