//! `/projects/{project}/immutabletagrules`: a project's tag immutability rules. The rules are
//! enforced where tags are written and deleted (`berth_meta`), whatever the path; here they are
//! checked and stored.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_api_types::{ImmutableRule, ImmutableSelector};
use berth_meta::{ImmutableRuleRow, NewImmutableRule, Project};
use berth_rules::{DOUBLESTAR, Selector};

use crate::ApiState;
use crate::caller::Caller;
use crate::error::ApiError;
use crate::page::PageQuery;
use crate::projects::{find_visible, require};

type PathRejection = axum::extract::rejection::PathRejection;
type JsonRejection = axum::extract::rejection::JsonRejection;
type QueryRejection = axum::extract::rejection::QueryRejection;

const RESOURCE: &str = "immutable-tag";
const ACTION: &str = "immutable";
const TEMPLATE: &str = "immutable_template";
const SCOPE: &str = "repository";

fn selector(decoration: &str, pattern: &str) -> ImmutableSelector {
    ImmutableSelector {
        kind: DOUBLESTAR.to_owned(),
        decoration: decoration.to_owned(),
        pattern: pattern.to_owned(),
        extras: None,
    }
}

fn rule_model(r: &ImmutableRuleRow) -> ImmutableRule {
    ImmutableRule {
        id: r.id,
        priority: r.priority,
        disabled: r.disabled,
        action: ACTION.to_owned(),
        template: TEMPLATE.to_owned(),
        params: Default::default(),
        tag_selectors: vec![selector(&r.tag_decoration, &r.tag_pattern)],
        scope_selectors: [(SCOPE.to_owned(), vec![selector(&r.repository_decoration, &r.repository_pattern)])].into(),
    }
}

/// The one selector of a list, of kind doublestar.
fn only<'a>(selectors: Option<&'a Vec<ImmutableSelector>>, what: &str) -> Result<&'a ImmutableSelector, ApiError> {
    let [s] = selectors.map(Vec::as_slice).unwrap_or_default() else {
        return Err(ApiError::bad_request(format!("an immutable tag rule has exactly one {what} selector")));
    };
    if s.kind != DOUBLESTAR {
        return Err(ApiError::bad_request(format!("{what} selector kind {:?} is not {DOUBLESTAR:?}", s.kind)));
    }
    Ok(s)
}

/// Checks a rule as a request gives it: Harbor's action and template, one tag and one repository
/// selector with their decorations and well-formed patterns.
fn check(rule: &ImmutableRule) -> Result<NewImmutableRule<'_>, ApiError> {
    if rule.action != ACTION {
        return Err(ApiError::bad_request(format!("action {:?} is not {ACTION:?}", rule.action)));
    }
    if rule.template != TEMPLATE {
        return Err(ApiError::bad_request(format!("template {:?} is not {TEMPLATE:?}", rule.template)));
    }
    if !rule.params.is_empty() {
        return Err(ApiError::bad_request(format!("template {TEMPLATE:?} takes no params")));
    }
    if let Some(other) = rule.scope_selectors.keys().find(|k| *k != SCOPE) {
        return Err(ApiError::bad_request(format!("scope selector {other:?} is not {SCOPE:?}")));
    }
    let tag = only(Some(&rule.tag_selectors), "tag")?;
    let repository = only(rule.scope_selectors.get(SCOPE), SCOPE)?;
    let bad = |e: berth_rules::RuleError| ApiError::bad_request(e.to_string());
    Selector::tag(&tag.decoration, &tag.pattern).map_err(bad)?;
    Selector::repository(&repository.decoration, &repository.pattern).map_err(bad)?;
    Ok(NewImmutableRule {
        priority: rule.priority,
        disabled: rule.disabled,
        repository_decoration: &repository.decoration,
        repository_pattern: &repository.pattern,
        tag_decoration: &tag.decoration,
        tag_pattern: &tag.pattern,
    })
}

/// What the audit log names a rule by.
fn named(rule: &NewImmutableRule<'_>) -> String {
    format!("{} {} / {} {}", rule.repository_decoration, rule.repository_pattern, rule.tag_decoration, rule.tag_pattern)
}

async fn project_for(
    state: &ApiState,
    caller: &Caller,
    key: &str,
    headers: &HeaderMap,
    action: &str,
) -> Result<Project, ApiError> {
    let (project, access) = find_visible(state, caller, key, headers).await?;
    require(caller, &access, RESOURCE, action)?;
    Ok(project)
}

async fn load(state: &ApiState, project: i64, id: i64) -> Result<ImmutableRuleRow, ApiError> {
    state
        .meta()
        .immutable_rule(project, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("immutable rule {id} not found")))
}

pub(crate) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    paging: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(key) = path?;
    let project = project_for(&state, &caller, &key, &headers, "list").await?;
    let paging = paging?.0;
    let page = paging.page()?;
    let sort = paging.sort(&[("id", "id"), ("priority", "priority")], &[("id", false)], "id")?;
    let (rules, total) = state.meta().list_immutable_rules(project.id, &sort, page.offset(), page.size).await?;
    Ok(page.respond(
        rules.iter().map(rule_model).collect(),
        total,
        &format!("/api/v2.0/projects/{key}/immutabletagrules"),
        "",
    ))
}

pub(crate) async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<ImmutableRule>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Path(key) = path?;
    let project = project_for(&state, &caller, &key, &headers, "create").await?;
    let Json(req) = body?;
    let rule = check(&req)?;
    let event = caller.actor().change(&project.name, named(&rule), "immutable_rule", "create");
    let id = state.meta().create_immutable_rule(project.id, &rule, &event).await?;
    Ok((StatusCode::CREATED, [("location", format!("/api/v2.0/projects/{key}/immutabletagrules/{id}"))])
        .into_response())
}

/// Harbor's `PUT`: a body whose `disabled` differs from the rule's only enables or disables it;
/// otherwise it replaces the rule's selectors and priority.
pub(crate) async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, i64)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Json<ImmutableRule>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Path((key, id)) = path?;
    let project = project_for(&state, &caller, &key, &headers, "update").await?;
    let Json(req) = body?;
    if req.id != id {
        return Err(ApiError::bad_request(
            "the immutable_rule_id doesn't match the id in the payload body of ImmutableRule",
        ));
    }
    let asked = check(&req)?;
    let stored = load(&state, project.id, id).await?;
    let toggled = NewImmutableRule { disabled: req.disabled, ..stored.as_new() };
    let (rule, operation) = if stored.disabled != req.disabled {
        (toggled, if req.disabled { "disable" } else { "enable" })
    } else {
        (asked, "update")
    };
    let event = caller.actor().change(&project.name, named(&rule), "immutable_rule", operation);
    if !state.meta().update_immutable_rule(project.id, id, &rule, &event).await? {
        return Err(ApiError::not_found(format!("immutable rule {id} not found")));
    }
    Ok(StatusCode::OK)
}

pub(crate) async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<Path<(String, i64)>, PathRejection>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let Path((key, id)) = path?;
    let project = project_for(&state, &caller, &key, &headers, "delete").await?;
    let stored = load(&state, project.id, id).await?;
    let event = caller.actor().change(&project.name, named(&stored.as_new()), "immutable_rule", "delete");
    if !state.meta().delete_immutable_rule(project.id, id, &event).await? {
        return Err(ApiError::not_found(format!("immutable rule {id} not found")));
    }
    Ok(StatusCode::OK)
}
