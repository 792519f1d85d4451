//! Failed logins per (account name, client address): the login throttle's shared state, so every
//! instance throttles a guesser alike (see `berth_auth::throttle`).

use crate::db::{query, query_as, query_scalar};
use crate::{Meta, Result, now};

#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct LoginFailures {
    /// Consecutive failures since the last success.
    pub failures: i64,
    /// Unix milliseconds until which attempts are refused unchecked.
    pub blocked_until: i64,
}

impl Meta {
    /// The failures of `username` from `source` recorded since `since` (older ones are forgotten).
    pub async fn login_failures(&self, username: &str, source: &str, since: i64) -> Result<Option<LoginFailures>> {
        Ok(query_as(
            "SELECT failures, blocked_until FROM login_failures
             WHERE username = $1 AND source = $2 AND updated_at >= $3",
        )
        .bind(username)
        .bind(source)
        .bind(since)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Counts one more failure of `username` from `source` (starting again from one when the last
    /// was before `since`) and returns the count.
    pub async fn record_login_failure(&self, username: &str, source: &str, since: i64) -> Result<i64> {
        // Rows forgotten go whenever a failure comes, so guessing many names leaves no trace for long.
        query("DELETE FROM login_failures WHERE updated_at < $1").bind(since).execute(&self.pool).await?;
        Ok(query_scalar(
            "INSERT INTO login_failures (username, source, failures, blocked_until, updated_at)
             VALUES ($1, $2, 1, 0, $3)
             ON CONFLICT (username, source) DO UPDATE SET
               failures = CASE WHEN login_failures.updated_at < $4 THEN 1 ELSE login_failures.failures + 1 END,
               updated_at = $3
             RETURNING failures",
        )
        .bind(username)
        .bind(source)
        .bind(now())
        .bind(since)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Refuses `username` from `source` unchecked until `until` (unix milliseconds).
    pub async fn block_login(&self, username: &str, source: &str, until: i64) -> Result<()> {
        query("UPDATE login_failures SET blocked_until = $1 WHERE username = $2 AND source = $3")
            .bind(until)
            .bind(username)
            .bind(source)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets the failures of `username` from `source` (after a success there).
    pub async fn clear_login_failures(&self, username: &str, source: &str) -> Result<()> {
        query("DELETE FROM login_failures WHERE username = $1 AND source = $2")
            .bind(username)
            .bind(source)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
