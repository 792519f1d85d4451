//! Manifest and index parsing. The input's first line is the push's `Content-Type` (an empty line:
//! none), the rest its body; an input without a newline is a body pushed without one.

use berth_oci::manifest::{self, bare_media_type};
use berth_oci::media_type::*;
use berth_oci::{Descriptor, ManifestKind, ParsedManifest};

pub fn check(data: &[u8]) {
    let (content_type, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => match crate::text(&data[..i]) {
            Some(header) => (Some(header).filter(|h| !h.is_empty()), &data[i + 1..]),
            None => return,
        },
        None => (None, data),
    };
    let Ok(parsed) = manifest::parse(body, content_type) else { return };
    check_kind(&parsed);
    if let Some(header) = content_type.map(bare_media_type).filter(|h| !h.is_empty()) {
        assert_eq!(parsed.media_type, header, "the stored type is the Content-Type");
    }
    // Pushing the same bytes again under the type they were stored as changes nothing.
    assert_eq!(manifest::parse(body, Some(&parsed.media_type)).as_ref(), Ok(&parsed));
    let descriptors = parsed.blobs.iter().chain(&parsed.children).chain(&parsed.subject);
    descriptors.for_each(check_descriptor);
}

fn check_kind(parsed: &ParsedManifest) {
    let media_type = parsed.media_type.as_str();
    match parsed.kind {
        ManifestKind::Image => {
            assert!(matches!(media_type, OCI_MANIFEST | DOCKER_MANIFEST), "image as {media_type}");
            assert!(parsed.children.is_empty(), "an image with children");
            let (config, layers) = parsed.blobs.split_first().expect("an image has a config");
            assert!(parsed.artifact_type.is_some(), "config {config:?} gives the artifact type");
            for layer in layers {
                assert!(!is_foreign_layer(&layer.media_type) || layer.urls.is_empty(), "foreign layer {layer:?}");
            }
        }
        ManifestKind::Index => {
            assert!(matches!(media_type, OCI_INDEX | DOCKER_MANIFEST_LIST), "index as {media_type}");
            assert!(parsed.blobs.is_empty(), "an index with blobs");
        }
    }
}

fn check_descriptor(descriptor: &Descriptor) {
    let digest = &descriptor.digest;
    assert_eq!(digest.to_string().parse().as_ref(), Ok(digest), "digest {digest} prints as it parses");
}
