//! Schedules and run history of system jobs (`/system/purgeaudit*`, and `/system/gc*`, whose
//! `GCHistory` is the same shape).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// When a job runs: `None`, `Hourly`, `Daily`, `Weekly`, `Custom` (with a six-field cron), or
/// `Manual` (once, now).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleObj {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub schedule_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_scheduled_time: Option<String>,
}

/// A schedule as an administrator sends it: when, and the runs' parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleObj>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Map<String, Value>>,
}

/// One run of a system job (or, from `GET .../schedule`, the schedule itself): Harbor's
/// `ExecHistory` and `GCHistory`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecHistory {
    pub id: i64,
    pub job_name: String,
    /// `MANUAL` or `SCHEDULE`.
    pub job_kind: String,
    /// The run's parameters, as a JSON string.
    pub job_parameters: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleObj>,
    pub job_status: String,
    pub deleted: bool,
    pub creation_time: String,
    pub update_time: String,
    /// Berth's addition, on a garbage collection that ended well: what it freed (or, dry, would
    /// free). Absent while it runs, after a failure, and on other jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freed: Option<Freed>,
}

/// What one garbage collection freed: blobs and their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freed {
    pub blobs: i64,
    pub bytes: i64,
}
