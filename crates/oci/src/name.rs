//! Repository names, validated against the distribution spec's grammar:
//! `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.

use std::fmt;

/// Longest accepted name. The spec leaves the limit to the registry; 255 is what distribution and
/// Harbor enforce, and it keeps every derived path well under file-system limits.
pub const MAX_NAME_LEN: usize = 255;

/// A validated repository name such as `library/alpine` or `team/app/api`. Components contain only
/// `[a-z0-9._-]` and never start with a separator, so `.` and `..` cannot appear.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("repository name is empty")]
    Empty,
    #[error("repository name is longer than {MAX_NAME_LEN} characters")]
    TooLong,
    #[error("repository name component {0:?} does not match [a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*")]
    BadComponent(String),
}

impl RepoName {
    pub fn parse(s: &str) -> Result<RepoName, NameError> {
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong);
        }
        for component in s.split('/') {
            if !valid_component(component) {
                return Err(NameError::BadComponent(component.chars().take(64).collect()));
            }
        }
        Ok(RepoName(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The project the repository belongs to: its first path component (Harbor's rule; a
    /// one-component name is a project's name too).
    pub fn project(&self) -> &str {
        self.0.split('/').next().unwrap_or(&self.0)
    }

    /// The name without its project: what a proxy-cache project's repository is upstream.
    pub fn without_project(&self) -> &str {
        self.0.split_once('/').map(|(_, rest)| rest).unwrap_or(&self.0)
    }
}

/// One path component: alphanumeric runs joined by exactly one of `.`, `_`, `__` or one-or-more `-`.
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
        // An alphanumeric run.
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        // A separator.
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_spec_names() {
        for ok in ["a", "library/alpine", "a/b/c/d", "my-app", "my--app", "a.b", "a_b", "a__b", "0/1", "x9/y-8.z_7"] {
            assert!(RepoName::parse(ok).is_ok(), "{ok:?} refused");
        }
    }

    #[test]
    fn refuses_bad_names() {
        for bad in [
            "", "A", "a/", "/a", "a//b", "..", "a/../b", "a/./b", ".a", "a.", "a-", "-a", "a___b", "a..b", "a_-b",
            "a b", "a%2fb", "a\\b", "é",
        ] {
            assert!(RepoName::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(RepoName::parse(&"a".repeat(256)), Err(NameError::TooLong));
        assert!(RepoName::parse(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn project_is_the_first_component() {
        let name = RepoName::parse("team/app/api").unwrap();
        assert_eq!((name.project(), name.without_project()), ("team", "app/api"));
        let single = RepoName::parse("app").unwrap();
        assert_eq!((single.project(), single.without_project()), ("app", "app"));
    }
}
