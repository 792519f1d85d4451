use crate::db::{LockScope, query, query_as};
use crate::{Meta, Result, now};

impl Meta {
    /// The token-signing key `(kid, pkcs8)`: the stored one, or `generate()`'s, stored first.
    /// When several instances start at once, all end up with whichever key was inserted first.
    pub async fn signing_key(&self, generate: impl FnOnce() -> (String, Vec<u8>)) -> Result<(String, Vec<u8>)> {
        const Q: &str = "SELECT kid, pkcs8 FROM signing_keys ORDER BY created_at, kid LIMIT 1";
        if let Some(key) = query_as(Q).fetch_optional(&self.pool).await? {
            return Ok(key);
        }
        let (kid, pkcs8) = generate();
        let mut tx = self.write_tx(LockScope::Named("signing_keys")).await?;
        let existing: Option<(String, Vec<u8>)> = query_as(Q).fetch_optional(&mut tx).await?;
        if existing.is_none() {
            query("INSERT INTO signing_keys (kid, pkcs8, created_at) VALUES ($1, $2, $3)")
                .bind(&kid)
                .bind(&pkcs8)
                .bind(now())
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(existing.unwrap_or((kid, pkcs8)))
    }
}
