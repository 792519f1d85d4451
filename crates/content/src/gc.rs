//! Online garbage collection: frees what nothing needs any more while clients keep pushing and
//! pulling. The protocol that keeps a push's blobs safe is in docs/architecture.md ("Garbage
//! collection"); the statements that carry it are in `berth_meta`'s `gc.rs`.
//!
//! One collection, in order: finishes blobs an earlier run left `deleting`; records the
//! references of manifests stored before they were recorded; deletes untagged manifests (if
//! asked); removes links no manifest of their repository references; deletes unreferenced blobs
//! unused since the mark (the run's start less the time window), in batches run by `workers` in
//! parallel; deletes idle upload sessions, old tag tombstones, and stray objects no row names.

use std::future::Future;
use std::time::Duration;

use berth_meta::time::now;
use berth_meta::{GcBlob, GcResult, UntaggedManifest};
use berth_oci::manifest;
use berth_oci::{Digest, RepoName};
use futures_util::{StreamExt, TryStreamExt};

use crate::{About, Actor, Content, ContentError};

/// Blobs flipped, deleted and forgotten together: one transaction, one batch request to S3.
const BATCH: usize = 500;
/// Rows read per query.
const PAGE: i64 = 1000;

/// What a collection does.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Count what would go; delete nothing.
    pub dry_run: bool,
    pub delete_untagged: bool,
    /// Batches deleted in parallel (1 to 5, as Harbor).
    pub workers: usize,
    /// Blobs, links and untagged manifests used (or stored) more recently than this stay.
    pub time_window: Duration,
    /// Upload sessions idle for longer go, as do stray objects older than this.
    pub upload_idle: Duration,
    /// Tag tombstones older than this go.
    pub tombstone_age: Duration,
}

/// Where a collection reports its progress (the job's log, the terminal).
pub trait GcLog: Sync {
    fn line(&self, line: String) -> impl Future<Output = ()> + Send;
}

impl Content {
    /// Runs one collection; what it freed (or, dry, would free). The caller holds the
    /// cluster-wide collection lock.
    pub async fn collect_garbage(&self, options: &GcOptions, log: &impl GcLog) -> Result<GcResult, ContentError> {
        let started = now();
        let cutoff = started - whole_seconds(options.time_window);
        let dry = options.dry_run;
        let mut result = GcResult { dry_run: dry, ..GcResult::default() };
        let verb = if dry { "would delete" } else { "deleted" };
        if !dry {
            let (n, bytes) = self.finish_deleting(options.workers).await?;
            if n > 0 {
                log.line(format!("finished deleting {n} blobs ({bytes} bytes) an earlier run left")).await;
            }
            result.blobs += n;
            result.bytes += bytes;
        }
        let recorded = self.record_references().await?;
        if recorded > 0 {
            log.line(format!("recorded the references of {recorded} manifests stored before they were recorded")).await;
        }
        if options.delete_untagged {
            result.manifests = self.untagged(cutoff, dry).await?;
            log.line(format!("{verb} {} untagged artifacts", result.manifests)).await;
        }
        let links = self.meta.sweep_links(cutoff, !dry).await?;
        log.line(format!("{verb} {links} repository links to blobs no manifest of the repository references")).await;
        let (blobs, bytes) = self.unreferenced_blobs(cutoff, dry, options.workers).await?;
        result.blobs += blobs;
        result.bytes += bytes;
        log.line(format!("{verb} {blobs} unreferenced blobs, {bytes} bytes")).await;
        let idle_since = now() - whole_seconds(options.upload_idle);
        result.uploads = self.idle_uploads(idle_since, dry).await?;
        log.line(format!("{verb} {} upload sessions idle since {}", result.uploads, rfc(idle_since))).await;
        let tombstones_before = now() - whole_seconds(options.tombstone_age);
        result.tombstones = self.meta.sweep_tombstones(tombstones_before, !dry).await? as i64;
        log.line(format!("{verb} {} tag tombstones older than {}", result.tombstones, rfc(tombstones_before))).await;
        result.strays = self.strays(idle_since, dry).await?;
        log.line(format!("{verb} {} stray objects no metadata names", result.strays)).await;
        result.finished_at = now();
        Ok(result)
    }

    /// Blobs an interrupted run flipped to `deleting`: their bytes and rows go now.
    async fn finish_deleting(&self, workers: usize) -> Result<(i64, i64), ContentError> {
        let mut total = (0, 0);
        loop {
            let doomed = self.meta.deleting_blobs(PAGE).await?;
            if doomed.is_empty() {
                return Ok(total);
            }
            let freed = self.delete_condemned(doomed, workers).await?;
            total = (total.0 + freed.0, total.1 + freed.1);
        }
    }

    /// Parses the manifests whose references were never recorded, and records them.
    async fn record_references(&self) -> Result<i64, ContentError> {
        let mut n = 0;
        loop {
            let unrecorded = self.meta.unrecorded_manifests(PAGE).await?;
            if unrecorded.is_empty() {
                return Ok(n);
            }
            for m in unrecorded {
                // A manifest Berth stored parses; if one does not, it references nothing known.
                let refs = match manifest::parse(&m.content, Some(&m.media_type)) {
                    Ok(parsed) => {
                        let blobs = parsed.blobs.iter().map(|d| (d.digest.to_string(), true));
                        let children = parsed.children.iter().map(|d| (d.digest.to_string(), false));
                        blobs.chain(children).collect()
                    }
                    Err(e) => {
                        tracing::warn!(manifest = m.id, error = %e, "stored manifest does not parse");
                        Vec::new()
                    }
                };
                self.meta.record_manifest_refs(m.id, &refs).await?;
                n += 1;
            }
        }
    }

    /// Deletes (or counts) untagged manifests, through the same path as an artifact delete of
    /// the API, with its event. Deleting an index can leave its children untagged: the next
    /// page finds them (a dry run counts only the first generation).
    async fn untagged(&self, cutoff: i64, dry: bool) -> Result<i64, ContentError> {
        let actor = Actor::system("garbage-collection", None);
        let mut n = 0;
        loop {
            let (mut pass, mut after) = (0, 0);
            loop {
                let page = self.meta.untagged_manifests(cutoff, after, PAGE).await?;
                let Some(last) = page.last() else { break };
                after = last.id;
                for m in &page {
                    if dry || self.delete_untagged(m, &actor).await? {
                        pass += 1;
                    }
                }
            }
            n += pass;
            if dry || pass == 0 {
                return Ok(n);
            }
        }
    }

    /// Deletes untagged manifest `m` with the event of an artifact delete, if it is still untagged.
    async fn delete_untagged(&self, m: &UntaggedManifest, actor: &Actor) -> Result<bool, ContentError> {
        let (Ok(name), Ok(digest)) = (RepoName::parse(&m.repository), m.digest.parse::<Digest>()) else {
            return Ok(false);
        };
        let resource = format!("{name}@{digest}");
        let event = actor.event(&name, "delete", About::Artifact { resource: &resource, digest: &digest, tag: None });
        Ok(self.meta.delete_untagged_manifest(m.repository_id, &m.digest, &event).await?)
    }

    /// Deletes (or counts) blobs no manifest references, unused since `cutoff`.
    async fn unreferenced_blobs(&self, cutoff: i64, dry: bool, workers: usize) -> Result<(i64, i64), ContentError> {
        let (mut total, mut after) = ((0, 0), String::new());
        loop {
            let page = self.meta.collectable_blobs(cutoff, &after, PAGE).await?;
            let Some(last) = page.last() else { return Ok(total) };
            after = last.digest.clone();
            let freed = if dry {
                (page.len() as i64, page.iter().map(|b| b.size).sum())
            } else {
                let batches: Vec<Vec<GcBlob>> = page.chunks(BATCH).map(<[GcBlob]>::to_vec).collect();
                let condemned: Vec<Vec<GcBlob>> = futures_util::stream::iter(batches)
                    .map(|batch| async move { self.meta.condemn_blobs(&batch, cutoff).await })
                    .buffer_unordered(workers.max(1))
                    .try_collect()
                    .await?;
                self.delete_condemned(condemned.into_iter().flatten().collect(), workers).await?
            };
            total = (total.0 + freed.0, total.1 + freed.1);
        }
    }

    /// Deletes the bytes of blobs flipped to `deleting`, then their rows: batches in parallel.
    async fn delete_condemned(&self, condemned: Vec<GcBlob>, workers: usize) -> Result<(i64, i64), ContentError> {
        let batches: Vec<Vec<GcBlob>> = condemned.chunks(BATCH).map(<[GcBlob]>::to_vec).collect();
        let freed: Vec<(i64, i64)> = futures_util::stream::iter(batches)
            .map(|batch| async move {
                let digests: Vec<Digest> = batch.iter().filter_map(|b| b.digest.parse().ok()).collect();
                self.store.delete_blobs(&digests).await?;
                self.meta.forget_blobs(&batch).await?;
                Ok::<_, ContentError>((batch.len() as i64, batch.iter().map(|b| b.size).sum::<i64>()))
            })
            .buffer_unordered(workers.max(1))
            .try_collect()
            .await?;
        Ok(freed.into_iter().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1)))
    }

    /// Deletes (or counts) upload sessions unchanged since `before`: the row first (no request
    /// can continue the session then), then its bytes.
    async fn idle_uploads(&self, before: i64, dry: bool) -> Result<i64, ContentError> {
        let mut n = 0;
        let mut after = String::new();
        loop {
            let page = self.meta.idle_uploads(before, &after, PAGE).await?;
            let Some(last) = page.last() else { return Ok(n) };
            after = last.id.clone();
            for upload in &page {
                if dry {
                    n += 1;
                    continue;
                }
                let Ok(id) = berth_storage::UploadId::parse(&upload.id) else { continue };
                if self.meta.delete_idle_upload(&upload.id, before).await? {
                    self.store.delete_upload(&id).await?;
                    n += 1;
                }
            }
        }
    }

    /// Deletes (or counts) blobs and upload data in storage that no row names, written before
    /// `before`: what a crash between writing bytes and committing their row leaves. (A commit
    /// in progress has bytes and no row yet for a moment; the age keeps them safe.)
    async fn strays(&self, before: i64, dry: bool) -> Result<i64, ContentError> {
        let mut blobs = Vec::new();
        for stored in self.store.stored_blobs().await? {
            if stored.written < before && !self.meta.blob_row_exists(&stored.name.to_string()).await? {
                blobs.push(stored.name);
            }
        }
        let mut n = blobs.len() as i64;
        if !dry {
            for batch in blobs.chunks(BATCH) {
                self.store.delete_blobs(batch).await?;
            }
        }
        for stored in self.store.stored_uploads().await? {
            if stored.written < before && !self.meta.upload_exists(stored.name.as_str()).await? {
                if !dry {
                    self.store.delete_upload(&stored.name).await?;
                }
                n += 1;
            }
        }
        Ok(n)
    }
}

/// `d` in whole seconds, rounded up: a window of 1.5 s keeps what was used 2 s ago.
fn whole_seconds(d: Duration) -> i64 {
    d.as_secs_f64().ceil() as i64
}

fn rfc(secs: i64) -> String {
    berth_meta::time::rfc3339(secs)
}
