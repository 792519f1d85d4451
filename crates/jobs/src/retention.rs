//! Tag retention's jobs: planning an execution (one task per repository of the project some
//! enabled rule selects) and running one task (deciding on the repository's artifacts with
//! `berth_rules::retention`, deleting the others as an API delete does, or only logging them in
//! a dry run). Payloads are the ids of the rows they work on. Blobs are left to garbage
//! collection.

use berth_api_types::{RetentionRule as RuleBody, RetentionSelector};
use berth_content::{Actor, Content, ContentError};
use berth_meta::{Meta, MetaError, NewJob, RetentionCandidate, RetentionExecutionRow, Sort};
use berth_oci::{Digest, Reference, RepoName};
use berth_rules::retention::{Candidate, RetentionRule, TagSelector, Template, retained};
use berth_rules::{DOUBLESTAR, Selector, path_in_project};
use serde::{Deserialize, Serialize};

use crate::{Job, JobContext};

/// Harbor's limit on the rules of a policy.
pub const MAX_RULES: usize = 15;
/// The only algorithm: an artifact is kept if any rule keeps it.
pub const ALGORITHM: &str = "or";
/// The action of every retention rule.
pub const RETAIN: &str = "retain";
/// Who deletes, in the audit log.
pub const ACTOR: &str = "retention-job";
/// The kind of a label selector.
pub const LABEL: &str = "label";
/// The scope selector key of repositories.
pub const REPOSITORY: &str = "repository";
/// Repositories listed per query while planning.
const PAGE: i64 = 500;

/// A policy's rules, checked, as the decision takes them: Harbor's JSON rule list → rules.
pub fn parse_rules(rules: &[RuleBody]) -> Result<Vec<RetentionRule>, String> {
    if rules.len() > MAX_RULES {
        return Err(format!("a retention policy has at most {MAX_RULES} rules, not {}", rules.len()));
    }
    rules.iter().map(parse_rule).collect()
}

fn parse_rule(rule: &RuleBody) -> Result<RetentionRule, String> {
    if rule.action != RETAIN {
        return Err(format!("rule action {:?} is not {RETAIN:?}", rule.action));
    }
    let param = match rule.params.get(&rule.template) {
        None => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| format!("parameter {} must be an integer, not {v}", rule.template))?),
    };
    let template = Template::new(&rule.template, param).map_err(|e| e.to_string())?;
    if let Some(other) = rule.scope_selectors.keys().find(|k| *k != REPOSITORY) {
        return Err(format!("scope selector {other:?} is not {REPOSITORY:?}"));
    }
    let repositories = rule.scope_selectors.get(REPOSITORY).map(Vec::as_slice).unwrap_or_default();
    if repositories.is_empty() {
        return Err("a retention rule needs a repository selector".to_owned());
    }
    let repositories = repositories
        .iter()
        .map(|s| {
            doublestar(s).and_then(|()| Selector::repository(&s.decoration, &s.pattern).map_err(|e| e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    if !rule.tag_selectors.iter().any(|s| s.kind == DOUBLESTAR) {
        return Err("a retention rule needs a tag selector".to_owned());
    }
    let tags = rule.tag_selectors.iter().map(tag_selector).collect::<Result<_, _>>()?;
    Ok(RetentionRule { disabled: rule.disabled, template, repositories, tags })
}

fn doublestar(s: &RetentionSelector) -> Result<(), String> {
    if s.kind == DOUBLESTAR { Ok(()) } else { Err(format!("selector kind {:?} is not {DOUBLESTAR:?}", s.kind)) }
}

/// A tag selector (doublestar, with its `extras`) or a label selector.
fn tag_selector(s: &RetentionSelector) -> Result<TagSelector, String> {
    if s.kind == LABEL {
        return TagSelector::labels(&s.decoration, &s.pattern).map_err(|e| e.to_string());
    }
    doublestar(s)?;
    let selector = Selector::tag(&s.decoration, &s.pattern).map_err(|e| e.to_string())?;
    Ok(TagSelector::Tags { selector, untagged: untagged(s.extras.as_deref())? })
}

/// Harbor's `extras`: a JSON object as a string, whose `untagged` says whether untagged
/// artifacts are selected too.
fn untagged(extras: Option<&str>) -> Result<bool, String> {
    #[derive(Deserialize)]
    struct Extras {
        #[serde(default)]
        untagged: bool,
    }
    match extras.filter(|e| !e.trim().is_empty()) {
        None => Ok(false),
        Some(e) => serde_json::from_str::<Extras>(e)
            .map(|x| x.untagged)
            .map_err(|err| format!("selector extras {e:?} is not {{\"untagged\": bool}}: {err}")),
    }
}

/// The rules stored for policy `id` (written by the API, so checked).
async fn stored_rules(meta: &Meta, id: i64) -> anyhow::Result<Option<(i64, Vec<RetentionRule>)>> {
    let Some(policy) = meta.retention_policy(id).await? else { return Ok(None) };
    let bodies: Vec<RuleBody> = serde_json::from_str(&policy.rules)?;
    Ok(Some((policy.project_id, parse_rules(&bodies).map_err(anyhow::Error::msg)?)))
}

async fn execution(meta: &Meta, id: i64) -> anyhow::Result<RetentionExecutionRow> {
    meta.retention_execution(id).await?.ok_or_else(|| anyhow::anyhow!("retention execution {id} is gone"))
}

/// Plans execution `execution`: one task per repository in scope.
#[derive(Debug, Serialize, Deserialize)]
pub struct PlanRetention {
    pub execution: i64,
}

impl Job for PlanRetention {
    const KIND: &'static str = "RETENTION";
    type Context = Content;

    async fn run(self, _content: Content, job: JobContext) -> anyhow::Result<()> {
        let meta = job.meta();
        let e = execution(meta, self.execution).await?;
        let Some((project, rules)) = stored_rules(meta, e.policy_id).await? else {
            job.log(format!("policy {} was deleted: nothing to do", e.policy_id)).await;
            return Ok(());
        };
        let project = meta.project_by_id(project).await?.ok_or_else(|| anyhow::anyhow!("project {project} is gone"))?;
        let mut in_scope = Vec::new();
        let sort = Sort::parse(None, &[], &[("r.name", false)], "r.id").map_err(anyhow::Error::msg)?;
        for offset in (0..).step_by(PAGE as usize) {
            let (page, _) = meta.list_repositories_of(&project.name, "", &sort, offset, PAGE).await?;
            let last = page.len() < PAGE as usize;
            in_scope.extend(
                page.into_iter()
                    .map(|r| r.name)
                    .filter(|name| rules.iter().any(|r| r.applies_to(path_in_project(name)))),
            );
            if last {
                break;
            }
        }
        job.log(format!(
            "{} of project {}: {} repositories in scope{}",
            if e.dry_run { "dry run" } else { "run" },
            project.name,
            in_scope.len(),
            if in_scope.is_empty() { String::new() } else { format!(": {}", in_scope.join(", ")) }
        ))
        .await;
        meta.add_retention_tasks(e.id, &in_scope, &task_job).await?;
        Ok(())
    }
}

/// The job that plans execution `id`.
pub fn plan_job(id: i64) -> NewJob {
    PlanRetention { execution: id }.to_new()
}

fn task_job(id: i64) -> NewJob {
    RetentionTask { task: id }.to_new()
}

/// Runs task `task`: decides on one repository's artifacts and deletes those no rule keeps.
#[derive(Debug, Serialize, Deserialize)]
pub struct RetentionTask {
    pub task: i64,
}

impl Job for RetentionTask {
    const KIND: &'static str = "RETENTION_TASK";
    type Context = Content;

    async fn run(self, content: Content, job: JobContext) -> anyhow::Result<()> {
        let meta = job.meta();
        let task =
            meta.retention_task(self.task).await?.ok_or_else(|| anyhow::anyhow!("task {} is gone", self.task))?;
        let e = execution(meta, task.execution_id).await?;
        let name = RepoName::parse(&task.repository)?;
        let (Some((project, rules)), Some(repo)) =
            (stored_rules(meta, e.policy_id).await?, meta.repository_id(name.as_str()).await?)
        else {
            job.log(format!("policy {} or repository {name} was deleted: nothing to do", e.policy_id)).await;
            return Ok(());
        };
        let path = path_in_project(name.as_str());
        let found = meta.retention_candidates(repo).await?;
        let candidates: Vec<Candidate> = found.iter().map(candidate).collect();
        // The rules may have changed since planning: out of scope now, everything stays.
        let keep =
            retained(&rules, path, &candidates, berth_meta::time::now()).unwrap_or_else(|| (0..found.len()).collect());
        // Checked here too so a dry run says what the real run will skip; the delete itself is
        // refused if a rule appears meanwhile.
        let immutable = meta.immutable_rules_of(project).await?;
        let mut kept = 0;
        for (i, artifact) in found.iter().enumerate() {
            let protected = artifact.tags.iter().find(|t| immutable.iter().any(|r| r.protects(path, t)));
            let verdict = match protected {
                _ if keep.contains(&i) => "retained".to_owned(),
                Some(tag) => skipped(tag),
                None if e.dry_run => "would be deleted (dry run)".to_owned(),
                None => delete(&content, &name, &artifact.digest).await?,
            };
            if verdict.starts_with("retained") {
                kept += 1;
            }
            job.log(format!("{name}@{} [{}] {verdict}", artifact.digest, artifact.tags.join(", "))).await;
        }
        meta.set_retention_task_counts(task.id, found.len() as i64, kept).await?;
        job.log(format!("{name}: {} artifacts, {kept} retained", found.len())).await;
        Ok(())
    }
}

fn skipped(tag: &str) -> String {
    format!("retained: skipped, its tag {tag:?} is immutable")
}

fn candidate(c: &RetentionCandidate) -> Candidate {
    Candidate { tags: c.tags.clone(), pushed: c.pushed, pulled: c.pulled, labels: c.labels.clone() }
}

/// Deletes artifact `digest` of `name` as the retention job, as an API delete does (its event
/// in the same transaction); one an immutable tag protects stays. What happened, for the log.
async fn delete(content: &Content, name: &RepoName, digest: &str) -> anyhow::Result<String> {
    let reference = Reference::Digest(digest.parse::<Digest>()?);
    match content.delete_manifest(name, &reference, &Actor::system(ACTOR, None), None).await {
        Ok(_) => Ok("deleted".to_owned()),
        Err(ContentError::Meta(MetaError::TagImmutable { tag, .. })) => Ok(skipped(&tag)),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selector(kind: &str, decoration: &str, pattern: &str, extras: Option<&str>) -> RetentionSelector {
        RetentionSelector {
            kind: kind.into(),
            decoration: decoration.into(),
            pattern: pattern.into(),
            extras: extras.map(Into::into),
        }
    }

    fn rule(template: &str, params: serde_json::Value) -> RuleBody {
        RuleBody {
            id: 0,
            priority: 0,
            disabled: false,
            action: RETAIN.into(),
            template: template.into(),
            params: serde_json::from_value(params).unwrap(),
            tag_selectors: vec![selector(DOUBLESTAR, "matches", "**", Some(r#"{"untagged":true}"#))],
            scope_selectors: [(REPOSITORY.into(), vec![selector(DOUBLESTAR, "repoMatches", "**", None)])].into(),
        }
    }

    #[test]
    fn rules_are_read_as_harbor_writes_them() {
        let rules = parse_rules(&[rule("latestPushedK", serde_json::json!({"latestPushedK": 3}))]).unwrap();
        assert_eq!(rules[0].template, Template::LatestPushed(3));
        assert!(matches!(rules[0].tags[0], TagSelector::Tags { untagged: true, .. }));
        let mut labelled = rule("always", serde_json::json!({}));
        labelled.tag_selectors.push(selector(LABEL, "withLabels", "a,b", None));
        assert!(
            matches!(&parse_rules(&[labelled]).unwrap()[0].tags[1], TagSelector::Labels { with: true, names } if names.len() == 2)
        );
    }

    #[test]
    fn bad_rules_are_refused() {
        let ok = || rule("latestPushedK", serde_json::json!({"latestPushedK": 3}));
        let refused = |r: RuleBody| parse_rules(&[r]).unwrap_err();
        assert!(parse_rules(&vec![ok(); MAX_RULES]).is_ok());
        assert!(parse_rules(&vec![ok(); MAX_RULES + 1]).unwrap_err().contains("at most 15"));
        assert!(refused(RuleBody { action: "delete".into(), ..ok() }).contains("action"));
        assert!(refused(RuleBody { template: "latestK".into(), ..ok() }).contains("template"));
        assert!(refused(rule("latestPushedK", serde_json::json!({"latestPushedK": "x"}))).contains("integer"));
        assert!(refused(rule("latestPushedK", serde_json::json!({"latestPushedK": -2}))).contains("count"));
        assert!(refused(rule("latestPushedK", serde_json::json!({}))).contains("needs its parameter"));
        assert!(refused(RuleBody { scope_selectors: Default::default(), ..ok() }).contains("repository selector"));
        assert!(refused(RuleBody { tag_selectors: vec![], ..ok() }).contains("tag selector"));
        let bad_tag = |s| refused(RuleBody { tag_selectors: vec![s], ..ok() });
        assert!(bad_tag(selector(DOUBLESTAR, "matches", "{a", None)).contains("braces"));
        assert!(bad_tag(selector(DOUBLESTAR, "repoMatches", "a", None)).contains("decoration"));
        assert!(bad_tag(selector(DOUBLESTAR, "matches", "a", Some("untagged"))).contains("extras"));
        let also = |s| {
            let mut r = ok();
            r.tag_selectors.push(s);
            refused(r)
        };
        assert!(also(selector("regexp", "matches", "a", None)).contains("kind"));
        assert!(also(selector(LABEL, "matches", "a", None)).contains("decoration"));
    }
}
