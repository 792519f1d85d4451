//! Administration → Labels: the global labels every project's artifacts may carry (list,
//! create, edit, delete), on the pieces the project's "Labels" tab uses too.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use berth_api_types::GLOBAL_SCOPE;

use crate::Portal;
use crate::labels::{LabelView, from_fields, of_scope, save};
use crate::page::{self, Chrome, PageError};
use crate::project::settle;
use crate::viewer::{Posted, Viewer};

const BASE: &str = "/harbor/labels";

#[derive(Template)]
#[template(path = "admin_labels.html")]
struct Labels {
    chrome: Chrome,
    rows: Vec<LabelView>,
    base: String,
    manage: bool,
    error: Option<String>,
}

async fn labels_page(portal: &Portal, viewer: &Viewer, error: Option<String>) -> Result<Response, PageError> {
    viewer.admin()?;
    let page = Labels {
        chrome: Chrome::new(viewer, "Labels", "labels"),
        rows: of_scope(portal, viewer, None).await?,
        base: BASE.to_owned(),
        manage: true,
        error: error.clone(),
    };
    page::render(page::status_for(&error), &page)
}

pub(crate) async fn labels(State(portal): State<Portal>, viewer: Viewer) -> Result<Response, PageError> {
    labels_page(&portal, &viewer, None).await
}

pub(crate) async fn create_label(
    State(portal): State<Portal>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let result = save(&portal, &viewer, None, &fields, from_fields(&fields, GLOBAL_SCOPE, 0)).await?;
    settle(result, BASE.to_owned(), async |e| labels_page(&portal, &viewer, Some(e)).await).await
}

/// `action`: `edit` (with the form's name, description and colour) or `delete`.
pub(crate) async fn change_label(
    State(portal): State<Portal>,
    Path(lid): Path<i64>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let result = save(&portal, &viewer, Some(lid), &fields, from_fields(&fields, GLOBAL_SCOPE, 0)).await?;
    settle(result, BASE.to_owned(), async |e| labels_page(&portal, &viewer, Some(e)).await).await
}
