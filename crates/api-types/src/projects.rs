//! `/projects`: a project as listed and read, the request that creates or changes one, and its
//! summary.

use serde::{Deserialize, Serialize};

use crate::quotas::ResourceList;

/// A project as `GET /projects` and `GET /projects/{project_name_or_id}` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    pub project_id: i64,
    pub owner_id: i64,
    pub name: String,
    pub owner_name: String,
    /// Berth's own (Harbor 1.x had it): `metadata.public` as a boolean.
    #[serde(default)]
    pub public: bool,
    pub metadata: ProjectMetadata,
    pub repo_count: i64,
    /// Berth's own, as Harbor before 2.8 sent it (the ChartMuseum charts): always 0, Helm charts
    /// are artifacts.
    #[serde(default)]
    pub chart_count: i64,
    /// The endpoint a proxy-cache project pulls through; 0 for a normal project.
    pub registry_id: i64,
    pub deleted: bool,
    pub togglable: bool,
    /// The caller's role (1 project admin, 2 developer, 3 guest, 4 maintainer, 5 limited guest),
    /// 0 for none.
    pub current_user_role_id: i64,
    pub current_user_role_ids: Vec<i64>,
    pub creation_time: String,
    pub update_time: String,
}

/// Declares [`ProjectMetadata`] with one optional string field a name, and the name list.
macro_rules! project_metadata {
    ($($name:ident),+ $(,)?) => {
        /// A project's settings (Harbor's project metadata), as strings (`"true"`, `"false"`,
        /// a severity, a number) as Harbor keeps them; a project has the ones set on it.
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub struct ProjectMetadata {
            $(
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $name: Option<String>,
            )+
        }

        impl ProjectMetadata {
            /// Every name a project's metadata may hold.
            pub const NAMES: &[&str] = &[$(stringify!($name)),+];

            /// The names set, with their values, in [`Self::NAMES`]' order.
            pub fn pairs(&self) -> Vec<(&'static str, &str)> {
                let mut pairs = Vec::new();
                $(
                    if let Some(value) = &self.$name {
                        pairs.push((stringify!($name), value.as_str()));
                    }
                )+
                pairs
            }

            /// Sets `name` to `value`; `false` (and nothing set) for a name not in [`Self::NAMES`].
            pub fn set(&mut self, name: &str, value: String) -> bool {
                match name {
                    $(stringify!($name) => self.$name = Some(value),)+
                    _ => return false,
                }
                true
            }
        }
    };
}

project_metadata!(
    public,
    enable_content_trust,
    enable_content_trust_cosign,
    prevent_vul,
    severity,
    auto_scan,
    auto_sbom_generation,
    reuse_sys_cve_allowlist,
    retention_id,
    proxy_speed_kb,
);

/// The body of `POST /projects` and `PUT /projects/{project_name_or_id}`; a change leaves out
/// what it keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectReq {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_name: Option<String>,
    /// Harbor's older way to say `metadata.public`, still sent by replicating Harbors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ProjectMetadata>,
    /// Bytes; -1 for no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_limit: Option<i64>,
    /// The registry endpoint of a proxy-cache project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_id: Option<i64>,
}

/// `GET /projects/{project_name_or_id}/summary`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSummary {
    pub repo_count: i64,
    /// Berth's own, as on [`Project`]: always 0.
    #[serde(default)]
    pub chart_count: i64,
    pub project_admin_count: i64,
    pub maintainer_count: i64,
    pub developer_count: i64,
    pub guest_count: i64,
    pub limited_guest_count: i64,
    pub quota: ProjectSummaryQuota,
}

/// A project's storage quota and use, in bytes (`storage`; a hard limit of -1 is none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectSummaryQuota {
    pub hard: ResourceList,
    pub used: ResourceList,
}

/// `GET /projects/{project_name_or_id}/_deletable`: whether the project can be deleted now, and
/// if not, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectDeletable {
    pub deletable: bool,
    pub message: String,
}
