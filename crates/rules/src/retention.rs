//! Tag retention as Harbor decides it, over one repository's artifacts at a time: every enabled
//! rule whose repository selectors select the repository picks candidates with its tag and label
//! selectors, and its template keeps some of them; an artifact is kept if any rule keeps it
//! (Harbor's algorithm `or`), the repository's other artifacts go. A repository no enabled rule
//! selects is out of scope: nothing in it is touched.

use std::collections::BTreeSet;

use crate::{RuleError, Selector};

const DAY: i64 = 86_400;

/// What a rule keeps of the artifacts its selectors pick, by Harbor's template names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// `latestPushedK`: the K most recently pushed.
    LatestPushed(u32),
    /// `latestPulledN`: the N most recently pulled (never pulled last).
    LatestPulled(u32),
    /// `nDaysSinceLastPush`: those pushed within the last N days.
    PushedWithinDays(u32),
    /// `nDaysSinceLastPull`: those pulled within the last N days.
    PulledWithinDays(u32),
    /// `always`: every one.
    Always,
}

/// Harbor's templates: name, and whether it takes a count (its parameter, named as the template).
pub const TEMPLATES: &[(&str, bool)] = &[
    ("latestPushedK", true),
    ("latestPulledN", true),
    ("nDaysSinceLastPush", true),
    ("nDaysSinceLastPull", true),
    ("always", false),
];

impl Template {
    /// The template named `name` with its parameter (`None` when absent); a count template needs
    /// one of 0 ..= 2^31-1, `always` takes none.
    pub fn new(name: &str, param: Option<i64>) -> Result<Template, RuleError> {
        let count = || {
            let n = param.ok_or_else(|| RuleError::Param(format!("template {name} needs its parameter {name}")))?;
            u32::try_from(n)
                .ok()
                .filter(|&n| n <= i32::MAX as u32)
                .ok_or_else(|| RuleError::Param(format!("parameter {name} must be a count from 0, not {n}")))
        };
        Ok(match name {
            "latestPushedK" => Template::LatestPushed(count()?),
            "latestPulledN" => Template::LatestPulled(count()?),
            "nDaysSinceLastPush" => Template::PushedWithinDays(count()?),
            "nDaysSinceLastPull" => Template::PulledWithinDays(count()?),
            "always" => Template::Always,
            other => return Err(RuleError::Template(other.to_owned())),
        })
    }

    /// The indices (into `picked`'s candidates) this template keeps, at time `now`.
    fn keep(self, candidates: &[Candidate], picked: Vec<usize>, now: i64) -> Vec<usize> {
        let latest = |mut picked: Vec<usize>, key: fn(&Candidate) -> (i64, i64), n: u32| {
            // Newest first; ties by push time, then the later candidate first (a repository's
            // artifacts come oldest first, and pushes within one second tie on their times).
            picked.sort_by_key(|&i| std::cmp::Reverse((key(&candidates[i]), i)));
            picked.truncate(n as usize);
            picked
        };
        let since = |days: u32| now - i64::from(days) * DAY;
        match self {
            Template::LatestPushed(k) => latest(picked, |c| (c.pushed, 0), k),
            Template::LatestPulled(n) => {
                let pulled: Vec<usize> = picked.into_iter().filter(|&i| candidates[i].pulled > 0).collect();
                latest(pulled, |c| (c.pulled, c.pushed), n)
            }
            Template::PushedWithinDays(d) => picked.into_iter().filter(|&i| candidates[i].pushed >= since(d)).collect(),
            Template::PulledWithinDays(d) => {
                picked.into_iter().filter(|&i| candidates[i].pulled > 0 && candidates[i].pulled >= since(d)).collect()
            }
            Template::Always => picked,
        }
    }
}

/// An artifact of the repository being decided: its tags, when it was pushed and last pulled
/// (unix seconds; 0: never), and the names of its labels. A repository's candidates come in push
/// order, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Candidate {
    pub tags: Vec<String>,
    pub pushed: i64,
    pub pulled: i64,
    pub labels: Vec<String>,
}

/// A rule's choice of artifacts by tag or label (Harbor's `tag_selectors`).
#[derive(Debug, Clone)]
pub enum TagSelector {
    /// `matches` / `excludes` a pattern: an artifact with any tag it selects; an untagged one
    /// only when `untagged` (Harbor's `extras` `{"untagged": true}`).
    Tags { selector: Selector, untagged: bool },
    /// `withLabels`: every one of `names`; `withoutLabels`: none of them.
    Labels { with: bool, names: Vec<String> },
}

impl TagSelector {
    /// Harbor's label selector: decoration `withLabels` or `withoutLabels`, a comma-separated
    /// list of label names.
    pub fn labels(decoration: &str, pattern: &str) -> Result<TagSelector, RuleError> {
        let with = match decoration {
            "withLabels" => true,
            "withoutLabels" => false,
            other => {
                return Err(RuleError::Decoration { found: other.to_owned(), allowed: "withLabels, withoutLabels" });
            }
        };
        let names = pattern.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect();
        Ok(TagSelector::Labels { with, names })
    }

    fn picks(&self, candidate: &Candidate) -> bool {
        match self {
            TagSelector::Tags { selector, untagged } => {
                if candidate.tags.is_empty() {
                    *untagged
                } else {
                    candidate.tags.iter().any(|t| selector.selects(t))
                }
            }
            TagSelector::Labels { with, names } => names.iter().all(|n| candidate.labels.contains(n) == *with),
        }
    }
}

/// One retention rule: in the repositories all its repository selectors select, the artifacts
/// all its tag selectors pick, of which its template keeps some.
#[derive(Debug, Clone)]
pub struct RetentionRule {
    pub disabled: bool,
    pub template: Template,
    pub repositories: Vec<Selector>,
    pub tags: Vec<TagSelector>,
}

impl RetentionRule {
    /// Whether this rule decides in `repository` (its name without the project).
    pub fn applies_to(&self, repository: &str) -> bool {
        !self.disabled && self.repositories.iter().all(|s| s.selects(repository))
    }

    /// The indices of `candidates` this rule keeps, at time `now`.
    fn keeps(&self, candidates: &[Candidate], now: i64) -> Vec<usize> {
        let picked = (0..candidates.len()).filter(|&i| self.tags.iter().all(|s| s.picks(&candidates[i]))).collect();
        self.template.keep(candidates, picked, now)
    }
}

/// The indices of the artifacts of `repository` (its name without the project) that `rules`
/// keep at time `now`; `None` when no enabled rule selects the repository (nothing is deleted).
pub fn retained(
    rules: &[RetentionRule],
    repository: &str,
    candidates: &[Candidate],
    now: i64,
) -> Option<BTreeSet<usize>> {
    let mut applying = rules.iter().filter(|r| r.applies_to(repository)).peekable();
    applying.peek()?;
    Some(applying.flat_map(|r| r.keeps(candidates, now)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 100 * DAY;

    fn tags(decoration: &str, pattern: &str, untagged: bool) -> TagSelector {
        TagSelector::Tags { selector: Selector::tag(decoration, pattern).unwrap(), untagged }
    }

    fn rule(template: Template, tag_selectors: Vec<TagSelector>) -> RetentionRule {
        RetentionRule {
            disabled: false,
            template,
            repositories: vec![Selector::repository("repoMatches", "**").unwrap()],
            tags: tag_selectors,
        }
    }

    fn any_tag() -> TagSelector {
        tags("matches", "**", true)
    }

    /// Five artifacts, index i pushed i days ago; pulled: 0 never, 1 ten days ago, 2 one day
    /// ago, 3 thirty days ago, 4 never; 4 is untagged.
    fn candidates() -> Vec<Candidate> {
        let c = |tags: &[&str], pushed_days_ago: i64, pulled_days_ago: Option<i64>, labels: &[&str]| Candidate {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            pushed: NOW - pushed_days_ago * DAY,
            pulled: pulled_days_ago.map_or(0, |d| NOW - d * DAY),
            labels: labels.iter().map(|l| l.to_string()).collect(),
        };
        vec![
            c(&["v3", "latest"], 0, None, &["prod"]),
            c(&["v2"], 1, Some(10), &["prod", "old"]),
            c(&["dev-2"], 2, Some(1), &[]),
            c(&["v1"], 3, Some(30), &["old"]),
            c(&[], 4, None, &[]),
        ]
    }

    fn kept(rules: &[RetentionRule]) -> Vec<usize> {
        retained(rules, "app/web", &candidates(), NOW).expect("in scope").into_iter().collect()
    }

    #[test]
    fn latest_pushed_keeps_the_k_newest() {
        assert_eq!(kept(&[rule(Template::LatestPushed(2), vec![any_tag()])]), [0, 1]);
        assert_eq!(kept(&[rule(Template::LatestPushed(0), vec![any_tag()])]), Vec::<usize>::new());
        assert_eq!(kept(&[rule(Template::LatestPushed(99), vec![any_tag()])]), [0, 1, 2, 3, 4]);
        // Among the picked only: the two newest `v*`.
        assert_eq!(kept(&[rule(Template::LatestPushed(2), vec![tags("matches", "v*", false)])]), [0, 1]);
        assert_eq!(kept(&[rule(Template::LatestPushed(1), vec![tags("matches", "dev-*", false)])]), [2]);
    }

    #[test]
    fn ties_go_to_the_later_push() {
        let same = vec![Candidate { pushed: NOW, ..Candidate::default() }; 3];
        let keep_two = rule(Template::LatestPushed(2), vec![any_tag()]);
        assert_eq!(retained(&[keep_two], "app", &same, NOW), Some(BTreeSet::from([1, 2])));
    }

    #[test]
    fn latest_pulled_keeps_the_n_most_recently_pulled() {
        assert_eq!(kept(&[rule(Template::LatestPulled(1), vec![any_tag()])]), [2]);
        assert_eq!(kept(&[rule(Template::LatestPulled(2), vec![any_tag()])]), [1, 2]);
        // Never pulled is never among the latest pulled.
        assert_eq!(kept(&[rule(Template::LatestPulled(10), vec![any_tag()])]), [1, 2, 3]);
    }

    #[test]
    fn days_since_push_and_pull() {
        assert_eq!(kept(&[rule(Template::PushedWithinDays(1), vec![any_tag()])]), [0, 1]);
        assert_eq!(kept(&[rule(Template::PushedWithinDays(0), vec![any_tag()])]), [0]);
        assert_eq!(kept(&[rule(Template::PulledWithinDays(10), vec![any_tag()])]), [1, 2]);
        assert_eq!(kept(&[rule(Template::PulledWithinDays(365), vec![any_tag()])]), [1, 2, 3]);
        assert_eq!(kept(&[rule(Template::PulledWithinDays(0), vec![any_tag()])]), Vec::<usize>::new());
    }

    #[test]
    fn always_keeps_what_its_selectors_pick() {
        assert_eq!(kept(&[rule(Template::Always, vec![any_tag()])]), [0, 1, 2, 3, 4]);
        assert_eq!(kept(&[rule(Template::Always, vec![tags("matches", "**", false)])]), [0, 1, 2, 3]);
        assert_eq!(kept(&[rule(Template::Always, vec![tags("excludes", "dev-*", false)])]), [0, 1, 3]);
        assert_eq!(kept(&[rule(Template::Always, vec![tags("excludes", "dev-*", true)])]), [0, 1, 3, 4]);
        // An artifact with any tag selected is kept: `v3` is not `latest`, so 0 stays.
        assert_eq!(kept(&[rule(Template::Always, vec![tags("excludes", "latest", false)])]), [0, 1, 2, 3]);
        assert_eq!(kept(&[rule(Template::Always, vec![tags("matches", "{latest,v1}", false)])]), [0, 3]);
    }

    #[test]
    fn label_selectors() {
        let labels = |d, p| TagSelector::labels(d, p).unwrap();
        assert_eq!(kept(&[rule(Template::Always, vec![any_tag(), labels("withLabels", "prod")])]), [0, 1]);
        assert_eq!(kept(&[rule(Template::Always, vec![any_tag(), labels("withLabels", "prod, old")])]), [1]);
        assert_eq!(kept(&[rule(Template::Always, vec![any_tag(), labels("withoutLabels", "old")])]), [0, 2, 4]);
        assert_eq!(kept(&[rule(Template::Always, vec![any_tag(), labels("withoutLabels", "prod,old")])]), [2, 4]);
        // Labels and a template: the newest of those labelled `old`.
        assert_eq!(kept(&[rule(Template::LatestPushed(1), vec![any_tag(), labels("withLabels", "old")])]), [1]);
        assert!(matches!(TagSelector::labels("matches", "x"), Err(RuleError::Decoration { .. })));
    }

    #[test]
    fn rules_are_or_ed_and_disabled_ones_ignored() {
        let newest = rule(Template::LatestPushed(1), vec![any_tag()]);
        let dev = rule(Template::Always, vec![tags("matches", "dev-*", false)]);
        assert_eq!(kept(&[newest.clone(), dev.clone()]), [0, 2]);
        let disabled = RetentionRule { disabled: true, ..dev };
        assert_eq!(kept(&[newest, disabled.clone()]), [0]);
        assert_eq!(retained(&[disabled], "app/web", &candidates(), NOW), None, "no enabled rule: out of scope");
    }

    #[test]
    fn repository_selectors_decide_the_scope() {
        let only = |decoration, pattern| RetentionRule {
            repositories: vec![Selector::repository(decoration, pattern).unwrap()],
            ..rule(Template::LatestPushed(1), vec![any_tag()])
        };
        let c = candidates();
        assert_eq!(retained(&[only("repoMatches", "app/**")], "app/web", &c, NOW), Some(BTreeSet::from([0])));
        assert_eq!(retained(&[only("repoMatches", "app/*")], "tools/x", &c, NOW), None);
        assert_eq!(retained(&[only("repoExcludes", "tools/**")], "tools/x", &c, NOW), None);
        assert_eq!(retained(&[only("repoExcludes", "tools/**")], "app", &c, NOW), Some(BTreeSet::from([0])));
        // A rule for another repository keeps nothing here, but another rule puts it in scope.
        let rules = [only("repoMatches", "tools"), only("repoMatches", "app/web")];
        assert_eq!(retained(&rules, "app/web", &c, NOW), Some(BTreeSet::from([0])));
        assert_eq!(retained(&rules, "app/web", &[], NOW), Some(BTreeSet::new()));
    }

    #[test]
    fn templates_and_parameters_are_checked() {
        assert_eq!(Template::new("latestPushedK", Some(3)), Ok(Template::LatestPushed(3)));
        assert_eq!(Template::new("latestPulledN", Some(0)), Ok(Template::LatestPulled(0)));
        assert_eq!(Template::new("nDaysSinceLastPush", Some(7)), Ok(Template::PushedWithinDays(7)));
        assert_eq!(Template::new("nDaysSinceLastPull", Some(7)), Ok(Template::PulledWithinDays(7)));
        assert_eq!(Template::new("always", None), Ok(Template::Always));
        assert!(matches!(Template::new("latestPushedK", None), Err(RuleError::Param(_))));
        assert!(matches!(Template::new("latestPushedK", Some(-1)), Err(RuleError::Param(_))));
        assert!(matches!(Template::new("nDaysSinceLastPull", Some(1 << 40)), Err(RuleError::Param(_))));
        assert!(matches!(Template::new("latestActiveK", Some(1)), Err(RuleError::Template(_))));
        assert!(TEMPLATES.iter().all(|(name, counted)| Template::new(name, counted.then_some(1)).is_ok()));
    }
}
