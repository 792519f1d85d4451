//! Robot accounts: machine credentials with an explicit list of permissions per project.

use berth_meta::Robot;
use serde::{Deserialize, Serialize};

/// Every robot name starts with this.
pub const PREFIX: &str = "robot$";

/// One `access` entry of a robot permission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobotAccess {
    pub resource: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
}

/// `{kind, namespace, access}`: what a robot may do in one project (`namespace`), or in every
/// project (`namespace` `*`, system robots only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobotPermission {
    pub kind: String,
    pub namespace: String,
    pub access: Vec<RobotAccess>,
}

/// A logged-in robot: its row and its parsed permissions.
#[derive(Debug, Clone)]
pub struct RobotIdentity {
    pub robot: Robot,
    pub permissions: Vec<RobotPermission>,
}

impl RobotIdentity {
    /// The identity of `robot` if it may log in now: enabled, not expired, readable permissions.
    pub fn usable(robot: Robot) -> Result<RobotIdentity, &'static str> {
        if robot.disabled {
            return Err("disabled");
        }
        if robot.expires_at != -1 && robot.expires_at <= crate::now() {
            return Err("expired");
        }
        let permissions = serde_json::from_str(&robot.permissions).map_err(|_| "unreadable permissions")?;
        Ok(RobotIdentity { robot, permissions })
    }

    /// The (resource, action) pairs granted in project `project`.
    pub fn granted_in(&self, project: &str) -> Vec<(String, String)> {
        self.permissions
            .iter()
            .filter(|p| p.kind == "project" && (p.namespace == project || p.namespace == "*"))
            .flat_map(|p| p.access.iter())
            .filter(|a| a.effect.as_deref().is_none_or(|e| e == "allow"))
            .map(|a| (a.resource.clone(), a.action.clone()))
            .collect()
    }
}

/// A new random secret meeting Harbor's password rules (upper, lower and digit; 32 characters).
pub fn generate_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    loop {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).expect("system randomness");
        // 62 does not divide 256: rejecting bytes >= 248 keeps the choice uniform.
        if bytes.iter().any(|b| *b >= 248) {
            continue;
        }
        let secret: String = bytes.iter().map(|b| ALPHABET[(*b % 62) as usize] as char).collect();
        if crate::password::check_rules(&secret).is_ok() {
            return secret;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn robot(disabled: bool, expires_at: i64) -> Robot {
        Robot {
            id: 1,
            name: "robot$p+r".into(),
            description: String::new(),
            level: "project".into(),
            project_id: Some(1),
            secret_hash: String::new(),
            disabled,
            expires_at,
            duration: 1,
            permissions: r#"[{"kind":"project","namespace":"p","access":[{"resource":"repository","action":"pull"}]}]"#
                .into(),
            creator: "admin".into(),
            creator_ref: 1,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn only_enabled_unexpired_robots_log_in() {
        let later = crate::now() + 3600;
        let identity = RobotIdentity::usable(robot(false, later)).unwrap();
        assert_eq!(identity.granted_in("p"), [("repository".to_owned(), "pull".to_owned())]);
        assert!(identity.granted_in("q").is_empty());
        assert!(RobotIdentity::usable(robot(false, -1)).is_ok());
        assert_eq!(RobotIdentity::usable(robot(true, later)).unwrap_err(), "disabled");
        assert_eq!(RobotIdentity::usable(robot(false, crate::now() - 1)).unwrap_err(), "expired");
    }

    #[test]
    fn secrets_are_random_and_valid() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(crate::password::check_rules(&a).is_ok());
    }
}
