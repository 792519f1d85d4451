//! Replication between registries, Harbor-style: registry endpoints, policies, executions with
//! one task per artifact, and the triggers (manual, scheduled, event-based).
//!
//! Every copy runs as a durable job (`berth_jobs`): any instance runs it, a failure is retried
//! with backoff. The event-based trigger reads the event outbox with one cursor per policy, so
//! changes made while a destination was down are replicated once it is back, with no manual step.

mod copy;
pub mod endpoints;
pub mod engine;
pub mod jobs;
pub mod policy;
pub mod secret;
mod side;
mod upstream;

pub use endpoints::{EndpointError, Endpoints, KINDS, Target, same_origin};
pub use engine::{Engine, TaskSpec, cursor_name};
pub use policy::{PolicyError, parse_cron};
pub use secret::Sealer;
