//! Media types the registry gives meaning to. Any other media type is accepted as an artifact
//! type or layer type: the registry stores what it is given.

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
pub const OCI_NONDISTRIBUTABLE_PREFIX: &str = "application/vnd.oci.image.layer.nondistributable.";

/// Layers the registry is not expected to hold: they are fetched from their `urls` instead.
pub fn is_foreign_layer(media_type: &str) -> bool {
    media_type == DOCKER_FOREIGN_LAYER || media_type.starts_with(OCI_NONDISTRIBUTABLE_PREFIX)
}

/// The configuration media types of images: Harbor's image processor reads these.
pub const IMAGE_CONFIGS: [&str; 2] =
    ["application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"];

/// Harbor's artifact type (`IMAGE`, `CHART`, `CNAB`, `UNKNOWN`) of a manifest of `media_type`
/// whose artifact type (or configuration's media type) is `artifact_type`.
pub fn harbor_artifact_type(media_type: &str, artifact_type: Option<&str>) -> &'static str {
    match (media_type, artifact_type) {
        (OCI_INDEX | DOCKER_MANIFEST_LIST, _) => "IMAGE",
        (_, Some(t)) if IMAGE_CONFIGS.contains(&t) => "IMAGE",
        (_, Some("application/vnd.cncf.helm.config.v1+json")) => "CHART",
        (_, Some(t)) if t.contains("cnab") => "CNAB",
        _ => "UNKNOWN",
    }
}
