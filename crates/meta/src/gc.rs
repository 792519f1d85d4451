//! Garbage collection's side of the metadata: which blobs, links, manifests, upload sessions and
//! tag tombstones may go, and the statements where a collection's decision and a push's use of
//! a blob meet (see docs/architecture.md, "Garbage collection").
//!
//! A blob is collected in three steps: [`Meta::condemn_blob`] flips its row to `deleting` only if
//! nothing references it and nothing used it since `cutoff` (one statement, so a push touching the
//! row either commits first and the row stays, or finds it `deleting` and treats it as absent);
//! then the caller deletes the bytes; then [`Meta::forget_blob`] removes the row and its links.

use crate::db::{LockScope, query, query_as, query_scalar};
use crate::{Meta, Result, now};

/// A blob a collection may delete, or is deleting.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GcBlob {
    pub digest: String,
    pub size: i64,
    /// How many uses the mark saw (`blobs.uses`): the flip requires no use since.
    pub uses: i64,
}

/// A manifest no tag names (and no index of its repository lists).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UntaggedManifest {
    pub id: i64,
    pub repository_id: i64,
    pub repository: String,
    pub digest: String,
    pub total_size: i64,
}

/// An upload session idle for longer than the collection allows.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IdleUpload {
    pub id: String,
}

/// A manifest whose references were not recorded when it was stored (before migration 11).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UnrecordedManifest {
    pub id: i64,
    pub media_type: String,
    pub content: Vec<u8>,
}

/// What one collection freed, or with `dry_run` would free.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct GcResult {
    pub job_id: i64,
    pub dry_run: bool,
    pub blobs: i64,
    pub bytes: i64,
    pub manifests: i64,
    pub uploads: i64,
    pub tombstones: i64,
    pub strays: i64,
    pub finished_at: i64,
}

/// SQL: blob `b` is referenced by no manifest of any repository.
const UNREFERENCED: &str = "NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.digest = b.digest AND r.blob = TRUE)";

/// SQL: link `rb` is referenced by no manifest of its repository.
const LINK_UNREFERENCED: &str = "NOT EXISTS (SELECT 1 FROM manifest_refs r JOIN manifests m ON m.id = r.manifest_id
                WHERE m.repository_id = rb.repository_id AND r.digest = rb.digest AND r.blob = TRUE)";

impl Meta {
    /// Takes the cluster-wide collection lock for `holder` until `until`, or renews it; `false`
    /// if another holder's lease still runs. A job (holder `job-<id>`) that is no longer running
    /// (stopped, it was abandoned mid-way) holds it no more.
    pub async fn take_gc_lock(&self, holder: &str, until: i64) -> Result<bool> {
        let done = query(
            "UPDATE gc_lock SET holder = $1, lease_until = $2
             WHERE id = 1 AND (holder IS NULL OR holder = $1 OR lease_until < $3
                OR (holder LIKE 'job-%' AND NOT EXISTS (
                    SELECT 1 FROM jobs j WHERE j.status = 'Running' AND 'job-' || CAST(j.id AS TEXT) = gc_lock.holder)))",
        )
        .bind(holder)
        .bind(until)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn release_gc_lock(&self, holder: &str) -> Result<()> {
        query("UPDATE gc_lock SET holder = NULL, lease_until = 0 WHERE id = 1 AND holder = $1")
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Up to `limit` manifests stored without their references recorded.
    pub async fn unrecorded_manifests(&self, limit: i64) -> Result<Vec<UnrecordedManifest>> {
        Ok(query_as("SELECT id, media_type, content FROM manifests WHERE refs_recorded = FALSE ORDER BY id LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Records what manifest `id` references (`(digest, is_blob)`), once.
    pub async fn record_manifest_refs(&self, id: i64, refs: &[(String, bool)]) -> Result<()> {
        let mut tx = self.write_tx(LockScope::None).await?;
        for (digest, blob) in refs {
            insert_ref(&mut tx, id, digest, *blob).await?;
        }
        query("UPDATE manifests SET refs_recorded = TRUE WHERE id = $1").bind(id).execute(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Manifests no tag names, that no index of their repository lists, and that are not an
    /// accessory (a referrer) of a manifest still in their repository, stored before `cutoff`.
    /// After manifest id `after`, in id order.
    pub async fn untagged_manifests(&self, cutoff: i64, after: i64, limit: i64) -> Result<Vec<UntaggedManifest>> {
        Ok(query_as(
            "SELECT m.id, m.repository_id, r.name AS repository, m.digest, m.total_size
             FROM manifests m JOIN repositories r ON r.id = m.repository_id
             WHERE m.created_at < $1 AND m.id > $3
               AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = m.repository_id AND t.digest = m.digest)
               AND NOT EXISTS (SELECT 1 FROM manifest_refs c JOIN manifests i ON i.id = c.manifest_id
                               WHERE i.repository_id = m.repository_id AND c.digest = m.digest AND c.blob = FALSE)
               AND NOT (m.subject IS NOT NULL AND EXISTS (
                   SELECT 1 FROM manifests s WHERE s.repository_id = m.repository_id AND s.digest = m.subject))
             ORDER BY m.id LIMIT $2",
        )
        .bind(cutoff)
        .bind(limit)
        .bind(after)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Blobs a collection began deleting and did not finish (it was stopped or killed).
    pub async fn deleting_blobs(&self, limit: i64) -> Result<Vec<GcBlob>> {
        Ok(query_as("SELECT digest, size, uses FROM blobs WHERE gc_state = 'deleting' ORDER BY digest LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Unreferenced blobs nothing used since `cutoff`, after `after` in digest order: the mark.
    pub async fn collectable_blobs(&self, cutoff: i64, after: &str, limit: i64) -> Result<Vec<GcBlob>> {
        Ok(query_as(format!(
            "SELECT b.digest, b.size, b.uses FROM blobs b
             WHERE b.gc_state = 'live' AND b.last_used < $1 AND b.digest > $2 AND {UNREFERENCED}
             ORDER BY b.digest LIMIT $3"
        ))
        .bind(cutoff)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Flips blobs `marked` to `deleting` where nothing used them since the mark read them (their
    /// use count is unchanged), they are still unused since `cutoff`, and unreferenced, in one
    /// transaction; returns those flipped. After the commit their bytes may go.
    ///
    /// The use count is what makes this safe on PostgreSQL: a push's use of the blob is an
    /// `UPDATE` in its own transaction, which may commit after this statement began. The flip then
    /// waits for the row and re-checks its conditions on the committed row — but its `NOT EXISTS`
    /// still reads the references as of its start, and the push's `last_used` may be older than
    /// `cutoff` when the push began before the collection. The count changed either way.
    pub async fn condemn_blobs(&self, marked: &[GcBlob], cutoff: i64) -> Result<Vec<GcBlob>> {
        let mut tx = self.write_tx(LockScope::None).await?;
        let mut condemned = Vec::with_capacity(marked.len());
        for blob in marked {
            let flipped: Option<GcBlob> = query_as(format!(
                "UPDATE blobs AS b SET gc_state = 'deleting'
                 WHERE b.digest = $1 AND b.gc_state = 'live' AND b.last_used < $2 AND b.uses = $3 AND {UNREFERENCED}
                 RETURNING digest, size, uses"
            ))
            .bind(&blob.digest)
            .bind(cutoff)
            .bind(blob.uses)
            .fetch_optional(&mut tx)
            .await?;
            condemned.extend(flipped);
        }
        tx.commit().await?;
        Ok(condemned)
    }

    /// Removes the rows (and links) of blobs whose bytes are gone, in one transaction.
    pub async fn forget_blobs(&self, blobs: &[GcBlob]) -> Result<()> {
        let mut tx = self.write_tx(LockScope::None).await?;
        for blob in blobs {
            query("DELETE FROM repository_blobs WHERE digest = $1").bind(&blob.digest).execute(&mut tx).await?;
            query("DELETE FROM blobs WHERE digest = $1 AND gc_state = 'deleting'")
                .bind(&blob.digest)
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Links no manifest of their repository references, unused since `cutoff`: counted, or with
    /// `delete` removed. They no longer count towards their project's quota either way (see
    /// `counted_link!`); removing one makes the blob invisible in the repository. Each
    /// repository's are removed under its lock, the one a manifest push takes to check its links:
    /// the removal sees every reference a push committed before it.
    pub async fn sweep_links(&self, cutoff: i64, delete: bool) -> Result<u64> {
        let repositories: Vec<(i64, i64)> = query_as(format!(
            "SELECT rb.repository_id, count(*) FROM repository_blobs rb
             WHERE rb.last_used < $1 AND {LINK_UNREFERENCED} GROUP BY rb.repository_id"
        ))
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await?;
        if !delete {
            return Ok(repositories.iter().map(|(_, n)| *n as u64).sum());
        }
        let mut removed = 0;
        for (repo, _) in repositories {
            let mut tx = self.write_tx(LockScope::Repository(repo)).await?;
            let done = query(format!(
                "DELETE FROM repository_blobs AS rb
                 WHERE rb.repository_id = $2 AND rb.last_used < $1 AND {LINK_UNREFERENCED}"
            ))
            .bind(cutoff)
            .bind(repo)
            .execute(&mut tx)
            .await?;
            tx.commit().await?;
            removed += done.rows_affected();
        }
        Ok(removed)
    }

    /// Upload sessions unchanged since `before` whose lease is free, after id `after`.
    pub async fn idle_uploads(&self, before: i64, after: &str, limit: i64) -> Result<Vec<IdleUpload>> {
        Ok(query_as(
            "SELECT id FROM uploads
             WHERE updated_at < $1 AND (lease_owner IS NULL OR lease_until < $2) AND id > $4 ORDER BY id LIMIT $3",
        )
        .bind(before)
        .bind(now())
        .bind(limit)
        .bind(after)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes session `id` if it is still idle since `before` and free; `true` if it went (its
    /// bytes may go then: no request can continue it).
    pub async fn delete_idle_upload(&self, id: &str, before: i64) -> Result<bool> {
        let done = query(
            "DELETE FROM uploads WHERE id = $1 AND updated_at < $2 AND (lease_owner IS NULL OR lease_until < $3)",
        )
        .bind(id)
        .bind(before)
        .bind(now())
        .execute(&self.bookkeeping)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether upload session `id` exists (stray upload data has none).
    pub async fn upload_exists(&self, id: &str) -> Result<bool> {
        Ok(query_scalar("SELECT EXISTS (SELECT 1 FROM uploads WHERE id = $1)").bind(id).fetch_one(&self.pool).await?)
    }

    /// Whether the database names blob `digest`, in any state (stray bytes have no row).
    pub async fn blob_row_exists(&self, digest: &str) -> Result<bool> {
        Ok(query_scalar("SELECT EXISTS (SELECT 1 FROM blobs WHERE digest = $1)")
            .bind(digest)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Tag tombstones older than `before`: counted, or with `delete` removed.
    pub async fn sweep_tombstones(&self, before: i64, delete: bool) -> Result<u64> {
        if !delete {
            let n: i64 = query_scalar("SELECT count(*) FROM tag_tombstones WHERE deleted_at < $1")
                .bind(before)
                .fetch_one(&self.pool)
                .await?;
            return Ok(n as u64);
        }
        let done = query("DELETE FROM tag_tombstones WHERE deleted_at < $1").bind(before).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    pub async fn record_gc_result(&self, result: &GcResult) -> Result<()> {
        query(
            "INSERT INTO gc_results (job_id, dry_run, blobs, bytes, manifests, uploads, tombstones, strays, finished_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (job_id) DO UPDATE SET dry_run = excluded.dry_run, blobs = excluded.blobs,
               bytes = excluded.bytes, manifests = excluded.manifests, uploads = excluded.uploads,
               tombstones = excluded.tombstones, strays = excluded.strays, finished_at = excluded.finished_at",
        )
        .bind(result.job_id)
        .bind(result.dry_run)
        .bind(result.blobs)
        .bind(result.bytes)
        .bind(result.manifests)
        .bind(result.uploads)
        .bind(result.tombstones)
        .bind(result.strays)
        .bind(result.finished_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// What run `job_id` freed; `None` while it runs (or if it failed).
    pub async fn gc_result(&self, job_id: i64) -> Result<Option<GcResult>> {
        Ok(query_as(
            "SELECT job_id, dry_run, blobs, bytes, manifests, uploads, tombstones, strays, finished_at
             FROM gc_results WHERE job_id = $1",
        )
        .bind(job_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Whether a collection is deleting blob `digest` now.
    pub async fn blob_deleting(&self, digest: &str) -> Result<bool> {
        Ok(query_scalar("SELECT EXISTS (SELECT 1 FROM blobs WHERE digest = $1 AND gc_state = 'deleting')")
            .bind(digest)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Marks blob `digest` (and its link into the repository named `repository`) used now: a
    /// client checked it exists before skipping its upload. Written at most once a second per
    /// blob; a `deleting` blob stays so (the caller then finds it absent).
    pub async fn touch_blob(&self, repository: &str, digest: &str) -> Result<()> {
        let now = now();
        query("UPDATE blobs SET last_used = $1, uses = uses + 1 WHERE digest = $2 AND gc_state = 'live' AND last_used < $1")
            .bind(now)
            .bind(digest)
            .execute(&self.bookkeeping)
            .await?;
        query(
            "UPDATE repository_blobs SET last_used = $1
             WHERE digest = $2 AND last_used < $1 AND repository_id = (SELECT id FROM repositories WHERE name = $3)",
        )
        .bind(now)
        .bind(digest)
        .bind(repository)
        .execute(&self.bookkeeping)
        .await?;
        Ok(())
    }
}

/// Records that manifest `id` references `digest` (a blob, or a manifest it lists).
pub(crate) async fn insert_ref(tx: &mut crate::db::Tx, id: i64, digest: &str, blob: bool) -> Result<()> {
    query("INSERT INTO manifest_refs (manifest_id, digest, blob) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(id)
        .bind(digest)
        .bind(blob)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
