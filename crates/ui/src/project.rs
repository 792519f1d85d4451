//! One project: summary, repositories, members, robot accounts, audit log and settings.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use berth_api_types::{
    Access, AuditLog, Project, ProjectMember, ProjectMemberEntity, ProjectMetadata, ProjectReq, ProjectSummary, Quota,
    QuotaUpdateReq, Repository, Robot, RobotCreate, RobotCreated, RobotPermission, RobotSec, RoleRequest, UserEntity,
};
use berth_meta::time::rfc3339;

use crate::Portal;
use crate::api::{NO_BODY, Refusal, repo_segment};
use crate::format::{self, filters};
use crate::page::{self, Chrome, PageError, Paging, Search, form_urlencoded};
use crate::projects::{capitalize, is_public, role_name, storage_limit};
use crate::viewer::{Posted, Viewer};

/// The project a page is about, with the tabs above it.
pub(crate) struct Head {
    pub id: i64,
    pub name: String,
    pub public: bool,
    pub tab: &'static str,
    /// The viewer may manage it (project admin or system admin).
    pub manage: bool,
    /// The viewer may push to it (and so delete tags and artifacts).
    pub write: bool,
    /// The viewer may see and change its tag immutability rules (maintainer, project admin or
    /// system admin, as Harbor allows).
    pub immutability: bool,
    /// The viewer may manage its labels (maintainer, project admin or system admin, as Harbor
    /// allows).
    pub labels: bool,
    pub proxy_cache: bool,
}

pub(crate) async fn head(portal: &Portal, viewer: &Viewer, id: i64, tab: &'static str) -> Result<Head, PageError> {
    let user = viewer.user()?;
    let p: Project = portal.api.get(viewer, &format!("/projects/{id}")).await?;
    let role = p.current_user_role_id;
    Ok(Head {
        id,
        public: is_public(&p),
        name: p.name,
        tab,
        manage: user.sysadmin || role == 1,
        write: user.sysadmin || matches!(role, 1 | 2 | 4),
        immutability: user.sysadmin || matches!(role, 1 | 4),
        labels: user.sysadmin || matches!(role, 1 | 4),
        proxy_cache: p.registry_id != 0,
    })
}

// ---- summary

#[derive(Template)]
#[template(path = "project_summary.html")]
struct Summary {
    chrome: Chrome,
    head: Head,
    repo_count: i64,
    quota: String,
    roles: Vec<(&'static str, i64)>,
    pull_host: String,
}

pub(crate) async fn summary(
    State(portal): State<Portal>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let head = head(&portal, &viewer, id, "summary").await?;
    let s: ProjectSummary = portal.api.get(&viewer, &format!("/projects/{id}/summary")).await?;
    let roles = vec![
        ("Project Admins", s.project_admin_count),
        ("Maintainers", s.maintainer_count),
        ("Developers", s.developer_count),
        ("Guests", s.guest_count),
        ("Limited Guests", s.limited_guest_count),
    ];
    let page = Summary {
        chrome: Chrome::new(&viewer, head.name.clone(), "projects"),
        repo_count: s.repo_count,
        quota: format::quota(&s.quota),
        roles,
        pull_host: pull_host(&viewer),
        head,
    };
    page::ok(&page)
}

/// The registry's host as clients name it in `podman pull HOST/...`: the one the browser reached.
pub(crate) fn pull_host(viewer: &Viewer) -> String {
    viewer.origin.host().to_owned()
}

// ---- repositories

pub(crate) struct RepoRow {
    pub name: String,
    pub segment: String,
    pub artifacts: i64,
    pub pulls: i64,
    pub updated: String,
}

#[derive(Template)]
#[template(path = "project_repositories.html")]
struct Repositories {
    chrome: Chrome,
    head: Head,
    rows: Vec<RepoRow>,
    paging: Paging,
    search: String,
}

pub(crate) async fn repositories(
    State(portal): State<Portal>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(query): Query<Search>,
) -> Result<Response, PageError> {
    let head = head(&portal, &viewer, id, "repositories").await?;
    let path = query.api_path(&format!("/projects/{}/repositories", form_urlencoded(&head.name)), "name");
    let listing = portal.api.list::<Repository>(&viewer, &path).await?;
    let prefix = format!("{}/", head.name);
    let rows = listing
        .items
        .iter()
        .map(|r| RepoRow {
            segment: form_urlencoded(r.name.strip_prefix(&prefix).unwrap_or(&r.name)),
            name: r.name.clone(),
            artifacts: r.artifact_count,
            pulls: r.pull_count,
            updated: format::time(&r.update_time),
        })
        .collect();
    let page = Repositories {
        chrome: Chrome::new(&viewer, head.name.clone(), "projects"),
        head,
        rows,
        paging: Paging::of(query.page(), &listing).keeping(query.link_query()),
        search: query.name().to_owned(),
    };
    page::ok(&page)
}

// ---- members

pub(crate) struct MemberRow {
    pub id: i64,
    pub name: String,
    pub role_id: i64,
    pub role: &'static str,
}

#[derive(Template)]
#[template(path = "project_members.html")]
struct Members {
    chrome: Chrome,
    head: Head,
    rows: Vec<MemberRow>,
    error: Option<String>,
}

async fn members_page(portal: &Portal, viewer: &Viewer, id: i64, error: Option<String>) -> Result<Response, PageError> {
    let head = head(portal, viewer, id, "members").await?;
    let listing =
        portal.api.list::<ProjectMemberEntity>(viewer, &format!("/projects/{id}/members?page_size=100")).await?;
    let rows = listing
        .items
        .into_iter()
        .map(|m| MemberRow { id: m.id, name: m.entity_name, role_id: m.role_id, role: role_name(m.role_id) })
        .collect();
    let status = page::status_for(&error);
    page::render(status, &Members { chrome: Chrome::new(viewer, head.name.clone(), "projects"), head, rows, error })
}

pub(crate) async fn members(
    State(portal): State<Portal>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    members_page(&portal, &viewer, id, None).await
}

/// After a change: back to `path`, or the page again with the API's refusal.
pub(crate) async fn settle<F>(
    result: Result<crate::api::Reply, Refusal>,
    path: String,
    again: F,
) -> Result<Response, PageError>
where
    F: AsyncFnOnce(String) -> Result<Response, PageError>,
{
    match result {
        Ok(_) => page::see(path),
        Err(refusal) => again(capitalize(&refusal.message)).await,
    }
}

pub(crate) async fn add_member(
    State(portal): State<Portal>,
    Path(id): Path<i64>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    let body = ProjectMember {
        role_id: fields.get("role_id").parse().unwrap_or(0),
        member_user: Some(UserEntity { username: Some(fields.get("username").to_owned()), user_id: None }),
        member_group: None,
    };
    let result = portal.api.send(&viewer, Method::POST, &format!("/projects/{id}/members"), Some(&body)).await?;
    settle(result, format!("/harbor/projects/{id}/members"), async |e| {
        members_page(&portal, &viewer, id, Some(e)).await
    })
    .await
}

pub(crate) async fn change_member(
    State(portal): State<Portal>,
    Path((id, mid)): Path<(i64, i64)>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    let path = format!("/projects/{id}/members/{mid}");
    let result = if fields.get("action") == "remove" {
        portal.api.send(&viewer, Method::DELETE, &path, NO_BODY).await?
    } else {
        let role = RoleRequest { role_id: fields.get("role_id").parse().unwrap_or(0) };
        portal.api.send(&viewer, Method::PUT, &path, Some(&role)).await?
    };
    settle(result, format!("/harbor/projects/{id}/members"), async |e| {
        members_page(&portal, &viewer, id, Some(e)).await
    })
    .await
}

// ---- robot accounts

pub(crate) struct RobotRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub disabled: bool,
    pub expires: String,
    pub created: String,
    pub permissions: String,
}

#[derive(Template)]
#[template(path = "project_robots.html")]
struct Robots {
    chrome: Chrome,
    head: Head,
    rows: Vec<RobotRow>,
    error: Option<String>,
    /// A robot's name and its new secret, shown once.
    secret: Option<(String, String)>,
    permissions: &'static [(&'static str, &'static str)],
}

/// What a project robot may be given: `resource:action`, and how the form labels it.
const PERMISSIONS: [(&str, &str); 6] = [
    ("repository:pull", "Pull"),
    ("repository:push", "Push"),
    ("artifact:read", "Read artifacts"),
    ("artifact:delete", "Delete artifacts"),
    ("tag:create", "Create tags"),
    ("tag:delete", "Delete tags"),
];

async fn robots_page(
    portal: &Portal,
    viewer: &Viewer,
    id: i64,
    error: Option<String>,
    secret: Option<(String, String)>,
) -> Result<Response, PageError> {
    let head = head(portal, viewer, id, "robots").await?;
    let q = form_urlencoded(&format!("Level=project,ProjectID={id}"));
    let listing = portal.api.list::<Robot>(viewer, &format!("/robots?q={q}&page_size=100")).await?;
    let rows = listing
        .items
        .into_iter()
        .map(|r| {
            let permissions = r
                .permissions
                .iter()
                .flatten()
                .flat_map(|p| &p.access)
                .map(|a| format!("{} {}", a.action, a.resource))
                .collect::<Vec<_>>()
                .join(", ");
            RobotRow {
                id: r.id,
                name: r.name,
                description: r.description.unwrap_or_default(),
                disabled: r.disable.unwrap_or(false),
                expires: if r.expires_at <= 0 { "never".to_owned() } else { format::time(&rfc3339(r.expires_at)) },
                created: format::time(&r.creation_time),
                permissions,
            }
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else if secret.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let page = Robots {
        chrome: Chrome::new(viewer, head.name.clone(), "projects"),
        head,
        rows,
        error,
        secret,
        permissions: &PERMISSIONS,
    };
    page::render(status, &page)
}

pub(crate) async fn robots(
    State(portal): State<Portal>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    robots_page(&portal, &viewer, id, None, None).await
}

pub(crate) async fn create_robot(
    State(portal): State<Portal>,
    Path(id): Path<i64>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    let project = head(&portal, &viewer, id, "robots").await?.name;
    let access = fields
        .all("permission")
        .filter(|p| PERMISSIONS.iter().any(|(k, _)| k == p))
        .filter_map(|p| p.split_once(':'))
        .map(|(resource, action)| Access { resource: resource.to_owned(), action: action.to_owned(), effect: None })
        .collect();
    let days = fields.get("days");
    let body = RobotCreate {
        name: fields.get("name").to_owned(),
        description: fields.get("description").to_owned(),
        secret: None,
        level: "project".to_owned(),
        disable: false,
        duration: Some(if days.is_empty() { -1 } else { days.parse().unwrap_or(0) }),
        permissions: vec![RobotPermission { kind: "project".to_owned(), namespace: project, access }],
    };
    match portal.api.send(&viewer, Method::POST, "/robots", Some(&body)).await? {
        Ok(reply) => {
            let created: RobotCreated = reply.json()?;
            robots_page(&portal, &viewer, id, None, Some((created.name, created.secret))).await
        }
        Err(refusal) => robots_page(&portal, &viewer, id, Some(capitalize(&refusal.message)), None).await,
    }
}

pub(crate) async fn change_robot(
    State(portal): State<Portal>,
    Path((id, rid)): Path<(i64, i64)>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    let path = format!("/robots/{rid}");
    let disable = |disable: bool| Robot { disable: Some(disable), ..Robot::default() };
    let result = match fields.get("action") {
        "delete" => portal.api.send(&viewer, Method::DELETE, &path, NO_BODY).await?,
        "disable" => portal.api.send(&viewer, Method::PUT, &path, Some(&disable(true))).await?,
        "enable" => portal.api.send(&viewer, Method::PUT, &path, Some(&disable(false))).await?,
        "refresh" => match portal.api.send(&viewer, Method::PATCH, &path, Some(&RobotSec::default())).await? {
            Ok(reply) => {
                let name = fields.get("name").to_owned();
                let secret = (name, reply.json::<RobotSec>()?.secret.unwrap_or_default());
                return robots_page(&portal, &viewer, id, None, Some(secret)).await;
            }
            Err(refusal) => Err(refusal),
        },
        _ => return Err(PageError::Status(StatusCode::BAD_REQUEST, "Unknown action.".to_owned())),
    };
    settle(result, format!("/harbor/projects/{id}/robots"), async |e| {
        robots_page(&portal, &viewer, id, Some(e), None).await
    })
    .await
}

// ---- audit log

pub(crate) struct LogRow {
    pub time: String,
    pub username: String,
    pub resource: String,
    pub resource_type: String,
    pub operation: String,
}

pub(crate) fn log_rows(items: Vec<AuditLog>) -> Vec<LogRow> {
    items
        .into_iter()
        .map(|l| LogRow {
            time: format::time(&l.op_time),
            username: l.username,
            resource: l.resource,
            resource_type: l.resource_type,
            operation: l.operation,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "project_logs.html")]
struct Logs {
    chrome: Chrome,
    head: Head,
    rows: Vec<LogRow>,
    paging: Paging,
}

pub(crate) async fn logs(
    State(portal): State<Portal>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(query): Query<Search>,
) -> Result<Response, PageError> {
    let head = head(&portal, &viewer, id, "logs").await?;
    let page_no = query.page();
    let path = format!("/projects/{}/logs?page={page_no}&page_size={}", form_urlencoded(&head.name), Paging::SIZE);
    let listing = portal.api.list::<AuditLog>(&viewer, &path).await?;
    let paging = Paging::of(page_no, &listing);
    let page = Logs {
        chrome: Chrome::new(&viewer, head.name.clone(), "projects"),
        head,
        rows: log_rows(listing.items),
        paging,
    };
    page::ok(&page)
}

// ---- settings

#[derive(Template)]
#[template(path = "project_settings.html")]
struct Settings {
    chrome: Chrome,
    head: Head,
    quota_id: i64,
    limit: String,
    error: Option<String>,
}

async fn settings_page(
    portal: &Portal,
    viewer: &Viewer,
    id: i64,
    error: Option<String>,
) -> Result<Response, PageError> {
    let head = head(portal, viewer, id, "settings").await?;
    let summary: ProjectSummary = portal.api.get(viewer, &format!("/projects/{id}/summary")).await?;
    let hard = summary.quota.hard.get("storage").copied().unwrap_or(-1);
    let quota_id = if viewer.user()?.sysadmin {
        let q = portal.api.list::<Quota>(viewer, &format!("/quotas?reference=project&reference_id={id}")).await?;
        q.items.first().map_or(0, |q| q.id)
    } else {
        0
    };
    let limit = if hard > 0 { format!("{}", hard as f64 / (1u64 << 30) as f64) } else { String::new() };
    let status = page::status_for(&error);
    page::render(
        status,
        &Settings { chrome: Chrome::new(viewer, head.name.clone(), "projects"), head, quota_id, limit, error },
    )
}

pub(crate) async fn settings(
    State(portal): State<Portal>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    settings_page(&portal, &viewer, id, None).await
}

pub(crate) async fn save_settings(
    State(portal): State<Portal>,
    Path(id): Path<i64>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    let body = ProjectReq {
        metadata: Some(ProjectMetadata { public: Some(fields.checked("public").to_string()), ..Default::default() }),
        ..ProjectReq::default()
    };
    if let Err(refusal) = portal.api.send(&viewer, Method::PUT, &format!("/projects/{id}"), Some(&body)).await? {
        return settings_page(&portal, &viewer, id, Some(capitalize(&refusal.message))).await;
    }
    if let Ok(quota_id) = fields.get("quota_id").parse::<i64>()
        && quota_id > 0
    {
        let limit = match storage_limit(&fields) {
            Ok(l) => l,
            Err(e) => return settings_page(&portal, &viewer, id, Some(e)).await,
        };
        let body = QuotaUpdateReq { hard: [("storage".to_owned(), limit)].into() };
        if let Err(refusal) = portal.api.send(&viewer, Method::PUT, &format!("/quotas/{quota_id}"), Some(&body)).await?
        {
            return settings_page(&portal, &viewer, id, Some(capitalize(&refusal.message))).await;
        }
    }
    page::see(format!("/harbor/projects/{id}/settings"))
}

/// The API path of repository `short` in project `project`.
pub(crate) fn repo_path(project: &str, short: &str) -> String {
    format!("/projects/{}/repositories/{}", form_urlencoded(project), repo_segment(short))
}
