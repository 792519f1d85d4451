//! Repositories and artifacts as Harbor's API presents them: listings with counts, descriptions,
//! pull statistics, tags with their times.

use crate::db::{LockScope, query, query_as, query_scalar};
use crate::events::insert_event;
use crate::immutable::refuse_protected;
use crate::labels::carrying_labels;
use crate::{Event, Meta, MetaError, Result, Sort, now};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RepositoryRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub pull_count: i64,
    pub artifact_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A repository with the id of its project.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProjectRepositoryRow {
    #[sqlx(flatten)]
    pub repository: RepositoryRow,
    pub project_id: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ArtifactRow {
    pub id: i64,
    pub repository_id: i64,
    pub digest: String,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub annotations: Option<String>,
    pub total_size: i64,
    pub content: Vec<u8>,
    pub created_at: i64,
    pub pull_time: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TagRow {
    pub id: i64,
    pub name: String,
    pub digest: String,
    pub updated_at: i64,
    pub pull_time: i64,
}

macro_rules! select_repositories {
    ($($rest:expr),+) => {
        concat!(
            "SELECT r.id, r.name, r.description, r.pull_count, r.created_at, r.updated_at,
               (SELECT count(*) FROM manifests m WHERE m.repository_id = r.id) AS artifact_count
             FROM repositories r ",
            $($rest),+
        )
    };
}

macro_rules! select_artifacts {
    ($($rest:expr),*) => {
        concat!(
            "SELECT m.id, m.repository_id, m.digest, m.media_type, m.artifact_type, m.annotations, m.total_size,
                    m.content, m.created_at, m.pull_time
             FROM manifests m ",
            $($rest),*
        )
    };
}

/// Repositories of project $1 (by name) with at least one artifact, name containing $2.
macro_rules! project_repositories {
    () => {
        concat!(
            "WHERE substr(r.name, 1, length($1) + 1) = $1 || '/'
               AND instr(substr(r.name, length($1) + 2), $2) > 0
               AND ",
            repository_has_content!()
        )
    };
}

impl Meta {
    /// One page of project `project`'s repositories (by name); and the total.
    pub async fn list_repositories_of(
        &self,
        project: &str,
        name_filter: &str,
        sort: &Sort,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<RepositoryRow>, i64)> {
        const Q: &str = select_repositories!(project_repositories!());
        let q = format!("{Q} ORDER BY {} LIMIT $3 OFFSET $4", sort.sql());
        const COUNT: &str = concat!("SELECT count(*) FROM repositories r ", project_repositories!());
        let rows = query_as(q).bind(project).bind(name_filter).bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let total = query_scalar(COUNT).bind(project).bind(name_filter).fetch_one(&self.pool).await?;
        Ok((rows, total))
    }

    /// The repositories with the given ids.
    pub async fn repositories_by_id(&self, ids: &[i64]) -> Result<Vec<RepositoryRow>> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            const Q: &str = select_repositories!("WHERE r.id = $1");
            found.extend(query_as::<RepositoryRow>(Q).bind(*id).fetch_optional(&self.pool).await?);
        }
        Ok(found)
    }

    /// The repository `name` if it holds at least one artifact.
    pub async fn repository(&self, name: &str) -> Result<Option<RepositoryRow>> {
        const Q: &str = select_repositories!("WHERE r.name = $1 AND ", repository_has_content!());
        Ok(query_as(Q).bind(name).fetch_optional(&self.pool).await?)
    }

    pub async fn set_repository_description(&self, id: i64, description: &str) -> Result<()> {
        query("UPDATE repositories SET description = $1, updated_at = $2 WHERE id = $3")
            .bind(description)
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes a repository: its tags, artifacts, blob links and upload sessions, recording
    /// `event` with the change. The bytes stay until garbage collection.
    pub async fn delete_repository(&self, id: i64, event: &Event) -> Result<()> {
        let mut tx = self.write_tx(LockScope::Repository(id)).await?;
        let tags: Vec<String> =
            query_scalar("SELECT name FROM tags WHERE repository_id = $1").bind(id).fetch_all(&mut tx).await?;
        refuse_protected(&mut tx, id, &tags, true).await?;
        for q in [
            "DELETE FROM tags WHERE repository_id = $1",
            "DELETE FROM manifests WHERE repository_id = $1",
            "DELETE FROM repository_blobs WHERE repository_id = $1",
            "DELETE FROM uploads WHERE repository_id = $1",
            "DELETE FROM repositories WHERE id = $1",
        ] {
            query(q).bind(id).execute(&mut tx).await?;
        }
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One page of a repository's artifacts carrying every label of `labels`, in `sort` order;
    /// and the total.
    pub async fn list_artifacts(
        &self,
        repo: i64,
        labels: &[i64],
        sort: &Sort,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ArtifactRow>, i64)> {
        const Q: &str = select_artifacts!("WHERE m.repository_id = $1");
        let q = format!("{Q}{} ORDER BY {} LIMIT $2 OFFSET $3", carrying_labels(4, labels.len()), sort.sql());
        let mut rows = query_as(q).bind(repo).bind(limit).bind(offset);
        let count =
            format!("SELECT count(*) FROM manifests m WHERE m.repository_id = $1{}", carrying_labels(2, labels.len()));
        let mut total = query_scalar(count).bind(repo);
        for label in labels {
            rows = rows.bind(*label);
            total = total.bind(*label);
        }
        Ok((rows.fetch_all(&self.pool).await?, total.fetch_one(&self.pool).await?))
    }

    /// One page of the artifacts of every repository of project `project` (by name), or only
    /// the last pushed of each repository when `latest_only`, carrying every label of `labels`;
    /// and the total.
    pub async fn list_project_artifacts(
        &self,
        project: &str,
        latest_only: bool,
        labels: &[i64],
        sort: &Sort,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ArtifactRow>, i64)> {
        const WHERE: &str = "JOIN repositories r ON r.id = m.repository_id
             WHERE substr(r.name, 1, length($1) + 1) = $1 || '/'
               AND (NOT $2 OR m.id = (SELECT l.id FROM manifests l WHERE l.repository_id = m.repository_id
                                      ORDER BY l.created_at DESC, l.id DESC LIMIT 1))";
        const Q: &str = select_artifacts!();
        let q = format!("{Q} {WHERE}{} ORDER BY {} LIMIT $3 OFFSET $4", carrying_labels(5, labels.len()), sort.sql());
        let mut rows = query_as(q).bind(project).bind(latest_only).bind(limit).bind(offset);
        let count = format!("SELECT count(*) FROM manifests m {WHERE}{}", carrying_labels(3, labels.len()));
        let mut total = query_scalar(count).bind(project).bind(latest_only);
        for label in labels {
            rows = rows.bind(*label);
            total = total.bind(*label);
        }
        Ok((rows.fetch_all(&self.pool).await?, total.fetch_one(&self.pool).await?))
    }

    pub async fn artifact_by_digest(&self, repo: i64, digest: &str) -> Result<Option<ArtifactRow>> {
        const Q: &str = select_artifacts!("WHERE m.repository_id = $1 AND m.digest = $2");
        Ok(query_as(Q).bind(repo).bind(digest).fetch_optional(&self.pool).await?)
    }

    pub async fn artifact_by_tag(&self, repo: i64, tag: &str) -> Result<Option<ArtifactRow>> {
        const Q: &str = select_artifacts!(
            "JOIN tags t ON t.repository_id = m.repository_id AND t.digest = m.digest WHERE m.repository_id = $1 AND t.name = $2"
        );
        Ok(query_as(Q).bind(repo).bind(tag).fetch_optional(&self.pool).await?)
    }

    /// Ids of the artifacts of `repo` with the given digests (children of an index).
    pub async fn artifact_id(&self, repo: i64, digest: &str) -> Result<Option<i64>> {
        Ok(query_scalar("SELECT id FROM manifests WHERE repository_id = $1 AND digest = $2")
            .bind(repo)
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Tags pointing at artifact `digest`, by name.
    pub async fn tags_of(&self, repo: i64, digest: &str) -> Result<Vec<TagRow>> {
        Ok(query_as(
            "SELECT id, name, digest, updated_at, pull_time FROM tags WHERE repository_id = $1 AND digest = $2 ORDER BY name",
        )
        .bind(repo)
        .bind(digest)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Tags of several artifacts at once (one query for a whole listing page), by name.
    pub async fn tags_of_many(&self, repo: i64, digests: &[&str]) -> Result<Vec<TagRow>> {
        if digests.is_empty() {
            return Ok(Vec::new());
        }
        // Only placeholders are formatted into the statement; the digests are bound.
        let placeholders: Vec<String> = (0..digests.len()).map(|i| format!("${}", i + 2)).collect();
        let q = format!(
            "SELECT id, name, digest, updated_at, pull_time FROM tags
             WHERE repository_id = $1 AND digest IN ({}) ORDER BY name",
            placeholders.join(", ")
        );
        let mut query = query_as(q).bind(repo);
        for d in digests {
            query = query.bind(*d);
        }
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// Adds tag `name` to an artifact, recording `event` with the change; `Conflict` if the
    /// repository already has that tag.
    pub async fn create_tag(&self, repo: i64, name: &str, digest: &str, event: &Event) -> Result<()> {
        let mut tx = self.write_tx(LockScope::Repository(repo)).await?;
        // Harbor refuses to move an immutable tag (a copy onto it) before saying it exists.
        let current: Option<String> = query_scalar("SELECT digest FROM tags WHERE repository_id = $1 AND name = $2")
            .bind(repo)
            .bind(name)
            .fetch_optional(&mut tx)
            .await?;
        if current.is_some_and(|d| d != digest) {
            refuse_protected(&mut tx, repo, &[name.to_owned()], false).await?;
        }
        query("INSERT INTO tags (repository_id, name, digest, updated_at) VALUES ($1, $2, $3, $4)")
            .bind(repo)
            .bind(name)
            .bind(digest)
            .bind(now())
            .execute(&mut tx)
            .await
            .map_err(|e| MetaError::conflict_or(e, "the tag already exists in the repository"))?;
        query("DELETE FROM tag_tombstones WHERE repository_id = $1 AND name = $2")
            .bind(repo)
            .bind(name)
            .execute(&mut tx)
            .await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A repository found by search, with its project.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FoundRepository {
    pub project_id: i64,
    pub project_name: String,
    pub project_public: bool,
    pub name: String,
    pub pull_count: i64,
    pub artifact_count: i64,
}

/// Repositories with content whose name contains $1, in projects visible under mode $2 (0 all,
/// 1 member-or-public for user $3, 2 public only).
macro_rules! visible_repositories {
    () => {
        concat!(
            "FROM repositories r JOIN projects p ON substr(r.name, 1, length(p.name) + 1) = p.name || '/'
             WHERE instr(r.name, $1) > 0 AND ",
            repository_has_content!(),
            " AND ($2 = 0 OR p.public = TRUE
                   OR ($2 = 1 AND EXISTS (SELECT 1 FROM project_members pm WHERE pm.project_id = p.id AND pm.user_id = $3)))"
        )
    };
}

impl Meta {
    /// One page of the repositories with content, in every project visible under `visibility`,
    /// whose name contains `name_filter`; and the total.
    pub async fn list_visible_repositories(
        &self,
        name_filter: &str,
        visibility: crate::ProjectVisibility,
        sort: &Sort,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ProjectRepositoryRow>, i64)> {
        const Q: &str = concat!(
            "SELECT r.id, r.name, r.description, r.pull_count, r.created_at, r.updated_at,
                    (SELECT count(*) FROM manifests m WHERE m.repository_id = r.id) AS artifact_count,
                    p.id AS project_id ",
            visible_repositories!()
        );
        const COUNT: &str = concat!("SELECT count(*) ", visible_repositories!());
        let (mode, user) = visibility.mode();
        let q = format!("{Q} ORDER BY {} LIMIT $4 OFFSET $5", sort.sql());
        let rows =
            query_as(q).bind(name_filter).bind(mode).bind(user).bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let total = query_scalar(COUNT).bind(name_filter).bind(mode).bind(user).fetch_one(&self.pool).await?;
        Ok((rows, total))
    }

    pub async fn search_repositories(
        &self,
        name: &str,
        visibility: crate::ProjectVisibility,
        limit: i64,
    ) -> Result<Vec<FoundRepository>> {
        const Q: &str = concat!(
            "SELECT p.id AS project_id, p.name AS project_name, p.public AS project_public, r.name, r.pull_count,
                    (SELECT count(*) FROM manifests m WHERE m.repository_id = r.id) AS artifact_count ",
            visible_repositories!(),
            " ORDER BY r.name LIMIT $4"
        );
        let (mode, user) = visibility.mode();
        Ok(query_as(Q).bind(name).bind(mode).bind(user).bind(limit).fetch_all(&self.pool).await?)
    }

    /// `(public, private)` counts of repositories visible under `visibility`.
    pub async fn repository_counts(&self, visibility: crate::ProjectVisibility) -> Result<(i64, i64)> {
        const Q: &str = concat!(
            "SELECT COALESCE(sum(CASE WHEN p.public THEN 1 ELSE 0 END), 0), COALESCE(sum(CASE WHEN p.public THEN 0 ELSE 1 END), 0) ",
            visible_repositories!()
        );
        let (mode, user) = visibility.mode();
        Ok(query_as(Q).bind("").bind(mode).bind(user).fetch_one(&self.pool).await?)
    }

    /// Bytes of every blob and manifest stored, each counted once.
    pub async fn total_storage(&self) -> Result<i64> {
        Ok(query_scalar(
            "SELECT CAST(COALESCE((SELECT sum(size) FROM blobs), 0)
                  + COALESCE((SELECT sum(size) FROM (SELECT DISTINCT digest, size FROM manifests) AS d), 0) AS BIGINT)",
        )
        .fetch_one(&self.pool)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, ManifestPush, NewManifest, NewUser, ProjectVisibility, Required};

    fn event() -> Event {
        Event {
            project: "p".into(),
            username: "admin".into(),
            resource: String::new(),
            resource_type: "artifact",
            operation: "create",
            source_ip: String::new(),
            op_time: 0,
            repository: None,
            digest: None,
            tag: None,
            origin: None,
        }
    }

    /// Pages of one repository list every repository once, however many artifacts each holds.
    /// SQLite 3.51 got this wrong with a correlated `EXISTS` ("has content"): a repository with
    /// two artifacts counted twice towards `OFFSET`, so page 2 repeated page 1.
    #[tokio::test]
    async fn pages_of_repositories_skip_and_repeat_none() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Meta::open_sqlite(&dir.path().join("db"), 2).await.unwrap();
        let admin =
            NewUser { username: "admin", email: None, realname: "", comment: "", password_hash: "x", sysadmin: true };
        meta.first_start(&admin, "p").await.unwrap();
        for (name, artifacts) in [("p/a", 2), ("p/b", 3), ("p/c", 1)] {
            let repo = meta.ensure_repository(name).await.unwrap();
            for n in 0..artifacts {
                let digest = format!("sha256:{n:064}");
                let manifest = NewManifest {
                    digest: &digest,
                    media_type: "application/vnd.oci.image.manifest.v1+json",
                    artifact_type: None,
                    subject: None,
                    annotations: None,
                    content: b"{}",
                    total_size: 2,
                    blobs: &[],
                    children: &[],
                };
                let event = event();
                let push =
                    ManifestPush { manifest, required: Required::default(), tag: None, stamp: None, event: &event };
                meta.put_manifest(repo, &push).await.unwrap();
            }
        }
        let sort = Sort::parse(None, &[], &[("r.name", false)], "r.id").unwrap();
        let (mut in_project, mut visible) = (Vec::new(), Vec::new());
        for offset in 0..4 {
            let (page, total) = meta.list_repositories_of("p", "", &sort, offset, 1).await.unwrap();
            assert_eq!(total, 3);
            in_project.extend(page.into_iter().map(|r| r.name));
            let (page, _) = meta.list_visible_repositories("", ProjectVisibility::All, &sort, offset, 1).await.unwrap();
            visible.extend(page.into_iter().map(|r| r.repository.name));
        }
        assert_eq!(in_project, ["p/a", "p/b", "p/c"]);
        assert_eq!(visible, ["p/a", "p/b", "p/c"]);
    }
}
