//! `/projects/{project}/members`: who holds which role in a project.

use serde::{Deserialize, Serialize};

/// The body of `POST /projects/{project}/members`: a user (by id or name) and a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectMember {
    pub role_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_user: Option<UserEntity>,
    /// LDAP and OIDC groups; Berth refuses them until it has either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_group: Option<UserGroup>,
}

/// A user, by id or by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEntity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// A group of an identity provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserGroup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
    /// 1 LDAP, 2 HTTP, 3 OIDC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_type: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldap_group_dn: Option<String>,
}

/// A member as listed and read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectMemberEntity {
    pub id: i64,
    pub project_id: i64,
    pub entity_name: String,
    pub entity_id: i64,
    /// `u` for a user, `g` for a group.
    pub entity_type: String,
    pub role_id: i64,
    pub role_name: String,
}

/// The body of `PUT /projects/{project}/members/{mid}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRequest {
    pub role_id: i64,
}
