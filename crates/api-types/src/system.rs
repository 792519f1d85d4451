//! `/systeminfo` and `/health`.

use serde::{Deserialize, Serialize};

/// `GET /systeminfo`. Harbor answers anonymous callers with part of it (auth mode,
/// self-registration, banner, OIDC provider) and signed-in callers with all of it, so every key
/// is optional. `authproxy_settings` is left out: Harbor sends it in `http_auth` mode only, which
/// Berth does not have.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneralInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banner_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_time: Option<String>,
    /// The registry's host as `docker pull` names it (`external_url` without its scheme).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_auth_mode: Option<bool>,
    /// `everyone` or `adminonly`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_creation_restriction: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_registration: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_ca_root: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harbor_version: Option<String>,
    /// `filesystem` or `s3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_storage_provider_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_enable: Option<bool>,
    /// Empty unless the auth mode is OIDC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc_provider_name: Option<String>,
    /// Berth's own, as Harbor before 2.8 sent it: no ChartMuseum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_chartmuseum: Option<bool>,
    /// Berth's own, as Harbor before 2.6 sent it: no Notary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_notary: Option<bool>,
    /// Berth's own: this registry's identity, so replicating peers do not send back what they
    /// received from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_id: Option<String>,
}

/// `GET /health` and `GET /health/ready`: healthy only when every component is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverallHealthStatus {
    /// `healthy` or `unhealthy`.
    pub status: String,
    pub components: Vec<ComponentHealthStatus>,
}

/// One component: `core`, `database`, `storage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentHealthStatus {
    pub name: String,
    pub status: String,
    /// What failed, for an unhealthy component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /systeminfo/volumes`: the storage Berth keeps blobs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemInfo {
    pub storage: Vec<Storage>,
}

/// A volume's size and free space, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Storage {
    pub total: u64,
    pub free: u64,
}
