use crate::repositories::link_blob_in;
use crate::{Meta, Result, now};

#[derive(Debug, sqlx::FromRow)]
pub struct UploadRow {
    pub repository_id: i64,
    pub length: i64,
    pub hash_state: Vec<u8>,
}

impl Meta {
    pub async fn create_upload(&self, id: &str, repo: i64, hash_state: &[u8]) -> Result<()> {
        let now = now();
        sqlx::query(
            "INSERT INTO uploads (id, repository_id, length, hash_state, created_at, updated_at)
             VALUES ($1, $2, 0, $3, $4, $4)",
        )
        .bind(id)
        .bind(repo)
        .bind(hash_state)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn upload(&self, id: &str) -> Result<Option<UploadRow>> {
        Ok(sqlx::query_as("SELECT repository_id, length, hash_state FROM uploads WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Records progress of an upload, only if nobody else moved it since `old_length` was read.
    pub async fn advance_upload(&self, id: &str, old_length: i64, new_length: i64, hash_state: &[u8]) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE uploads SET length = $1, hash_state = $2, updated_at = $3 WHERE id = $4 AND length = $5",
        )
        .bind(new_length)
        .bind(hash_state)
        .bind(now())
        .bind(id)
        .bind(old_length)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn delete_upload(&self, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM uploads WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    /// Ends upload `id` by recording its verified blob and linking it into `repo`, atomically.
    pub async fn finish_upload(&self, id: &str, repo: i64, digest: &str, size: i64) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM uploads WHERE id = $1").bind(id).execute(&mut *tx).await?;
        link_blob_in(&mut tx, repo, digest, size).await?;
        tx.commit().await?;
        Ok(())
    }
}
