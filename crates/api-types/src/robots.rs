//! `/robots`: robot accounts and what they may do.

use serde::{Deserialize, Serialize};

/// A robot as listed and read, and the body of `PUT /robots/{id}`, which changes the fields it
/// carries (`description`, `duration`, `disable`, `permissions`) and keeps those it leaves out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Robot {
    #[serde(default)]
    pub id: i64,
    /// `robot$name` (system) or `robot$project+name`.
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `system` or `project`.
    #[serde(default)]
    pub level: String,
    /// Days it is valid from its creation; -1 for ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable: Option<bool>,
    #[serde(default)]
    pub editable: bool,
    /// Unix seconds; -1 for never.
    #[serde(default)]
    pub expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<RobotPermission>>,
    /// Who created it: `local` (a user) or `robot`; Berth's robots are created by users.
    #[serde(default)]
    pub creator_type: String,
    /// The id of the creating user (0 if that user is gone).
    #[serde(default)]
    pub creator_ref: i64,
    /// Berth's own: the creating user's name.
    #[serde(default)]
    pub creator: String,
    #[serde(default)]
    pub creation_time: String,
    #[serde(default)]
    pub update_time: String,
}

/// The body of `POST /robots`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RobotCreate {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// A secret to use; Berth makes one up without.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub level: String,
    #[serde(default)]
    pub disable: bool,
    /// Days; -1 (or none) for ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<i64>,
    pub permissions: Vec<RobotPermission>,
}

/// The answer to `POST /robots`: the only time the secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RobotCreated {
    pub id: i64,
    pub name: String,
    pub secret: String,
    pub creation_time: String,
    pub expires_at: i64,
}

/// The body of `PATCH /robots/{id}` (a secret to use, or none to have one made up) and its
/// answer (the new secret, shown once).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RobotSec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// What a robot may do in one project (`namespace`), or in every project (`*`, system robots).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobotPermission {
    /// `project`.
    pub kind: String,
    pub namespace: String,
    pub access: Vec<Access>,
}

/// One grant: an action on a resource (`repository` `pull`, `artifact` `delete`...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Access {
    pub resource: String,
    pub action: String,
    /// `allow`, the only one Berth takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
}
