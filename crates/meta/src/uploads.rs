use crate::db::{LockScope, query, query_as};
use crate::repositories::link_blob_in;
use crate::{Meta, Result, now};

#[derive(Debug, sqlx::FromRow)]
pub struct UploadRow {
    pub repository_id: i64,
    pub length: i64,
    pub hash_state: Vec<u8>,
    /// The blob store's own state of the session (opaque here).
    pub store_state: Vec<u8>,
}

/// The lease on an upload session: which request may write to it, and until when unless renewed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UploadLeaseRow {
    pub owner: Option<String>,
    pub until: i64,
}

/// Progress of an upload session, recorded by the request holding its lease.
#[derive(Debug)]
pub struct UploadAdvance<'a> {
    /// The length the request read when it started: nobody may have moved it since.
    pub from: i64,
    pub to: i64,
    pub hash_state: &'a [u8],
    pub store_state: &'a [u8],
    /// The lease holder recording it.
    pub owner: &'a str,
    /// Whether the lease ends with this recording.
    pub release: bool,
}

impl Meta {
    pub async fn create_upload(&self, id: &str, repo: i64, hash_state: &[u8], store_state: &[u8]) -> Result<()> {
        let now = now();
        query(
            "INSERT INTO uploads (id, repository_id, length, hash_state, store_state, created_at, updated_at)
             VALUES ($1, $2, 0, $3, $4, $5, $5)",
        )
        .bind(id)
        .bind(repo)
        .bind(hash_state)
        .bind(store_state)
        .bind(now)
        .execute(&self.bookkeeping)
        .await?;
        Ok(())
    }

    pub async fn upload(&self, id: &str) -> Result<Option<UploadRow>> {
        Ok(query_as("SELECT repository_id, length, hash_state, store_state FROM uploads WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Records progress of an upload made by the holder of its lease, `owner`, only if nobody
    /// else moved it since `from` was read and the lease is still `owner`'s (a request whose lease
    /// was taken over never records its bytes). With `release`, the lease ends in the same
    /// statement: the request is done the moment its bytes count, with no further commit and no
    /// window in which the session stays blocked if the instance dies right after answering.
    pub async fn advance_upload(&self, id: &str, advance: &UploadAdvance<'_>) -> Result<bool> {
        let UploadAdvance { from, to, hash_state, store_state, owner, release } = *advance;
        let done = query(
            "UPDATE uploads SET length = $1, hash_state = $2, store_state = $3, updated_at = $4,
                                lease_owner = CASE WHEN $8 THEN NULL ELSE lease_owner END,
                                lease_until = CASE WHEN $8 THEN 0 ELSE lease_until END
             WHERE id = $5 AND length = $6 AND lease_owner = $7",
        )
        .bind(to)
        .bind(hash_state)
        .bind(store_state)
        .bind(now())
        .bind(id)
        .bind(from)
        .bind(owner)
        .bind(release)
        .execute(&self.bookkeeping)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn delete_upload(&self, id: &str) -> Result<bool> {
        let done = query("DELETE FROM uploads WHERE id = $1").bind(id).execute(&self.bookkeeping).await?;
        Ok(done.rows_affected() > 0)
    }

    /// Gives request `owner` the right to write to session `id` until `until`, if no other
    /// request holds it (or its lease ran out). `false`: held by another, or no such session.
    pub async fn lease_upload(&self, id: &str, owner: &str, until: i64) -> Result<bool> {
        let done = query(
            "UPDATE uploads SET lease_owner = $1, lease_until = $2
             WHERE id = $3 AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < $4)",
        )
        .bind(owner)
        .bind(until)
        .bind(id)
        .bind(now())
        .execute(&self.bookkeeping)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives up `owner`'s lease on session `id` (no-op if it is not theirs any more).
    pub async fn release_upload(&self, id: &str, owner: &str) -> Result<()> {
        query("UPDATE uploads SET lease_owner = NULL, lease_until = 0 WHERE id = $1 AND lease_owner = $2")
            .bind(id)
            .bind(owner)
            .execute(&self.bookkeeping)
            .await?;
        Ok(())
    }

    /// Ends upload `id` by recording its verified blob and linking it into `repo`, atomically.
    pub async fn finish_upload(&self, id: &str, repo: i64, digest: &str, size: i64) -> Result<()> {
        let mut tx = self.write_tx(LockScope::Repository(repo)).await?;
        query("DELETE FROM uploads WHERE id = $1").bind(id).execute(&mut tx).await?;
        link_blob_in(&mut tx, repo, digest, size).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Who holds the lease on session `id` now; `None` if there is no such session.
    pub async fn upload_lease(&self, id: &str) -> Result<Option<UploadLeaseRow>> {
        Ok(query_as("SELECT lease_owner AS owner, lease_until AS until FROM uploads WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Hands session `id` to `owner` if its lease is still exactly `from`: the lease of a request
    /// found dead (it stopped renewing) goes to the next one, and never one taken meanwhile.
    pub async fn take_over_upload(&self, id: &str, owner: &str, until: i64, from: &UploadLeaseRow) -> Result<bool> {
        let done = query(
            "UPDATE uploads SET lease_owner = $1, lease_until = $2
             WHERE id = $3 AND lease_owner = $4 AND lease_until = $5",
        )
        .bind(owner)
        .bind(until)
        .bind(id)
        .bind(&from.owner)
        .bind(from.until)
        .execute(&self.bookkeeping)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
