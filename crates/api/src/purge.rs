//! `/system/purgeaudit*`: the audit log purge as a system job (see `system_jobs.rs`). Until an
//! administrator sets a schedule, the configuration's holds: hourly, every type,
//! `audit_log_retention_days`.

use berth_jobs::housekeeping::{PurgeAuditLog, parse_event_types};
use berth_jobs::schedule;

use crate::ApiState;
use crate::error::ApiError;
use crate::system_jobs::SystemJob;

impl SystemJob for PurgeAuditLog {
    const PATH: &'static str = "/api/v2.0/system/purgeaudit";

    fn parameters(map: serde_json::Map<String, serde_json::Value>) -> Result<Self, ApiError> {
        parameters(map)
    }

    fn default_schedule(state: &ApiState) -> (schedule::Schedule, Self) {
        let run = PurgeAuditLog {
            audit_retention_hour: Some(state.settings().audit_log_retention_hours),
            include_event_types: None,
            dry_run: false,
        };
        (schedule::Schedule::hourly(), run)
    }
}

/// A run's parameters from Harbor's `parameters` object, each checked: `audit_retention_hour`
/// a whole number of hours from 1, `include_event_types` known types, `dry_run` a boolean.
fn parameters(map: serde_json::Map<String, serde_json::Value>) -> Result<PurgeAuditLog, ApiError> {
    let mut run = PurgeAuditLog::default();
    for (name, value) in map {
        match name.as_str() {
            "audit_retention_hour" => {
                let hours = value.as_u64().or_else(|| value.as_str().and_then(|s| s.parse().ok()));
                match hours {
                    Some(h) if h >= 1 => run.audit_retention_hour = Some(h),
                    _ => {
                        return Err(ApiError::bad_request(format!(
                            "audit_retention_hour must be a whole number of hours, at least 1, not {value}"
                        )));
                    }
                }
            }
            "include_event_types" => {
                let list = value
                    .as_str()
                    .ok_or_else(|| ApiError::bad_request("include_event_types must be a comma-separated string"))?;
                let types = parse_event_types(list).map_err(ApiError::bad_request)?;
                run.include_event_types = Some(types.join(","));
            }
            "dry_run" => {
                run.dry_run = value.as_bool().ok_or_else(|| ApiError::bad_request("dry_run must be true or false"))?;
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {other:?}: audit_retention_hour, include_event_types, dry_run"
                )));
            }
        }
    }
    Ok(run)
}
