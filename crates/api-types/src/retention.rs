//! `/retentions`: a project's tag retention policy, its runs (executions) and their tasks (one
//! per repository).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a policy may hold (`GET /retentions/metadatas`): the templates with their parameters,
/// and the selectors with their decorations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionMetadata {
    pub templates: Vec<RetentionRuleMetadata>,
    pub scope_selectors: Vec<RetentionSelectorMetadata>,
    pub tag_selectors: Vec<RetentionSelectorMetadata>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionRuleMetadata {
    pub rule_template: String,
    pub display_text: String,
    /// `retain`.
    pub action: String,
    pub params: Vec<RetentionRuleParamMetadata>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionRuleParamMetadata {
    /// `int`.
    #[serde(rename = "type")]
    pub param_type: String,
    /// `count` or `days`.
    pub unit: String,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionSelectorMetadata {
    pub display_text: String,
    pub kind: String,
    pub decorations: Vec<String>,
}

/// A project's policy, as created, updated and read. `scope` names the project (`level`
/// `project`, `ref` its id); `trigger` its schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    #[serde(default)]
    pub id: i64,
    /// `or`.
    pub algorithm: String,
    pub rules: Vec<RetentionRule>,
    pub trigger: RetentionRuleTrigger,
    pub scope: RetentionPolicyScope,
}

/// `kind` `Schedule`, with `settings.cron` a six-field cron, or empty for none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetentionRuleTrigger {
    pub kind: String,
    #[serde(default)]
    pub settings: RetentionTriggerSettings,
    #[serde(default)]
    pub references: BTreeMap<String, serde_json::Value>,
}

/// The settings of a retention trigger (Harbor leaves the object untyped).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionTriggerSettings {
    #[serde(default)]
    pub cron: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicyScope {
    /// `project`.
    pub level: String,
    /// The project's id.
    #[serde(rename = "ref")]
    pub reference: i64,
}

/// A rule: a template (`latestPushedK`, `latestPulledN`, `nDaysSinceLastPush`,
/// `nDaysSinceLastPull`, `always`) with its parameter (named as the template), action `retain`,
/// the tag and label selectors (`tag_selectors`) and the `repository` scope selectors of what it
/// keeps. Harbor's model is the immutability rule's, field for field.
pub type RetentionRule = crate::ImmutableRule;

/// `kind` `doublestar` (decorations `matches`/`excludes` for tags, with `extras`
/// `{"untagged":true}` to take untagged artifacts too; `repoMatches`/`repoExcludes` for
/// repositories), or `label` (`withLabels`/`withoutLabels`, comma-separated label names).
/// Harbor's model is the immutability selector's.
pub type RetentionSelector = crate::ImmutableSelector;

/// The body of `POST /retentions/{id}/executions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartRetentionExecution {
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionExecution {
    pub id: i64,
    pub policy_id: i64,
    pub start_time: String,
    /// Empty while it runs.
    pub end_time: String,
    /// `Running`, `Success`, `Error` or `Stopped`.
    pub status: String,
    /// `MANUAL` or `SCHEDULE`.
    pub trigger: String,
    pub dry_run: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionExecutionTask {
    pub id: i64,
    pub execution_id: i64,
    pub repository: String,
    pub job_id: String,
    /// `Pending`, `Running`, `Success`, `Error` or `Stopped`.
    pub status: String,
    pub status_code: i64,
    pub status_revision: i64,
    pub start_time: String,
    pub end_time: String,
    /// The repository's artifacts, and how many of them were kept.
    pub total: i64,
    pub retained: i64,
}
