//! Harbor's roles and what each may do: one table, used by the registry (pull/push/delete) and by
//! the API (every resource/action pair), so the two can never disagree.

use serde::Serialize;

/// Project roles, with Harbor's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    ProjectAdmin = 1,
    Developer = 2,
    Guest = 3,
    Maintainer = 4,
    LimitedGuest = 5,
}

impl Role {
    pub fn from_id(id: i64) -> Option<Role> {
        Some(match id {
            1 => Role::ProjectAdmin,
            2 => Role::Developer,
            3 => Role::Guest,
            4 => Role::Maintainer,
            5 => Role::LimitedGuest,
            _ => return None,
        })
    }

    pub fn id(self) -> i64 {
        self as i64
    }

    /// The name Harbor's API reports (`role_name`).
    pub fn name(self) -> &'static str {
        match self {
            Role::ProjectAdmin => "projectAdmin",
            Role::Developer => "developer",
            Role::Guest => "guest",
            Role::Maintainer => "maintainer",
            Role::LimitedGuest => "limitedGuest",
        }
    }
}

/// A resource/action pair, as `/users/current/permissions` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Permission {
    pub resource: &'static str,
    pub action: &'static str,
}

impl Permission {
    pub const fn new(resource: &'static str, action: &'static str) -> Permission {
        Permission { resource, action }
    }
}

const fn p(resource: &'static str, action: &'static str) -> Permission {
    Permission::new(resource, action)
}

/// Read access to the project and its content, common to every role but the limited guest.
const READ: &[Permission] = &[
    p("project", "read"),
    p("member", "read"),
    p("member", "list"),
    p("repository", "list"),
    p("repository", "read"),
    p("repository", "pull"),
    p("artifact", "read"),
    p("artifact", "list"),
    p("tag", "list"),
    p("log", "list"),
    p("robot", "read"),
    p("robot", "list"),
    p("label", "read"),
    p("label", "list"),
    p("metadata", "read"),
];

const LIMITED_GUEST: &[Permission] = &[
    p("project", "read"),
    p("repository", "list"),
    p("repository", "read"),
    p("repository", "pull"),
    p("artifact", "read"),
    p("artifact", "list"),
    p("tag", "list"),
];

const DEVELOPER_EXTRA: &[Permission] = &[
    p("repository", "push"),
    p("repository", "update"),
    p("artifact", "create"),
    p("tag", "create"),
    p("artifact-label", "create"),
    p("artifact-label", "delete"),
];

const MAINTAINER_EXTRA: &[Permission] = &[
    p("repository", "delete"),
    p("artifact", "delete"),
    p("tag", "delete"),
    p("label", "create"),
    p("label", "update"),
    p("label", "delete"),
    p("scan", "create"),
    p("scan", "read"),
    // Harbor gives immutable tag rules to maintainers and project admins only: other roles do not
    // even list them.
    p("immutable-tag", "create"),
    p("immutable-tag", "update"),
    p("immutable-tag", "delete"),
    p("immutable-tag", "list"),
];

const PROJECT_ADMIN_EXTRA: &[Permission] = &[
    p("project", "update"),
    p("project", "delete"),
    p("member", "create"),
    p("member", "update"),
    p("member", "delete"),
    p("robot", "create"),
    p("robot", "update"),
    p("robot", "delete"),
    p("quota", "read"),
    p("metadata", "create"),
    p("metadata", "update"),
    p("metadata", "delete"),
    // Tag retention deletes artifacts in bulk: project admins only.
    p("tag-retention", "create"),
    p("tag-retention", "read"),
    p("tag-retention", "update"),
    p("tag-retention", "delete"),
    p("tag-retention", "list"),
];

/// Every permission `role` holds in its project.
pub fn permissions(role: Role) -> Vec<Permission> {
    let parts: &[&[Permission]] = match role {
        Role::LimitedGuest => &[LIMITED_GUEST],
        Role::Guest => &[READ],
        Role::Developer => &[READ, DEVELOPER_EXTRA],
        Role::Maintainer => &[READ, DEVELOPER_EXTRA, MAINTAINER_EXTRA],
        Role::ProjectAdmin => &[READ, DEVELOPER_EXTRA, MAINTAINER_EXTRA, PROJECT_ADMIN_EXTRA],
    };
    parts.iter().flat_map(|p| p.iter().copied()).collect()
}

/// What a caller may do in one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectAccess {
    /// System administrator: everything.
    Admin,
    Member(Role),
    /// Not a member, but the project is public: pull and read.
    PublicReader,
    /// A robot account: exactly the (resource, action) pairs it was given for this project.
    Robot(Vec<(String, String)>),
    None,
}

impl ProjectAccess {
    pub fn allows(&self, resource: &str, action: &str) -> bool {
        match self {
            ProjectAccess::Admin => true,
            ProjectAccess::Member(role) => {
                permissions(*role).iter().any(|p| p.resource == resource && p.action == action)
            }
            ProjectAccess::PublicReader => LIMITED_GUEST.iter().any(|p| p.resource == resource && p.action == action),
            ProjectAccess::Robot(granted) => granted.iter().any(|(r, a)| r == resource && a == action),
            ProjectAccess::None => false,
        }
    }

    /// Registry actions (`pull`, `push`, `delete`, `*`) this access grants on a repository.
    pub fn registry_actions(&self) -> Vec<&'static str> {
        let mut actions = Vec::new();
        if self.allows("repository", "pull") {
            actions.push("pull");
        }
        if self.allows("repository", "push") {
            actions.push("push");
        }
        if self.allows("repository", "delete") || self.allows("artifact", "delete") {
            actions.push("delete");
        }
        if matches!(self, ProjectAccess::Admin | ProjectAccess::Member(Role::ProjectAdmin)) {
            actions.push("*");
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_matrix() {
        use ProjectAccess::*;
        let m = |r| Member(r);
        assert_eq!(m(Role::ProjectAdmin).registry_actions(), ["pull", "push", "delete", "*"]);
        assert_eq!(m(Role::Maintainer).registry_actions(), ["pull", "push", "delete"]);
        assert_eq!(m(Role::Developer).registry_actions(), ["pull", "push"]);
        assert_eq!(m(Role::Guest).registry_actions(), ["pull"]);
        assert_eq!(m(Role::LimitedGuest).registry_actions(), ["pull"]);
        assert_eq!(PublicReader.registry_actions(), ["pull"]);
        assert!(None.registry_actions().is_empty());
        let robot = Robot(vec![("repository".into(), "pull".into()), ("artifact".into(), "delete".into())]);
        assert_eq!(robot.registry_actions(), ["pull", "delete"]);
        assert!(m(Role::Guest).allows("member", "list"));
        assert!(!m(Role::LimitedGuest).allows("member", "list"));
        assert!(!m(Role::LimitedGuest).allows("log", "list"));
        assert!(m(Role::ProjectAdmin).allows("member", "create"));
        assert!(!m(Role::Maintainer).allows("member", "create"));
        assert!(m(Role::Maintainer).allows("immutable-tag", "update"));
        assert!(m(Role::ProjectAdmin).allows("immutable-tag", "delete"));
        assert!(!m(Role::Developer).allows("immutable-tag", "list"));
        assert!(!m(Role::Guest).allows("immutable-tag", "list"));
        assert!(!PublicReader.allows("immutable-tag", "list"));
        assert!(m(Role::Developer).allows("artifact-label", "create"));
        assert!(!m(Role::Guest).allows("artifact-label", "delete"));
        assert!(!m(Role::Developer).allows("label", "create"));
        assert!(m(Role::Maintainer).allows("label", "delete"));
        assert!(m(Role::Guest).allows("metadata", "read"));
        assert!(!m(Role::Maintainer).allows("metadata", "update"));
        assert!(m(Role::ProjectAdmin).allows("metadata", "delete"));
        assert!(Admin.allows("anything", "at all"));
        for id in 1..=5 {
            assert_eq!(Role::from_id(id).unwrap().id(), id);
        }
        assert!(Role::from_id(6).is_none());
    }
}
