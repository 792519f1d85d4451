//! A project's "Tag Immutability" tab: its rules, each enabled or disabled, edited or deleted,
//! and a form to add one. What a rule may be is the API's to decide; this page shows its refusal.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::Response;
use berth_api_types::{ImmutableRule, ImmutableSelector};

use crate::Portal;
use crate::format::filters;
use crate::page::{self, Chrome, PageError};
use crate::project::{Head, head, settle};
use crate::viewer::{Posted, Viewer};

/// A rule as the page shows it.
pub(crate) struct RuleRow {
    pub id: i64,
    pub repository_excludes: bool,
    pub repository: String,
    pub tag_excludes: bool,
    pub tag: String,
    pub disabled: bool,
}

#[derive(Template)]
#[template(path = "project_immutability.html")]
struct Rules {
    chrome: Chrome,
    head: Head,
    rows: Vec<RuleRow>,
    error: Option<String>,
}

fn row(rule: &ImmutableRule) -> RuleRow {
    let first = |s: Option<&Vec<ImmutableSelector>>| s.and_then(|s| s.first()).cloned();
    let repository = first(rule.scope_selectors.get("repository"));
    let tag = first(Some(&rule.tag_selectors));
    RuleRow {
        id: rule.id,
        repository_excludes: repository.as_ref().is_some_and(|s| s.decoration == "repoExcludes"),
        repository: repository.map(|s| s.pattern).unwrap_or_default(),
        tag_excludes: tag.as_ref().is_some_and(|s| s.decoration == "excludes"),
        tag: tag.map(|s| s.pattern).unwrap_or_default(),
        disabled: rule.disabled,
    }
}

async fn rules_of(portal: &Portal, viewer: &Viewer, id: i64) -> Result<Vec<ImmutableRule>, PageError> {
    // A project has at most 15 rules: one page holds them all.
    Ok(portal
        .api
        .list::<ImmutableRule>(viewer, &format!("/projects/{id}/immutabletagrules?page_size=100"))
        .await?
        .items)
}

async fn rules_page(portal: &Portal, viewer: &Viewer, id: i64, error: Option<String>) -> Result<Response, PageError> {
    let head = head(portal, viewer, id, "immutability").await?;
    let rows = rules_of(portal, viewer, id).await?.iter().map(row).collect();
    let status = page::status_for(&error);
    page::render(status, &Rules { chrome: Chrome::new(viewer, head.name.clone(), "projects"), head, rows, error })
}

pub(crate) async fn rules(
    State(portal): State<Portal>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    rules_page(&portal, &viewer, id, None).await
}

/// A pattern as typed: a comma-separated list becomes doublestar alternatives, as in Harbor's
/// portal (`a,b` is `{a,b}`).
fn pattern(typed: &str) -> String {
    let typed = typed.trim();
    if typed.contains(',') && !typed.starts_with('{') { format!("{{{typed}}}") } else { typed.to_owned() }
}

fn selector(decoration: &str, typed: &str) -> ImmutableSelector {
    ImmutableSelector {
        kind: "doublestar".to_owned(),
        decoration: decoration.to_owned(),
        pattern: pattern(typed),
        extras: None,
    }
}

/// The rule the form's fields describe.
fn from_fields(id: i64, disabled: bool, fields: &page::Fields) -> ImmutableRule {
    let repository_decoration =
        if fields.get("repository_decoration") == "repoExcludes" { "repoExcludes" } else { "repoMatches" };
    let tag_decoration = if fields.get("tag_decoration") == "excludes" { "excludes" } else { "matches" };
    ImmutableRule {
        id,
        priority: 0,
        disabled,
        action: "immutable".to_owned(),
        template: "immutable_template".to_owned(),
        params: Default::default(),
        tag_selectors: vec![selector(tag_decoration, fields.get("tag"))],
        scope_selectors: [("repository".to_owned(), vec![selector(repository_decoration, fields.get("repository"))])]
            .into(),
    }
}

pub(crate) async fn add(
    State(portal): State<Portal>,
    Path(id): Path<i64>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    let rule = from_fields(0, false, &fields);
    let path = format!("/projects/{id}/immutabletagrules");
    let result = portal.api.send(&viewer, Method::POST, &path, Some(&rule)).await?;
    settle(result, format!("/harbor/projects/{id}/immutability"), async |e| {
        rules_page(&portal, &viewer, id, Some(e)).await
    })
    .await
}

/// `action`: `enable`, `disable`, `edit` (with the form's selectors) or `delete`.
pub(crate) async fn change(
    State(portal): State<Portal>,
    Path((id, rid)): Path<(i64, i64)>,
    Posted { viewer, fields }: Posted,
) -> Result<Response, PageError> {
    let path = format!("/projects/{id}/immutabletagrules/{rid}");
    let result = match fields.get("action") {
        "delete" => portal.api.send(&viewer, Method::DELETE, &path, crate::api::NO_BODY).await?,
        action => {
            let Some(mut rule) = rules_of(&portal, &viewer, id).await?.into_iter().find(|r| r.id == rid) else {
                return Err(PageError::not_found("No such immutability rule."));
            };
            match action {
                "enable" => rule.disabled = false,
                "disable" => rule.disabled = true,
                _ => rule = from_fields(rid, rule.disabled, &fields),
            }
            portal.api.send(&viewer, Method::PUT, &path, Some(&rule)).await?
        }
    };
    settle(result, format!("/harbor/projects/{id}/immutability"), async |e| {
        rules_page(&portal, &viewer, id, Some(e)).await
    })
    .await
}
