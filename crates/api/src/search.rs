//! `/search` and `/statistics`: what the caller can see, found and counted.

use axum::Json;
use axum::extract::{Query, State};
use berth_api_types::{Search, SearchRepository, Statistic};
use berth_meta::{ProjectFilter, ProjectVisibility};
use serde::Deserialize;

use crate::ApiState;
use crate::caller::Caller;
use crate::error::ApiError;
use crate::projects::{by_name, project_model, visibility};

/// Most results of each kind one search returns.
const SEARCH_LIMIT: i64 = 100;

#[derive(Deserialize)]
pub(crate) struct SearchQuery {
    q: String,
}

pub(crate) async fn search(
    State(state): State<ApiState>,
    caller: Caller,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Search>, ApiError> {
    let Query(q) = query?;
    let visible = visibility(&caller);
    let filter = ProjectFilter { name: Some(&q.q), public: None };
    let (projects, _) = state.meta().list_projects(visible, &filter, &by_name(), 0, SEARCH_LIMIT).await?;
    let mut found_projects = Vec::with_capacity(projects.len());
    for p in &projects {
        found_projects.push(project_model(&state, p, state.auth.access_to(&caller.principal, &p.key()).await?).await?);
    }
    let repositories = state
        .meta()
        .search_repositories(&q.q, visible, SEARCH_LIMIT)
        .await?
        .into_iter()
        .map(|r| SearchRepository {
            project_id: r.project_id,
            project_name: r.project_name,
            project_public: r.project_public,
            repository_name: r.name,
            pull_count: r.pull_count,
            artifact_count: r.artifact_count,
        })
        .collect();
    Ok(Json(Search { project: found_projects, repository: repositories }))
}

pub(crate) async fn statistics(State(state): State<ApiState>, caller: Caller) -> Result<Json<Statistic>, ApiError> {
    caller.user()?;
    let visible = visibility(&caller);
    let public = ProjectFilter { name: None, public: Some(true) };
    let private = ProjectFilter { name: None, public: Some(false) };
    let (_, public_projects) = state.meta().list_projects(visible, &public, &by_name(), 0, 1).await?;
    let (_, private_projects) = state.meta().list_projects(visible, &private, &by_name(), 0, 1).await?;
    let (public_repos, private_repos) = state.meta().repository_counts(visible).await?;
    let total_storage_consumption = match visible {
        ProjectVisibility::All => Some(state.meta().total_storage().await?),
        _ => None,
    };
    Ok(Json(Statistic {
        public_project_count: public_projects,
        private_project_count: private_projects,
        total_project_count: public_projects + private_projects,
        public_repo_count: public_repos,
        private_repo_count: private_repos,
        total_repo_count: public_repos + private_repos,
        total_storage_consumption,
    }))
}
