//! Replication's rows: registry endpoints (`registries.rs`), policies (`policies.rs`), and
//! executions with their tasks (`executions.rs`). A task is run by a job of the queue; the task's
//! status, times and log are its job's, so there is one truth about where a copy stands.

mod executions;
mod policies;
mod registries;

pub use executions::{ExecutionRow, Handover, JobOf, NewTask, TaskRow};
pub use policies::{NewPolicy, PolicyRow};
pub use registries::{NewRegistry, RegistryRow};
