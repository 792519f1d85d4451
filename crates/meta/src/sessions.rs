use crate::db::{query, query_as};
use crate::{Meta, Result, now};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub user_id: i64,
    pub csrf_token: String,
    pub expires_at: i64,
}

impl Meta {
    pub async fn create_session(&self, id: &str, user: i64, csrf_token: &str, expires_at: i64) -> Result<()> {
        let now = now();
        // Expired sessions go whenever a new one comes, so the table stays small.
        query("DELETE FROM sessions WHERE expires_at < $1").bind(now).execute(&self.pool).await?;
        query("INSERT INTO sessions (id, user_id, csrf_token, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(user)
            .bind(csrf_token)
            .bind(expires_at)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The unexpired session `id`.
    pub async fn session(&self, id: &str) -> Result<Option<SessionRow>> {
        Ok(query_as("SELECT user_id, csrf_token, expires_at FROM sessions WHERE id = $1 AND expires_at >= $2")
            .bind(id)
            .bind(now())
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn delete_session(&self, id: &str) -> Result<()> {
        query("DELETE FROM sessions WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }
}
