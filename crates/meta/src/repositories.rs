use crate::db::{LockScope, Tx, query, query_scalar};
use crate::events::insert_event;
use crate::projects::Addition;
use crate::{Event, Meta, MetaError, Result, now};

impl Meta {
    pub async fn repository_id(&self, name: &str) -> Result<Option<i64>> {
        Ok(query_scalar("SELECT id FROM repositories WHERE name = $1").bind(name).fetch_optional(&self.pool).await?)
    }

    /// The repository's id, creating the repository on first use.
    pub async fn ensure_repository(&self, name: &str) -> Result<i64> {
        if let Some(id) = self.repository_id(name).await? {
            return Ok(id);
        }
        query(
            "INSERT INTO repositories (name, created_at, updated_at) VALUES ($1, $2, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(query_scalar("SELECT id FROM repositories WHERE name = $1").bind(name).fetch_one(&self.pool).await?)
    }

    /// Repositories holding at least one manifest, in lexical order, after `last`.
    pub async fn list_repositories(&self, last: Option<&str>, limit: i64) -> Result<Vec<String>> {
        Ok(query_scalar(concat!(
            "SELECT name FROM repositories r WHERE name > $1 AND ",
            repository_has_content!(),
            " ORDER BY name LIMIT $2"
        ))
        .bind(last.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Size of blob `digest` if it is linked into the repository named `repository`: one query,
    /// as blob reads need it.
    pub async fn repository_blob(&self, repository: &str, digest: &str) -> Result<Option<i64>> {
        Ok(query_scalar(
            "SELECT b.size FROM repositories r
             JOIN repository_blobs rb ON rb.repository_id = r.id
             JOIN blobs b ON b.digest = rb.digest
             WHERE r.name = $1 AND rb.digest = $2 AND b.gc_state = 'live'",
        )
        .bind(repository)
        .bind(digest)
        .fetch_optional_inline(self)
        .await?)
    }

    /// The size of blob `digest` if this registry holds it (in any repository). A blob garbage
    /// collection is deleting is not held any more.
    pub async fn blob_size(&self, digest: &str) -> Result<Option<i64>> {
        Ok(query_scalar("SELECT size FROM blobs WHERE digest = $1 AND gc_state = 'live'")
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Names of up to `limit` repositories holding blob `digest`.
    pub async fn repositories_with_blob(&self, digest: &str, limit: i64) -> Result<Vec<String>> {
        Ok(query_scalar(
            "SELECT r.name FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
             WHERE rb.digest = $1 ORDER BY r.name LIMIT $2",
        )
        .bind(digest)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records a verified blob and links it into `repo` (both idempotent).
    pub async fn link_blob(&self, repo: i64, digest: &str, size: i64) -> Result<()> {
        let mut tx = self.write_tx(LockScope::Repository(repo)).await?;
        link_blob_in(&mut tx, repo, digest, size).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes blob `digest` from `repo`; its bytes stay until garbage collection.
    pub async fn unlink_blob(&self, repo: i64, digest: &str, event: &Event) -> Result<bool> {
        // Under the repository's write lock: a manifest being stored that references this blob
        // checks its presence in the same critical section.
        let mut tx = self.write_tx(LockScope::Repository(repo)).await?;
        let done = query("DELETE FROM repository_blobs WHERE repository_id = $1 AND digest = $2")
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
}

pub(crate) async fn link_blob_in(tx: &mut Tx, repo: i64, digest: &str, size: i64) -> Result<()> {
    let now = now();
    crate::projects::check_quota(tx, repo, Addition::Blob, digest, size).await?;
    // A blob row garbage collection is deleting must not be taken over: its bytes may already be
    // gone (docs/architecture.md, "Garbage collection"). Otherwise the blob counts as used now.
    let live: Option<i64> = query_scalar(
        "INSERT INTO blobs (digest, size, created_at, last_used) VALUES ($1, $2, $3, $3)
         ON CONFLICT (digest) DO UPDATE SET last_used = excluded.last_used, uses = blobs.uses + 1
         WHERE blobs.gc_state = 'live'
         RETURNING size",
    )
    .bind(digest)
    .bind(size)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    if live.is_none() {
        return Err(MetaError::BlobCollected(digest.to_owned()));
    }
    query(
        "INSERT INTO repository_blobs (repository_id, digest, created_at, last_used, pending) VALUES ($1, $2, $3, $3, TRUE)
         ON CONFLICT (repository_id, digest) DO UPDATE SET last_used = excluded.last_used, pending = TRUE",
    )
    .bind(repo)
    .bind(digest)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
