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

use serde::Deserialize;

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
