//! A project's "Tag Retention" tab: its policy's rules (added, edited, deleted), its schedule,
//! runs and dry runs, and the executions with their tasks and logs. What a policy may be is the
//! API's to decide; this page shows its refusal.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::Response;
use berth_api_types::{
    RetentionExecution, RetentionExecutionTask, RetentionPolicy, RetentionPolicyScope, RetentionRule,
    RetentionRuleTrigger, RetentionSelector, RetentionTriggerSettings,
};

use crate::Portal;
use crate::format::filters;
use crate::page::{self, Chrome, PageError};
use crate::project::{Head, head, settle};
use crate::viewer::{Posted, Viewer};

/// The templates, as the form offers them: name and what it keeps.
const TEMPLATES: &[(&str, &str)] = &[
    ("latestPushedK", "the most recently pushed # artifacts"),
    ("latestPulledN", "the most recently pulled # artifacts"),
    ("nDaysSinceLastPush", "the artifacts pushed within the last # days"),
    ("nDaysSinceLastPull", "the artifacts pulled within the last # days"),
    ("always", "always"),
];

/// A rule as the page shows and edits it.
pub(crate) struct RuleRow {
    pub index: usize,
    pub template: String,
    pub param: String,
    pub repository_excludes: bool,
    pub repository: String,
    pub tag_excludes: bool,
    pub tag: String,
    pub untagged: bool,
}

#[derive(Template)]
#[template(path = "project_retention.html")]
struct Retention {
    chrome: Chrome,
    head: Head,
    templates: &'static [(&'static str, &'static str)],
    policy: Option<i64>,
    rows: Vec<RuleRow>,
    cron: String,
    executions: Vec<RetentionExecution>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "project_retention_execution.html")]
struct Execution {
    chrome: Chrome,
    head: Head,
    execution: i64,
    tasks: Vec<(RetentionExecutionTask, String)>,
}

fn row(index: usize, rule: &RetentionRule) -> RuleRow {
    let repository = rule.scope_selectors.get("repository").and_then(|s| s.first()).cloned();
    let tag = rule.tag_selectors.iter().find(|s| s.kind == "doublestar").cloned();
    RuleRow {
        index,
        template: rule.template.clone(),
        param: rule.params.get(&rule.template).map(|v| v.to_string()).unwrap_or_default(),
        repository_excludes: repository.as_ref().is_some_and(|s| s.decoration == "repoExcludes"),
        repository: repository.map(|s| s.pattern).unwrap_or_default(),
        tag_excludes: tag.as_ref().is_some_and(|s| s.decoration == "excludes"),
        untagged: tag.as_ref().and_then(|s| s.extras.as_deref()).is_some_and(|e| e.contains("true")),
        tag: tag.map(|s| s.pattern).unwrap_or_default(),
    }
}

/// Project `id`'s policy, if it has one, read through the API. Which policy is the project's
/// comes from the store: the project metadata API that names it (`retention_id`) is not the
/// portal's yet.
async fn policy_of(portal: &Portal, viewer: &Viewer, id: i64) -> Result<Option<RetentionPolicy>, PageError> {
    let found = portal.auth.meta.project_retention_policy(id).await.map_err(|e| PageError::Internal(e.to_string()))?;
    match found {
        Some(p) => Ok(Some(portal.api.get(viewer, &format!("/retentions/{}", p.id)).await?)),
        None => Ok(None),
    }
}

/// The tab's head, refused to callers who may not manage the project.
async fn managed_head(portal: &Portal, viewer: &Viewer, id: i64) -> Result<Head, PageError> {
    let head = head(portal, viewer, id, "retention").await?;
    if !head.manage {
        return Err(PageError::forbidden("Only project admins manage tag retention."));
    }
    Ok(head)
}

async fn retention_page(
    portal: &Portal,
    viewer: &Viewer,
    id: i64,
    error: Option<String>,
) -> Result<Response, PageError> {
    let head = managed_head(portal, viewer, id).await?;
    let policy = policy_of(portal, viewer, id).await?;
    let executions = match &policy {
        Some(p) => portal.api.list(viewer, &format!("/retentions/{}/executions?page_size=20", p.id)).await?.items,
        None => Vec::new(),
    };
    let status = page::status_for(&error);
    let page = Retention {
        chrome: Chrome::new(viewer, head.name.clone(), "projects"),
        head,
        templates: TEMPLATES,
        policy: policy.as_ref().map(|p| p.id),
        rows: policy.iter().flat_map(|p| p.rules.iter().enumerate().map(|(i, r)| row(i, r))).collect(),
        cron: policy.map(|p| p.trigger.settings.cron).unwrap_or_default(),
        executions,
        error,
    };
    page::render(status, &page)
}

pub(crate) async fn show(
    State(portal): State<Portal>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    retention_page(&portal, &viewer, id, None).await
}

/// Execution `eid`'s tasks, each with its log.
pub(crate) async fn execution(
    State(portal): State<Portal>,
    viewer: Viewer,
    Path((id, eid)): Path<(i64, i64)>,
) -> Result<Response, PageError> {
    let head = managed_head(&portal, &viewer, id).await?;
    let policy = policy_of(&portal, &viewer, id).await?.ok_or_else(|| PageError::not_found("No retention policy."))?;
    let path = format!("/retentions/{}/executions/{eid}/tasks", policy.id);
    let listed: Vec<RetentionExecutionTask> = portal.api.list(&viewer, &format!("{path}?page_size=100")).await?.items;
    let mut tasks = Vec::with_capacity(listed.len());
    for task in listed {
        let log = portal.api.text(&viewer, &format!("{path}/{}", task.id)).await?;
        tasks.push((task, String::from_utf8_lossy(&log).into_owned()));
    }
    let chrome = Chrome::new(&viewer, head.name.clone(), "projects");
    page::ok(&Execution { chrome, head, execution: eid, tasks })
}

fn selector(decoration: &str, pattern: &str, extras: Option<String>) -> RetentionSelector {
    RetentionSelector {
        kind: "doublestar".to_owned(),
        decoration: decoration.to_owned(),
        pattern: pattern.trim().to_owned(),
        extras,
    }
}

/// The rule the form's fields describe.
fn from_fields(fields: &page::Fields) -> RetentionRule {
    let template = fields.get("template").to_owned();
    let params = match fields.get("param").trim() {
        "" => Default::default(),
        n => {
            [(template.clone(), n.parse::<i64>().map_or_else(|_| serde_json::Value::from(n), serde_json::Value::from))]
                .into()
        }
    };
    let repository = if fields.get("repository_decoration") == "repoExcludes" { "repoExcludes" } else { "repoMatches" };
    let tag = if fields.get("tag_decoration") == "excludes" { "excludes" } else { "matches" };
    let untagged = format!("{{\"untagged\":{}}}", fields.checked("untagged"));
    RetentionRule {
        id: 0,
        priority: 0,
        disabled: false,
        action: "retain".to_owned(),
        template,
        params,
        tag_selectors: vec![selector(tag, fields.get("tag"), Some(untagged))],
        scope_selectors: [("repository".to_owned(), vec![selector(repository, fields.get("repository"), None)])].into(),
    }
}

/// A new policy for project `id`: no rules, no schedule.
fn empty_policy(id: i64) -> RetentionPolicy {
    RetentionPolicy {
        id: 0,
        algorithm: "or".to_owned(),
        rules: Vec::new(),
        trigger: RetentionRuleTrigger {
            kind: "Schedule".to_owned(),
            settings: RetentionTriggerSettings::default(),
            references: Default::default(),
        },
        scope: RetentionPolicyScope { level: "project".to_owned(), reference: id },
    }
}

/// `action`: `add`, `edit` or `delete` (rule `rule`), `schedule` (`cron`), `run` or `dry_run`.
pub(crate) async fn change(
    State(portal): State<Portal>,
    Path(id): Path<i64>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    managed_head(&portal, &viewer, id).await?;
    let stored = policy_of(&portal, &viewer, id).await?;
    let action = fields.get("action");
    let result = match (action, &stored) {
        ("run" | "dry_run", Some(p)) => {
            let body = serde_json::json!({ "dry_run": action == "dry_run" });
            portal.api.send(&viewer, Method::POST, &format!("/retentions/{}/executions", p.id), Some(&body)).await?
        }
        ("run" | "dry_run", None) => return Err(PageError::not_found("No retention policy to run.")),
        _ => {
            let mut policy = stored.clone().unwrap_or_else(|| empty_policy(id));
            let index = fields.get("rule").parse::<usize>().ok().filter(|&i| i < policy.rules.len());
            match (action, index) {
                ("add", _) => policy.rules.push(from_fields(&fields)),
                ("edit", Some(i)) => policy.rules[i] = from_fields(&fields),
                ("delete", Some(i)) => drop(policy.rules.remove(i)),
                ("schedule", _) => policy.trigger.settings.cron = fields.get("cron").trim().to_owned(),
                _ => return Err(PageError::not_found("No such rule or action.")),
            }
            match &stored {
                Some(p) => {
                    portal.api.send(&viewer, Method::PUT, &format!("/retentions/{}", p.id), Some(&policy)).await?
                }
                None => portal.api.send(&viewer, Method::POST, "/retentions", Some(&policy)).await?,
            }
        }
    };
    settle(result, format!("/harbor/projects/{id}/retention"), async |e| {
        retention_page(&portal, &viewer, id, Some(e)).await
    })
    .await
}
