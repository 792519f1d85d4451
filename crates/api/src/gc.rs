//! `/system/gc*`: garbage collection as a system job (see `system_jobs.rs`). No schedule until an
//! administrator sets one; a manual run is refused while another waits or runs (the collection
//! lock also keeps two from overlapping across instances and `berth gc`).

use berth_api_types::Freed;
use berth_jobs::Job;
use berth_jobs::gc::{GarbageCollection, MAX_WORKERS};
use berth_jobs::schedule;

use crate::ApiState;
use crate::error::ApiError;
use crate::system_jobs::SystemJob;

impl SystemJob for GarbageCollection {
    const PATH: &'static str = "/api/v2.0/system/gc";

    /// Harbor's `delete_untagged`, `dry_run` (booleans) and `workers` (1 to 5).
    fn parameters(map: serde_json::Map<String, serde_json::Value>) -> Result<Self, ApiError> {
        let mut run = GarbageCollection::default();
        for (name, value) in map {
            match name.as_str() {
                "delete_untagged" => run.delete_untagged = boolean(&name, &value)?,
                "dry_run" => run.dry_run = boolean(&name, &value)?,
                "workers" => {
                    run.workers = value
                        .as_u64()
                        .and_then(|w| u8::try_from(w).ok())
                        .filter(|w| (1..=MAX_WORKERS).contains(w))
                        .ok_or_else(|| {
                            ApiError::bad_request(format!(
                                "workers must be a whole number from 1 to {MAX_WORKERS}, not {value}"
                            ))
                        })?;
                }
                other => {
                    return Err(ApiError::bad_request(format!(
                        "unknown parameter {other:?}: delete_untagged, dry_run, workers"
                    )));
                }
            }
        }
        Ok(run)
    }

    fn default_schedule(_: &ApiState) -> (schedule::Schedule, Self) {
        (schedule::Schedule::new("None", "").expect("None is a schedule"), GarbageCollection::default())
    }

    async fn may_run(state: &ApiState) -> Result<(), ApiError> {
        if state.meta().unfinished_jobs(GarbageCollection::KIND).await? > 0 {
            return Err(ApiError::conflict("a garbage collection is already pending or running"));
        }
        Ok(())
    }

    async fn freed(state: &ApiState, id: i64) -> Result<Option<Freed>, ApiError> {
        let result = state.meta().gc_result(id).await?;
        Ok(result.map(|r| Freed { blobs: r.blobs, bytes: r.bytes }))
    }
}

fn boolean(name: &str, value: &serde_json::Value) -> Result<bool, ApiError> {
    value.as_bool().ok_or_else(|| ApiError::bad_request(format!("{name} must be true or false, not {value}")))
}
