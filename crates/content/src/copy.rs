//! Copying an artifact from one repository to another within this registry (Harbor's
//! `POST .../artifacts?from=`): its children first (an index's manifests), its blobs linked
//! (no bytes move), the manifest stored with the same checks, quota and event as a push, then its
//! accessories (referrers), and last the tags it had.

use std::future::Future;
use std::pin::Pin;

use berth_oci::manifest;
use berth_oci::{Digest, Reference, RepoName, Tag};

use crate::{Actor, Check, Content, ContentError, Storing};

/// How deep referrers of referrers are followed (a signature of an SBOM of an image...), as in
/// replication.
const MAX_REFERRER_DEPTH: usize = 4;

impl Content {
    /// Copies artifact `reference` of repository `from` into repository `to`, as `actor`, with
    /// its tags; its digest.
    pub async fn copy_artifact(
        &self,
        from: &RepoName,
        reference: &Reference,
        to: &RepoName,
        actor: &Actor,
    ) -> Result<Digest, ContentError> {
        let found = self.pull_manifest(from, reference).await?.and_then(|(_, manifest)| manifest);
        let Some(root) = found else {
            return Err(ContentError::ArtifactUnknown(format!("{from}:{reference}")));
        };
        let digest: Digest = root.digest.parse().map_err(|_| ContentError::ArtifactUnknown(root.digest.clone()))?;
        let copy = Copy { content: self, from, to, actor };
        copy.manifest(&digest, 0).await?;
        for tag in self.meta.tags_of(root.repository_id, &root.digest).await? {
            let Ok(tag) = Tag::parse(&tag.name) else { continue };
            self.create_tag(to, &tag, &digest, actor).await?;
        }
        Ok(digest)
    }
}

struct Copy<'a> {
    content: &'a Content,
    from: &'a RepoName,
    to: &'a RepoName,
    actor: &'a Actor,
}

impl Copy<'_> {
    /// Copies manifest `digest` with what it references, then its referrers.
    fn manifest<'s>(
        &'s self,
        digest: &'s Digest,
        depth: usize,
    ) -> Pin<Box<dyn Future<Output = Result<(), ContentError>> + Send + 's>> {
        Box::pin(async move {
            let reference = Reference::Digest(digest.clone());
            let Some(m) = self.content.manifest(self.from.as_str(), &digest.to_string()).await? else {
                return Err(ContentError::ArtifactUnknown(format!("{}@{digest}", self.from)));
            };
            let parsed = manifest::parse(&m.bytes, Some(&m.media_type))
                .map_err(|e| ContentError::ManifestInvalid(format!("{}@{digest}: {e}", self.from)))?;
            for child in &parsed.children {
                self.manifest(&child.digest, depth).await?;
            }
            for blob in &parsed.blobs {
                if !self.content.mount_blob_from(self.to, self.from, &blob.digest).await? {
                    return Err(ContentError::MissingReference(blob.digest.to_string()));
                }
            }
            let how = Storing { check: Check::References, stamp: None };
            self.content.store_manifest(self.to, &reference, &m.bytes, Some(&m.media_type), how, self.actor).await?;
            if depth < MAX_REFERRER_DEPTH {
                for referrer in self.content.referrers(self.from.as_str(), &m.digest, None).await? {
                    let Ok(referrer) = referrer.digest.parse::<Digest>() else { continue };
                    self.manifest(&referrer, depth + 1).await?;
                }
            }
            Ok(())
        })
    }
}
