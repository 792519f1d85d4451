//! Manifests: stored with their tag and event once everything they reference is in the
//! repository; looked up by tag or digest; deleted with their tags, or a tag alone.

use berth_meta::{ManifestPush, ManifestRef, ManifestRow, NewManifest, ProjectKey, Referrer, Required};
use berth_oci::manifest::{self, ManifestError};
use berth_oci::{Digest, Reference, RepoName, Tag};
use bytes::Bytes;
use tracing::Instrument;

use crate::{About, Actor, Content, ContentError};

/// A manifest's bytes, with its digest and media type.
#[derive(Debug, Clone)]
pub struct ManifestBytes {
    pub digest: String,
    pub media_type: String,
    pub bytes: Bytes,
}

/// A manifest as stored: its digest, and the digest of its subject if it has one.
#[derive(Debug)]
pub struct Stored {
    pub digest: Digest,
    pub subject: Option<String>,
    /// Whether the tag (if one was given) now points at the manifest: a replicated tag write
    /// older than this registry's last change of the tag stores the manifest and leaves the tag.
    pub tagged: bool,
}

/// How a manifest is stored.
#[derive(Debug, Clone, Copy)]
pub struct Storing {
    pub check: Check,
    /// For a tag written by a replicating Berth: when the change was made where it came from. It
    /// is applied only if newer than this registry's last change of the tag.
    pub stamp: Option<i64>,
}

/// What storing a manifest checks of the content it references.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Every blob and child manifest must be in the repository, with the declared size.
    References,
    /// Nothing: a proxy-cache project stores a manifest before its blobs and children, which are
    /// fetched from upstream when clients ask for them.
    Nothing,
}

/// What a removal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// The repository exists, the thing did not.
    Absent,
    NoRepository,
}

/// How the metadata names the manifest `reference` names.
fn manifest_ref(reference: &Reference) -> ManifestRef<'_> {
    match reference {
        Reference::Digest(d) => ManifestRef::Digest(d.to_string()),
        Reference::Tag(t) => ManifestRef::Tag(t.as_str()),
    }
}

impl Content {
    /// Validates manifest `bytes` pushed as `reference` to `name` (declared `content_type`) and
    /// stores it with its event, made by `actor`, if everything it references is in the
    /// repository (unless `how.check` is `Nothing`). Pushes over HTTP and content written by
    /// Berth itself (replication, proxy cache) all come through here.
    pub async fn store_manifest(
        &self,
        name: &RepoName,
        reference: &Reference,
        bytes: &[u8],
        content_type: Option<&str>,
        how: Storing,
        actor: &Actor,
    ) -> Result<Stored, ContentError> {
        let parsed = manifest::parse(bytes, content_type).map_err(|e| match e {
            ManifestError::TooLarge => ContentError::ManifestTooLarge,
            e => ContentError::ManifestInvalid(e.to_string()),
        })?;
        // Stored under the digest it was pushed by (sha256 or sha512), else under its sha256: the
        // bytes are hashed once on the way in (and again only to explain a mismatch).
        let (digest, tag) = match reference {
            Reference::Digest(expected) => {
                if !expected.matches(bytes) {
                    let actual = Digest::sha256_of(bytes);
                    return Err(ContentError::ManifestDigestMismatch { expected: expected.clone(), actual });
                }
                (expected.clone(), None)
            }
            Reference::Tag(tag) => (Digest::sha256_of(bytes), Some(tag.as_str())),
        };
        let digest_str = digest.to_string();
        let blob_digests: Vec<String> = parsed.blobs.iter().map(|d| d.digest.to_string()).collect();
        let child_digests: Vec<String> = parsed.children.iter().map(|d| d.digest.to_string()).collect();
        let required = match how.check {
            Check::References => Required {
                blobs: blob_digests.iter().zip(&parsed.blobs).map(|(d, desc)| (d.as_str(), desc.size as i64)).collect(),
                manifests: child_digests
                    .iter()
                    .zip(&parsed.children)
                    .map(|(d, desc)| (d.as_str(), desc.size as i64))
                    .collect(),
            },
            Check::Nothing => Required::default(),
        };
        let subject = parsed.subject.as_ref().map(|s| s.digest.to_string());
        let annotations = parsed.annotations.as_ref().map(|a| serde_json::Value::Object(a.clone()).to_string());
        let resource = match tag {
            Some(t) => format!("{name}:{t}"),
            None => format!("{name}@{digest}"),
        };
        let event = actor.event(name, "create", About::Artifact { resource: &resource, digest: &digest, tag });
        let push = ManifestPush {
            manifest: NewManifest {
                digest: &digest_str,
                media_type: &parsed.media_type,
                artifact_type: parsed.artifact_type.as_deref(),
                subject: subject.as_deref(),
                annotations: annotations.as_deref(),
                content: bytes,
                total_size: bytes.len() as i64 + parsed.blobs.iter().map(|b| b.size as i64).sum::<i64>(),
                blobs: &blob_digests,
                children: &child_digests,
            },
            required,
            tag,
            stamp: how.stamp,
            event: &event,
        };
        let repo = self.meta.ensure_repository(name.as_str()).await?;
        // The transaction that checks the references and stores the manifest, its tag and event.
        let transaction = tracing::info_span!("manifest.store", repository = %name, digest = digest_str);
        let tagged = self.meta.put_manifest(repo, &push).instrument(transaction).await?;
        Ok(Stored { digest, subject, tagged })
    }

    /// Manifest `reference` (a tag or a digest) of repository `name`; `None` if there is none (or
    /// the reference is malformed).
    pub async fn manifest(&self, name: &str, reference: &str) -> Result<Option<ManifestBytes>, ContentError> {
        let (Ok(name), Ok(reference)) = (RepoName::parse(name), Reference::parse(reference)) else {
            return Ok(None);
        };
        let row = self.pull_manifest(&name, &reference).await?.and_then(|(_, manifest)| manifest);
        Ok(row.map(|r| ManifestBytes { digest: r.digest, media_type: r.media_type, bytes: r.content.into() }))
    }

    /// What a pull of `reference` from `name` decides on, in one query: the project's access key
    /// (`None`: no such project) and the manifest, if the project has it. Nothing of the
    /// manifest may be used before access is granted.
    pub async fn pull_manifest(
        &self,
        name: &RepoName,
        reference: &Reference,
    ) -> Result<Option<(ProjectKey, Option<ManifestRow>)>, ContentError> {
        Ok(self.meta.pull_manifest(name.project(), name.as_str(), manifest_ref(reference)).await?)
    }

    /// Tags of repository `name` in lexical order, after `last`, at most `limit`; `None` if there
    /// is no such repository.
    pub async fn tags(&self, name: &str, last: Option<&str>, limit: i64) -> Result<Option<Vec<String>>, ContentError> {
        let Some(repo) = self.meta.repository_id(name).await? else { return Ok(None) };
        Ok(Some(self.meta.list_tags(repo, last, limit).await?))
    }

    /// Manifests of repository `name` whose subject is `digest` (signatures, SBOMs...), of
    /// `artifact_type` if given; none if there is no such repository.
    pub async fn referrers(
        &self,
        name: &str,
        digest: &str,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>, ContentError> {
        let Some(repo) = self.meta.repository_id(name).await? else { return Ok(Vec::new()) };
        Ok(self.meta.referrers(repo, digest, artifact_type).await?)
    }

    /// Deletes manifest `reference` of `name` as `actor`: a digest takes the artifact and its
    /// tags, a tag only the tag. `stamp` as in [`Storing`], for tag deletes.
    pub async fn delete_manifest(
        &self,
        name: &RepoName,
        reference: &Reference,
        actor: &Actor,
        stamp: Option<i64>,
    ) -> Result<Removal, ContentError> {
        let Some(repo) = self.meta.repository_id(name.as_str()).await? else {
            return Ok(Removal::NoRepository);
        };
        let deleted = match reference {
            Reference::Digest(d) => {
                let resource = format!("{name}@{d}");
                let e = actor.event(name, "delete", About::Artifact { resource: &resource, digest: d, tag: None });
                self.meta.delete_manifest(repo, &d.to_string(), &e).await?
            }
            Reference::Tag(t) => {
                let e = actor.event(name, "delete", About::Tag { tag: t.as_str(), digest: None });
                self.meta.delete_tag(repo, t.as_str(), stamp, &e).await?
            }
        };
        Ok(if deleted { Removal::Removed } else { Removal::Absent })
    }

    /// Points tag `tag` of `name` at artifact `digest`, as `actor`.
    pub async fn create_tag(
        &self,
        name: &RepoName,
        tag: &Tag,
        digest: &Digest,
        actor: &Actor,
    ) -> Result<(), ContentError> {
        let repo = self.meta.ensure_repository(name.as_str()).await?;
        let event = actor.event(name, "create", About::Tag { tag: tag.as_str(), digest: Some(digest) });
        Ok(self.meta.create_tag(repo, tag.as_str(), &digest.to_string(), &event).await?)
    }

    /// Deletes tag `tag` of `name`, which points at `digest`, as `actor`; the artifact stays.
    pub async fn delete_tag(
        &self,
        name: &RepoName,
        tag: &Tag,
        digest: &Digest,
        actor: &Actor,
    ) -> Result<Removal, ContentError> {
        let Some(repo) = self.meta.repository_id(name.as_str()).await? else {
            return Ok(Removal::NoRepository);
        };
        let event = actor.event(name, "delete", About::Tag { tag: tag.as_str(), digest: Some(digest) });
        Ok(if self.meta.delete_tag(repo, tag.as_str(), None, &event).await? {
            Removal::Removed
        } else {
            Removal::Absent
        })
    }

    /// Deletes repository `name` with every artifact and tag in it, as `actor`.
    pub async fn delete_repository(&self, name: &RepoName, actor: &Actor) -> Result<Removal, ContentError> {
        let Some(repo) = self.meta.repository_id(name.as_str()).await? else {
            return Ok(Removal::NoRepository);
        };
        self.meta.delete_repository(repo, &actor.event(name, "delete", About::Repository)).await?;
        Ok(Removal::Removed)
    }
}
