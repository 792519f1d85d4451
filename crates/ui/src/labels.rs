//! Labels in the portal: the coloured chips artifacts carry, the labels a project's artifacts
//! may take, the form that creates and edits one, and the project's "Labels" tab. The global
//! labels' page (Administration → Labels) is `admin/labels.rs`, on the same pieces.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::Response;
use berth_api_types::{GLOBAL_SCOPE, Label, PROJECT_SCOPE};

use crate::Portal;
use crate::api::{NO_BODY, Reply};
use crate::page::{self, Chrome, Fields, PageError};
use crate::project::{Head, head, settle};
use crate::viewer::{Posted, Viewer};

/// The colour of a label that has none (Harbor's portal's default).
const DEFAULT_COLOR: &str = "#6c757d";

/// A label as a page shows it.
pub(crate) struct LabelView {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// `#RRGGBB`, drawn as the chip's dot (an SVG `fill`: the page's policy allows no inline
    /// style).
    pub color: String,
    /// As stored, empty for the default: what the edit form shows.
    pub chosen: String,
    pub global: bool,
}

pub(crate) fn view(l: &Label) -> LabelView {
    LabelView {
        id: l.id,
        name: l.name.clone(),
        description: l.description.clone(),
        color: if l.color.is_empty() { DEFAULT_COLOR.to_owned() } else { l.color.clone() },
        chosen: l.color.clone(),
        global: l.scope == GLOBAL_SCOPE,
    }
}

/// The labels of one scope (a project's with `project`), by name; a label list holds few, and
/// one page of 100 shows them.
pub(crate) async fn of_scope(
    portal: &Portal,
    viewer: &Viewer,
    project: Option<i64>,
) -> Result<Vec<LabelView>, PageError> {
    Ok(portal.api.list::<Label>(viewer, &scope_path(project)).await?.items.iter().map(view).collect())
}

fn scope_path(project: Option<i64>) -> String {
    match project {
        Some(id) => format!("/labels?scope={PROJECT_SCOPE}&project_id={id}&page_size=100"),
        None => format!("/labels?scope={GLOBAL_SCOPE}&page_size=100"),
    }
}

/// The labels artifacts of `project` may carry: the global ones and the project's own. A viewer
/// who may not list the project's (a public project's reader) gets the global ones only.
pub(crate) async fn usable(portal: &Portal, viewer: &Viewer, project: i64) -> Result<Vec<LabelView>, PageError> {
    let mut labels = of_scope(portal, viewer, None).await?;
    if let Ok(reply) = portal.api.call(viewer, Method::GET, &scope_path(Some(project)), NO_BODY).await {
        labels.extend(reply.json::<Vec<Label>>()?.iter().map(view));
    }
    Ok(labels)
}

/// The label the create and edit forms describe, in `scope` (of `project` for a project label).
pub(crate) fn from_fields(fields: &Fields, scope: &str, project: i64) -> Label {
    Label {
        name: fields.get("name").to_owned(),
        description: fields.get("description").to_owned(),
        color: fields.get("color").to_owned(),
        scope: scope.to_owned(),
        project_id: project,
        ..Label::default()
    }
}

/// Creates (`lid` `None`) or, by the form's `action`, edits or deletes a label.
pub(crate) async fn save(
    portal: &Portal,
    viewer: &Viewer,
    lid: Option<i64>,
    fields: &Fields,
    body: Label,
) -> Result<Result<Reply, crate::api::Refusal>, PageError> {
    match (lid, fields.get("action")) {
        (None, _) => portal.api.send(viewer, Method::POST, "/labels", Some(&body)).await,
        (Some(lid), "delete") => portal.api.send(viewer, Method::DELETE, &format!("/labels/{lid}"), NO_BODY).await,
        (Some(lid), _) => portal.api.send(viewer, Method::PUT, &format!("/labels/{lid}"), Some(&body)).await,
    }
}

#[derive(Template)]
#[template(path = "project_labels.html")]
struct ProjectLabels {
    chrome: Chrome,
    head: Head,
    rows: Vec<LabelView>,
    /// Where the forms post: the tab's path.
    base: String,
    manage: bool,
    error: Option<String>,
}

async fn project_page(portal: &Portal, viewer: &Viewer, id: i64, error: Option<String>) -> Result<Response, PageError> {
    let head = head(portal, viewer, id, "labels").await?;
    let rows = of_scope(portal, viewer, Some(id)).await?;
    let status = page::status_for(&error);
    let page = ProjectLabels {
        chrome: Chrome::new(viewer, format!("{} labels", head.name), "projects"),
        manage: head.labels,
        head,
        rows,
        base: format!("/harbor/projects/{id}/labels"),
        error,
    };
    page::render(status, &page)
}

pub(crate) async fn project_labels(
    State(portal): State<Portal>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    project_page(&portal, &viewer, id, None).await
}

pub(crate) async fn add_project_label(
    State(portal): State<Portal>,
    Path(id): Path<i64>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    let result = save(&portal, &viewer, None, &fields, from_fields(&fields, PROJECT_SCOPE, id)).await?;
    settle(result, format!("/harbor/projects/{id}/labels"), async |e| project_page(&portal, &viewer, id, Some(e)).await)
        .await
}

pub(crate) async fn change_project_label(
    State(portal): State<Portal>,
    Path((id, lid)): Path<(i64, i64)>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    let result = save(&portal, &viewer, Some(lid), &fields, from_fields(&fields, PROJECT_SCOPE, id)).await?;
    settle(result, format!("/harbor/projects/{id}/labels"), async |e| project_page(&portal, &viewer, id, Some(e)).await)
        .await
}
