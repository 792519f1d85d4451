//! `/search` and `/statistics`.

use serde::{Deserialize, Serialize};

use crate::projects::Project;

/// `GET /search?q=`: the projects and repositories the caller can see whose names contain `q`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Search {
    pub project: Vec<Project>,
    pub repository: Vec<SearchRepository>,
}

/// A repository found by `/search`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchRepository {
    pub project_id: i64,
    pub project_name: String,
    pub project_public: bool,
    pub repository_name: String,
    pub pull_count: i64,
    pub artifact_count: i64,
}

/// `GET /statistics`: counts of what the caller can see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statistic {
    pub private_project_count: i64,
    pub private_repo_count: i64,
    pub public_project_count: i64,
    pub public_repo_count: i64,
    pub total_project_count: i64,
    pub total_repo_count: i64,
    /// Bytes stored, for system administrators only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_storage_consumption: Option<i64>,
}
