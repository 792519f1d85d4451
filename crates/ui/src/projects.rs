//! The project list: search, paging, storage against quota; creating and deleting projects.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use berth_api_types::{Project, ProjectMetadata, ProjectReq, ProjectSummary, Registry};

use crate::Portal;
use crate::api::NO_BODY;
use crate::format;
use crate::page::{self, Chrome, Fields, PageError, Paging, Search};
use crate::viewer::{Posted, Viewer};

pub(crate) struct ProjectRow {
    pub id: i64,
    pub name: String,
    pub public: bool,
    pub repo_count: i64,
    pub role: &'static str,
    pub created: String,
    pub quota: String,
}

pub(crate) struct Choice {
    pub id: i64,
    pub name: String,
}

#[derive(Template)]
#[template(path = "projects.html")]
struct Projects {
    chrome: Chrome,
    rows: Vec<ProjectRow>,
    paging: Paging,
    search: String,
    registries: Vec<Choice>,
    error: Option<String>,
    form: Fields,
}

/// Harbor's role names by id.
pub(crate) fn role_name(id: i64) -> &'static str {
    ROLES.iter().find(|(role, _)| *role == id).map(|(_, name)| *name).unwrap_or("")
}

/// Harbor's roles, by id, in the order the member forms offer them.
pub(crate) const ROLES: [(i64, &str); 5] =
    [(1, "Project Admin"), (4, "Maintainer"), (2, "Developer"), (3, "Guest"), (5, "Limited Guest")];

async fn list_page(
    portal: &Portal,
    viewer: &Viewer,
    query: &Search,
    error: Option<String>,
    form: Fields,
) -> Result<Response, PageError> {
    let user = viewer.user()?;
    let listing = portal.api.list::<Project>(viewer, &query.api_path("/projects", "name")).await?;
    let mut rows = Vec::new();
    for p in &listing.items {
        let id = p.project_id;
        let summary: ProjectSummary = portal.api.get(viewer, &format!("/projects/{id}/summary")).await?;
        rows.push(ProjectRow {
            id,
            name: p.name.clone(),
            public: is_public(p),
            repo_count: p.repo_count,
            role: if user.sysadmin && p.current_user_role_id == 0 {
                "System Admin"
            } else {
                role_name(p.current_user_role_id)
            },
            created: format::time(&p.creation_time),
            quota: format::quota(&summary.quota),
        });
    }
    let registries = if user.sysadmin { registry_choices(portal, viewer).await? } else { Vec::new() };
    let page = Projects {
        chrome: Chrome::new(viewer, "Projects", "projects"),
        paging: Paging::of(query.page(), &listing).keeping(query.link_query()),
        rows,
        search: query.name().to_owned(),
        registries,
        error: error.clone(),
        form,
    };
    page::render(page::status_for(&error), &page)
}

/// Whether `p` is public, as Harbor says it: `metadata.public`.
pub(crate) fn is_public(p: &Project) -> bool {
    p.metadata.public.as_deref() == Some("true")
}

/// Registry endpoints, for a proxy-cache project or a replication policy.
pub(crate) async fn registry_choices(portal: &Portal, viewer: &Viewer) -> Result<Vec<Choice>, PageError> {
    let listing = portal.api.list::<Registry>(viewer, "/registries?page_size=100").await?;
    Ok(listing.items.into_iter().map(|r| Choice { id: r.id, name: r.name.unwrap_or_default() }).collect())
}

pub(crate) async fn list(
    State(portal): State<Portal>,
    viewer: Viewer,
    Query(query): Query<Search>,
) -> Result<Response, PageError> {
    list_page(&portal, &viewer, &query, None, Fields(Vec::new())).await
}

/// A storage limit typed as a number and a unit; empty for none.
pub(crate) fn storage_limit(fields: &Fields) -> Result<i64, String> {
    let amount = fields.get("storage_limit");
    if amount.is_empty() || amount == "-1" {
        return Ok(-1);
    }
    let n: f64 = amount.parse().map_err(|_| format!("Storage quota {amount:?} is not a number."))?;
    if n <= 0.0 {
        return Err("Storage quota must be more than 0, or empty for no limit.".to_owned());
    }
    let unit: i64 = match fields.get("storage_unit") {
        "MiB" => 1 << 20,
        "TiB" => 1 << 40,
        _ => 1 << 30,
    };
    Ok((n * unit as f64) as i64)
}

pub(crate) async fn create(
    State(portal): State<Portal>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    let query = Search::default();
    let limit = match storage_limit(&fields) {
        Ok(l) => l,
        Err(e) => return list_page(&portal, &viewer, &query, Some(e), fields).await,
    };
    let name = fields.get("project_name");
    let body = ProjectReq {
        project_name: Some(name.to_owned()),
        metadata: Some(ProjectMetadata { public: Some(fields.checked("public").to_string()), ..Default::default() }),
        storage_limit: Some(limit),
        registry_id: fields.get("registry_id").parse::<i64>().ok().filter(|id| *id > 0),
        ..ProjectReq::default()
    };
    match portal.api.send(&viewer, Method::POST, "/projects", Some(&body)).await? {
        Ok(reply) => {
            let location = reply.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("");
            let id = location.rsplit('/').next().unwrap_or("");
            page::see(format!("/harbor/projects/{id}/repositories"))
        }
        Err(refusal) => {
            let message = if refusal.status == StatusCode::CONFLICT {
                format!("A project named {name:?} already exists.")
            } else {
                capitalize(&refusal.message)
            };
            list_page(&portal, &viewer, &query, Some(message), fields).await
        }
    }
}

pub(crate) async fn delete(
    State(portal): State<Portal>,
    Path(id): Path<i64>,
    Posted { viewer, .. }: Posted,
) -> Result<Response, PageError> {
    match portal.api.send(&viewer, Method::DELETE, &format!("/projects/{id}"), NO_BODY).await? {
        Ok(_) => page::see("/harbor/projects"),
        Err(refusal) => {
            list_page(&portal, &viewer, &Search::default(), Some(capitalize(&refusal.message)), Fields(Vec::new()))
                .await
        }
    }
}

/// An API message as a sentence on a page.
pub(crate) fn capitalize(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => {
            let mut s: String = first.to_uppercase().collect();
            s.push_str(chars.as_str());
            if !s.ends_with('.') {
                s.push('.');
            }
            s
        }
        None => String::new(),
    }
}
