//! The job service: what is pending by kind, and the jobs with their attempts and last error.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;

use crate::Portal;
use crate::format;
use crate::page::{self, Chrome, PageError, Paging, Search};
use crate::viewer::Viewer;

pub(crate) struct JobRow {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub attempts: String,
    pub created: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "admin_jobs.html")]
struct Jobs {
    chrome: Chrome,
    rows: Vec<JobRow>,
    queues: Vec<(String, i64)>,
    paging: Paging,
}

pub(crate) async fn jobs(
    State(portal): State<Portal>,
    viewer: Viewer,
    Query(q): Query<Search>,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let page_no = q.page();
    let reply = portal.api.get(&viewer, &format!("/jobservice/jobs?page={page_no}&page_size={}", Paging::SIZE)).await?;
    let rows = reply
        .items()
        .iter()
        .map(|j| JobRow {
            id: j["id"].as_i64().unwrap_or(0),
            kind: format::text(&j["job_kind"]),
            status: format::text(&j["status"]),
            attempts: format!("{} of {}", j["attempts"].as_i64().unwrap_or(0), j["max_attempts"].as_i64().unwrap_or(0)),
            created: format::time(&j["creation_time"]),
            error: format::text(&j["error"]),
        })
        .collect();
    let queues = portal
        .api
        .get(&viewer, "/jobservice/queues")
        .await?
        .items()
        .iter()
        .map(|q| (format::text(&q["job_type"]), q["count"].as_i64().unwrap_or(0)))
        .collect();
    let page = Jobs { chrome: Chrome::new(&viewer, "Jobs", "jobs"), rows, queues, paging: Paging::of(page_no, &reply) };
    page::ok(&page)
}
