use crate::db::{query, query_as, query_scalar};
use crate::{Event, Meta, Result, Sort, now};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Member {
    pub id: i64,
    pub project_id: i64,
    pub user_id: i64,
    pub username: String,
    pub role_id: i64,
}

macro_rules! select_members {
    ($rest:literal) => {
        concat!(
            "SELECT m.id, m.project_id, m.user_id, u.username, m.role_id
             FROM project_members m JOIN users u ON u.id = m.user_id ",
            $rest
        )
    };
}

impl Meta {
    pub async fn add_member(&self, project: i64, user: i64, role: i64, event: &Event) -> Result<i64> {
        let now = now();
        let id = self
            .create(
                query_scalar(
                    "INSERT INTO project_members (project_id, user_id, role_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4) RETURNING id",
                )
                .bind(project)
                .bind(user)
                .bind(role)
                .bind(now),
                event,
                "the user is already a member of the project",
            )
            .await?;
        Ok(id)
    }

    /// Members of `project` whose name contains `name_filter`, by id, one page; and the total.
    pub async fn list_members(
        &self,
        project: i64,
        name_filter: &str,
        sort: &Sort,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Member>, i64)> {
        const Q: &str = select_members!("WHERE m.project_id = $1 AND instr(u.username, $2) > 0");
        let q = format!("{Q} ORDER BY {} LIMIT $3 OFFSET $4", sort.sql());
        let members =
            query_as(q).bind(project).bind(name_filter).bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let total = query_scalar(
            "SELECT count(*) FROM project_members m JOIN users u ON u.id = m.user_id
             WHERE m.project_id = $1 AND instr(u.username, $2) > 0",
        )
        .bind(project)
        .bind(name_filter)
        .fetch_one(&self.pool)
        .await?;
        Ok((members, total))
    }

    pub async fn member(&self, project: i64, member_id: i64) -> Result<Option<Member>> {
        const Q: &str = select_members!("WHERE m.project_id = $1 AND m.id = $2");
        Ok(query_as(Q).bind(project).bind(member_id).fetch_optional(&self.pool).await?)
    }

    /// The role of `user` in `project`, if a member.
    pub async fn member_role(&self, project: i64, user: i64) -> Result<Option<i64>> {
        Ok(query_scalar("SELECT role_id FROM project_members WHERE project_id = $1 AND user_id = $2")
            .bind(project)
            .bind(user)
            .fetch_optional_inline(self)
            .await?)
    }

    pub async fn set_member_role(&self, project: i64, member_id: i64, role: i64, event: &Event) -> Result<bool> {
        let done = self
            .change(
                query("UPDATE project_members SET role_id = $1, updated_at = $2 WHERE project_id = $3 AND id = $4")
                    .bind(role)
                    .bind(now())
                    .bind(project)
                    .bind(member_id),
                event,
                "this change conflicts with existing data",
            )
            .await?;
        Ok(done > 0)
    }

    pub async fn delete_member(&self, project: i64, member_id: i64, event: &Event) -> Result<bool> {
        let done = self
            .change(
                query("DELETE FROM project_members WHERE project_id = $1 AND id = $2").bind(project).bind(member_id),
                event,
                "this change conflicts with existing data",
            )
            .await?;
        Ok(done > 0)
    }
}

impl Meta {
    /// `(role_id, member count)` for each role present in `project`.
    pub async fn member_role_counts(&self, project: i64) -> Result<Vec<(i64, i64)>> {
        Ok(query_as("SELECT role_id, count(*) FROM project_members WHERE project_id = $1 GROUP BY role_id")
            .bind(project)
            .fetch_all(&self.pool)
            .await?)
    }
}
