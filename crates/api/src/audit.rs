//! The audit trail: recording what callers change, and `/audit-logs`, `/projects/{p}/logs`.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use berth_api_types::AuditLog;
use berth_api_types::headers::{X_TOTAL_COUNT, X_TOTAL_COUNT_CAPPED};
use berth_meta::time::{parse_rfc3339ish, rfc3339};
use berth_meta::{AuditFilter, AuditRow};
use serde::Deserialize;

use crate::ApiState;
use crate::caller::Caller;
use crate::error::ApiError;
use crate::page::{Page, PageQuery};
use crate::projects::{find_visible, require};
use crate::query::Term;

type PathRejection = axum::extract::rejection::PathRejection;
type QueryRejection = axum::extract::rejection::QueryRejection;

fn log_model(r: &AuditRow) -> AuditLog {
    AuditLog {
        id: r.id,
        username: r.username.clone(),
        resource: r.resource.clone(),
        resource_type: r.resource_type.clone(),
        operation: r.operation.clone(),
        source_ip: r.source_ip.clone(),
        op_time: rfc3339(r.op_time),
    }
}

#[derive(Deserialize)]
pub(crate) struct LogQuery {
    #[serde(default)]
    q: Option<String>,
}

/// Fills `filter` from `q=` (username, resource (~), resource_type, operation, op_time=[a~b]).
fn apply_query<'a>(q: &'a crate::query::Query, filter: &mut AuditFilter<'a>) -> Result<(), ApiError> {
    let exact = |key: &str| -> Result<Option<&'a str>, ApiError> {
        match q.get(key) {
            None => Ok(None),
            Some(Term::Exact(v)) => Ok(Some(v.as_str())),
            Some(_) => Err(ApiError::bad_request(format!("{key} supports exact matching only"))),
        }
    };
    filter.username = exact("username")?;
    filter.resource_type = exact("resource_type")?;
    filter.operation = exact("operation")?;
    filter.resource = match q.get("resource") {
        None => None,
        Some(Term::Exact(v) | Term::Fuzzy(v)) => Some(v.as_str()),
        Some(_) => return Err(ApiError::bad_request("resource supports exact and fuzzy (~) matching only")),
    };
    if let Some(term) = q.get("op_time") {
        let Term::Range(from, to) = term else {
            return Err(ApiError::bad_request(
                "op_time takes a range: op_time=[2026-01-01 00:00:00~2026-12-31 23:59:59]",
            ));
        };
        let parse = |v: &Option<String>| -> Result<Option<i64>, ApiError> {
            v.as_deref()
                .map(|t| {
                    parse_rfc3339ish(t)
                        .ok_or_else(|| ApiError::bad_request(format!("op_time bound {t:?} is not a time")))
                })
                .transpose()
        };
        filter.from = parse(from)?;
        filter.to = parse(to)?;
    }
    Ok(())
}

fn audit_sort(paging: &PageQuery) -> Result<berth_meta::Sort, ApiError> {
    paging.sort(
        &[("op_time", "op_time"), ("username", "username"), ("operation", "operation"), ("resource", "resource")],
        &[("op_time", true)],
        "id DESC",
    )
}

/// A page of the log. `X-Total-Count` counts at most `berth_meta::AUDIT_TOTAL_CAP` records;
/// when more match, `X-Total-Count-Capped: true` says so (and `Link` still leads on).
fn respond(page: &Page, found: berth_meta::AuditPage, path: &str, query: &str) -> Response {
    let rows: Vec<AuditLog> = found.rows.iter().map(log_model).collect();
    // Past the cap, a full page may have a next one: the total handed on keeps `Link` going.
    let total = if found.capped {
        let seen = page.offset() + rows.len() as i64;
        (found.total + 1).max(if rows.len() as i64 == page.size { seen + 1 } else { seen })
    } else {
        found.total
    };
    let mut response = page.respond(rows, total, path, query);
    if found.capped {
        let h = response.headers_mut();
        h.insert(X_TOTAL_COUNT, axum::http::HeaderValue::from(found.total));
        h.insert(X_TOTAL_COUNT_CAPPED, axum::http::HeaderValue::from_static("true"));
    }
    response
}

const LOG_KEYS: &[&str] = &["username", "resource", "resource_type", "operation", "op_time"];

/// `GET /audit-logs`: everything for administrators; other users see the logs of the projects
/// whose logs they may read.
pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    paging: Result<Query<PageQuery>, QueryRejection>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let user = caller.user()?;
    let paging = paging?.0;
    let page = paging.page()?;
    let sort = audit_sort(&paging)?;
    let Query(lq) = query?;
    let q = crate::query::Query::parse(lq.q.as_deref(), LOG_KEYS)?;
    let mut filter = AuditFilter { visible_to: (!user.sysadmin).then_some(user.id), ..Default::default() };
    apply_query(&q, &mut filter)?;
    let found = state.meta().list_audit(&filter, &sort, page.offset(), page.size).await?;
    let query = lq.q.as_ref().map(|q| format!("q={q}")).unwrap_or_default();
    Ok(respond(&page, found, "/api/v2.0/audit-logs", &query))
}

/// `GET /projects/{project}/logs`.
pub(crate) async fn project_logs(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    paging: Result<Query<PageQuery>, QueryRejection>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(key) = path?;
    let (project, access) = find_visible(&state, &caller, &key, &headers).await?;
    require(&caller, &access, "log", "list")?;
    let paging = paging?.0;
    let page = paging.page()?;
    let sort = audit_sort(&paging)?;
    let Query(lq) = query?;
    let q = crate::query::Query::parse(lq.q.as_deref(), LOG_KEYS)?;
    let mut filter = AuditFilter { project_id: Some(project.id), ..Default::default() };
    apply_query(&q, &mut filter)?;
    let found = state.meta().list_audit(&filter, &sort, page.offset(), page.size).await?;
    let query = lq.q.as_ref().map(|q| format!("q={q}")).unwrap_or_default();
    Ok(respond(&page, found, &format!("/api/v2.0/projects/{key}/logs"), &query))
}
