//! Administration, for system administrators only: one module a page (users, registry
//! endpoints, replication, global labels, the audit log, clean-up (its purge, garbage collection), the job queue, system settings and system
//! information). Each handler checks `Viewer::admin` itself.

mod cleanup;
mod gc;
mod jobs;
mod labels;
mod logs;
mod registries;
mod replications;
mod settings;
mod system;
mod users;

use axum::http::Method;
use berth_api_types::{Schedule, ScheduleObj};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::Portal;
use crate::page::{Fields, PageError};
use crate::projects::capitalize;
use crate::viewer::Viewer;

pub(crate) use cleanup::{cleanup, save_cleanup};
pub(crate) use gc::{gc, gc_log, save_gc};
pub(crate) use jobs::jobs;
pub(crate) use labels::{change_label, create_label, labels};
pub(crate) use logs::logs;
pub(crate) use registries::{change_registry, create_registry, registries};
pub(crate) use replications::{change_policy, create_policy, execution, replications, stop_execution, task_log};
pub(crate) use settings::{save_settings, settings};
pub(crate) use system::system_info;
pub(crate) use users::{change_user, create_user, new_user, users};

/// `?edit=ID`: the registry endpoint or replication policy whose form the page shows filled in.
#[derive(Deserialize)]
pub(crate) struct EditQuery {
    edit: Option<i64>,
}

/// A system job's schedule form sent to the API at `path` (`/system/gc/schedule`…): with `run`,
/// one run now (POST); else the schedule it chose (PUT). The notice to show, or the API's refusal.
async fn send_schedule(
    portal: &Portal,
    viewer: &Viewer,
    path: &str,
    fields: &Fields,
    run: bool,
    parameters: Map<String, Value>,
) -> Result<Result<String, String>, PageError> {
    let schedule_type = if run { "Manual" } else { fields.get("schedule_type") };
    let body = Schedule {
        schedule: Some(ScheduleObj {
            schedule_type: Some(schedule_type.to_owned()),
            cron: Some(fields.get("cron").to_owned()),
            next_scheduled_time: None,
        }),
        parameters: Some(parameters),
        ..Schedule::default()
    };
    let method = if run { Method::POST } else { Method::PUT };
    let notice = if run { "Started: the run is in the history below." } else { "Saved: in force on every instance." };
    Ok(match portal.api.send(viewer, method, path, Some(&body)).await? {
        Ok(_) => Ok(notice.to_owned()),
        Err(r) => Err(capitalize(&r.message)),
    })
}
