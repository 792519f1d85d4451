//! Replication: policies (created, edited, started, enabled or disabled), their recent
//! executions, one execution's tasks, and a task's log.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use berth_api_types::{
    Registry, ReplicationExecution, ReplicationFilter, ReplicationPolicy, ReplicationTask, ReplicationTrigger,
    ReplicationTriggerSettings, StartReplicationExecution,
};

use super::EditQuery;
use crate::Portal;
use crate::api::NO_BODY;
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

    fn of(p: ReplicationPolicy) -> PolicyForm {
        let src = side(&p.src_registry);
        let filter =
            |kind: &str| p.filters.iter().flatten().find(|f| f.kind == kind).map(filter_value).unwrap_or_default();
        PolicyForm {
            id: Some(p.id),
            pull: src != 0,
            registry_id: if src != 0 { src } else { side(&p.dest_registry) },
            name_filter: filter("name"),
            tag_filter: filter("tag"),
            trigger: p.trigger.as_ref().map_or("manual", |t| &t.kind).to_owned(),
            cron: cron(&p.trigger).to_owned(),
            override_existing: p.override_existing.unwrap_or(true),
            deletion: p.replicate_deletion.or(p.deletion).unwrap_or(false),
            name: p.name.unwrap_or_default(),
            description: p.description.unwrap_or_default(),
            dest_namespace: p.dest_namespace.unwrap_or_default(),
        }
    }
}

/// The endpoint id of a side of a policy; 0 for this registry.
fn side(registry: &Option<Registry>) -> i64 {
    registry.as_ref().map_or(0, |r| r.id)
}

/// A scheduled trigger's cron; empty for the others.
fn cron(trigger: &Option<ReplicationTrigger>) -> &str {
    trigger.as_ref().and_then(|t| t.trigger_settings.as_ref()).map_or("", |s| &s.cron)
}

/// A filter's value as the form and the list show it: a glob, or the words of a list.
fn filter_value(f: &ReplicationFilter) -> String {
    match &f.value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
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

fn execution_row(e: ReplicationExecution, names: &[(i64, String)]) -> ExecutionRow {
    ExecutionRow {
        id: e.id,
        policy: names.iter().find(|(id, _)| *id == e.policy_id).map(|(_, n)| n.clone()).unwrap_or_default(),
        started: format::time(&e.start_time),
        ended: format::time(&e.end_time),
        status: e.status,
        trigger: e.trigger,
        total: e.total,
        succeed: e.succeed,
        failed: e.failed,
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
        Some(id) => PolicyForm::of(portal.api.get(viewer, &format!("/replication/policies/{id}")).await?),
        None => PolicyForm::new_policy(),
    };
    let listing = portal.api.list::<ReplicationPolicy>(viewer, "/replication/policies?page_size=100").await?;
    let policies: Vec<PolicyRow> = listing
        .items
        .into_iter()
        .map(|p| {
            let pull = side(&p.src_registry) != 0;
            let remote = if pull { &p.src_registry } else { &p.dest_registry };
            let trigger = match p.trigger.as_ref().map_or("manual", |t| &t.kind) {
                "scheduled" => format!("scheduled ({})", cron(&p.trigger)),
                "event_based" => "on push and delete".to_owned(),
                other => other.to_owned(),
            };
            let filters = p
                .filters
                .iter()
                .flatten()
                .map(|f| format!("{}: {}", f.kind, filter_value(f)))
                .collect::<Vec<_>>()
                .join(", ");
            PolicyRow {
                id: p.id,
                direction: if pull { "pull".to_owned() } else { "push".to_owned() },
                registry: remote.as_ref().and_then(|r| r.name.clone()).unwrap_or_default(),
                trigger,
                filters,
                enabled: p.enabled.unwrap_or(true),
                name: p.name.unwrap_or_default(),
                namespace: p.dest_namespace.unwrap_or_default(),
            }
        })
        .collect();
    let names: Vec<(i64, String)> = policies.iter().map(|p| (p.id, p.name.clone())).collect();
    let recent = portal.api.list::<ReplicationExecution>(viewer, "/replication/executions?page_size=20").await?;
    let executions: Vec<ExecutionRow> = recent.items.into_iter().map(|e| execution_row(e, &names)).collect();
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

fn policy_body(fields: &Fields) -> ReplicationPolicy {
    let registry = Registry { id: fields.get("registry_id").parse().unwrap_or(0), ..Registry::default() };
    let mut filters = Vec::new();
    for (field, kind) in [("name_filter", "name"), ("tag_filter", "tag")] {
        let value = fields.get(field);
        if !value.is_empty() {
            filters.push(ReplicationFilter { kind: kind.to_owned(), value: value.into(), decoration: None });
        }
    }
    let trigger = match fields.get("trigger") {
        kind @ ("scheduled" | "event_based") => kind,
        _ => "manual",
    };
    let trigger_settings =
        (trigger == "scheduled").then(|| ReplicationTriggerSettings { cron: fields.get("cron").to_owned() });
    let (src_registry, dest_registry) =
        if fields.get("direction") == "pull" { (Some(registry), None) } else { (None, Some(registry)) };
    ReplicationPolicy {
        name: Some(fields.get("name").to_owned()),
        description: Some(fields.get("description").to_owned()),
        src_registry,
        dest_registry,
        dest_namespace: Some(fields.get("dest_namespace").to_owned()),
        filters: Some(filters),
        trigger: Some(ReplicationTrigger { kind: trigger.to_owned(), trigger_settings }),
        override_existing: Some(fields.checked("override")),
        replicate_deletion: Some(fields.checked("deletion")),
        enabled: Some(true),
        ..ReplicationPolicy::default()
    }
}

pub(crate) async fn create_policy(
    State(portal): State<Portal>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    viewer.admin()?;
    match portal.api.send(&viewer, Method::POST, "/replication/policies", Some(&policy_body(&fields))).await? {
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
            let start = StartReplicationExecution { policy_id: Some(pid) };
            portal.api.send(&viewer, Method::POST, "/replication/executions", Some(&start)).await?
        }
        "enable" | "disable" => {
            let mut policy: ReplicationPolicy = portal.api.get(&viewer, &path).await?;
            policy.enabled = Some(fields.get("action") == "enable");
            portal.api.send(&viewer, Method::PUT, &path, Some(&policy)).await?
        }
        "save" => portal.api.send(&viewer, Method::PUT, &path, Some(&policy_body(&fields))).await?,
        "delete" => portal.api.send(&viewer, Method::DELETE, &path, NO_BODY).await?,
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
    let e: ReplicationExecution = portal.api.get(viewer, &format!("/replication/executions/{eid}")).await?;
    let policy_id = e.policy_id;
    // The policy may be gone: the execution is shown without its name.
    let policy = portal.api.get::<ReplicationPolicy>(viewer, &format!("/replication/policies/{policy_id}")).await;
    let policy = policy.ok().and_then(|p| p.name).unwrap_or_default();
    let execution = execution_row(e, &[(policy_id, policy)]);
    let path = format!("/replication/executions/{eid}/tasks?page_size=100");
    let tasks = portal.api.list::<ReplicationTask>(viewer, &path).await?;
    let tasks = tasks
        .items
        .into_iter()
        .map(|t| TaskRow {
            id: t.id,
            started: format::time(&t.start_time),
            ended: format::time(&t.end_time),
            status: t.status,
            resource_type: t.resource_type,
            source: t.src_resource,
            destination: t.dst_resource,
            operation: t.operation,
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
    match portal.api.send(&viewer, Method::PUT, &format!("/replication/executions/{eid}"), NO_BODY).await? {
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
    let log = portal.api.text(&viewer, &format!("/replication/executions/{eid}/tasks/{tid}/log")).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], log).into_response())
}
