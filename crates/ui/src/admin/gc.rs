//! Clean Up's Garbage Collection tab: the collection's schedule (`/system/gc/schedule`) as a
//! form, a run now (dry or not, with `delete_untagged` and `workers`), the runs' history with
//! what each freed, a chart of the bytes freed by the last runs, and each run's log.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use berth_api_types::ExecHistory;
use serde_json::{Map, Value, json};

use crate::Portal;
use crate::format;
use crate::page::{self, Chrome, PageError, Paging, Search};
use crate::viewer::{Posted, Viewer};

pub(crate) struct GcRow {
    pub id: i64,
    pub trigger: String,
    pub status: String,
    pub dry_run: bool,
    pub started: String,
    pub ended: String,
    pub freed: String,
}

#[derive(Template)]
#[template(path = "admin_gc.html")]
struct GarbageCollection {
    chrome: Chrome,
    schedule_type: String,
    cron: String,
    next: String,
    delete_untagged: bool,
    workers: u64,
    chart: String,
    rows: Vec<GcRow>,
    paging: Paging,
    error: Option<String>,
    notice: Option<String>,
}

/// Harbor's choice of workers, 1 to 5 (the API checks the same bounds).
const WORKERS: [u64; 5] = [1, 2, 3, 4, 5];

fn parameters_of(run: &ExecHistory) -> Map<String, Value> {
    serde_json::from_str(&run.job_parameters).unwrap_or_default()
}

fn row(run: ExecHistory) -> GcRow {
    let parameters = parameters_of(&run);
    let ended = matches!(run.job_status.as_str(), "Success" | "Error" | "Stopped");
    GcRow {
        id: run.id,
        trigger: run.job_kind,
        status: run.job_status,
        dry_run: parameters.get("dry_run").and_then(Value::as_bool).unwrap_or_default(),
        started: format::time(&run.creation_time),
        ended: if ended { format::time(&run.update_time) } else { String::new() },
        freed: run.freed.map(|f| format!("{} ({} blobs)", format::size(f.bytes), f.blobs)).unwrap_or_default(),
    }
}

/// The bytes freed by the runs of this page that ended well, oldest first.
fn chart(runs: &[ExecHistory]) -> String {
    let bars: Vec<(String, i64)> = runs
        .iter()
        .rev()
        .filter_map(|r| {
            let dry = parameters_of(r).get("dry_run").and_then(Value::as_bool).unwrap_or_default();
            r.freed.map(|f| (format!("#{}{}", r.id, if dry { " (dry)" } else { "" }), f.bytes))
        })
        .collect();
    if bars.is_empty() { String::new() } else { format::size_chart("Bytes freed by the last collections", &bars) }
}

async fn gc_page(
    portal: &Portal,
    viewer: &Viewer,
    page_no: i64,
    error: Option<String>,
    notice: Option<String>,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let current: ExecHistory = portal.api.get(viewer, "/system/gc/schedule").await?;
    let when = current.schedule.clone().unwrap_or_default();
    let parameters = parameters_of(&current);
    let path = format!("/system/gc?page={page_no}&page_size={}", Paging::SIZE);
    let listing = portal.api.list::<ExecHistory>(viewer, &path).await?;
    let paging = Paging::of(page_no, &listing);
    let chart = chart(&listing.items);
    let page = GarbageCollection {
        chrome: Chrome::new(viewer, "Garbage Collection", "cleanup"),
        schedule_type: when.schedule_type.unwrap_or_default(),
        cron: when.cron.unwrap_or_default(),
        next: when.next_scheduled_time.as_deref().map(format::time).unwrap_or_default(),
        delete_untagged: parameters.get("delete_untagged").and_then(Value::as_bool).unwrap_or_default(),
        workers: parameters.get("workers").and_then(Value::as_u64).unwrap_or(1),
        chart,
        rows: listing.items.into_iter().map(row).collect(),
        paging,
        error: error.clone(),
        notice,
    };
    page::render(page::status_for(&error), &page)
}

pub(crate) async fn gc(
    State(portal): State<Portal>,
    viewer: Viewer,
    Query(q): Query<Search>,
) -> Result<Response, PageError> {
    gc_page(&portal, &viewer, q.page(), None, None).await
}

/// Saves the schedule, or runs once now (`action=run`, or `action=dry-run` to count only) with
/// the form's parameters.
pub(crate) async fn save_gc(
    State(portal): State<Portal>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let action = fields.get("action");
    let run = action == "run" || action == "dry-run";
    let mut parameters = Map::new();
    parameters.insert("delete_untagged".into(), json!(fields.checked("delete_untagged")));
    let workers = fields.get("workers").trim();
    if !workers.is_empty() {
        // A number goes as one; anything else as text, for the API to refuse with its reason.
        parameters.insert("workers".into(), workers.parse::<u64>().map_or(json!(workers), |w| json!(w)));
    }
    parameters.insert("dry_run".into(), json!(action == "dry-run"));
    match super::send_schedule(&portal, &viewer, "/system/gc/schedule", &fields, run, parameters).await? {
        Ok(notice) => gc_page(&portal, &viewer, 1, None, Some(notice)).await,
        Err(error) => gc_page(&portal, &viewer, 1, Some(error), None).await,
    }
}

/// A run's log, as text.
pub(crate) async fn gc_log(
    State(portal): State<Portal>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let log = portal.api.text(&viewer, &format!("/system/gc/{id}/log")).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], log).into_response())
}
