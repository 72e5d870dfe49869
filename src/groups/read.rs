//! Reading groups, their members and their tool restrictions.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    Candidate, GroupDetail, GroupSummary, MEMBERS_PER_PAGE, MemberPage, MemberView, ServerAccess,
    ToolAccess,
};
use crate::{accounts::Role, error::AppError};

/// `%` and `_` typed in a search box are text, not wildcards.
pub fn like_pattern(text: &str) -> String {
    let escaped = text
        .trim()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

pub async fn list(pool: &PgPool) -> Result<Vec<GroupSummary>, AppError> {
    type Row = (Uuid, String, bool, DateTime<Utc>, i64, Vec<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT g.id, g.name, g.is_default, g.created_at, count(u.id),
                coalesce((array_agg(u.name ORDER BY u.created_at DESC, u.id) FILTER (WHERE u.id IS NOT NULL))[1:3], '{}')
         FROM permission_groups g LEFT JOIN users u ON u.group_id = g.id
         GROUP BY g.id ORDER BY g.is_default DESC, lower(g.name)",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, name, is_default, created_at, member_count, recent_members)| GroupSummary {
                id,
                name,
                is_default,
                member_count,
                recent_members,
                created_at,
            },
        )
        .collect())
}

pub async fn detail(pool: &PgPool, id: Uuid) -> Result<GroupDetail, AppError> {
    let row: Option<(Uuid, String, bool, DateTime<Utc>, i64, String)> = sqlx::query_as(
        "SELECT g.id, g.name, g.is_default, g.created_at,
                (SELECT count(*) FROM users WHERE group_id = g.id),
                (SELECT name FROM permission_groups WHERE is_default)
         FROM permission_groups g WHERE g.id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let (id, name, is_default, created_at, member_count, default_group) =
        row.ok_or_else(|| AppError::NotFound("The group".into()))?;
    Ok(GroupDetail {
        id,
        name,
        is_default,
        member_count,
        created_at,
        default_group,
    })
}

/// A page of a group's members, those matching `q` (name or email) when given.
pub async fn members(pool: &PgPool, id: Uuid, q: &str, page: u32) -> Result<MemberPage, AppError> {
    let page = page.max(1);
    let pattern = like_pattern(q);
    let (total, rows) = tokio::try_join!(
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM users WHERE group_id = $1 AND (name ILIKE $2 OR email ILIKE $2)",
        )
        .bind(id)
        .bind(&pattern)
        .fetch_one(pool),
        sqlx::query_as::<_, (Uuid, String, String, Role, DateTime<Utc>)>(
            "SELECT id, name, email, role, created_at FROM users
             WHERE group_id = $1 AND (name ILIKE $2 OR email ILIKE $2)
             ORDER BY lower(name), id LIMIT $3 OFFSET $4",
        )
        .bind(id)
        .bind(&pattern)
        .bind(MEMBERS_PER_PAGE as i64)
        .bind((page as i64 - 1) * MEMBERS_PER_PAGE as i64)
        .fetch_all(pool),
    )?;
    Ok(MemberPage {
        members: rows
            .into_iter()
            .map(|(id, name, email, role, created_at)| MemberView {
                id,
                name,
                email,
                role,
                created_at,
            })
            .collect(),
        total,
        page,
    })
}

/// The person with `email`, and the group they are in now.
pub async fn candidate(pool: &PgPool, email: &str) -> Result<Candidate, AppError> {
    let email = email.trim();
    if email.is_empty() {
        return Err(AppError::invalid(
            "email",
            "Enter the email of the person to add.",
        ));
    }
    let row: Option<(Uuid, String, String, Uuid, String)> = sqlx::query_as(
        "SELECT u.id, u.name, u.email, g.id, g.name FROM users u JOIN permission_groups g ON g.id = u.group_id
         WHERE lower(u.email) = lower($1)",
    )
    .bind(email)
    .fetch_optional(pool)
    .await?;
    let (id, name, email, group_id, group_name) = row.ok_or_else(|| {
        AppError::invalid(
            "email",
            "Nobody has that email. People are added on the Users page first.",
        )
    })?;
    Ok(Candidate {
        id,
        name,
        email,
        group_id,
        group_name,
    })
}

/// Every server that is not deleted, its tools, and which of them the group may not call.
pub async fn access(pool: &PgPool, group_id: Uuid) -> Result<Vec<ServerAccess>, AppError> {
    let servers: Vec<(Uuid, String, String, Option<serde_json::Value>)> = sqlx::query_as(
        "SELECT s.id, s.slug, s.name, t.tools FROM servers s LEFT JOIN server_tools t ON t.server_id = s.id
         WHERE s.status <> 'deleted' ORDER BY lower(s.name)",
    )
    .fetch_all(pool)
    .await?;
    let restrictions: Vec<(Uuid, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT server_id, tool_name, created_at FROM tool_restrictions WHERE group_id = $1",
    )
    .bind(group_id)
    .fetch_all(pool)
    .await?;
    let mut by_server: HashMap<Uuid, Vec<(String, DateTime<Utc>)>> = HashMap::new();
    for (server, tool, at) in restrictions {
        by_server.entry(server).or_default().push((tool, at));
    }
    Ok(servers
        .into_iter()
        .map(|(server_id, slug, name, tools)| {
            let restricted = by_server.remove(&server_id).unwrap_or_default();
            let when = |tool: &str| {
                restricted
                    .iter()
                    .find(|(name, _)| name == tool)
                    .map(|(_, at)| *at)
            };
            let listed: Vec<(String, Option<String>)> = tools
                .and_then(|t| t.as_array().cloned())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|t| {
                    let name = t.get("name")?.as_str()?.to_owned();
                    let description = t
                        .get("description")
                        .and_then(|d| d.as_str())
                        .map(str::to_owned);
                    Some((name, description))
                })
                .collect();
            let mut tools: Vec<ToolAccess> = listed
                .iter()
                .map(|(name, description)| ToolAccess {
                    restricted_at: when(name),
                    name: name.clone(),
                    description: description.clone(),
                    stale: false,
                })
                .collect();
            for (tool, at) in &restricted {
                if !listed.iter().any(|(name, _)| name == tool) {
                    tools.push(ToolAccess {
                        name: tool.clone(),
                        description: None,
                        restricted_at: Some(*at),
                        stale: true,
                    });
                }
            }
            tools.sort_by(|a, b| a.name.cmp(&b.name));
            ServerAccess {
                server_id,
                slug,
                name,
                tools,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn wildcards_typed_in_a_search_are_taken_literally() {
        assert_eq!(like_pattern(" ada "), "%ada%");
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
