use crate::db::{query, query_as, query_scalar};
use crate::{Event, Meta, Result, Sort, now};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Robot {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub level: String,
    pub project_id: Option<i64>,
    pub secret_hash: String,
    pub disabled: bool,
    pub expires_at: i64,
    pub duration: i64,
    pub permissions: String,
    pub creator: String,
    /// The creating user's id, found by `creator`; 0 once that user is deleted.
    pub creator_ref: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug)]
pub struct NewRobot<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub level: &'a str,
    pub project_id: Option<i64>,
    pub secret_hash: &'a str,
    pub disabled: bool,
    pub expires_at: i64,
    pub duration: i64,
    pub permissions: &'a str,
    pub creator: &'a str,
}

macro_rules! select_robots {
    ($($rest:expr),+) => {
        concat!(
            "SELECT id, name, description, level, project_id, secret_hash, disabled, expires_at, duration, permissions,
                    creator, COALESCE((SELECT u.id FROM users u WHERE u.username = robots.creator), 0) AS creator_ref,
                    created_at, updated_at FROM robots ",
            $($rest),+
        )
    };
}

/// What may change of a robot after its creation.
#[derive(Debug)]
pub struct RobotUpdate<'a> {
    pub description: &'a str,
    pub disabled: bool,
    pub duration: i64,
    pub expires_at: i64,
    /// JSON, as stored at creation.
    pub permissions: &'a str,
}

impl Meta {
    pub async fn create_robot(&self, r: &NewRobot<'_>, event: &Event) -> Result<i64> {
        let now = now();
        let id = self.create(query_scalar(
            "INSERT INTO robots (name, description, level, project_id, secret_hash, disabled, expires_at, duration,
                                 permissions, creator, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
        )
        .bind(r.name)
        .bind(r.description)
        .bind(r.level)
        .bind(r.project_id)
        .bind(r.secret_hash)
        .bind(r.disabled)
        .bind(r.expires_at)
        .bind(r.duration)
        .bind(r.permissions)
        .bind(r.creator)
        .bind(now), event, "a robot account with this name already exists").await?;
        Ok(id)
    }

    pub async fn robot_by_name(&self, name: &str) -> Result<Option<Robot>> {
        const Q: &str = select_robots!("WHERE name = $1");
        Ok(query_as(Q).bind(name).fetch_optional(&self.pool).await?)
    }

    pub async fn robot_by_id(&self, id: i64) -> Result<Option<Robot>> {
        const Q: &str = select_robots!("WHERE id = $1");
        Ok(query_as(Q).bind(id).fetch_optional(&self.pool).await?)
    }

    /// One page of robots, all ($1 = 0) or those of project $1, name containing $2; and the total.
    pub async fn list_robots(
        &self,
        project: Option<i64>,
        name_filter: &str,
        sort: &Sort,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Robot>, i64)> {
        const Q: &str = select_robots!("WHERE ($1 = 0 OR project_id = $1) AND instr(name, $2) > 0");
        let q = format!("{Q} ORDER BY {} LIMIT $3 OFFSET $4", sort.sql());
        let project = project.unwrap_or(0);
        let rows = query_as(q).bind(project).bind(name_filter).bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let total =
            query_scalar("SELECT count(*) FROM robots WHERE ($1 = 0 OR project_id = $1) AND instr(name, $2) > 0")
                .bind(project)
                .bind(name_filter)
                .fetch_one(&self.pool)
                .await?;
        Ok((rows, total))
    }

    /// Updates what may change after creation.
    pub async fn update_robot(&self, id: i64, u: &RobotUpdate<'_>, event: &Event) -> Result<()> {
        self.change(
            query(
                "UPDATE robots SET description = $1, disabled = $2, duration = $3, expires_at = $4, permissions = $5,
                               updated_at = $6 WHERE id = $7",
            )
            .bind(u.description)
            .bind(u.disabled)
            .bind(u.duration)
            .bind(u.expires_at)
            .bind(u.permissions)
            .bind(now())
            .bind(id),
            event,
            "this change conflicts with existing data",
        )
        .await?;
        Ok(())
    }

    pub async fn set_robot_secret(&self, id: i64, secret_hash: &str, event: &Event) -> Result<()> {
        self.change(
            query("UPDATE robots SET secret_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(secret_hash)
                .bind(now())
                .bind(id),
            event,
            "this change conflicts with existing data",
        )
        .await?;
        Ok(())
    }

    pub async fn delete_robot(&self, id: i64, event: &Event) -> Result<bool> {
        let done = self
            .change(
                query("DELETE FROM robots WHERE id = $1").bind(id),
                event,
                "this change conflicts with existing data",
            )
            .await?;
        Ok(done > 0)
    }
}
