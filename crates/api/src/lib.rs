//! Harbor's REST API, `/api/v2.0`: the same paths, JSON field names, status codes and paging
//! headers as Harbor's own OpenAPI document, so Harbor's tools work unchanged.
//!
//! Handlers are grouped by domain (`users`, `projects`, `members`, `system`); every decision
//! about what a caller may do comes from `berth_auth`, the same policy the registry uses. Every
//! body they read or write is a type of `berth_api_types`, Harbor's models.

mod artifacts;
mod audit;
mod caller;
mod error;
mod gc;
mod immutable;
mod jobservice;
mod labels;
mod members;
mod metadata;
mod page;
mod projects;
mod purge;
mod query;
mod quotas;
mod registries;
mod replication;
mod repositories;
mod retention;
mod robots;
mod search;
mod sessions;
mod settings;
mod system;
mod system_jobs;
mod tags;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, put};
use berth_auth::Auth;
use berth_content::Content;
use berth_jobs::gc::GarbageCollection;
use berth_jobs::housekeeping::PurgeAuditLog;
use berth_meta::Meta;
use berth_replication::Endpoints;

pub use error::ApiError;
pub use system::component_health;

/// The `harbor_version` Berth reports (`/systeminfo`, the metrics).
pub const HARBOR_VERSION: &str = concat!("berth-", env!("CARGO_PKG_VERSION"));
pub use settings::{Editable, ProjectCreation, Settings, keep_settings_current};

#[derive(Clone)]
pub struct ApiState {
    pub(crate) auth: Arc<Auth>,
    pub(crate) settings: Arc<Settings>,
    pub(crate) content: Content,
    pub(crate) endpoints: Endpoints,
}

impl ApiState {
    pub fn new(auth: Arc<Auth>, settings: Settings, content: Content, endpoints: Endpoints) -> ApiState {
        ApiState { auth, settings: Arc::new(settings), content, endpoints }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub(crate) fn meta(&self) -> &Meta {
        &self.auth.meta
    }
}

/// All `/api/v2.0` routes.
pub fn router(state: ApiState) -> Router {
    let api = Router::new()
        .route("/ping", get(system::ping))
        .route("/systeminfo", get(system::systeminfo))
        .route("/systeminfo/volumes", get(system::volumes))
        .route("/systeminfo/getcert", get(system::getcert))
        .route("/health", get(system::health))
        .route("/health/ready", get(system::ready))
        .route("/users", get(users::list).post(users::create))
        .route("/users/current", get(users::current))
        .route("/users/current/permissions", get(users::current_permissions))
        .route("/users/search", get(users::search))
        .route("/permissions", get(users::grantable_permissions))
        .route("/users/{user_id}", get(users::get).put(users::update).delete(users::delete))
        .route("/users/{user_id}/password", put(users::change_password))
        .route("/users/{user_id}/sysadmin", put(users::set_sysadmin))
        .route("/projects", get(projects::list).post(projects::create).head(projects::head))
        .route("/projects/{project}", get(projects::get).put(projects::update).delete(projects::delete))
        .route("/projects/{project}/summary", get(projects::summary))
        .route("/projects/{project}/_deletable", get(projects::deletable))
        .route("/projects/{project}/members", get(members::list).post(members::create))
        .route("/projects/{project}/members/{mid}", get(members::get).put(members::update).delete(members::delete))
        .route("/projects/{project}/metadatas", get(metadata::list).post(metadata::add))
        .route("/projects/{project}/metadatas/", get(metadata::list).post(metadata::add))
        .route(
            "/projects/{project}/metadatas/{meta_name}",
            get(metadata::get).put(metadata::update).delete(metadata::delete),
        )
        .route("/projects/{project}/immutabletagrules", get(immutable::list).post(immutable::create))
        .route(
            "/projects/{project}/immutabletagrules/{immutable_rule_id}",
            put(immutable::update).delete(immutable::delete),
        )
        .route("/projects/{project}/repositories", get(repositories::list))
        .route(
            "/projects/{project}/repositories/{repository}",
            get(repositories::get).put(repositories::update).delete(repositories::delete),
        )
        .route("/projects/{project}/repositories/{repository}/artifacts", get(artifacts::list).post(artifacts::copy))
        .route("/projects/{project}/artifacts", get(artifacts::list_of_project))
        .route("/repositories", get(repositories::list_all))
        .route(
            "/projects/{project}/repositories/{repository}/artifacts/{reference}",
            get(artifacts::get).delete(artifacts::delete),
        )
        .route(
            "/projects/{project}/repositories/{repository}/artifacts/{reference}/additions/{addition}",
            get(artifacts::addition),
        )
        .route(
            "/projects/{project}/repositories/{repository}/artifacts/{reference}/tags",
            get(tags::list).post(tags::create),
        )
        .route(
            "/projects/{project}/repositories/{repository}/artifacts/{reference}/tags/{tag}",
            axum::routing::delete(tags::delete),
        )
        .route(
            "/projects/{project}/repositories/{repository}/artifacts/{reference}/labels",
            axum::routing::post(labels::add_to_artifact),
        )
        .route(
            "/projects/{project}/repositories/{repository}/artifacts/{reference}/labels/{label_id}",
            axum::routing::delete(labels::remove_from_artifact),
        )
        .route("/labels", get(labels::list).post(labels::create))
        .route("/labels/{label_id}", get(labels::get).put(labels::update).delete(labels::delete))
        .route("/robots", get(robots::list).post(robots::create))
        .route(
            "/robots/{robot_id}",
            get(robots::get).put(robots::update).delete(robots::delete).patch(robots::refresh_secret),
        )
        .route("/search", get(search::search))
        .route("/statistics", get(search::statistics))
        .route("/audit-logs", get(audit::list))
        .route("/system/purgeaudit", get(system_jobs::history::<PurgeAuditLog>))
        .route(
            "/system/purgeaudit/schedule",
            get(system_jobs::get_schedule::<PurgeAuditLog>)
                .post(system_jobs::create_schedule::<PurgeAuditLog>)
                .put(system_jobs::update_schedule::<PurgeAuditLog>),
        )
        .route(
            "/system/purgeaudit/{purge_id}",
            get(system_jobs::get::<PurgeAuditLog>).put(system_jobs::stop::<PurgeAuditLog>),
        )
        .route("/system/purgeaudit/{purge_id}/log", get(system_jobs::log::<PurgeAuditLog>))
        .route("/system/gc", get(system_jobs::history::<GarbageCollection>))
        .route(
            "/system/gc/schedule",
            get(system_jobs::get_schedule::<GarbageCollection>)
                .post(system_jobs::create_schedule::<GarbageCollection>)
                .put(system_jobs::update_schedule::<GarbageCollection>),
        )
        .route(
            "/system/gc/{gc_id}",
            get(system_jobs::get::<GarbageCollection>).put(system_jobs::stop::<GarbageCollection>),
        )
        .route("/system/gc/{gc_id}/log", get(system_jobs::log::<GarbageCollection>))
        .route("/jobservice/pools", get(jobservice::pools))
        .route("/jobservice/pools/{pool_id}/workers", get(jobservice::workers))
        .route("/jobservice/jobs", get(jobservice::list_jobs))
        .route("/jobservice/jobs/{job_id}", get(jobservice::get_job).put(jobservice::stop_job))
        .route("/jobservice/jobs/{job_id}/log", get(jobservice::job_log))
        .route("/jobservice/queues", get(jobservice::queues))
        .route("/jobservice/queues/{job_type}", put(jobservice::queue_action))
        .route("/registries", get(registries::list).post(registries::create))
        .route("/registries/ping", axum::routing::post(registries::ping))
        .route("/registries/{id}", get(registries::get).put(registries::update).delete(registries::delete))
        .route("/registries/{id}/info", get(registries::info))
        .route("/replication/adapters", get(registries::adapters))
        .route("/replication/adapterinfos", get(registries::adapter_infos))
        .route("/replication/policies", get(replication::list_policies).post(replication::create_policy))
        .route(
            "/replication/policies/{id}",
            get(replication::get_policy).put(replication::update_policy).delete(replication::delete_policy),
        )
        .route("/replication/executions", get(replication::list_executions).post(replication::start_execution))
        .route("/replication/executions/{id}", get(replication::get_execution).put(replication::stop_execution))
        .route("/replication/executions/{id}/tasks", get(replication::list_tasks))
        .route("/replication/executions/{id}/tasks/{task_id}/log", get(replication::task_log))
        .route("/retentions", axum::routing::post(retention::create))
        .route("/retentions/metadatas", get(retention::metadatas))
        .route("/retentions/{id}", get(retention::get).put(retention::update).delete(retention::delete))
        .route("/retentions/{id}/executions", get(retention::list_executions).post(retention::start_execution))
        .route("/retentions/{id}/executions/{eid}", axum::routing::patch(retention::stop_execution))
        .route("/retentions/{id}/executions/{eid}/tasks", get(retention::list_tasks))
        .route("/retentions/{id}/executions/{eid}/tasks/{tid}", get(retention::task_log))
        .route("/configurations", get(settings::get).put(settings::put))
        .route("/quotas", get(quotas::list))
        .route("/quotas/{id}", get(quotas::get).put(quotas::update))
        .route("/projects/{project}/logs", get(audit::project_logs))
        // After every route: it applies to the routes already there.
        .method_not_allowed_fallback(error::method_not_allowed)
        .fallback(error::not_found)
        .layer(axum::middleware::map_response(error::json_by_default))
        .with_state(state.clone());
    let portal_auth = Router::new()
        .route("/c/login", axum::routing::post(sessions::login))
        .route("/c/log_out", axum::routing::post(sessions::logout))
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state);
    Router::new().nest("/api/v2.0", api).merge(portal_auth)
}
