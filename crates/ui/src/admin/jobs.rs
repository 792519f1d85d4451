//! The job service: what is pending by kind, and the jobs with their attempts and last error.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use berth_api_types::{Job, JobQueue};

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
    let path = format!("/jobservice/jobs?page={page_no}&page_size={}", Paging::SIZE);
    let listing = portal.api.list::<Job>(&viewer, &path).await?;
    let paging = Paging::of(page_no, &listing);
    let rows = listing
        .items
        .into_iter()
        .map(|j| JobRow {
            id: j.id,
            attempts: format!("{} of {}", j.attempts, j.max_attempts),
            created: format::time(&j.creation_time),
            kind: j.job_kind,
            status: j.status,
            error: j.error.unwrap_or_default(),
        })
        .collect();
    let queues: Vec<JobQueue> = portal.api.get(&viewer, "/jobservice/queues").await?;
    let queues = queues.into_iter().map(|q| (q.job_type, q.count)).collect();
    let page = Jobs { chrome: Chrome::new(&viewer, "Jobs", "jobs"), rows, queues, paging };
    page::ok(&page)
}
