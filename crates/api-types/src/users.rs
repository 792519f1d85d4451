//! `/users` and `/permissions`: local accounts, and what a caller may do.

use serde::{Deserialize, Serialize};

/// A user as listed and read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserResp {
    pub user_id: i64,
    pub username: String,
    /// Empty when the user has none.
    pub email: String,
    pub realname: String,
    pub comment: String,
    pub sysadmin_flag: bool,
    /// Always false: Berth's administrators are its own, not an identity provider's.
    pub admin_role_in_auth: bool,
    pub creation_time: String,
    pub update_time: String,
}

/// The body of `POST /users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserCreationReq {
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default)]
    pub realname: String,
    pub password: String,
    #[serde(default)]
    pub comment: String,
}

/// The body of `PUT /users/{id}`: what it leaves out is kept; an empty email removes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// The body of `PUT /users/{id}/password`: users give their old password, administrators
/// resetting another's need not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordReq {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_password: Option<String>,
    pub new_password: String,
}

/// The body of `PUT /users/{id}/sysadmin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSysAdminFlag {
    pub sysadmin_flag: bool,
}

/// A user found by `GET /users/search`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSearchRespItem {
    pub user_id: i64,
    pub username: String,
}

/// An action on a resource (`/users/current/permissions`, `/permissions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    pub resource: String,
    pub action: String,
}

/// `GET /permissions`: what robots can be given, at system and at project level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    pub system: Vec<Permission>,
    pub project: Vec<Permission>,
}
