use crate::db::{LockScope, Tx, query, query_as, query_scalar};
use crate::events::insert_event;
use crate::project_metadata::upsert_metadata;
use crate::{Event, Meta, MetaError, Result, Sort, now};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Project {
    pub id: i64,
    pub name: String,
    pub public: bool,
    pub owner_id: i64,
    pub owner_name: String,
    pub storage_limit: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Repositories holding at least one manifest.
    pub repo_count: i64,
    /// The registry endpoint this project is a pull-through cache of (a proxy-cache project).
    pub registry_id: Option<i64>,
}

/// What access decisions need of a project: cheap to load on every request.
#[derive(Debug, Clone)]
pub struct ProjectKey {
    pub id: i64,
    pub name: String,
    pub public: bool,
}

impl Project {
    pub fn key(&self) -> ProjectKey {
        ProjectKey { id: self.id, name: self.name.clone(), public: self.public }
    }
}

/// Which projects a listing may show.
#[derive(Debug, Clone, Copy)]
pub enum ProjectVisibility {
    /// Every project (system administrators).
    All,
    /// Public projects, and private ones the user is a member of.
    MemberOrPublic(i64),
    /// Public projects only (anonymous).
    PublicOnly,
}

impl ProjectVisibility {
    /// The `(mode, user)` pair the SQL conditions take: 0 all, 1 member-or-public, 2 public.
    pub(crate) fn mode(self) -> (i64, i64) {
        match self {
            ProjectVisibility::All => (0, 0),
            ProjectVisibility::MemberOrPublic(user) => (1, user),
            ProjectVisibility::PublicOnly => (2, 0),
        }
    }
}

/// Filters of a project listing.
#[derive(Debug, Default)]
pub struct ProjectFilter<'a> {
    /// Substring of the name.
    pub name: Option<&'a str>,
    pub public: Option<bool>,
}

macro_rules! select_projects {
    ($($rest:expr),+) => {
        concat!(
            "SELECT p.id, p.name, p.public, p.owner_id, u.username AS owner_name, p.storage_limit, p.created_at, p.updated_at,
               p.registry_id,
               (SELECT count(*) FROM repositories r
                WHERE substr(r.name, 1, length(p.name) + 1) = p.name || '/'
                  AND ", repository_has_content!(), ") AS repo_count
             FROM projects p JOIN users u ON u.id = p.owner_id ",
            $($rest),+
        )
    };
}

/// The listing condition: $1 name substring, $2 public filter (NULL for any), $3 visibility mode
/// (0 all, 1 member-or-public for user $4, 2 public only).
macro_rules! visible_projects {
    () => {
        "WHERE instr(p.name, $1) > 0
           AND ($2 IS NULL OR p.public = $2)
           AND ($3 = 0
                OR p.public = TRUE
                OR ($3 = 1 AND EXISTS (SELECT 1 FROM project_members pm WHERE pm.project_id = p.id AND pm.user_id = $4)))"
    };
}

impl Meta {
    /// Creates a project owned by `owner`, who becomes its project admin, with its `metadata`
    /// (other than `public`), in one transaction; with `registry_id`, a proxy-cache project of
    /// that endpoint (for good: it never changes).
    #[allow(clippy::too_many_arguments)]
    pub async fn create_project(
        &self,
        name: &str,
        public: bool,
        owner: i64,
        storage_limit: i64,
        registry_id: Option<i64>,
        metadata: &[(&str, &str)],
        event: &Event,
    ) -> Result<i64> {
        let mut tx = self.write_tx(LockScope::Project(name)).await?;
        // An endpoint deleted meanwhile: the foreign key refuses the project.
        let id = insert_project(&mut tx, name, public, owner, storage_limit, registry_id).await?;
        upsert_metadata(&mut tx, id, metadata).await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn project_by_name(&self, name: &str) -> Result<Option<Project>> {
        const Q: &str = select_projects!("WHERE p.name = $1");
        Ok(query_as(Q).bind(name).fetch_optional(&self.pool).await?)
    }

    pub async fn project_by_id(&self, id: i64) -> Result<Option<Project>> {
        const Q: &str = select_projects!("WHERE p.id = $1");
        Ok(query_as(Q).bind(id).fetch_optional(&self.pool).await?)
    }

    /// One page of projects visible under `visibility`, by name; and the total.
    pub async fn list_projects(
        &self,
        visibility: ProjectVisibility,
        filter: &ProjectFilter<'_>,
        sort: &Sort,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Project>, i64)> {
        let (mode, user) = visibility.mode();
        const Q: &str = select_projects!(visible_projects!());
        let q = format!("{Q} ORDER BY {} LIMIT $5 OFFSET $6", sort.sql());
        const COUNT: &str = concat!("SELECT count(*) FROM projects p ", visible_projects!());
        let name = filter.name.unwrap_or("");
        let projects = query_as(q)
            .bind(name)
            .bind(filter.public)
            .bind(mode)
            .bind(user)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let total =
            query_scalar(COUNT).bind(name).bind(filter.public).bind(mode).bind(user).fetch_one(&self.pool).await?;
        Ok((projects, total))
    }

    /// Deletes a project that holds no repository with content. `Ok(false)` if it does.
    pub async fn delete_project(&self, id: i64, event: &Event) -> Result<bool> {
        let mut tx = self.write_tx(LockScope::ProjectId(id)).await?;
        let in_use: bool = query_scalar(
            "SELECT EXISTS (SELECT 1 FROM projects p JOIN repositories r
                 ON substr(r.name, 1, length(p.name) + 1) = p.name || '/'
               JOIN manifests m ON m.repository_id = r.id
               WHERE p.id = $1)",
        )
        .bind(id)
        .fetch_one(&mut tx)
        .await?;
        if in_use {
            return Ok(false);
        }
        query("DELETE FROM projects WHERE id = $1").bind(id).execute(&mut tx).await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }
}

impl Meta {
    /// The registry endpoint project `name` is a pull-through cache of; `None` for a normal
    /// project (or no project).
    pub async fn project_registry_id(&self, name: &str) -> Result<Option<i64>> {
        let found: Option<Option<i64>> = query_scalar("SELECT registry_id FROM projects WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.flatten())
    }

    /// The id of project `name`, without the listing's counts.
    pub async fn project_id(&self, name: &str) -> Result<Option<i64>> {
        Ok(query_scalar("SELECT id FROM projects WHERE name = $1").bind(name).fetch_optional(&self.pool).await?)
    }
}

/// Bytes used by project $1 (by name): each distinct blob and manifest counted once. (The CAST:
/// PostgreSQL sums BIGINTs into NUMERIC.)
pub(crate) const PROJECT_USAGE: &str = concat!(
    "
    SELECT CAST(COALESCE((SELECT sum(b.size) FROM blobs b WHERE b.digest IN (
               SELECT rb.digest FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
               WHERE substr(r.name, 1, length($1) + 1) = $1 || '/' AND ",
    counted_link!(),
    ")), 0)
         + COALESCE((SELECT sum(size) FROM (
               SELECT DISTINCT m.digest, m.size FROM manifests m JOIN repositories r ON r.id = m.repository_id
               WHERE substr(r.name, 1, length($1) + 1) = $1 || '/') AS distinct_manifests), 0) AS BIGINT)"
);

impl Meta {
    /// Storage used by project `name`, computed from its content: exact whatever pushes run
    /// concurrently.
    pub async fn project_usage(&self, name: &str) -> Result<i64> {
        Ok(query_scalar(PROJECT_USAGE).bind(name).fetch_one(&self.pool).await?)
    }

    pub async fn set_storage_limit(&self, id: i64, limit: i64, event: &Event) -> Result<()> {
        self.change(
            query("UPDATE projects SET storage_limit = $1, updated_at = $2 WHERE id = $3")
                .bind(limit)
                .bind(now())
                .bind(id),
            event,
            "this change conflicts with existing data",
        )
        .await?;
        Ok(())
    }
}

/// What a push adds to a project's storage.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Addition {
    Blob,
    Manifest,
}

/// Refuses, inside a write transaction, to add content `digest` of `adding` bytes to repository
/// `repo`'s project when that would pass its storage limit. Content the project already holds
/// (in any of its repositories) adds nothing. Writers are serialized by the transaction, so two
/// concurrent pushes cannot both slip under the limit. Projects without a limit pay one query.
pub(crate) async fn check_quota(tx: &mut Tx, repo: i64, what: Addition, digest: &str, adding: i64) -> Result<()> {
    if adding == 0 {
        return Ok(());
    }
    let project: Option<(String, i64)> = query_as(
        "SELECT p.name, p.storage_limit FROM repositories r JOIN projects p
           ON substr(r.name, 1, length(p.name) + 1) = p.name || '/'
         WHERE r.id = $1",
    )
    .bind(repo)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((name, limit)) = project else { return Ok(()) };
    if limit < 0 {
        return Ok(());
    }
    let held: &str = match what {
        Addition::Blob => concat!(
            "SELECT EXISTS (SELECT 1 FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
                            WHERE rb.digest = $2 AND substr(r.name, 1, length($1) + 1) = $1 || '/' AND ",
            counted_link!(),
            ")"
        ),
        Addition::Manifest => {
            "SELECT EXISTS (SELECT 1 FROM manifests m JOIN repositories r ON r.id = m.repository_id
                            WHERE m.digest = $2 AND substr(r.name, 1, length($1) + 1) = $1 || '/')"
        }
    };
    let already_held: bool = query_scalar(held).bind(&name).bind(digest).fetch_one(&mut *tx).await?;
    if already_held {
        return Ok(());
    }
    let usage: i64 = query_scalar(PROJECT_USAGE).bind(&name).fetch_one(&mut *tx).await?;
    if usage + adding > limit {
        return Err(MetaError::QuotaExceeded { project: name, limit, usage, adding });
    }
    Ok(())
}

impl Meta {
    /// The project `name`'s key, without the listing's counts: for access checks.
    pub async fn project_key(&self, name: &str) -> Result<Option<ProjectKey>> {
        let key: Option<(i64, String, bool)> = query_as("SELECT id, name, public FROM projects WHERE name = $1")
            .bind(name)
            .fetch_optional_inline(self)
            .await?;
        Ok(key.map(|(id, name, public)| ProjectKey { id, name, public }))
    }
}

/// A project owned by `owner`, who becomes its project admin.
pub(crate) async fn insert_project(
    tx: &mut Tx,
    name: &str,
    public: bool,
    owner: i64,
    storage_limit: i64,
    registry_id: Option<i64>,
) -> Result<i64> {
    let now = now();
    let id: i64 = query_scalar(
        "INSERT INTO projects (name, public, owner_id, storage_limit, created_at, updated_at, registry_id)
         VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING id",
    )
    .bind(name)
    .bind(public)
    .bind(owner)
    .bind(storage_limit)
    .bind(now)
    .bind(registry_id)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| MetaError::conflict_or(e, "project already exists"))?;
    query(
        "INSERT INTO project_members (project_id, user_id, role_id, created_at, updated_at) VALUES ($1, $2, 1, $3, $3)",
    )
    .bind(id)
    .bind(owner)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(id)
}
