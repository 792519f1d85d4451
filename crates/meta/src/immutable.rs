//! Tag immutability rules (Harbor's `/projects/{p}/immutabletagrules`) and the check every tag
//! write and delete makes, inside its own transaction: a rule changes under the project's write
//! lock, which the tag's transaction holds too, so no rule or tag can change between the check and
//! the write.

use berth_rules::{ImmutableRule, Selector, path_in_project};

use crate::db::{LockScope, Statement, Tx, query, query_as, query_scalar};
use crate::events::insert_event;
use crate::{Event, Meta, MetaError, Result, Sort, now};

/// How many rules a project may have, as Harbor's portal allows.
pub const MAX_IMMUTABLE_RULES: i64 = 15;

/// A rule as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ImmutableRuleRow {
    pub id: i64,
    pub project_id: i64,
    pub priority: i64,
    pub disabled: bool,
    pub repository_decoration: String,
    pub repository_pattern: String,
    pub tag_decoration: String,
    pub tag_pattern: String,
}

/// A rule to store; its selectors already checked (`berth_rules`).
#[derive(Debug, Clone, Copy)]
pub struct NewImmutableRule<'a> {
    pub priority: i64,
    pub disabled: bool,
    pub repository_decoration: &'a str,
    pub repository_pattern: &'a str,
    pub tag_decoration: &'a str,
    pub tag_pattern: &'a str,
}

const SELECT: &str = "SELECT id, project_id, priority, disabled, repository_decoration, repository_pattern,
    tag_decoration, tag_pattern FROM immutable_rules";
const DUPLICATE: &str = "immutable rule already exists";

impl ImmutableRuleRow {
    /// The rule as written, to write it again with a change.
    pub fn as_new(&self) -> NewImmutableRule<'_> {
        NewImmutableRule {
            priority: self.priority,
            disabled: self.disabled,
            repository_decoration: &self.repository_decoration,
            repository_pattern: &self.repository_pattern,
            tag_decoration: &self.tag_decoration,
            tag_pattern: &self.tag_pattern,
        }
    }

    /// The rule to match with; a stored rule was checked when it was written.
    fn rule(&self) -> Result<ImmutableRule> {
        let corrupt = |e: berth_rules::RuleError| MetaError::Corrupt(format!("immutable rule {}: {e}", self.id));
        Ok(ImmutableRule {
            repository: Selector::repository(&self.repository_decoration, &self.repository_pattern).map_err(corrupt)?,
            tag: Selector::tag(&self.tag_decoration, &self.tag_pattern).map_err(corrupt)?,
            disabled: self.disabled,
        })
    }
}

impl Meta {
    /// Adds a rule to `project` with its `event`; `Conflict` if the project has the same selectors
    /// already, `TooMany` past [`MAX_IMMUTABLE_RULES`].
    pub async fn create_immutable_rule(&self, project: i64, rule: &NewImmutableRule<'_>, event: &Event) -> Result<i64> {
        let mut tx = self.write_tx(LockScope::ProjectId(project)).await?;
        let count: i64 = query_scalar("SELECT count(*) FROM immutable_rules WHERE project_id = $1")
            .bind(project)
            .fetch_one(&mut tx)
            .await?;
        if count >= MAX_IMMUTABLE_RULES {
            return Err(MetaError::TooMany(format!("a project has at most {MAX_IMMUTABLE_RULES} immutable tag rules")));
        }
        let now = now();
        let insert = query_as(
            "INSERT INTO immutable_rules (project_id, priority, disabled, repository_decoration, repository_pattern,
               tag_decoration, tag_pattern, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
        )
        .bind(project);
        let (id,): (i64,) = bind_rule(insert, rule)
            .bind(now)
            .fetch_one(&mut tx)
            .await
            .map_err(|e| MetaError::conflict_or(e, DUPLICATE))?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// One page of `project`'s rules in `sort` order; and the total.
    pub async fn list_immutable_rules(
        &self,
        project: i64,
        sort: &Sort,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ImmutableRuleRow>, i64)> {
        let rows = query_as(format!("{SELECT} WHERE project_id = $1 ORDER BY {} LIMIT $2 OFFSET $3", sort.sql()))
            .bind(project)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let total = query_scalar("SELECT count(*) FROM immutable_rules WHERE project_id = $1")
            .bind(project)
            .fetch_one(&self.pool)
            .await?;
        Ok((rows, total))
    }

    /// The enabled rules of `project`, to tell which of its tags they protect.
    pub async fn immutable_rules_of(&self, project: i64) -> Result<Vec<ImmutableRule>> {
        let rows: Vec<ImmutableRuleRow> = query_as(format!("{SELECT} WHERE project_id = $1 AND NOT disabled"))
            .bind(project)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(ImmutableRuleRow::rule).collect()
    }

    pub async fn immutable_rule(&self, project: i64, id: i64) -> Result<Option<ImmutableRuleRow>> {
        Ok(query_as(format!("{SELECT} WHERE project_id = $1 AND id = $2"))
            .bind(project)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Replaces rule `id` of `project` with `rule`, with its `event`; `false` if there is no such
    /// rule, `Conflict` if another rule of the project has the same selectors.
    pub async fn update_immutable_rule(
        &self,
        project: i64,
        id: i64,
        rule: &NewImmutableRule<'_>,
        event: &Event,
    ) -> Result<bool> {
        let update = query(
            "UPDATE immutable_rules SET priority = $3, disabled = $4, repository_decoration = $5,
               repository_pattern = $6, tag_decoration = $7, tag_pattern = $8, updated_at = $9
             WHERE project_id = $1 AND id = $2",
        )
        .bind(project)
        .bind(id);
        let statement = bind_rule(update, rule).bind(now());
        self.change_project(project, statement, event).await
    }

    /// Deletes rule `id` of `project` with its `event`; `false` if there is no such rule.
    pub async fn delete_immutable_rule(&self, project: i64, id: i64, event: &Event) -> Result<bool> {
        let statement = query("DELETE FROM immutable_rules WHERE project_id = $1 AND id = $2").bind(project).bind(id);
        self.change_project(project, statement, event).await
    }

    /// Runs `statement` under `project`'s write lock (the lock tag writes take) and records
    /// `event` if it changed a row.
    async fn change_project(&self, project: i64, statement: Statement<()>, event: &Event) -> Result<bool> {
        let mut tx = self.write_tx(LockScope::ProjectId(project)).await?;
        let done = statement.execute(&mut tx).await.map_err(|e| MetaError::conflict_or(e, DUPLICATE))?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// `statement` with the rule's columns bound next, in the order of the table.
fn bind_rule<O>(statement: Statement<O>, rule: &NewImmutableRule<'_>) -> Statement<O> {
    statement
        .bind(rule.priority)
        .bind(rule.disabled)
        .bind(rule.repository_decoration)
        .bind(rule.repository_pattern)
        .bind(rule.tag_decoration)
        .bind(rule.tag_pattern)
}

/// `Err(TagImmutable)` for the first of `tags` of repository `repo` an enabled rule of its project
/// protects, read in the caller's transaction (which holds the project's write lock).
pub(crate) async fn refuse_protected(tx: &mut Tx, repo: i64, tags: &[String], deleting: bool) -> Result<()> {
    if tags.is_empty() {
        return Ok(());
    }
    let name: String =
        query_scalar("SELECT name FROM repositories WHERE id = $1").bind(repo).fetch_one(&mut *tx).await?;
    let project = name.split_once('/').map_or(name.as_str(), |(p, _)| p);
    let rows: Vec<ImmutableRuleRow> = query_as(
        "SELECT i.id, i.project_id, i.priority, i.disabled, i.repository_decoration, i.repository_pattern,
           i.tag_decoration, i.tag_pattern
         FROM immutable_rules i JOIN projects p ON p.id = i.project_id
         WHERE p.name = $1 AND NOT i.disabled",
    )
    .bind(project)
    .fetch_all(&mut *tx)
    .await?;
    let rules = rows.iter().map(ImmutableRuleRow::rule).collect::<Result<Vec<_>>>()?;
    let path = path_in_project(&name);
    match tags.iter().find(|tag| rules.iter().any(|r| r.protects(path, tag))) {
        Some(tag) => Err(MetaError::TagImmutable { repository: name.clone(), tag: tag.clone(), deleting }),
        None => Ok(()),
    }
}
