//! Operations on groups and their tool restrictions. Each is one transaction with an audit
//! event, and is published to the gateway's caches the moment it commits.

use serde_json::json;
use uuid::Uuid;

use crate::{accounts::session::Admin, audit, changes::Change, error::AppError, startup::AppState};

/// Restricts `tool` on `server_id` for the members of `group_id`. Restricting twice is fine.
pub async fn restrict_tool(
    state: &AppState,
    admin: &Admin,
    group_id: Uuid,
    server_id: Uuid,
    tool: &str,
) -> Result<(), AppError> {
    let tool = tool.trim();
    if tool.is_empty() || tool.len() > 256 {
        return Err(AppError::invalid(
            "tool",
            "Name the tool to restrict (at most 256 characters).",
        ));
    }
    let mut tx = state.pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO tool_restrictions (group_id, server_id, tool_name, created_by) \
         SELECT g.id, s.id, $3, $4 FROM permission_groups g, servers s \
         WHERE g.id = $1 AND s.id = $2 AND s.status <> 'deleted' \
         ON CONFLICT DO NOTHING",
    )
    .bind(group_id)
    .bind(server_id)
    .bind(tool)
    .bind(admin.user().id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM permission_groups WHERE id = $1) \
             AND EXISTS (SELECT 1 FROM servers WHERE id = $2 AND status <> 'deleted')",
        )
        .bind(group_id)
        .bind(server_id)
        .fetch_one(&mut *tx)
        .await?;
        if !exists {
            return Err(AppError::NotFound("That group or server".into()));
        }
        return Ok(());
    }
    audit::record(
        &mut *tx,
        &admin.user().actor(),
        "restriction.added",
        tool,
        None,
        Some(json!({ "group_id": group_id, "server_id": server_id, "tool": tool })),
    )
    .await?;
    tx.commit().await?;
    state.changes.publish(Change::Restrictions { server_id });
    Ok(())
}

/// Lets the members of `group_id` call `tool` on `server_id` again.
pub async fn unrestrict_tool(
    state: &AppState,
    admin: &Admin,
    group_id: Uuid,
    server_id: Uuid,
    tool: &str,
) -> Result<(), AppError> {
    let mut tx = state.pool.begin().await?;
    let removed = sqlx::query(
        "DELETE FROM tool_restrictions WHERE group_id = $1 AND server_id = $2 AND tool_name = $3",
    )
    .bind(group_id)
    .bind(server_id)
    .bind(tool)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if removed > 0 {
        audit::record(
            &mut *tx,
            &admin.user().actor(),
            "restriction.removed",
            tool,
            Some(json!({ "group_id": group_id, "server_id": server_id, "tool": tool })),
            None,
        )
        .await?;
    }
    tx.commit().await?;
    state.changes.publish(Change::Restrictions { server_id });
    Ok(())
}
