//! The portal: Harbor's web UI, rendered on the server from askama templates compiled into the
//! binary, with a little CSS and progressive-enhancement JavaScript embedded too (no build step,
//! no CDN; it works air-gapped and is readable without JavaScript).
//!
//! The portal is a client of `/api/v2.0`: every page reads and every form writes through the
//! same API router, in process, as the signed-in user ([`api::Api`]). What a user may see or do
//! is decided there, once, for both.

mod admin;
mod api;
mod assets;
mod format;
mod immutability;
mod labels;
mod page;
mod project;
mod projects;
mod repository;
mod retention;
mod sign_in;
mod viewer;

use std::sync::Arc;

use axum::Router;
use axum::response::Redirect;
use axum::routing::{get, post};
use berth_auth::Auth;

#[derive(Clone)]
pub struct Portal {
    api: api::Api,
    auth: Arc<Auth>,
}

/// The portal's routes under `/harbor`, and `/` leading there. `api` is the `/api/v2.0` router
/// (with `/c/login`) that the portal calls in process.
pub fn router(api: Router, auth: Arc<Auth>) -> Router {
    let state = Portal { api: api::Api::new(api), auth };
    Router::new()
        .route("/", get(|| async { Redirect::to("/harbor/projects") }))
        .route("/harbor", get(|| async { Redirect::to("/harbor/projects") }))
        .route("/harbor/static/{file}", get(assets::serve))
        .route("/harbor/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/harbor/sign-up", get(sign_in::sign_up_form).post(sign_in::sign_up))
        .route("/harbor/sign-out", post(sign_in::sign_out))
        .route("/harbor/account", get(sign_in::account).post(sign_in::change_password))
        .route("/harbor/projects", get(projects::list).post(projects::create))
        .route("/harbor/projects/{id}", get(project::summary))
        .route("/harbor/projects/{id}/delete", post(projects::delete))
        .route("/harbor/projects/{id}/repositories", get(project::repositories))
        .route("/harbor/projects/{id}/members", get(project::members).post(project::add_member))
        .route("/harbor/projects/{id}/members/{mid}", post(project::change_member))
        .route("/harbor/projects/{id}/robots", get(project::robots).post(project::create_robot))
        .route("/harbor/projects/{id}/robots/{rid}", post(project::change_robot))
        .route("/harbor/projects/{id}/immutability", get(immutability::rules).post(immutability::add))
        .route("/harbor/projects/{id}/immutability/{rid}", post(immutability::change))
        .route("/harbor/projects/{id}/labels", get(labels::project_labels).post(labels::add_project_label))
        .route("/harbor/projects/{id}/labels/{lid}", post(labels::change_project_label))
        .route("/harbor/projects/{id}/retention", get(retention::show).post(retention::change))
        .route("/harbor/projects/{id}/retention/executions/{eid}", get(retention::execution))
        .route("/harbor/projects/{id}/logs", get(project::logs))
        .route("/harbor/projects/{id}/settings", get(project::settings).post(project::save_settings))
        .route("/harbor/projects/{id}/repositories/{repo}", get(repository::artifacts).post(repository::describe))
        .route("/harbor/projects/{id}/repositories/{repo}/artifacts/{reference}", get(repository::artifact))
        .route(
            "/harbor/projects/{id}/repositories/{repo}/artifacts/{reference}/delete",
            post(repository::delete_artifact),
        )
        .route("/harbor/projects/{id}/repositories/{repo}/artifacts/{reference}/tags", post(repository::change_tags))
        .route(
            "/harbor/projects/{id}/repositories/{repo}/artifacts/{reference}/labels",
            post(repository::change_labels),
        )
        .route("/harbor/users", get(admin::users).post(admin::create_user))
        .route("/harbor/users/{uid}", post(admin::change_user))
        .route("/harbor/registries", get(admin::registries).post(admin::create_registry))
        .route("/harbor/registries/{rid}", post(admin::change_registry))
        .route("/harbor/replications", get(admin::replications).post(admin::create_policy))
        .route("/harbor/replications/{pid}", post(admin::change_policy))
        .route("/harbor/replications/executions/{eid}", get(admin::execution).post(admin::stop_execution))
        .route("/harbor/replications/executions/{eid}/tasks/{tid}/log", get(admin::task_log))
        .route("/harbor/labels", get(admin::labels).post(admin::create_label))
        .route("/harbor/labels/{lid}", post(admin::change_label))
        .route("/harbor/logs", get(admin::logs))
        .route("/harbor/job-service", get(admin::jobs))
        .route("/harbor/clean-up", get(admin::cleanup).post(admin::save_cleanup))
        .route("/harbor/clean-up/gc", get(admin::gc).post(admin::save_gc))
        .route("/harbor/clean-up/gc/{id}/log", get(admin::gc_log))
        .route("/harbor/settings", get(admin::settings).post(admin::save_settings))
        .route("/harbor/system-info", get(admin::system_info))
        .fallback(page::not_found)
        .layer(axum::middleware::map_response(page::finish))
        .with_state(state)
}
