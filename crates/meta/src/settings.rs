//! Settings changed at run time, shared by every instance: names with JSON values.

use crate::db::{LockScope, query, query_as};
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
}
