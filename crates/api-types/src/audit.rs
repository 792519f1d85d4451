//! `/audit-logs` and `/projects/{project}/logs`.

use serde::{Deserialize, Serialize};

/// One record of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditLog {
    pub id: i64,
    pub username: String,
    pub resource: String,
    pub resource_type: String,
    pub operation: String,
    /// Berth's own: the client's address (the connection's peer, or what a trusted proxy forwarded).
    #[serde(default)]
    pub source_ip: String,
    pub op_time: String,
}
