//! What the metrics endpoint reads of the database: a few aggregates over all projects (each a
//! single pass over its table, grouped by project), and the connection pools' use. Callers cache
//! the result for a few seconds; these are not for every request.

use std::collections::HashMap;

use crate::db::{Pool, query_as, query_scalar};
use crate::{Meta, Result};

/// A project with its counts, as Harbor's exporter reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectStatistics {
    pub name: String,
    pub public: bool,
    /// Bytes; -1 for no limit.
    pub storage_limit: i64,
    /// Bytes used, each distinct blob and manifest of the project once (as quotas count).
    pub usage: i64,
    pub members: i64,
    pub repositories: i64,
    /// Pulls of its repositories' manifests.
    pub pulls: i64,
}

/// How many manifests of one kind a project holds.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ArtifactCount {
    pub project: String,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub count: i64,
}

/// One connection pool's use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    /// `main` (commits that wait for the disk) or `bookkeeping` (upload sessions' own).
    pub pool: &'static str,
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

/// A repository's project: the first component of its name (the whole name if it has one only).
const PROJECT_OF_REPOSITORY: &str = "substr(r.name, 1, instr(r.name || '/', '/') - 1)";

impl Meta {
    /// Every project with its limit, usage, members and repositories.
    pub async fn project_statistics(&self) -> Result<Vec<ProjectStatistics>> {
        let projects: Vec<(String, bool, i64, i64)> = query_as(
            "SELECT p.name, p.public, p.storage_limit,
                    (SELECT count(*) FROM project_members pm WHERE pm.project_id = p.id) AS members
             FROM projects p ORDER BY p.name",
        )
        .fetch_all(&self.pool)
        .await?;
        let repositories: Vec<(String, i64, i64)> = query_as(format!(
            "SELECT {PROJECT_OF_REPOSITORY} AS project, count(*), CAST(sum(r.pull_count) AS BIGINT)
             FROM repositories r GROUP BY {PROJECT_OF_REPOSITORY}"
        ))
        .fetch_all(&self.pool)
        .await?;
        // Each distinct blob and manifest of a project once, as `PROJECT_USAGE` counts them.
        let usage: Vec<(String, i64)> = query_as(format!(
            "SELECT project, CAST(sum(size) AS BIGINT) FROM (
                 SELECT DISTINCT {PROJECT_OF_REPOSITORY} AS project, b.digest, b.size
                 FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
                 JOIN blobs b ON b.digest = rb.digest
                 WHERE {counted}
                 UNION ALL
                 SELECT DISTINCT {PROJECT_OF_REPOSITORY} AS project, m.digest, m.size
                 FROM manifests m JOIN repositories r ON r.id = m.repository_id
             ) AS content GROUP BY project",
            counted = counted_link!()
        ))
        .fetch_all(&self.pool)
        .await?;
        let repositories: HashMap<String, (i64, i64)> =
            repositories.into_iter().map(|(project, count, pulls)| (project, (count, pulls))).collect();
        let usage: HashMap<String, i64> = usage.into_iter().collect();
        Ok(projects
            .into_iter()
            .map(|(name, public, storage_limit, members)| {
                let (repositories, pulls) = repositories.get(&name).copied().unwrap_or_default();
                ProjectStatistics {
                    usage: usage.get(&name).copied().unwrap_or(0),
                    repositories,
                    pulls,
                    name,
                    public,
                    storage_limit,
                    members,
                }
            })
            .collect())
    }

    /// Manifests by project and kind (media type and artifact type).
    pub async fn artifact_counts(&self) -> Result<Vec<ArtifactCount>> {
        Ok(query_as(format!(
            "SELECT {PROJECT_OF_REPOSITORY} AS project, m.media_type, m.artifact_type, count(*) AS count
             FROM manifests m JOIN repositories r ON r.id = m.repository_id
             GROUP BY {PROJECT_OF_REPOSITORY}, m.media_type, m.artifact_type"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Upload sessions open, on every instance.
    pub async fn upload_sessions(&self) -> Result<i64> {
        Ok(query_scalar("SELECT count(*) FROM uploads").fetch_one(&self.pool).await?)
    }

    /// This instance's connection pools.
    pub fn pool_use(&self) -> [PoolUse; 2] {
        [("main", &self.pool), ("bookkeeping", &self.bookkeeping)].map(|(name, pool)| {
            let (open, idle, max) = match pool {
                Pool::Sqlite(p) => (p.size(), p.num_idle() as u32, p.options().get_max_connections()),
                Pool::Postgres(p) => (p.size(), p.num_idle() as u32, p.options().get_max_connections()),
            };
            PoolUse { pool: name, open, idle, max }
        })
    }
}
