//! Test images as OCI image layout directories (`oci-layout`, `index.json`, `blobs/sha256/…`),
//! which skopeo reads as `oci:DIR:TAG`.
//!
//! Layers are real, uncompressed tar archives, so that podman can unpack them; the config is a
//! valid OCI image config for linux/amd64 (or the architecture asked for) whose `rootfs.diff_ids`
//! are the layer digests (equal to the diff IDs, since the layers are not compressed).
//! [`write_multi_arch`] writes an image index over several such images.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::registry::{OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST};

pub const OCI_LAYOUT_VERSION: &str = "1.0.0";
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// A fixed timestamp, so that the same seed gives the same bytes.
const MTIME: u64 = 1_700_000_000;
const CREATED: &str = "2023-11-14T22:13:20Z";

/// What [`write_image`] wrote.
#[derive(Debug, Clone)]
pub struct Image {
    /// The layout directory.
    pub dir: PathBuf,
    /// The tag in `index.json`; empty for the images of a [`MultiArch`], which only the index
    /// names.
    pub tag: String,
    pub architecture: String,
    /// The manifest's exact bytes, and their digest and size.
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
    pub manifest_size: usize,
    pub config_digest: String,
    pub layer_digests: Vec<String>,
}

impl Image {
    /// `oci:DIR:TAG`, the skopeo/podman transport reference of this image.
    pub fn oci_ref(&self) -> String {
        format!("oci:{}:{}", super::path_str(&self.dir), self.tag)
    }

    /// Every blob of the image: config first, then layers.
    pub fn blob_digests(&self) -> Vec<String> {
        let mut v = vec![self.config_digest.clone()];
        v.extend(self.layer_digests.iter().cloned());
        v
    }
}

/// Writes an image of `layers` layers into the OCI layout at `dir` (created if needed), tagged
/// `tag` in `index.json`. Each layer is a tar holding one file of `layer_size` random bytes
/// (derived from `seed`, so two calls with different seeds share no layer). An image already in
/// the layout under another tag is kept; one under the same tag is replaced.
pub fn write_image(dir: &Path, tag: &str, layers: usize, layer_size: usize, seed: u64) -> Image {
    let mut image = write_image_blobs(dir, "amd64", layers, layer_size, seed);
    set_tag(dir, tag, OCI_MANIFEST, &image.manifest_digest, image.manifest_size);
    image.tag = tag.to_owned();
    image
}

/// What [`write_multi_arch`] wrote.
#[derive(Debug, Clone)]
pub struct MultiArch {
    pub dir: PathBuf,
    pub tag: String,
    /// The image index's exact bytes, and their digest and size.
    pub index: Vec<u8>,
    pub index_digest: String,
    /// One image per architecture, in the index's order.
    pub images: Vec<Image>,
}

impl MultiArch {
    /// `oci:DIR:TAG`, the skopeo transport reference of the index.
    pub fn oci_ref(&self) -> String {
        format!("oci:{}:{}", super::path_str(&self.dir), self.tag)
    }
}

/// Writes a multi-architecture image into the layout at `dir`: one linux image per entry of
/// `architectures` (as [`write_image`] makes them, each from its own seed), and an OCI image index
/// over them with their platforms, tagged `tag` in `index.json`.
pub fn write_multi_arch(
    dir: &Path,
    tag: &str,
    architectures: &[&str],
    layers: usize,
    layer_size: usize,
    seed: u64,
) -> MultiArch {
    let images: Vec<Image> = architectures
        .iter()
        .enumerate()
        .map(|(i, arch)| {
            write_image_blobs(dir, arch, layers, layer_size, seed.wrapping_mul(100).wrapping_add(i as u64))
        })
        .collect();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": images.iter().map(|image| json!({
            "mediaType": OCI_MANIFEST,
            "digest": image.manifest_digest,
            "size": image.manifest_size,
            "platform": { "architecture": image.architecture, "os": "linux" },
        })).collect::<Vec<_>>(),
        "annotations": { "org.berth.test.seed": seed.to_string() },
    });
    let index = serde_json::to_vec(&index).unwrap();
    let index_digest = write_blob(dir, &index);
    set_tag(dir, tag, OCI_INDEX, &index_digest, index.len());
    MultiArch { dir: dir.to_path_buf(), tag: tag.to_owned(), index, index_digest, images }
}

/// Writes the blobs of one image (layers, config, manifest) into the layout at `dir`, untagged.
fn write_image_blobs(dir: &Path, architecture: &str, layers: usize, layer_size: usize, seed: u64) -> Image {
    std::fs::create_dir_all(dir.join("blobs/sha256")).expect("create layout dir");
    std::fs::write(dir.join("oci-layout"), json!({ "imageLayoutVersion": OCI_LAYOUT_VERSION }).to_string())
        .expect("write oci-layout");

    let mut layer_digests = Vec::with_capacity(layers);
    let mut layer_sizes = Vec::with_capacity(layers);
    let mut history = Vec::with_capacity(layers);
    for i in 0..layers {
        let content = super::random_bytes(layer_size, seed.wrapping_mul(1000).wrapping_add(i as u64));
        let tar = layer_tar(i, &content);
        layer_digests.push(write_blob(dir, &tar));
        layer_sizes.push(tar.len());
        history.push(json!({
            "created": CREATED,
            "created_by": format!("berth test layer {i} ({layer_size} bytes, seed {seed})"),
        }));
    }

    let config = json!({
        "created": CREATED,
        "architecture": architecture,
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
            "Labels": { "org.berth.test.seed": seed.to_string() },
        },
        "rootfs": { "type": "layers", "diff_ids": layer_digests },
        "history": history,
    });
    let config = serde_json::to_vec(&config).unwrap();
    let config_digest = write_blob(dir, &config);

    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG,
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": layer_digests.iter().zip(&layer_sizes).map(|(digest, size)| json!({
            "mediaType": OCI_LAYER,
            "digest": digest,
            "size": size,
        })).collect::<Vec<_>>(),
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = write_blob(dir, &manifest);

    Image {
        dir: dir.to_path_buf(),
        tag: String::new(),
        architecture: architecture.to_owned(),
        manifest_size: manifest.len(),
        manifest,
        manifest_digest,
        config_digest,
        layer_digests,
    }
}

/// Points `tag` in the layout's `index.json` at a manifest or index; other tags are kept.
fn set_tag(dir: &Path, tag: &str, media_type: &str, digest: &str, size: usize) {
    let index_path = dir.join("index.json");
    let mut entries: Vec<Value> = match std::fs::read(&index_path) {
        Ok(bytes) => {
            let index: Value = serde_json::from_slice(&bytes).expect("existing index.json");
            index["manifests"].as_array().cloned().unwrap_or_default()
        }
        Err(_) => Vec::new(),
    };
    entries.retain(|m| m["annotations"][REF_NAME_ANNOTATION] != tag);
    entries.push(json!({
        "mediaType": media_type,
        "digest": digest,
        "size": size,
        "annotations": { REF_NAME_ANNOTATION: tag },
    }));
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": entries,
    });
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).expect("write index.json");
}

/// An uncompressed tar holding `layer-I/` and `layer-I/data.bin` with `content`.
fn layer_tar(i: usize, content: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);

    let dir_name = format!("layer-{i}/");
    let mut dir = tar::Header::new_ustar();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_uid(0);
    dir.set_gid(0);
    dir.set_mtime(MTIME);
    dir.set_size(0);
    builder.append_data(&mut dir, &dir_name, std::io::empty()).expect("tar dir");

    let mut file = tar::Header::new_ustar();
    file.set_entry_type(tar::EntryType::Regular);
    file.set_mode(0o644);
    file.set_uid(0);
    file.set_gid(0);
    file.set_mtime(MTIME);
    file.set_size(content.len() as u64);
    builder.append_data(&mut file, format!("{dir_name}data.bin"), content).expect("tar file");

    builder.into_inner().expect("finish tar")
}

/// Writes `bytes` as a content-addressed blob of the layout; returns its digest.
fn write_blob(dir: &Path, bytes: &[u8]) -> String {
    let digest = super::sha256_digest(bytes);
    std::fs::write(blob_path(dir, &digest), bytes).expect("write blob");
    digest
}

/// `DIR/blobs/ALGORITHM/HEX` for a digest `ALGORITHM:HEX`.
pub fn blob_path(dir: &Path, digest: &str) -> PathBuf {
    let (algorithm, hex) = digest.split_once(':').expect("digest has an algorithm");
    dir.join("blobs").join(algorithm).join(hex)
}

/// Reads the layout's `index.json`.
pub fn read_index(dir: &Path) -> Value {
    let bytes = std::fs::read(dir.join("index.json")).expect("read index.json");
    serde_json::from_slice(&bytes).expect("index.json is JSON")
}

/// The descriptor (from `index.json`) of the manifest tagged `tag` in the layout at `dir`.
pub fn manifest_descriptor(dir: &Path, tag: &str) -> Value {
    let index = read_index(dir);
    index["manifests"]
        .as_array()
        .expect("index.json has manifests")
        .iter()
        .find(|m| m["annotations"][REF_NAME_ANNOTATION] == tag)
        .unwrap_or_else(|| panic!("no manifest tagged {tag:?} in {}: {index}", dir.display()))
        .clone()
}

/// Reads a blob of the layout, checking that its content matches its digest.
pub fn read_blob(dir: &Path, digest: &str) -> Vec<u8> {
    let path = blob_path(dir, digest);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert_eq!(super::sha256_digest(&bytes), digest, "blob {} does not match its digest", path.display());
    bytes
}

/// Checks that every file under `blobs/sha256/` hashes to its own name; returns how many there
/// are.
pub fn verify_blobs(dir: &Path) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(dir.join("blobs/sha256")).expect("read blobs dir") {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().expect("utf-8 blob name");
        let bytes = std::fs::read(entry.path()).unwrap();
        assert_eq!(
            super::sha256_digest(&bytes),
            format!("sha256:{name}"),
            "blob {} does not match its name",
            entry.path().display()
        );
        count += 1;
    }
    count
}

/// The regular files of a layer (an uncompressed tar blob of the layout): path and content.
pub fn layer_files(dir: &Path, layer_digest: &str) -> Vec<(PathBuf, Vec<u8>)> {
    use std::io::Read;
    let blob = read_blob(dir, layer_digest);
    let mut archive = tar::Archive::new(&blob[..]);
    let mut files = Vec::new();
    for entry in archive.entries().expect("layer is a tar") {
        let mut entry = entry.expect("tar entry");
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = entry.path().expect("tar entry path").into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).expect("read tar entry");
        files.push((path, content));
    }
    files
}
