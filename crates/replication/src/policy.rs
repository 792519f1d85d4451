//! A replication policy's rules: filters (Harbor's `name`, `tag`, `label`, `resource`), where
//! copies go (`dest_namespace` and its flattening), and the trigger.

use berth_rules::{Pattern, Selector};
use croner::Cron;
use serde::{Deserialize, Serialize};

/// What is wrong with a policy's rules, said to whoever wrote them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(String);

fn invalid(message: impl Into<String>) -> PolicyError {
    PolicyError(message.into())
}

/// One filter as Harbor's API carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoration: Option<String>,
}

/// The filters of a policy, checked and ready to match.
#[derive(Debug, Default, Clone)]
pub struct Filters {
    /// Doublestar pattern of the repository name (`*` within a path component, `**` across them).
    name: Option<Pattern>,
    /// Tags kept (`matches`) or left out (`excludes`).
    tag: Option<Selector>,
    /// Labels an artifact must carry. Berth has no artifact labels yet, so nothing carries them.
    labels: Vec<String>,
    /// `image` (container images only) or `artifact` (any).
    images_only: bool,
}

impl Filters {
    /// Checks Harbor's filter list; `Err` says what is wrong.
    pub fn parse(list: &[Filter]) -> Result<Filters, PolicyError> {
        let mut f = Filters::default();
        for filter in list {
            let text = || {
                filter
                    .value
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(format!("{} filter needs a string value", filter.kind)))
            };
            match filter.kind.as_str() {
                "name" => f.name = Some(text()?).filter(|v| !v.is_empty()).map(|v| pattern(&v)).transpose()?,
                "tag" => {
                    let decoration = filter.decoration.as_deref().unwrap_or("matches");
                    if !matches!(decoration, "matches" | "excludes") {
                        return Err(invalid(format!(
                            "tag filter decoration must be matches or excludes, not {decoration:?}"
                        )));
                    }
                    f.tag = Some(text()?)
                        .filter(|v| !v.is_empty())
                        .map(|v| Selector::tag(decoration, &v).map_err(|e| invalid(e.to_string())))
                        .transpose()?;
                }
                "label" => {
                    let values =
                        filter.value.as_array().ok_or_else(|| invalid("label filter needs a list of labels"))?;
                    f.labels = values.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
                }
                "resource" => {
                    f.images_only = match text()?.as_str() {
                        "image" => true,
                        "artifact" | "" => false,
                        v => return Err(invalid(format!("resource filter must be image or artifact, not {v:?}"))),
                    }
                }
                k => return Err(invalid(format!("unknown filter type {k:?}: expected name, tag, label or resource"))),
            }
        }
        Ok(f)
    }

    pub fn repository_matches(&self, repository: &str) -> bool {
        self.name.as_ref().is_none_or(|p| p.matches(repository))
    }

    pub fn tag_matches(&self, tag: &str) -> bool {
        self.tag.as_ref().is_none_or(|s| s.selects(tag))
    }

    /// Whether a tag filter narrows the policy: untagged content (pushed by digest) then passes
    /// only as an accessory (with a subject) of what it selects.
    pub fn has_tag_filter(&self) -> bool {
        self.tag.is_some()
    }

    /// Whether an artifact of `media_type` (its manifest's) with `config_media_type` passes.
    pub fn artifact_matches(&self, media_type: &str, config_media_type: Option<&str>) -> bool {
        if !self.labels.is_empty() {
            return false;
        }
        if !self.images_only {
            return true;
        }
        is_index(media_type)
            || matches!(
                config_media_type,
                Some("application/vnd.oci.image.config.v1+json" | "application/vnd.docker.container.image.v1+json")
            )
    }
}

pub fn is_index(media_type: &str) -> bool {
    matches!(
        media_type,
        "application/vnd.oci.image.index.v1+json" | "application/vnd.docker.distribution.manifest.list.v2+json"
    )
}

fn pattern(text: &str) -> Result<Pattern, PolicyError> {
    Pattern::parse(text).map_err(|e| invalid(e.to_string()))
}

/// Where repository `repository` goes: under `namespace` with `replace_count` leading path
/// components replaced (-1: all but the last), Harbor's flattening; unchanged without a namespace.
pub fn destination_repository(repository: &str, namespace: &str, replace_count: i64) -> Result<String, PolicyError> {
    if namespace.is_empty() {
        return Ok(repository.to_owned());
    }
    let parts: Vec<&str> = repository.split('/').collect();
    let kept: &[&str] = match replace_count {
        -1 => &parts[parts.len() - 1..],
        n if n >= 0 && (n as usize) < parts.len() => &parts[n as usize..],
        n => {
            return Err(invalid(format!(
                "repository {repository} has {} path components; cannot replace {n} of them",
                parts.len()
            )));
        }
    };
    Ok(format!("{namespace}/{}", kept.join("/")))
}

/// Checks a cron expression in Harbor's 6-field form (seconds first).
pub fn parse_cron(expression: &str) -> Result<Cron, PolicyError> {
    berth_jobs::schedule::parse_cron(expression).map_err(invalid)
}

/// A policy's trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub trigger_settings: Option<TriggerSettings>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TriggerSettings {
    #[serde(default)]
    pub cron: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        let f: Vec<Filter> = serde_json::from_str(
            r#"[{"type":"name","value":"prod/**"},{"type":"tag","value":"dev-*","decoration":"excludes"}]"#,
        )
        .unwrap();
        let f = Filters::parse(&f).unwrap();
        assert!(f.repository_matches("prod/a/b"));
        assert!(!f.repository_matches("test/a"));
        assert!(f.tag_matches("1.0"));
        assert!(!f.tag_matches("dev-1"));
        let bad =
            |json: &str| Filters::parse(&serde_json::from_str::<Vec<Filter>>(json).unwrap()).unwrap_err().to_string();
        assert!(bad(r#"[{"type":"colour","value":"red"}]"#).contains("unknown filter"));
        assert!(bad(r#"[{"type":"tag","value":"x","decoration":"maybe"}]"#).contains("decoration"));
        assert!(bad(r#"[{"type":"name","value":"{a,b"}]"#).contains("braces"));
        assert!(bad(r#"[{"type":"resource","value":"chart"}]"#).contains("resource"));
    }

    #[test]
    fn flattening() {
        assert_eq!(destination_repository("a/b/c", "", 1).unwrap(), "a/b/c");
        assert_eq!(destination_repository("a/b/c", "ns", 0).unwrap(), "ns/a/b/c");
        assert_eq!(destination_repository("a/b/c", "ns", 1).unwrap(), "ns/b/c");
        assert_eq!(destination_repository("a/b/c", "ns", -1).unwrap(), "ns/c");
        assert!(destination_repository("a/b", "ns", 2).is_err());
    }
}
