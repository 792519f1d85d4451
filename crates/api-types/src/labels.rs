//! `/labels`: global and project labels, and the labels an artifact carries
//! (`.../artifacts/{reference}/labels`).

use serde::{Deserialize, Serialize};

/// `scope` of a label every project may use, which only system administrators manage.
pub const GLOBAL_SCOPE: &str = "g";
/// `scope` of a label of one project (`project_id`), usable on that project's artifacts only.
pub const PROJECT_SCOPE: &str = "p";

/// A label as listed and read, as created (`name`, `description`, `color`, `scope`,
/// `project_id`), changed (`name`, `description`, `color`) and added to an artifact (`id`): a
/// request leaves out what it does not set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    #[serde(default)]
    pub id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// `#RRGGBB`, or empty for the portal's default.
    #[serde(default)]
    pub color: String,
    /// [`GLOBAL_SCOPE`] or [`PROJECT_SCOPE`].
    #[serde(default)]
    pub scope: String,
    /// The project of a project label; 0 for a global one.
    #[serde(default)]
    pub project_id: i64,
    #[serde(default)]
    pub creation_time: String,
    #[serde(default)]
    pub update_time: String,
}
