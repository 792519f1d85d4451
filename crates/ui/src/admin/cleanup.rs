//! Clean up: the audit log purge's schedule (`/system/purgeaudit/schedule`) as a form, a run now
//! (dry or not), and the runs' history.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use berth_api_types::ExecHistory;
use serde_json::{Map, Value, json};

use crate::Portal;
use crate::format;
use crate::page::{self, Chrome, PageError, Paging, Search};
use crate::viewer::{Posted, Viewer};

pub(crate) struct RunRow {
    pub id: i64,
    pub trigger: String,
    pub status: String,
    pub parameters: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "admin_cleanup.html")]
struct CleanUp {
    chrome: Chrome,
    schedule_type: String,
    cron: String,
    next: String,
    retention_hours: String,
    include: String,
    dry_run: bool,
    rows: Vec<RunRow>,
    paging: Paging,
    error: Option<String>,
    notice: Option<String>,
}

async fn cleanup_page(
    portal: &Portal,
    viewer: &Viewer,
    page_no: i64,
    error: Option<String>,
    notice: Option<String>,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let current: ExecHistory = portal.api.get(viewer, "/system/purgeaudit/schedule").await?;
    let when = current.schedule.unwrap_or_default();
    let parameters: Map<String, Value> = serde_json::from_str(&current.job_parameters).unwrap_or_default();
    let path = format!("/system/purgeaudit?page={page_no}&page_size={}", Paging::SIZE);
    let listing = portal.api.list::<ExecHistory>(viewer, &path).await?;
    let paging = Paging::of(page_no, &listing);
    let rows = listing
        .items
        .into_iter()
        .map(|r| RunRow {
            id: r.id,
            trigger: r.job_kind,
            status: r.job_status,
            parameters: r.job_parameters,
            created: format::time(&r.creation_time),
        })
        .collect();
    let page = CleanUp {
        chrome: Chrome::new(viewer, "Clean Up", "cleanup"),
        schedule_type: when.schedule_type.unwrap_or_default(),
        cron: when.cron.unwrap_or_default(),
        next: when.next_scheduled_time.as_deref().map(format::time).unwrap_or_default(),
        retention_hours: parameters.get("audit_retention_hour").map(Value::to_string).unwrap_or_default(),
        include: parameters.get("include_event_types").and_then(Value::as_str).unwrap_or_default().to_owned(),
        dry_run: parameters.get("dry_run").and_then(Value::as_bool).unwrap_or_default(),
        rows,
        paging,
        error: error.clone(),
        notice,
    };
    page::render(page::status_for(&error), &page)
}

pub(crate) async fn cleanup(
    State(portal): State<Portal>,
    viewer: Viewer,
    Query(q): Query<Search>,
) -> Result<Response, PageError> {
    cleanup_page(&portal, &viewer, q.page(), None, None).await
}

/// Saves the schedule, or (`action=run`) runs once now with the form's parameters.
pub(crate) async fn save_cleanup(
    State(portal): State<Portal>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let run = fields.get("action") == "run";
    let mut parameters = Map::new();
    let hours = fields.get("audit_retention_hour").trim();
    if !hours.is_empty() {
        // A number goes as one; anything else as text, for the API to refuse with its reason.
        parameters.insert("audit_retention_hour".into(), hours.parse::<i64>().map_or(json!(hours), |h| json!(h)));
    }
    if fields.checked("limit_types") {
        parameters.insert("include_event_types".into(), json!(fields.get("include_event_types")));
    }
    parameters.insert("dry_run".into(), json!(fields.checked("dry_run")));
    match super::send_schedule(&portal, &viewer, "/system/purgeaudit/schedule", &fields, run, parameters).await? {
        Ok(notice) => cleanup_page(&portal, &viewer, 1, None, Some(notice)).await,
        Err(error) => cleanup_page(&portal, &viewer, 1, Some(error), None).await,
    }
}
