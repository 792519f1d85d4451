//! `/projects/{project}/repositories/...`: repositories, their artifacts and tags.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::additions::ExtraAttrs;
use crate::labels::Label;

/// A repository as listed and read; `name` includes the project (`library/app`). Also the body of
/// `PUT .../repositories/{repository}`, of which only `description` counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Repository {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    pub description: String,
    pub artifact_count: i64,
    pub pull_count: i64,
    pub creation_time: String,
    pub update_time: String,
}

/// An artifact (a manifest or an index) as listed and read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    pub id: i64,
    /// `IMAGE`, `CHART`, `CNAB` or `UNKNOWN`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The artifact's type: its `artifactType`, else its config's media type, else the manifest's.
    pub media_type: String,
    pub manifest_media_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub project_id: i64,
    pub repository_id: i64,
    pub repository_name: String,
    pub digest: String,
    /// The manifest and every blob it references, in bytes.
    pub size: i64,
    pub icon: String,
    pub push_time: String,
    /// Harbor's zero time when never pulled.
    pub pull_time: String,
    pub extra_attrs: ExtraAttrs,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// With `with_label=true`: the labels the artifact carries; otherwise empty.
    pub labels: Vec<Label>,
    /// Unless asked `with_tag=false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    /// An index's children.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub references: Option<Vec<Reference>>,
    /// With `with_accessory=true`: the artifacts whose subject this is (signatures, SBOMs...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accessories: Option<Vec<Accessory>>,
    /// Where each addition Berth serves for this artifact is read.
    #[serde(default, skip_serializing_if = "AdditionLinks::is_empty")]
    pub addition_links: AdditionLinks,
}

/// Additions by name: `build_history` (an image's), and Berth's own `layers` (a manifest's layer
/// descriptors).
pub type AdditionLinks = BTreeMap<String, AdditionLink>;

/// Where an addition of an artifact is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdditionLink {
    pub href: String,
    /// `false`: `href` is a path on this server.
    pub absolute: bool,
}

/// A tag as the artifact listing and `GET .../tags` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub id: i64,
    pub repository_id: i64,
    pub artifact_id: i64,
    pub name: String,
    pub push_time: String,
    /// Harbor's zero time when never pulled.
    pub pull_time: String,
    pub immutable: bool,
}

/// The body of `POST .../artifacts/{reference}/tags`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTag {
    pub name: String,
}

/// A child of an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    pub parent_id: i64,
    /// Missing while a proxy cache has not fetched the child yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_id: Option<i64>,
    pub child_digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The platform an image is for, as an index names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    /// The OCI name: Harbor's document quotes it (`'os.version'`) to escape the dot.
    #[serde(rename = "os.version", default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// The OCI name, as `os.version`.
    #[serde(rename = "os.features", default, skip_serializing_if = "Option::is_none")]
    pub os_features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An artifact whose subject is this one (`with_accessory=true`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accessory {
    pub subject_artifact_digest: String,
    /// `signature.cosign`, `signature.notation`, `sbom.harbor` or `subject.accessory`.
    #[serde(rename = "type")]
    pub kind: String,
    pub digest: String,
    pub size: i64,
    pub icon: String,
}
