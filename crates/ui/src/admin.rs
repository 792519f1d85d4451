//! Administration, for system administrators only: users, registry endpoints, replication
//! policies and executions, the audit log, the job queue and system information.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Portal;
use crate::format;
use crate::page::{self, Chrome, Fields, PageError, Paging, Search, form_urlencoded};
use crate::project::{LogRow, log_rows};
use crate::projects::{Choice, capitalize, registry_choices};
use crate::viewer::{Posted, Viewer};

/// The audit log page's filters.
#[derive(Deserialize)]
pub(crate) struct LogQuery {
    page: Option<String>,
    username: Option<String>,
    operation: Option<String>,
    resource: Option<String>,
}

// ---- users

pub(crate) struct UserRow {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub realname: String,
    pub admin: bool,
    pub created: String,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct Users {
    chrome: Chrome,
    rows: Vec<UserRow>,
    paging: Paging,
    search: String,
    error: Option<String>,
    notice: Option<String>,
    me: i64,
}

async fn users_page(
    portal: &Portal,
    viewer: &Viewer,
    query: &Search,
    error: Option<String>,
    notice: Option<String>,
) -> Result<Response, PageError> {
    let me = viewer.admin()?.id;
    let reply = portal.api.get(viewer, &query.api_path("/users", "username")).await?;
    let rows = reply
        .items()
        .iter()
        .map(|u| UserRow {
            id: u["user_id"].as_i64().unwrap_or(0),
            username: format::text(&u["username"]),
            email: format::text(&u["email"]),
            realname: format::text(&u["realname"]),
            admin: u["sysadmin_flag"].as_bool().unwrap_or(false),
            created: format::time(&u["creation_time"]),
        })
        .collect();
    let page = Users {
        chrome: Chrome::new(viewer, "Users", "users"),
        rows,
        paging: Paging::of(query.page(), &reply).keeping(query.link_query()),
        search: query.name().to_owned(),
        error: error.clone(),
        notice,
        me,
    };
    page::render(page::status_for(&error), &page)
}

pub(crate) async fn users(
    State(portal): State<Portal>,
    viewer: Viewer,
    Query(q): Query<Search>,
) -> Result<Response, PageError> {
    users_page(&portal, &viewer, &q, None, None).await
}

pub(crate) async fn create_user(
    State(portal): State<Portal>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    viewer.admin()?;
    match portal.api.send(&viewer, Method::POST, "/users", Some(new_user(&fields))).await? {
        Ok(_) => page::see("/harbor/users"),
        Err(r) => users_page(&portal, &viewer, &Search::default(), Some(capitalize(&r.message)), None).await,
    }
}

/// The API's body for a new user, from the fields of the users page or the sign-up page.
pub(crate) fn new_user(fields: &Fields) -> Value {
    json!({
        "username": fields.get("username"),
        "email": fields.get("email"),
        "realname": fields.get("realname"),
        "password": fields.raw("password"),
        "comment": "",
    })
}

pub(crate) async fn change_user(
    State(portal): State<Portal>,
    Path(uid): Path<i64>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let result = match fields.get("action") {
        "make-admin" => {
            portal
                .api
                .send(&viewer, Method::PUT, &format!("/users/{uid}/sysadmin"), Some(json!({"sysadmin_flag": true})))
                .await?
        }
        "revoke-admin" => {
            portal
                .api
                .send(&viewer, Method::PUT, &format!("/users/{uid}/sysadmin"), Some(json!({"sysadmin_flag": false})))
                .await?
        }
        "password" => {
            let body = json!({"new_password": fields.raw("new_password")});
            portal.api.send(&viewer, Method::PUT, &format!("/users/{uid}/password"), Some(body)).await?
        }
        "delete" => portal.api.send(&viewer, Method::DELETE, &format!("/users/{uid}"), None).await?,
        _ => return Err(PageError::Status(StatusCode::BAD_REQUEST, "Unknown action.".to_owned())),
    };
    match result {
        Ok(_) if fields.get("action") == "password" => {
            users_page(&portal, &viewer, &Search::default(), None, Some("Password reset.".to_owned())).await
        }
        Ok(_) => page::see("/harbor/users"),
        Err(r) => users_page(&portal, &viewer, &Search::default(), Some(capitalize(&r.message)), None).await,
    }
}

// ---- registry endpoints

pub(crate) struct RegistryRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub url: String,
    pub access_key: String,
    pub insecure: bool,
    pub status: String,
    pub description: String,
}

#[derive(Template)]
#[template(path = "admin_registries.html")]
struct Registries {
    chrome: Chrome,
    rows: Vec<RegistryRow>,
    types: Vec<String>,
    error: Option<String>,
    notice: Option<String>,
    /// The endpoint being edited.
    editing: Option<RegistryRow>,
}

async fn registries_page(
    portal: &Portal,
    viewer: &Viewer,
    error: Option<String>,
    notice: Option<String>,
    edit: Option<i64>,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let reply = portal.api.get(viewer, "/registries?page_size=100").await?;
    let rows: Vec<RegistryRow> = reply
        .items()
        .iter()
        .map(|r| RegistryRow {
            id: r["id"].as_i64().unwrap_or(0),
            name: format::text(&r["name"]),
            kind: format::text(&r["type"]),
            url: format::text(&r["url"]),
            access_key: format::text(&r["credential"]["access_key"]),
            insecure: r["insecure"].as_bool().unwrap_or(false),
            status: format::text(&r["status"]),
            description: format::text(&r["description"]),
        })
        .collect();
    let types = portal.api.get(viewer, "/replication/adapters").await?.items().iter().map(format::text).collect();
    let mut rows = rows;
    let editing = edit.and_then(|id| rows.iter().position(|r| r.id == id)).map(|i| rows.remove(i));
    let page = Registries {
        chrome: Chrome::new(viewer, "Registries", "registries"),
        rows,
        types,
        error: error.clone(),
        notice,
        editing,
    };
    page::render(page::status_for(&error), &page)
}

#[derive(Deserialize)]
pub(crate) struct EditQuery {
    edit: Option<i64>,
}

pub(crate) async fn registries(
    State(portal): State<Portal>,
    viewer: Viewer,
    Query(q): Query<EditQuery>,
) -> Result<Response, PageError> {
    registries_page(&portal, &viewer, None, None, q.edit).await
}

fn registry_body(fields: &Fields) -> Value {
    let mut body = json!({
        "name": fields.get("name"),
        "type": fields.get("type"),
        "url": fields.get("url"),
        "description": fields.get("description"),
        "insecure": fields.checked("insecure"),
    });
    let key = fields.get("access_key");
    if !key.is_empty() {
        body["credential"] = json!({"type": "basic", "access_key": key, "access_secret": fields.raw("access_secret")});
    }
    body
}

pub(crate) async fn create_registry(
    State(portal): State<Portal>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let body = registry_body(&fields);
    if fields.get("action") == "test" {
        return match portal.api.send(&viewer, Method::POST, "/registries/ping", Some(body)).await? {
            Ok(_) => registries_page(&portal, &viewer, None, Some("Connection works.".to_owned()), None).await,
            Err(r) => {
                registries_page(&portal, &viewer, Some(format!("Connection failed: {}", r.message)), None, None).await
            }
        };
    }
    match portal.api.send(&viewer, Method::POST, "/registries", Some(body)).await? {
        Ok(_) => page::see("/harbor/registries"),
        Err(r) => registries_page(&portal, &viewer, Some(capitalize(&r.message)), None, None).await,
    }
}

pub(crate) async fn change_registry(
    State(portal): State<Portal>,
    Path(rid): Path<i64>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let path = format!("/registries/{rid}");
    let result = match fields.get("action") {
        "delete" => portal.api.send(&viewer, Method::DELETE, &path, None).await?,
        "test" => {
            return match portal.api.send(&viewer, Method::POST, "/registries/ping", Some(json!({"id": rid}))).await? {
                Ok(_) => registries_page(&portal, &viewer, None, Some("Connection works.".to_owned()), None).await,
                Err(r) => {
                    registries_page(&portal, &viewer, Some(format!("Connection failed: {}", r.message)), None, None)
                        .await
                }
            };
        }
        "save" => {
            let mut body = registry_body(&fields);
            if fields.get("access_key").is_empty() {
                body.as_object_mut().map(|o| o.remove("credential"));
            }
            portal.api.send(&viewer, Method::PUT, &path, Some(body)).await?
        }
        _ => return Err(PageError::Status(StatusCode::BAD_REQUEST, "Unknown action.".to_owned())),
    };
    match result {
        Ok(_) => page::see("/harbor/registries"),
        Err(r) => registries_page(&portal, &viewer, Some(capitalize(&r.message)), None, None).await,
    }
}

// ---- replication

pub(crate) struct PolicyRow {
    pub id: i64,
    pub name: String,
    pub direction: String,
    pub registry: String,
    pub namespace: String,
    pub trigger: String,
    pub filters: String,
    pub enabled: bool,
}

pub(crate) struct ExecutionRow {
    pub id: i64,
    pub policy: String,
    pub status: String,
    pub trigger: String,
    pub started: String,
    pub ended: String,
    pub total: i64,
    pub succeed: i64,
    pub failed: i64,
}

/// The policy form's values: empty for a new policy, a policy's own when editing it.
#[derive(Default)]
pub(crate) struct PolicyForm {
    /// The policy being edited; `None` for a new one.
    pub id: Option<i64>,
    pub name: String,
    pub description: String,
    pub pull: bool,
    pub registry_id: i64,
    pub name_filter: String,
    pub tag_filter: String,
    pub dest_namespace: String,
    pub trigger: String,
    pub cron: String,
    pub override_existing: bool,
    pub deletion: bool,
}

impl PolicyForm {
    fn new_policy() -> PolicyForm {
        PolicyForm { override_existing: true, trigger: "manual".to_owned(), ..PolicyForm::default() }
    }

    fn of(p: &Value) -> PolicyForm {
        let src = p["src_registry"]["id"].as_i64().unwrap_or(0);
        let filter = |kind: &str| {
            p["filters"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|f| f["type"] == kind)
                .map(|f| format::text(&f["value"]))
                .unwrap_or_default()
        };
        PolicyForm {
            id: p["id"].as_i64(),
            name: format::text(&p["name"]),
            description: format::text(&p["description"]),
            pull: src != 0,
            registry_id: if src != 0 { src } else { p["dest_registry"]["id"].as_i64().unwrap_or(0) },
            name_filter: filter("name"),
            tag_filter: filter("tag"),
            dest_namespace: format::text(&p["dest_namespace"]),
            trigger: p["trigger"]["type"].as_str().unwrap_or("manual").to_owned(),
            cron: format::text(&p["trigger"]["trigger_settings"]["cron"]),
            override_existing: p["override"].as_bool().unwrap_or(true),
            deletion: p["replicate_deletion"].as_bool().or(p["deletion"].as_bool()).unwrap_or(false),
        }
    }
}

#[derive(Template)]
#[template(path = "admin_replications.html")]
struct Replications {
    chrome: Chrome,
    policies: Vec<PolicyRow>,
    executions: Vec<ExecutionRow>,
    history: String,
    registries: Vec<Choice>,
    error: Option<String>,
    form: PolicyForm,
}

fn execution_row(e: &Value, names: &[(i64, String)]) -> ExecutionRow {
    let policy_id = e["policy_id"].as_i64().unwrap_or(0);
    ExecutionRow {
        id: e["id"].as_i64().unwrap_or(0),
        policy: names.iter().find(|(id, _)| *id == policy_id).map(|(_, n)| n.clone()).unwrap_or_default(),
        status: format::text(&e["status"]),
        trigger: format::text(&e["trigger"]),
        started: format::time(&e["start_time"]),
        ended: format::time(&e["end_time"]),
        total: e["total"].as_i64().unwrap_or(0),
        succeed: e["succeed"].as_i64().unwrap_or(0),
        failed: e["failed"].as_i64().unwrap_or(0),
    }
}

async fn replications_page(
    portal: &Portal,
    viewer: &Viewer,
    error: Option<String>,
    edit: Option<i64>,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let form = match edit {
        Some(id) => PolicyForm::of(&portal.api.get(viewer, &format!("/replication/policies/{id}")).await?.body),
        None => PolicyForm::new_policy(),
    };
    let reply = portal.api.get(viewer, "/replication/policies?page_size=100").await?;
    let policies: Vec<PolicyRow> = reply
        .items()
        .iter()
        .map(|p| {
            let pull = !p["src_registry"].is_null() && p["src_registry"]["id"].as_i64().unwrap_or(0) != 0;
            let remote = if pull { &p["src_registry"] } else { &p["dest_registry"] };
            let trigger = &p["trigger"];
            let trigger = match trigger["type"].as_str().unwrap_or("manual") {
                "scheduled" => format!("scheduled ({})", format::text(&trigger["trigger_settings"]["cron"])),
                "event_based" => "on push and delete".to_owned(),
                other => other.to_owned(),
            };
            let filters = p["filters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| format!("{}: {}", format::text(&f["type"]), format::text(&f["value"])))
                .collect::<Vec<_>>()
                .join(", ");
            PolicyRow {
                id: p["id"].as_i64().unwrap_or(0),
                name: format::text(&p["name"]),
                direction: if pull { "pull".to_owned() } else { "push".to_owned() },
                registry: format::text(&remote["name"]),
                namespace: format::text(&p["dest_namespace"]),
                trigger,
                filters,
                enabled: p["enabled"].as_bool().unwrap_or(true),
            }
        })
        .collect();
    let names: Vec<(i64, String)> = policies.iter().map(|p| (p.id, p.name.clone())).collect();
    let executions_reply = portal.api.get(viewer, "/replication/executions?page_size=20").await?;
    let executions: Vec<ExecutionRow> = executions_reply.items().iter().map(|e| execution_row(e, &names)).collect();
    let mut statuses: Vec<String> = executions.iter().map(|e| e.status.clone()).collect();
    statuses.reverse();
    let page = Replications {
        chrome: Chrome::new(viewer, "Replications", "replications"),
        policies,
        history: if statuses.is_empty() { String::new() } else { format::history(&statuses) },
        executions,
        registries: registry_choices(portal, viewer).await?,
        error: error.clone(),
        form,
    };
    page::render(page::status_for(&error), &page)
}

pub(crate) async fn replications(
    State(portal): State<Portal>,
    viewer: Viewer,
    Query(q): Query<EditQuery>,
) -> Result<Response, PageError> {
    replications_page(&portal, &viewer, None, q.edit).await
}

fn policy_body(fields: &Fields) -> Value {
    let registry: i64 = fields.get("registry_id").parse().unwrap_or(0);
    let mut filters = Vec::new();
    for (field, kind) in [("name_filter", "name"), ("tag_filter", "tag")] {
        let value = fields.get(field);
        if !value.is_empty() {
            filters.push(json!({"type": kind, "value": value}));
        }
    }
    let trigger = match fields.get("trigger") {
        "scheduled" => json!({"type": "scheduled", "trigger_settings": {"cron": fields.get("cron")}}),
        "event_based" => json!({"type": "event_based"}),
        _ => json!({"type": "manual"}),
    };
    let (src, dest) = if fields.get("direction") == "pull" {
        (json!({"id": registry}), Value::Null)
    } else {
        (Value::Null, json!({"id": registry}))
    };
    json!({
        "name": fields.get("name"),
        "description": fields.get("description"),
        "src_registry": src,
        "dest_registry": dest,
        "dest_namespace": fields.get("dest_namespace"),
        "filters": filters,
        "trigger": trigger,
        "override": fields.checked("override"),
        "replicate_deletion": fields.checked("deletion"),
        "enabled": true,
    })
}

pub(crate) async fn create_policy(
    State(portal): State<Portal>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    viewer.admin()?;
    match portal.api.send(&viewer, Method::POST, "/replication/policies", Some(policy_body(&fields))).await? {
        Ok(_) => page::see("/harbor/replications"),
        Err(r) => replications_page(&portal, &viewer, Some(capitalize(&r.message)), None).await,
    }
}

pub(crate) async fn change_policy(
    State(portal): State<Portal>,
    Path(pid): Path<i64>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let path = format!("/replication/policies/{pid}");
    let result = match fields.get("action") {
        "start" => {
            portal.api.send(&viewer, Method::POST, "/replication/executions", Some(json!({"policy_id": pid}))).await?
        }
        "enable" | "disable" => {
            let mut policy = portal.api.get(&viewer, &path).await?.body;
            policy["enabled"] = Value::from(fields.get("action") == "enable");
            portal.api.send(&viewer, Method::PUT, &path, Some(policy)).await?
        }
        "save" => portal.api.send(&viewer, Method::PUT, &path, Some(policy_body(&fields))).await?,
        "delete" => portal.api.send(&viewer, Method::DELETE, &path, None).await?,
        _ => return Err(PageError::Status(StatusCode::BAD_REQUEST, "Unknown action.".to_owned())),
    };
    match result {
        Ok(_) => page::see("/harbor/replications"),
        Err(r) => {
            let edit = (fields.get("action") == "save").then_some(pid);
            replications_page(&portal, &viewer, Some(capitalize(&r.message)), edit).await
        }
    }
}

pub(crate) struct TaskRow {
    pub id: i64,
    pub status: String,
    pub resource_type: String,
    pub source: String,
    pub destination: String,
    pub operation: String,
    pub started: String,
    pub ended: String,
}

#[derive(Template)]
#[template(path = "admin_execution.html")]
struct Execution {
    chrome: Chrome,
    execution: ExecutionRow,
    running: bool,
    tasks: Vec<TaskRow>,
    error: Option<String>,
}

async fn execution_page(
    portal: &Portal,
    viewer: &Viewer,
    eid: i64,
    error: Option<String>,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let e = portal.api.get(viewer, &format!("/replication/executions/{eid}")).await?.body;
    let policy_id = e["policy_id"].as_i64().unwrap_or(0);
    let policy = portal
        .api
        .get(viewer, &format!("/replication/policies/{policy_id}"))
        .await
        .map(|p| format::text(&p.body["name"]));
    let execution = execution_row(&e, &[(policy_id, policy.unwrap_or_default())]);
    let tasks = portal.api.get(viewer, &format!("/replication/executions/{eid}/tasks?page_size=100")).await?;
    let tasks = tasks
        .items()
        .iter()
        .map(|t| TaskRow {
            id: t["id"].as_i64().unwrap_or(0),
            status: format::text(&t["status"]),
            resource_type: format::text(&t["resource_type"]),
            source: format::text(&t["src_resource"]),
            destination: format::text(&t["dst_resource"]),
            operation: format::text(&t["operation"]),
            started: format::time(&t["start_time"]),
            ended: format::time(&t["end_time"]),
        })
        .collect();
    let running = matches!(execution.status.as_str(), "InProgress" | "Pending" | "Running");
    let page = Execution {
        chrome: Chrome::new(viewer, format!("Execution {eid}"), "replications"),
        execution,
        running,
        tasks,
        error: error.clone(),
    };
    page::render(page::status_for(&error), &page)
}

pub(crate) async fn execution(
    State(portal): State<Portal>,
    viewer: Viewer,
    Path(eid): Path<i64>,
) -> Result<Response, PageError> {
    execution_page(&portal, &viewer, eid, None).await
}

pub(crate) async fn stop_execution(
    State(portal): State<Portal>,
    Path(eid): Path<i64>,
    Posted { viewer, .. }: Posted,
) -> Result<Response, PageError> {
    viewer.admin()?;
    match portal.api.send(&viewer, Method::PUT, &format!("/replication/executions/{eid}"), None).await? {
        Ok(_) => page::see(format!("/harbor/replications/executions/{eid}")),
        Err(r) => execution_page(&portal, &viewer, eid, Some(capitalize(&r.message))).await,
    }
}

/// A task's log, as plain text.
pub(crate) async fn task_log(
    State(portal): State<Portal>,
    viewer: Viewer,
    Path((eid, tid)): Path<(i64, i64)>,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let reply = portal.api.get(&viewer, &format!("/replication/executions/{eid}/tasks/{tid}/log")).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], reply.raw).into_response())
}

// ---- system settings

#[derive(Template)]
#[template(path = "admin_settings.html")]
struct SettingsPage {
    chrome: Chrome,
    self_registration: bool,
    project_creation: String,
    token_expiration: String,
    error: Option<String>,
    saved: bool,
}

async fn settings_page(
    portal: &Portal,
    viewer: &Viewer,
    error: Option<String>,
    saved: bool,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let c = portal.api.get(viewer, "/configurations").await?.body;
    let page = SettingsPage {
        chrome: Chrome::new(viewer, "Settings", "settings"),
        self_registration: c["self_registration"]["value"].as_bool().unwrap_or(false),
        project_creation: format::text(&c["project_creation_restriction"]["value"]),
        token_expiration: format::text(&c["token_expiration"]["value"]),
        error: error.clone(),
        saved,
    };
    page::render(page::status_for(&error), &page)
}

pub(crate) async fn settings(State(portal): State<Portal>, viewer: Viewer) -> Result<Response, PageError> {
    settings_page(&portal, &viewer, None, false).await
}

pub(crate) async fn save_settings(
    State(portal): State<Portal>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    viewer.admin()?;
    let minutes = fields.get("token_expiration");
    let Ok(minutes) = minutes.parse::<u64>() else {
        return settings_page(
            &portal,
            &viewer,
            Some(format!("Token lifetime {minutes:?} is not a number of minutes.")),
            false,
        )
        .await;
    };
    let body = json!({
        "self_registration": fields.checked("self_registration"),
        "project_creation_restriction": fields.get("project_creation_restriction"),
        "token_expiration": minutes,
    });
    match portal.api.send(&viewer, Method::PUT, "/configurations", Some(body)).await? {
        Ok(_) => settings_page(&portal, &viewer, None, true).await,
        Err(r) => settings_page(&portal, &viewer, Some(capitalize(&r.message)), false).await,
    }
}

// ---- audit log, jobs, system

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
    let reply = portal.api.get(&viewer, &path).await?;
    let kept = format!(
        "&username={}&operation={}&resource={}",
        form_urlencoded(&username),
        form_urlencoded(&operation),
        form_urlencoded(&resource)
    );
    let page = Logs {
        chrome: Chrome::new(&viewer, "Logs", "logs"),
        rows: log_rows(reply.items()),
        paging: Paging::of(page_no, &reply).keeping(kept),
        username,
        operation,
        resource,
    };
    page::ok(&page)
}

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

#[derive(Template)]
#[template(path = "admin_system.html")]
struct System {
    chrome: Chrome,
    facts: Vec<(String, String)>,
    health: Vec<(String, String, String)>,
    storage: String,
}

pub(crate) async fn system_info(State(portal): State<Portal>, viewer: Viewer) -> Result<Response, PageError> {
    viewer.admin()?;
    let info = portal.api.get(&viewer, "/systeminfo").await?.body;
    let facts = info.as_object().into_iter().flatten().map(|(k, v)| (k.replace('_', " "), format::text(v))).collect();
    let health_json =
        portal.api.call(&viewer, Method::GET, "/health", None).await.map(|r| r.body).unwrap_or(Value::Null);
    let health = health_json["components"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| (format::text(&c["name"]), format::text(&c["status"]), format::text(&c["error"])))
        .collect();
    let stats = portal.api.get(&viewer, "/statistics").await?.body;
    let storage = format::size(stats["total_storage_consumption"].as_i64().unwrap_or(0));
    page::ok(&System { chrome: Chrome::new(&viewer, "System", "system"), facts, health, storage })
}
