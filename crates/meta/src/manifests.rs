use crate::db::{LockScope, Tx, query, query_as, query_scalar};
use crate::events::insert_event;
use crate::gc::insert_ref;
use crate::immutable::refuse_protected;
use crate::projects::Addition;
use crate::{Event, Meta, MetaError, ProjectKey, Result, now};

/// A manifest to store.
#[derive(Debug)]
pub struct NewManifest<'a> {
    pub digest: &'a str,
    pub media_type: &'a str,
    pub artifact_type: Option<&'a str>,
    pub subject: Option<&'a str>,
    /// The manifest's annotations as JSON, reported in referrers listings.
    pub annotations: Option<&'a str>,
    pub content: &'a [u8],
    /// The manifest's size plus that of every blob it references.
    pub total_size: i64,
    /// Every blob it references and every manifest it lists, recorded with it whether or not the
    /// push checks they are present (garbage collection and quotas read them).
    pub blobs: &'a [String],
    pub children: &'a [String],
}

/// Content a manifest references, which must be in the repository with exactly this size.
#[derive(Debug, Default)]
pub struct Required<'a> {
    pub blobs: Vec<(&'a str, i64)>,
    pub manifests: Vec<(&'a str, i64)>,
}

/// A manifest push: the manifest, what it references, the tag to point at it, and its event.
#[derive(Debug)]
pub struct ManifestPush<'a> {
    pub manifest: NewManifest<'a>,
    pub required: Required<'a>,
    pub tag: Option<&'a str>,
    /// For a replicated tag write: when the change was made at its source; the tag moves only if
    /// that is newer than its last change here.
    pub stamp: Option<i64>,
    pub event: &'a Event,
}

/// How a pull names a manifest.
#[derive(Debug, Clone)]
pub enum ManifestRef<'a> {
    Tag(&'a str),
    /// `algorithm:hex`.
    Digest(String),
}

#[derive(Debug, sqlx::FromRow)]
pub struct ManifestRow {
    pub repository_id: i64,
    pub digest: String,
    pub media_type: String,
    pub content: Vec<u8>,
}

#[derive(Debug, sqlx::FromRow)]
pub struct Referrer {
    pub digest: String,
    pub media_type: String,
    pub size: i64,
    pub artifact_type: Option<String>,
    pub annotations: Option<String>,
}

impl Meta {
    /// Stores a manifest (and points `tag` at it) if everything it references is present, with
    /// its `event`, all in one transaction: a concurrent delete cannot slip between the check and
    /// the insert, and the event exists exactly when the push does.
    pub async fn put_manifest(&self, repo: i64, push: &ManifestPush<'_>) -> Result<bool> {
        let ManifestPush { manifest, required, tag, stamp, event } = push;
        let mut tx = self.write_tx(LockScope::Repository(repo)).await?;
        let now = now();
        // In digest order: each blob row stays locked until the commit, and two pushes that
        // lock the same rows in different orders (their manifests list shared layers otherwise)
        // would deadlock on PostgreSQL.
        let mut blobs = required.blobs.clone();
        blobs.sort_unstable();
        for (digest, declared) in &blobs {
            // Written, not only read: the link and the blob count as used now. Garbage
            // collection's removal of the link and its flip of the blob to `deleting` are each one
            // statement on the same row: either it committed before, and the blob is absent here,
            // or it sees this use and leaves them alone.
            let linked = query("UPDATE repository_blobs SET last_used = $3 WHERE repository_id = $1 AND digest = $2")
                .bind(repo)
                .bind(digest)
                .bind(now)
                .execute(&mut tx)
                .await?
                .rows_affected()
                == 1;
            let actual: Option<i64> = match linked {
                false => None,
                true => {
                    query_scalar(
                        "UPDATE blobs SET last_used = $2, uses = uses + 1 WHERE digest = $1 AND gc_state = 'live'
                         RETURNING size",
                    )
                    .bind(digest)
                    .bind(now)
                    .fetch_optional(&mut tx)
                    .await?
                }
            };
            check_size(digest, *declared, actual).map_err(|e| match e {
                None => MetaError::MissingBlob(digest.to_string()),
                Some(e) => e,
            })?;
        }
        for (digest, declared) in &required.manifests {
            let actual: Option<i64> =
                query_scalar("SELECT size FROM manifests WHERE repository_id = $1 AND digest = $2")
                    .bind(repo)
                    .bind(digest)
                    .fetch_optional(&mut tx)
                    .await?;
            check_size(digest, *declared, actual).map_err(|e| match e {
                None => MetaError::MissingManifest(digest.to_string()),
                Some(e) => e,
            })?;
        }
        let size = manifest.content.len() as i64;
        crate::projects::check_quota(&mut tx, repo, Addition::Manifest, manifest.digest, size).await?;
        query(
            "INSERT INTO manifests
               (repository_id, digest, media_type, artifact_type, subject, annotations, size, total_size, content, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (repository_id, digest) DO NOTHING",
        )
        .bind(repo)
        .bind(manifest.digest)
        .bind(manifest.media_type)
        .bind(manifest.artifact_type)
        .bind(manifest.subject)
        .bind(manifest.annotations)
        .bind(manifest.content.len() as i64)
        .bind(manifest.total_size)
        .bind(manifest.content)
        .bind(now)
        .execute(&mut tx)
        .await?;
        record_refs(&mut tx, repo, manifest, now).await?;
        let mut tagged = true;
        if let Some(tag) = tag {
            tagged = write_tag(&mut tx, repo, tag, manifest.digest, stamp.unwrap_or(now), stamp.is_some()).await?;
        }
        query("UPDATE repositories SET updated_at = $1 WHERE id = $2").bind(now).bind(repo).execute(&mut tx).await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(tagged)
    }

    /// The manifest `reference` names in repository `repository` of project `project`, with the
    /// project's access key (what a pull over HTTP decides access on), in one query. `None` if
    /// there is no such project; the manifest is `None` if the project has no such one.
    pub async fn pull_manifest(
        &self,
        project: &str,
        repository: &str,
        reference: ManifestRef<'_>,
    ) -> Result<Option<(ProjectKey, Option<ManifestRow>)>> {
        const BY_TAG: &str = "SELECT p.id, p.name, p.public, m.repository_id, m.digest, m.media_type, m.content
             FROM projects p
             LEFT JOIN repositories r ON r.name = $2
             LEFT JOIN tags t ON t.repository_id = r.id AND t.name = $3
             LEFT JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
             WHERE p.name = $1";
        const BY_DIGEST: &str = "SELECT p.id, p.name, p.public, m.repository_id, m.digest, m.media_type, m.content
             FROM projects p
             LEFT JOIN repositories r ON r.name = $2
             LEFT JOIN manifests m ON m.repository_id = r.id AND m.digest = $3
             WHERE p.name = $1";
        type Found = (i64, String, bool, Option<i64>, Option<String>, Option<String>, Option<Vec<u8>>);
        let (sql, value) = match reference {
            ManifestRef::Tag(t) => (BY_TAG, t),
            ManifestRef::Digest(ref d) => (BY_DIGEST, d.as_str()),
        };
        let found: Option<Found> =
            query_as(sql).bind(project).bind(repository).bind(value).fetch_optional_inline(self).await?;
        Ok(found.map(|(id, name, public, repository_id, digest, media_type, content)| {
            let manifest = match (repository_id, digest, media_type, content) {
                (Some(repository_id), Some(digest), Some(media_type), Some(content)) => {
                    Some(ManifestRow { repository_id, digest, media_type, content })
                }
                _ => None,
            };
            (ProjectKey { id, name, public }, manifest)
        }))
    }

    /// Deletes a manifest and every tag pointing at it, recording `event` with the change.
    pub async fn delete_manifest(&self, repo: i64, digest: &str, event: &Event) -> Result<bool> {
        self.remove_manifest(repo, digest, event, false).await
    }

    /// As [`Meta::delete_manifest`], only if no tag names the manifest and no index of the
    /// repository lists it, checked in the delete's transaction (garbage collection's
    /// `delete_untagged`: a push that tagged it since the collection looked keeps it).
    pub async fn delete_untagged_manifest(&self, repo: i64, digest: &str, event: &Event) -> Result<bool> {
        self.remove_manifest(repo, digest, event, true).await
    }

    async fn remove_manifest(&self, repo: i64, digest: &str, event: &Event, untagged_only: bool) -> Result<bool> {
        // Under the repository's write lock: an index being stored that references this manifest
        // checks its presence in the same critical section.
        let mut tx = self.write_tx(LockScope::Repository(repo)).await?;
        let tags: Vec<String> = query_scalar("SELECT name FROM tags WHERE repository_id = $1 AND digest = $2")
            .bind(repo)
            .bind(digest)
            .fetch_all(&mut tx)
            .await?;
        if untagged_only {
            let listed: bool = query_scalar(
                "SELECT EXISTS (SELECT 1 FROM manifest_refs c JOIN manifests i ON i.id = c.manifest_id
                                WHERE i.repository_id = $1 AND c.digest = $2 AND c.blob = FALSE)",
            )
            .bind(repo)
            .bind(digest)
            .fetch_one(&mut tx)
            .await?;
            if listed || !tags.is_empty() {
                return Ok(false);
            }
        }
        refuse_protected(&mut tx, repo, &tags, true).await?;
        for tag in &tags {
            bury(&mut tx, repo, tag, now()).await?;
        }
        // The links of its blobs stop counting towards the quota (unless another manifest of the
        // repository references them): its project's usage drops with the delete.
        query(
            "UPDATE repository_blobs SET pending = FALSE
             WHERE repository_id = $1 AND digest IN (
                 SELECT r.digest FROM manifest_refs r JOIN manifests m ON m.id = r.manifest_id
                 WHERE m.repository_id = $1 AND m.digest = $2 AND r.blob = TRUE)",
        )
        .bind(repo)
        .bind(digest)
        .execute(&mut tx)
        .await?;
        let done = query("DELETE FROM manifests WHERE repository_id = $1 AND digest = $2")
            .bind(repo)
            .bind(digest)
            .execute(&mut tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes a tag, recording `event` with the change; the manifest stays, reachable by digest.
    /// A replicated delete made at `stamp` leaves a tag changed later in place. `false` if no
    /// tag was deleted.
    pub async fn delete_tag(&self, repo: i64, tag: &str, stamp: Option<i64>, event: &Event) -> Result<bool> {
        let mut tx = self.write_tx(LockScope::Repository(repo)).await?;
        let at = stamp.unwrap_or_else(now);
        let doomed: Vec<String> =
            query_scalar("SELECT name FROM tags WHERE repository_id = $1 AND name = $2 AND updated_at < $3")
                .bind(repo)
                .bind(tag)
                .bind(if stamp.is_some() { at } else { i64::MAX })
                .fetch_all(&mut tx)
                .await?;
        refuse_protected(&mut tx, repo, &doomed, true).await?;
        let done = query("DELETE FROM tags WHERE repository_id = $1 AND name = $2 AND updated_at < $3")
            .bind(repo)
            .bind(tag)
            .bind(if stamp.is_some() { at } else { i64::MAX })
            .execute(&mut tx)
            .await?;
        let remains: Option<i64> = query_scalar("SELECT updated_at FROM tags WHERE repository_id = $1 AND name = $2")
            .bind(repo)
            .bind(tag)
            .fetch_optional(&mut tx)
            .await?;
        if remains.is_none() {
            bury(&mut tx, repo, tag, at).await?;
        }
        if done.rows_affected() > 0 {
            insert_event(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// When tag `tag` of the repository named `repository` last changed: `Ok(Some((time, true)))`
    /// written, `(time, false)` deleted; `None` if it never existed here.
    pub async fn tag_change(&self, repository: &str, tag: &str) -> Result<Option<(i64, bool)>> {
        let written: Option<i64> = query_scalar(
            "SELECT t.updated_at FROM tags t JOIN repositories r ON r.id = t.repository_id
             WHERE r.name = $1 AND t.name = $2",
        )
        .bind(repository)
        .bind(tag)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(at) = written {
            return Ok(Some((at, true)));
        }
        let deleted: Option<i64> = query_scalar(
            "SELECT b.deleted_at FROM tag_tombstones b JOIN repositories r ON r.id = b.repository_id
             WHERE r.name = $1 AND b.name = $2",
        )
        .bind(repository)
        .bind(tag)
        .fetch_optional(&self.pool)
        .await?;
        Ok(deleted.map(|at| (at, false)))
    }

    /// Tags of `repo` in lexical order, after `last`.
    pub async fn list_tags(&self, repo: i64, last: Option<&str>, limit: i64) -> Result<Vec<String>> {
        Ok(query_scalar("SELECT name FROM tags WHERE repository_id = $1 AND name > $2 ORDER BY name LIMIT $3")
            .bind(repo)
            .bind(last.unwrap_or(""))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Manifests of `repo` whose subject is `subject`, optionally of one artifact type.
    pub async fn referrers(&self, repo: i64, subject: &str, artifact_type: Option<&str>) -> Result<Vec<Referrer>> {
        Ok(query_as(
            "SELECT digest, media_type, size, artifact_type, annotations FROM manifests
             WHERE repository_id = $1 AND subject = $2 AND ($3 IS NULL OR artifact_type = $3)
             ORDER BY created_at, digest",
        )
        .bind(repo)
        .bind(subject)
        .bind(artifact_type)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// `Err(None)`: absent; `Err(Some(_))`: present with another size.
fn check_size(digest: &str, declared: i64, actual: Option<i64>) -> Result<(), Option<MetaError>> {
    match actual {
        None => Err(None),
        Some(actual) if actual != declared => {
            Err(Some(MetaError::SizeMismatch { digest: digest.to_owned(), declared, actual }))
        }
        Some(_) => Ok(()),
    }
}

/// Points `tag` at `digest` as of `at`. A replicated write (`conditional`) is applied only if it
/// is newer than the tag's last change here (a write, or a delete's tombstone); at the same
/// second the greater digest wins, so two registries exchanging their changes settle on the same
/// one. Returns whether the tag was written.
pub(crate) async fn write_tag(
    tx: &mut Tx,
    repo: i64,
    tag: &str,
    digest: &str,
    at: i64,
    conditional: bool,
) -> Result<bool> {
    let current: Option<(i64, String)> =
        query_as("SELECT updated_at, digest FROM tags WHERE repository_id = $1 AND name = $2")
            .bind(repo)
            .bind(tag)
            .fetch_optional(&mut *tx)
            .await?;
    if conditional {
        let buried: Option<i64> =
            query_scalar("SELECT deleted_at FROM tag_tombstones WHERE repository_id = $1 AND name = $2")
                .bind(repo)
                .bind(tag)
                .fetch_optional(&mut *tx)
                .await?;
        let newer = match (&current, buried) {
            (Some((t, d)), _) => (at, digest) > (*t, d.as_str()),
            (None, Some(deleted)) => at >= deleted,
            (None, None) => true,
        };
        if !newer {
            return Ok(false);
        }
    }
    // Immutability forbids moving a tag; a first push of it, or the same artifact again, is fine.
    if current.is_some_and(|(_, d)| d != digest) {
        refuse_protected(tx, repo, &[tag.to_owned()], false).await?;
    }
    query(
        "INSERT INTO tags (repository_id, name, digest, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (repository_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at",
    )
    .bind(repo)
    .bind(tag)
    .bind(digest)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    query("DELETE FROM tag_tombstones WHERE repository_id = $1 AND name = $2")
        .bind(repo)
        .bind(tag)
        .execute(&mut *tx)
        .await?;
    Ok(true)
}

/// Records what `manifest` (just stored in `repo`) references, and marks its blobs' links of
/// the repository as referenced (no longer pending: see the quota).
async fn record_refs(tx: &mut Tx, repo: i64, manifest: &NewManifest<'_>, now: i64) -> Result<()> {
    let id: i64 = query_scalar("SELECT id FROM manifests WHERE repository_id = $1 AND digest = $2")
        .bind(repo)
        .bind(manifest.digest)
        .fetch_one(&mut *tx)
        .await?;
    for digest in manifest.blobs {
        insert_ref(tx, id, digest, true).await?;
        query("UPDATE repository_blobs SET pending = FALSE, last_used = $3 WHERE repository_id = $1 AND digest = $2")
            .bind(repo)
            .bind(digest)
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    for digest in manifest.children {
        insert_ref(tx, id, digest, false).await?;
    }
    query("UPDATE manifests SET refs_recorded = TRUE WHERE id = $1").bind(id).execute(&mut *tx).await?;
    Ok(())
}

/// Records that `tag` was deleted at `at` (keeping the latest time).
async fn bury(tx: &mut Tx, repo: i64, tag: &str, at: i64) -> Result<()> {
    query(
        "INSERT INTO tag_tombstones (repository_id, name, deleted_at) VALUES ($1, $2, $3)
         ON CONFLICT (repository_id, name) DO UPDATE SET deleted_at = excluded.deleted_at
         WHERE tag_tombstones.deleted_at < excluded.deleted_at",
    )
    .bind(repo)
    .bind(tag)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
