//! The audit log of the whole registry, filtered by user, operation and resource.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use berth_api_types::AuditLog;
use serde::Deserialize;

use crate::Portal;
use crate::format::filters;
use crate::page::{self, Chrome, PageError, Paging, form_urlencoded};
use crate::project::{LogRow, log_rows};
use crate::viewer::Viewer;

/// The audit log page's filters.
#[derive(Deserialize)]
pub(crate) struct LogQuery {
    page: Option<String>,
    username: Option<String>,
    operation: Option<String>,
    resource: Option<String>,
}

#[derive(Template)]
#[template(path = "admin_logs.html")]
struct Logs {
    chrome: Chrome,
    rows: Vec<LogRow>,
    paging: Paging,
    username: String,
    operation: String,
    resource: String,
}

pub(crate) async fn logs(
    State(portal): State<Portal>,
    viewer: Viewer,
    Query(q): Query<LogQuery>,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let page_no = Paging::from_query(q.page.as_deref());
    let (username, operation, resource) = (
        q.username.clone().unwrap_or_default(),
        q.operation.clone().unwrap_or_default(),
        q.resource.clone().unwrap_or_default(),
    );
    let mut terms = Vec::new();
    if !username.is_empty() {
        terms.push(format!("username=~{username}"));
    }
    if !operation.is_empty() {
        terms.push(format!("operation={operation}"));
    }
    if !resource.is_empty() {
        terms.push(format!("resource=~{resource}"));
    }
    let mut path = format!("/audit-logs?page={page_no}&page_size={}", Paging::SIZE);
    if !terms.is_empty() {
        path.push_str(&format!("&q={}", form_urlencoded(&terms.join(","))));
    }
    let listing = portal.api.list::<AuditLog>(&viewer, &path).await?;
    let kept = format!(
        "&username={}&operation={}&resource={}",
        form_urlencoded(&username),
        form_urlencoded(&operation),
        form_urlencoded(&resource)
    );
    let page = Logs {
        chrome: Chrome::new(&viewer, "Logs", "logs"),
        paging: Paging::of(page_no, &listing).keeping(kept),
        rows: log_rows(listing.items),
        username,
        operation,
        resource,
    };
    page::ok(&page)
}
