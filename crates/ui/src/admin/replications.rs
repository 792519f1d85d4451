//! Replication: policies (created, edited, started, enabled or disabled), their recent
//! executions, one execution's tasks, and a task's log.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::EditQuery;
use crate::Portal;
use crate::format::{self, filters};
use crate::page::{self, Chrome, Fields, PageError};
use crate::projects::{Choice, capitalize, registry_choices};
use crate::viewer::{Posted, Viewer};

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
