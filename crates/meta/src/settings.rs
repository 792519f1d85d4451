//! Settings changed at run time, shared by every instance (names with JSON values), and the
//! deployment's own values made once (`system_values`: its registry id, a generated sealing key).

use crate::db::{LockScope, query, query_as, query_scalar};
use crate::events::{Event, insert_event};
use crate::{Meta, Result, now};

impl Meta {
    /// Every setting changed at run time, `(name, JSON value)`.
    pub async fn settings(&self) -> Result<Vec<(String, String)>> {
        Ok(query_as("SELECT name, value FROM settings ORDER BY name").fetch_all(&self.pool).await?)
    }

    /// Stores `changes` (`(name, JSON value)`) together, with their `event`.
    pub async fn set_settings(&self, changes: &[(&str, String)], event: &Event) -> Result<()> {
        let mut tx = self.write_tx(LockScope::None).await?;
        for (name, value) in changes {
            query(
                "INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(*name)
            .bind(value.as_str())
            .bind(now())
            .execute(&mut tx)
            .await?;
        }
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The value `name` of this deployment, or `generate()`'s, stored first. Instances starting
    /// together all end up with the one stored first.
    pub async fn system_value(&self, name: &str, generate: impl FnOnce() -> String) -> Result<String> {
        const Q: &str = "SELECT value FROM system_values WHERE name = $1";
        if let Some(v) = query_scalar(Q).bind(name).fetch_optional(&self.pool).await? {
            return Ok(v);
        }
        let value = generate();
        query("INSERT INTO system_values (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(&value)
            .execute(&self.pool)
            .await?;
        Ok(query_scalar(Q).bind(name).fetch_one(&self.pool).await?)
    }
}
