//! Manifest parsing and validation: the checks that need only the manifest's bytes. Checks that
//! need the registry's state (do the referenced blobs exist?) use the descriptors returned here.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::digest::Digest;
use crate::media_type::*;

/// The largest manifest accepted, as distribution and the OCI spec's guidance suggest.
pub const MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// OCI image manifest or Docker schema2 manifest: a config and layers.
    Image,
    /// OCI image index or Docker manifest list: child manifests.
    Index,
}

/// A content descriptor as manifests carry it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default)]
    pub artifact_type: Option<String>,
    #[serde(default)]
    pub annotations: Option<Map<String, Value>>,
}

/// What the registry needs to know about a manifest it stores.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedManifest {
    pub media_type: String,
    pub kind: ManifestKind,
    /// Blobs that must exist in the repository: the config and every distributable layer.
    pub blobs: Vec<Descriptor>,
    /// Manifests that must exist in the repository (children of an index).
    pub children: Vec<Descriptor>,
    pub subject: Option<Descriptor>,
    /// The type a referrers listing reports: `artifactType`, else the config's media type.
    pub artifact_type: Option<String>,
    pub annotations: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is larger than {MAX_MANIFEST_SIZE} bytes")]
    TooLarge,
    #[error("Docker schema1 manifests are not supported; push with schema2 or OCI (e.g. skopeo --format v2s2)")]
    Schema1,
    #[error("manifest is invalid: {0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> ManifestError {
    ManifestError::Invalid(msg.into())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    schema_version: Option<Value>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    annotations: Option<Map<String, Value>>,
    // Present in schema1 manifests only; used to recognise them.
    fs_layers: Option<Value>,
}

/// Drops media-type parameters such as `; charset=utf-8`.
pub fn bare_media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// Parses and validates `bytes` pushed with the HTTP `Content-Type` `content_type`.
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<ParsedManifest, ManifestError> {
    if bytes.len() > MAX_MANIFEST_SIZE {
        return Err(ManifestError::TooLarge);
    }
    let content_type = content_type.map(bare_media_type).filter(|c| !c.is_empty());
    if matches!(content_type, Some(DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED)) {
        return Err(ManifestError::Schema1);
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(invalid("not a JSON object"));
    }
    let raw: Raw = serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
    if raw.schema_version == Some(Value::from(1)) || raw.fs_layers.is_some() {
        return Err(ManifestError::Schema1);
    }
    if raw.schema_version != Some(Value::from(2)) {
        return Err(invalid("schemaVersion must be 2"));
    }

    let media_type = match (&raw.media_type, content_type) {
        (Some(body), Some(header)) if body != header => {
            return Err(invalid(format!("mediaType {body:?} does not match Content-Type {header:?}")));
        }
        (Some(body), _) => body.clone(),
        (None, Some(header)) => header.to_owned(),
        (None, None) if raw.manifests.is_some() => OCI_INDEX.to_owned(),
        (None, None) => OCI_MANIFEST.to_owned(),
    };
    if matches!(media_type.as_str(), DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED) {
        return Err(ManifestError::Schema1);
    }

    let kind = match media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => ManifestKind::Image,
        OCI_INDEX | DOCKER_MANIFEST_LIST => ManifestKind::Index,
        other => {
            return Err(invalid(format!("unsupported manifest media type {other:?}")));
        }
    };
    // Docker types always name themselves in the body; an unnamed body claiming to be one is
    // inconsistent.
    if raw.media_type.is_none() && matches!(media_type.as_str(), DOCKER_MANIFEST | DOCKER_MANIFEST_LIST) {
        return Err(invalid("Docker manifests must carry mediaType in the body"));
    }

    let (blobs, children, artifact_type) = match kind {
        ManifestKind::Image => {
            if raw.manifests.is_some() {
                return Err(invalid("an image manifest cannot have manifests"));
            }
            let config = raw.config.ok_or_else(|| invalid("image manifest has no config"))?;
            let layers = raw.layers.ok_or_else(|| invalid("image manifest has no layers"))?;
            let artifact_type = raw.artifact_type.clone().or_else(|| Some(config.media_type.clone()));
            let mut blobs = vec![config];
            blobs.extend(layers.into_iter().filter(|l| !is_foreign_layer(&l.media_type) || l.urls.is_empty()));
            (blobs, Vec::new(), artifact_type)
        }
        ManifestKind::Index => {
            if raw.config.is_some() || raw.layers.is_some() {
                return Err(invalid("an index cannot have config or layers"));
            }
            let manifests = raw.manifests.ok_or_else(|| invalid("index has no manifests"))?;
            (Vec::new(), manifests, raw.artifact_type.clone())
        }
    };
    Ok(ParsedManifest {
        media_type,
        kind,
        blobs,
        children,
        subject: raw.subject,
        artifact_type,
        annotations: raw.annotations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn image(extra: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",
            "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D1}","size":2}},
            "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{D2}","size":5}}]{extra}}}"#
        )
    }

    #[test]
    fn image_manifest() {
        let m = parse(image("").as_bytes(), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(m.kind, ManifestKind::Image);
        assert_eq!(m.blobs.len(), 2);
        assert_eq!(m.artifact_type.as_deref(), Some("application/vnd.oci.image.config.v1+json"));
        assert!(m.subject.is_none());
    }

    #[test]
    fn artifact_with_subject() {
        let extra = format!(
            r#","artifactType":"application/example","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{D1}","size":9}}"#
        );
        let m = parse(image(&extra).as_bytes(), None).unwrap();
        assert_eq!(m.artifact_type.as_deref(), Some("application/example"));
        assert_eq!(m.subject.unwrap().digest.to_string(), D1);
    }

    #[test]
    fn index() {
        let body = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{D1}","size":3,"platform":{{"os":"linux"}}}}]}}"#
        );
        let m = parse(body.as_bytes(), Some(OCI_INDEX)).unwrap();
        assert_eq!(m.kind, ManifestKind::Index);
        assert_eq!(m.children.len(), 1);
        assert_eq!(m.media_type, OCI_INDEX);
    }

    #[test]
    fn rejects() {
        assert_eq!(parse(b"{", None).unwrap_err().to_string().split(':').next(), Some("manifest is invalid"));
        assert!(matches!(parse(b"[]", None), Err(ManifestError::Invalid(_))));
        assert!(matches!(parse(image("").as_bytes(), Some(OCI_INDEX)), Err(ManifestError::Invalid(_))));
        assert!(matches!(parse(br#"{"schemaVersion":1,"fsLayers":[]}"#, None), Err(ManifestError::Schema1)));
        assert!(matches!(parse(b"{}", Some(DOCKER_SCHEMA1_SIGNED)), Err(ManifestError::Schema1)));
        assert!(matches!(parse(&vec![b' '; MAX_MANIFEST_SIZE + 1], None), Err(ManifestError::TooLarge)));
        let bad_digest = image("").replace(D2, "sha256:nothex");
        assert!(matches!(parse(bad_digest.as_bytes(), None), Err(ManifestError::Invalid(_))));
        let negative = image("").replace("\"size\":5", "\"size\":-5");
        assert!(matches!(parse(negative.as_bytes(), None), Err(ManifestError::Invalid(_))));
        let no_config = format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","layers":[]}}"#);
        assert!(matches!(parse(no_config.as_bytes(), None), Err(ManifestError::Invalid(_))));
        let unknown = r#"{"schemaVersion":2,"mediaType":"application/x-made-up"}"#;
        assert!(matches!(parse(unknown.as_bytes(), None), Err(ManifestError::Invalid(_))));
    }

    #[test]
    fn foreign_layers_with_urls_need_no_blob() {
        let extra = r#","annotations":{"a":"b"}}"#;
        let body = image("").trim_end_matches('}').to_owned();
        let body = body.replace(
            "\"layers\":[",
            &format!(r#""layers":[{{"mediaType":"{DOCKER_FOREIGN_LAYER}","digest":"{D1}","size":1,"urls":["https://example.invalid/l"]}},"#),
        ) + extra;
        let m = parse(body.as_bytes(), None).unwrap();
        assert_eq!(m.blobs.len(), 2);
        assert!(m.annotations.is_some());
    }
}
