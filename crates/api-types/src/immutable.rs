//! `/projects/{project}/immutabletagrules`: the tags of a project that cannot be moved or deleted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A tag immutability rule, as created, updated and listed: one tag selector and one
/// `repository` scope selector, doublestar patterns. A request may leave out what a new rule
/// takes by default (`id`, `priority`, `disabled`, `params`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImmutableRule {
    #[serde(default)]
    pub id: i64,
    #[serde(default)]
    pub priority: i64,
    #[serde(default)]
    pub disabled: bool,
    /// `immutable`.
    pub action: String,
    /// `immutable_template`.
    pub template: String,
    /// The template's parameters; `immutable_template` takes none.
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
    pub tag_selectors: Vec<ImmutableSelector>,
    /// `repository` → its selectors.
    pub scope_selectors: BTreeMap<String, Vec<ImmutableSelector>>,
}

/// A selector: `kind` `doublestar`, a decoration (`matches`/`excludes` for tags,
/// `repoMatches`/`repoExcludes` for repositories) and a pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImmutableSelector {
    pub kind: String,
    pub decoration: String,
    pub pattern: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extras: Option<String>,
}
