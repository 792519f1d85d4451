//! `/replication/policies` and `/replication/executions` with their tasks.

use serde::{Deserialize, Serialize};

use crate::registries::Registry;

/// A replication policy as listed and read, and the body of `POST` and `PUT
/// /replication/policies`; a change leaves out what it keeps. One side is this registry (id 0).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplicationPolicy {
    #[serde(default)]
    pub id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The source of a pull-based policy; this registry for a push-based one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_registry: Option<Registry>,
    /// The destination of a push-based policy; this registry for a pull-based one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest_registry: Option<Registry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest_namespace: Option<String>,
    /// How many leading path components `dest_namespace` replaces; -1 for all but the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest_namespace_replace_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<ReplicationTrigger>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Vec<ReplicationFilter>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicate_deletion: Option<bool>,
    /// Harbor's older name of `replicate_deletion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion: Option<bool>,
    /// Whether to overwrite what the destination holds.
    #[serde(rename = "override", default, skip_serializing_if = "Option::is_none")]
    pub override_existing: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// KB/s per task; -1 for no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_by_chunk: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
}

/// When a policy runs: `manual`, `scheduled` (with a cron) or `event_based`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationTrigger {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_settings: Option<ReplicationTriggerSettings>,
}

/// A scheduled trigger's cron: Harbor's six fields, seconds first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationTriggerSettings {
    #[serde(default)]
    pub cron: String,
}

/// What a policy replicates: `name` and `tag` globs (a string), `resource` (`image`,
/// `artifact`), and whether matching tags are kept (`matches`) or left out (`excludes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicationFilter {
    #[serde(rename = "type")]
    pub kind: String,
    /// A string, or a list of strings for labels.
    pub value: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoration: Option<String>,
}

/// The body of `POST /replication/executions`: run a policy now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartReplicationExecution {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_id: Option<i64>,
}

/// One run of a policy, with its tasks counted by status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationExecution {
    pub id: i64,
    pub policy_id: i64,
    /// `InProgress`, `Succeed`, `Failed` or `Stopped`.
    pub status: String,
    /// Why planning failed, if it did.
    pub status_text: String,
    /// `manual`, `scheduled` or `event_based`.
    pub trigger: String,
    pub start_time: String,
    /// Harbor's zero time while it runs.
    pub end_time: String,
    pub total: i64,
    pub failed: i64,
    pub succeed: i64,
    pub in_progress: i64,
    pub stopped: i64,
}

/// One copy or deletion of an execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationTask {
    pub id: i64,
    pub execution_id: i64,
    pub status: String,
    pub job_id: String,
    /// `copy` or `deletion`.
    pub operation: String,
    pub resource_type: String,
    pub src_resource: String,
    pub dst_resource: String,
    /// Harbor's zero time until it starts.
    pub start_time: String,
    /// Harbor's zero time until it ends.
    pub end_time: String,
}
