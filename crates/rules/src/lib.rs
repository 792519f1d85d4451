//! Harbor's rule selectors, without I/O, for whatever decides by repository and tag: tag
//! immutability (checked by `berth-meta` inside the transaction that writes or deletes a tag),
//! replication filters, and tag retention.
//!
//! - [`Pattern`]: a doublestar pattern (`**`, `*`, `?`, `[class]`, `{a,b}`), as Harbor matches
//!   with `github.com/bmatcuk/doublestar` (`pattern.rs`);
//! - [`Selector`]: a pattern with its decoration, selecting what it matches or what it does not;
//! - [`ImmutableRule`]: a repository and a tag selector; an enabled rule protects the tags both
//!   select;
//! - [`retention`]: which artifacts of a repository a tag retention policy keeps.

mod pattern;
pub mod retention;

pub use pattern::{Pattern, PatternError};

/// The selector kind Harbor's rules use for patterns.
pub const DOUBLESTAR: &str = "doublestar";

/// A pattern that selects what it matches, or (excluding) what it does not.
#[derive(Debug, Clone)]
pub struct Selector {
    pattern: Pattern,
    excludes: bool,
}

impl Selector {
    pub fn new(pattern: Pattern, excludes: bool) -> Selector {
        Selector { pattern, excludes }
    }

    /// A repository selector of Harbor's decoration `repoMatches` or `repoExcludes`.
    pub fn repository(decoration: &str, pattern: &str) -> Result<Selector, RuleError> {
        let excludes = match decoration {
            "repoMatches" => false,
            "repoExcludes" => true,
            other => {
                return Err(RuleError::Decoration { found: other.to_owned(), allowed: "repoMatches, repoExcludes" });
            }
        };
        Ok(Selector::new(Pattern::parse(pattern)?, excludes))
    }

    /// A tag selector of Harbor's decoration `matches` or `excludes`.
    pub fn tag(decoration: &str, pattern: &str) -> Result<Selector, RuleError> {
        let excludes = match decoration {
            "matches" => false,
            "excludes" => true,
            other => return Err(RuleError::Decoration { found: other.to_owned(), allowed: "matches, excludes" }),
        };
        Ok(Selector::new(Pattern::parse(pattern)?, excludes))
    }

    pub fn selects(&self, text: &str) -> bool {
        self.pattern.matches(text) != self.excludes
    }
}

/// Why a rule or selector is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("decoration {found:?} is not one of {allowed}")]
    Decoration { found: String, allowed: &'static str },
    #[error(transparent)]
    Pattern(#[from] PatternError),
    #[error("unknown retention template {0:?}")]
    Template(String),
    #[error("{0}")]
    Param(String),
}

/// A tag immutability rule: the tags of the repositories its repository selector selects (by
/// name without the project, as Harbor matches) whose names its tag selector selects.
#[derive(Debug, Clone)]
pub struct ImmutableRule {
    pub repository: Selector,
    pub tag: Selector,
    pub disabled: bool,
}

impl ImmutableRule {
    /// Whether this rule protects tag `tag` of `repository` (its name without the project).
    pub fn protects(&self, repository: &str, tag: &str) -> bool {
        !self.disabled && self.repository.selects(repository) && self.tag.selects(tag)
    }
}

/// The part of a repository's full name rules match: without its project (`library/a/b` is
/// `a/b`).
pub fn path_in_project(repository: &str) -> &str {
    repository.split_once('/').map_or("", |(_, rest)| rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(repo: (&str, &str), tag: (&str, &str)) -> ImmutableRule {
        ImmutableRule {
            repository: Selector::repository(repo.0, repo.1).unwrap(),
            tag: Selector::tag(tag.0, tag.1).unwrap(),
            disabled: false,
        }
    }

    #[test]
    fn decorations_select_or_exclude() {
        let r = rule(("repoMatches", "app/**"), ("matches", "v*"));
        assert!(r.protects("app/web", "v1"));
        assert!(!r.protects("app/web", "latest"));
        assert!(!r.protects("other", "v1"));
        let r = rule(("repoExcludes", "{scratch,tmp}"), ("excludes", "dev-*"));
        assert!(r.protects("app", "1.0"));
        assert!(!r.protects("app", "dev-3"));
        assert!(!r.protects("tmp", "1.0"));
        let disabled = ImmutableRule { disabled: true, ..rule(("repoMatches", "**"), ("matches", "**")) };
        assert!(!disabled.protects("app", "v1"));
    }

    #[test]
    fn bad_selectors_are_refused() {
        assert!(matches!(Selector::tag("repoMatches", "x"), Err(RuleError::Decoration { .. })));
        assert!(matches!(Selector::repository("matches", "x"), Err(RuleError::Decoration { .. })));
        assert!(matches!(Selector::tag("matches", ""), Err(RuleError::Pattern(_))));
        assert!(matches!(Selector::tag("matches", "{a,b"), Err(RuleError::Pattern(_))));
    }

    #[test]
    fn repositories_are_matched_without_their_project() {
        assert_eq!(path_in_project("library/a/b"), "a/b");
        assert_eq!(path_in_project("library/a"), "a");
        assert_eq!(path_in_project("library"), "");
    }
}
