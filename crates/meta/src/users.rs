use crate::db::{LockScope, Tx, query, query_as, query_scalar};
use crate::events::insert_event;
use crate::{Event, Meta, MetaError, Result, Sort, now};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: Option<String>,
    pub realname: String,
    pub comment: String,
    pub password_hash: String,
    pub sysadmin: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub realname: &'a str,
    pub comment: &'a str,
    pub password_hash: &'a str,
    pub sysadmin: bool,
}

/// `SELECT <every user column> FROM users <rest>`, as a literal (sqlx wants `&'static str`).
macro_rules! select_users {
    ($rest:literal) => {
        concat!(
            "SELECT id, username, email, realname, comment, password_hash, sysadmin, created_at, updated_at FROM users ",
            $rest
        )
    };
}

impl Meta {
    /// Creates a user, recording `event` with it; `Conflict` if the name or email is taken.
    pub async fn create_user(&self, u: &NewUser<'_>, event: &Event) -> Result<i64> {
        let mut tx = self.write_tx(LockScope::None).await?;
        let id = insert_user(&mut tx, u).await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// First start: creates `admin` and the public project `project` it owns, unless a user of
    /// that name exists (`false`). One transaction under a lock, so instances starting together
    /// on an empty shared database do it once. Not an event: no caller made the change.
    pub async fn first_start(&self, admin: &NewUser<'_>, project: &str) -> Result<bool> {
        let mut tx = self.write_tx(LockScope::Named("first_start")).await?;
        let exists: Option<i64> = query_scalar("SELECT id FROM users WHERE username = $1")
            .bind(admin.username)
            .fetch_optional(&mut tx)
            .await?;
        if exists.is_some() {
            return Ok(false);
        }
        let id = insert_user(&mut tx, admin).await?;
        crate::projects::insert_project(&mut tx, project, true, id, -1, None).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>> {
        const Q: &str = select_users!("WHERE username = $1");
        Ok(query_as(Q).bind(username).fetch_optional(&self.pool).await?)
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        const Q: &str = select_users!("WHERE id = $1");
        Ok(query_as(Q).bind(id).fetch_optional(&self.pool).await?)
    }

    /// Users whose name contains `username_filter` (all if empty), by id, one page; and the total.
    pub async fn list_users(
        &self,
        username_filter: &str,
        sort: &Sort,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<User>, i64)> {
        const Q: &str = select_users!("WHERE instr(username, $1) > 0");
        let q = format!("{Q} ORDER BY {} LIMIT $2 OFFSET $3", sort.sql());
        let users = query_as(q).bind(username_filter).bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let total = query_scalar("SELECT count(*) FROM users WHERE instr(username, $1) > 0")
            .bind(username_filter)
            .fetch_one(&self.pool)
            .await?;
        Ok((users, total))
    }

    pub async fn update_user_profile(
        &self,
        id: i64,
        email: Option<&str>,
        realname: &str,
        comment: &str,
        event: &Event,
    ) -> Result<()> {
        self.change(
            query("UPDATE users SET email = $1, realname = $2, comment = $3, updated_at = $4 WHERE id = $5")
                .bind(email)
                .bind(realname)
                .bind(comment)
                .bind(now())
                .bind(id),
            event,
            "email already exists",
        )
        .await?;
        Ok(())
    }

    /// Sets a user's password and ends their browser sessions: whoever held one (perhaps the
    /// reason for the change) must sign in again with the new password.
    pub async fn set_password_hash(&self, id: i64, hash: &str, event: &Event) -> Result<()> {
        let mut tx = self.write_tx(LockScope::None).await?;
        let done = query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(hash)
            .bind(now())
            .bind(id)
            .execute(&mut tx)
            .await?;
        if done.rows_affected() > 0 {
            query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut tx).await?;
            insert_event(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_sysadmin(&self, id: i64, sysadmin: bool, event: &Event) -> Result<()> {
        self.change(
            query("UPDATE users SET sysadmin = $1, updated_at = $2 WHERE id = $3").bind(sysadmin).bind(now()).bind(id),
            event,
            "this change conflicts with existing data",
        )
        .await?;
        Ok(())
    }

    /// Deletes a user, their memberships and their sessions (both cascade). Projects they own
    /// keep existing (ownership is informational; access comes from membership).
    pub async fn delete_user(&self, id: i64, event: &Event) -> Result<bool> {
        let mut tx = self.write_tx(LockScope::None).await?;
        let admin: Option<i64> =
            query_scalar("SELECT id FROM users WHERE sysadmin = TRUE AND id <> $1 ORDER BY id LIMIT 1")
                .bind(id)
                .fetch_optional(&mut tx)
                .await?;
        if let Some(admin) = admin {
            query("UPDATE projects SET owner_id = $1 WHERE owner_id = $2")
                .bind(admin)
                .bind(id)
                .execute(&mut tx)
                .await?;
        }
        let done = query("DELETE FROM users WHERE id = $1").bind(id).execute(&mut tx).await?;
        if done.rows_affected() > 0 {
            insert_event(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }
}

async fn insert_user(tx: &mut Tx, u: &NewUser<'_>) -> Result<i64> {
    query_scalar(
        "INSERT INTO users (username, email, realname, comment, password_hash, sysadmin, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    )
    .bind(u.username)
    .bind(u.email)
    .bind(u.realname)
    .bind(u.comment)
    .bind(u.password_hash)
    .bind(u.sysadmin)
    .bind(now())
    .fetch_one(tx)
    .await
    .map_err(|e| MetaError::conflict_or(e, "username or email already exists"))
}
