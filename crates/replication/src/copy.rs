//! Copying one artifact between two sides: blob by blob (streamed, skipped when the destination
//! has it), children of an index first, the manifest last, then its referrers (signatures,
//! SBOMs). A task syncs a reference to what the source holds *now*, and checks again after
//! writing, so tasks for the same tag that run out of order still leave the destination right.

use std::future::Future;
use std::pin::Pin;

use berth_jobs::JobContext;
use berth_oci::manifest;

use crate::policy::{Filters, destination_repository};
use anyhow::{Context, anyhow};

use crate::side::{Deletion, Manifest, Side};

/// How deep referrers of referrers are followed (a signature of an SBOM of an image...).
const MAX_REFERRER_DEPTH: usize = 4;
/// Other repositories tried as the source of a cross-repository mount at the destination.
const MOUNT_CANDIDATES: i64 = 3;
/// Rounds of "write, then check the source again" before giving up on a moving tag.
const MAX_SETTLE_ROUNDS: usize = 3;

pub struct Copier<'a> {
    pub src: &'a Side,
    pub dst: &'a Side,
    pub src_repo: &'a str,
    pub dst_repo: &'a str,
    pub filters: &'a Filters,
    pub override_existing: bool,
    pub replicate_deletion: bool,
    /// Bytes per second per blob; 0 for no limit.
    pub speed: u64,
    /// The policy's `dest_namespace` and `dest_namespace_replace_count`.
    pub namespace: (&'a str, i64),
    pub job: &'a JobContext,
}

impl Copier<'_> {
    /// Makes `reference` (a tag or a digest) at the destination what it is at the source: copied
    /// if present, deleted if absent and deletions are replicated.
    pub async fn sync(&self, reference: &str) -> anyhow::Result<()> {
        let is_tag = !reference.contains(':');
        for _ in 0..MAX_SETTLE_ROUNDS {
            // When the tag last changed, read on both sides of its content: the destination keeps
            // the newer of two changes, so a time must travel with the content it belongs to. Read
            // after the copy, it could be that of a change landing here meanwhile (the other
            // master's replication, say), and carry older content past newer.
            let change = if is_tag { self.src.tag_change(self.src_repo, reference).await? } else { None };
            let found = self.src.manifest(self.src_repo, reference).await?;
            if is_tag && self.src.tag_change(self.src_repo, reference).await? != change {
                self.job.log(format!("{}:{reference} changed at the source while read; again", self.src_repo)).await;
                continue;
            }
            let Some(m) = found else {
                if !self.replicate_deletion {
                    self.job
                        .log(format!(
                            "{}:{reference} is gone from the source; deletions are not replicated",
                            self.src_repo
                        ))
                        .await;
                    return Ok(());
                }
                let stamp = change.map(|(at, _)| at);
                let what = match self.dst.delete(self.dst_repo, reference, stamp).await? {
                    Deletion::Deleted => "deleted",
                    Deletion::Absent => "already absent",
                    Deletion::Unsupported => {
                        "left in place: the destination deletes manifests by digest only, not tags"
                    }
                };
                self.job.log(format!("{}:{reference} {what} at {}", self.dst_repo, self.dst.describe())).await;
                return Ok(());
            };
            let parsed = manifest::parse(&m.bytes, Some(&m.media_type))?;
            let config = parsed.blobs.first().map(|b| b.media_type.as_str());
            if !self.filters.artifact_matches(&m.media_type, config) {
                self.job
                    .log(format!("{}@{} does not pass the policy's filters; skipped", self.src_repo, m.digest))
                    .await;
                return Ok(());
            }
            if !is_tag && parsed.subject.is_none() && self.filters.has_tag_filter() {
                self.job
                    .log(format!("{}@{} is untagged and the policy selects tags; skipped", self.src_repo, m.digest))
                    .await;
                return Ok(());
            }
            if is_tag
                && !self.override_existing
                && let Some(existing) = self.dst.head(self.dst_repo, reference).await?
                && existing != m.digest
            {
                let dst = self.dst_repo;
                self.job
                    .log(format!("{dst}:{reference} exists at the destination ({existing}); override is off"))
                    .await;
                return Ok(());
            }
            self.copy_manifest(&m, 0).await?;
            if is_tag {
                let stamp = change.filter(|(_, written)| *written).map(|(at, _)| at);
                self.dst.put_manifest(self.dst_repo, reference, &m, stamp).await?;
            }
            self.job
                .log(format!("{}:{reference} -> {}:{reference} ({})", self.src_repo, self.dst_repo, m.digest))
                .await;
            // The tag may have moved while this task copied: another round copies the newer
            // content, so the last task to finish never leaves an older one behind.
            match self.src.head(self.src_repo, reference).await? {
                Some(now) if now == m.digest => return Ok(()),
                None if !self.replicate_deletion => return Ok(()),
                _ => {
                    self.job.log(format!("{}:{reference} changed at the source meanwhile; again", self.src_repo)).await
                }
            }
        }
        Err(anyhow!("{}:{reference} kept changing at the source; will retry", self.src_repo))
    }

    /// Copies manifest `m` (by digest) with everything it references, then its referrers.
    fn copy_manifest<'s>(
        &'s self,
        m: &'s Manifest,
        depth: usize,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 's>> {
        Box::pin(async move {
            if self.dst.head(self.dst_repo, &m.digest).await?.is_none() {
                let parsed = manifest::parse(&m.bytes, Some(&m.media_type))?;
                for child in &parsed.children {
                    let digest = child.digest.to_string();
                    let child = self.src.manifest(self.src_repo, &digest).await?.with_context(|| {
                        format!("{}@{digest} (a child of {}) is missing at the source", self.src_repo, m.digest)
                    })?;
                    self.copy_manifest(&child, depth).await?;
                }
                for blob in &parsed.blobs {
                    self.copy_blob(&blob.digest.to_string(), blob.size).await?;
                }
                self.dst.put_manifest(self.dst_repo, &m.digest, m, None).await?;
            }
            if depth < MAX_REFERRER_DEPTH {
                for digest in self.src.referrers(self.src_repo, &m.digest).await? {
                    if let Some(referrer) = self.src.manifest(self.src_repo, &digest).await? {
                        self.copy_manifest(&referrer, depth + 1).await?;
                    }
                }
            }
            Ok(())
        })
    }

    async fn copy_blob(&self, digest: &str, size: u64) -> anyhow::Result<()> {
        if self.dst.blob_size(self.dst_repo, digest).await?.is_some() {
            return Ok(());
        }
        if let Some(from) = self.mount_at_destination(digest).await? {
            self.job.log(format!("blob {digest} mounted from {from} at the destination")).await;
            return Ok(());
        }
        self.dst.copy_blob(self.src, self.src_repo, self.dst_repo, digest, size, self.speed).await?;
        berth_metrics::metrics().replication_bytes_copied(size);
        self.job.log(format!("blob {digest} ({size} bytes) copied")).await;
        Ok(())
    }

    /// Mounts `digest` into the destination repository from another one there that this
    /// replication filled from a local repository holding the blob: no bytes move. `None` if no
    /// such repository has it.
    async fn mount_at_destination(&self, digest: &str) -> anyhow::Result<Option<String>> {
        let (Side::Local { local, .. }, Side::Remote(remote)) = (self.src, self.dst) else {
            return Ok(None);
        };
        let holders = local.meta().repositories_with_blob(digest, MOUNT_CANDIDATES).await?;
        for repo in holders.iter().filter(|r| *r != self.src_repo && self.filters.repository_matches(r)) {
            let Ok(from) = destination_repository(repo, self.namespace.0, self.namespace.1) else { continue };
            // A refused or failed mount only means the bytes are sent instead.
            if remote.mount_blob(self.dst_repo, digest, &from).await.unwrap_or(false) {
                return Ok(Some(from));
            }
        }
        Ok(None)
    }
}
