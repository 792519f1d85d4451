//! Audit records for registry operations (push, pull, delete). They are bookkeeping: written in
//! the background once the response is decided, and a failure to write one is logged, never
//! turned into a failed pull.

use axum::http::request::Parts;
use berth_meta::AuditEntry;
use berth_oci::RepoName;

use crate::access::{client_ip, project_of};
use crate::state::RegistryState;

pub(crate) struct Event {
    pub operator: String,
    pub resource: String,
    pub resource_type: &'static str,
    pub operation: &'static str,
}

/// Records `event` on repository `name`; for a pull of `(repository id, digest, tag)` also counts it.
pub(crate) fn record(
    state: &RegistryState,
    req: &Parts,
    name: &RepoName,
    event: Event,
    pull: Option<(i64, String, Option<String>)>,
) {
    let meta = state.meta.clone();
    let project = project_of(name).to_owned();
    let ip = client_ip(req);
    tokio::spawn(async move {
        let result = async {
            if let Some((repo, digest, tag)) = &pull {
                meta.record_pull(*repo, digest, tag.as_deref()).await?;
            }
            let entry = AuditEntry {
                project_id: meta.project_id(&project).await?,
                username: &event.operator,
                resource: &event.resource,
                resource_type: event.resource_type,
                operation: event.operation,
                source_ip: &ip,
            };
            meta.audit(&entry).await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, operation = event.operation, "audit record not written");
        }
    });
}
