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
    state.changes.settle().await;
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
    state.changes.settle().await;
    Ok(())
}

/// A group's name, trimmed and checked.
fn group_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::invalid("name", "Give the group a name."));
    }
    if name.chars().count() > 80 {
        return Err(AppError::invalid(
            "name",
            "A group name is at most 80 characters.",
        ));
    }
    Ok(name.to_owned())
}

fn duplicate_name(err: sqlx::Error, name: &str) -> AppError {
    match &err {
        sqlx::Error::Database(db) if db.constraint() == Some("permission_groups_name_key") => {
            AppError::invalid(
                "name",
                format!("A group called \u{201c}{name}\u{201d} already exists."),
            )
        }
        _ => err.into(),
    }
}

async fn lock_group(tx: &mut sqlx::PgConnection, id: Uuid) -> Result<(String, bool), AppError> {
    sqlx::query_as("SELECT name, is_default FROM permission_groups WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| AppError::NotFound("The group".into()))
}

pub async fn create(state: &AppState, admin: &Admin, name: &str) -> Result<Uuid, AppError> {
    let name = group_name(name)?;
    let mut tx = state.pool.begin().await?;
    let id: Uuid =
        sqlx::query_scalar("INSERT INTO permission_groups (name) VALUES ($1) RETURNING id")
            .bind(&name)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| duplicate_name(e, &name))?;
    audit::record(
        &mut *tx,
        &admin.user().actor(),
        "group.created",
        &name,
        None,
        Some(json!({ "id": id, "name": name })),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn rename(state: &AppState, admin: &Admin, id: Uuid, name: &str) -> Result<(), AppError> {
    let name = group_name(name)?;
    let mut tx = state.pool.begin().await?;
    let (old, _) = lock_group(&mut tx, id).await?;
    if old == name {
        return Ok(());
    }
    sqlx::query("UPDATE permission_groups SET name = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(&name)
        .execute(&mut *tx)
        .await
        .map_err(|e| duplicate_name(e, &name))?;
    audit::record(
        &mut *tx,
        &admin.user().actor(),
        "group.renamed",
        &name,
        Some(json!({ "name": old })),
        Some(json!({ "name": name })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Makes `id` the group new people join; the previous default becomes an ordinary group.
pub async fn make_default(state: &AppState, admin: &Admin, id: Uuid) -> Result<(), AppError> {
    let mut tx = state.pool.begin().await?;
    let (name, is_default) = lock_group(&mut tx, id).await?;
    if is_default {
        return Ok(());
    }
    let previous: Option<String> = sqlx::query_scalar(
        "UPDATE permission_groups SET is_default = false, updated_at = now() WHERE is_default RETURNING name",
    )
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query("UPDATE permission_groups SET is_default = true, updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        &admin.user().actor(),
        "group.made_default",
        &name,
        Some(json!({ "default": previous })),
        Some(json!({ "default": name })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes an empty group that is not the default, with its restrictions.
pub async fn delete(state: &AppState, admin: &Admin, id: Uuid) -> Result<(), AppError> {
    let mut tx = state.pool.begin().await?;
    let (name, is_default) = lock_group(&mut tx, id).await?;
    if is_default {
        return Err(AppError::invalid(
            "group",
            "The default group cannot be deleted. Make another group the default first.",
        ));
    }
    // Locks the members too, so nobody joins between the count and the delete.
    let members: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM users WHERE group_id = $1 FOR UPDATE")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
    if !members.is_empty() {
        return Err(AppError::invalid(
            "group",
            format!(
                "{name} still has {} member{}. Move them to another group first.",
                members.len(),
                if members.len() == 1 { "" } else { "s" }
            ),
        ));
    }
    let servers: Vec<Uuid> =
        sqlx::query_scalar("SELECT DISTINCT server_id FROM tool_restrictions WHERE group_id = $1")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
    sqlx::query("DELETE FROM permission_groups WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        &admin.user().actor(),
        "group.deleted",
        &name,
        Some(json!({ "id": id, "name": name })),
        None,
    )
    .await?;
    tx.commit().await?;
    for server_id in servers {
        state.changes.publish(Change::Restrictions { server_id });
    }
    state.changes.settle().await;
    Ok(())
}

/// Moves a person into `group_id` (everyone is in exactly one group). Returns the group they
/// left, or `None` if they were already there.
pub async fn move_member(
    state: &AppState,
    admin: &Admin,
    group_id: Uuid,
    user_id: Uuid,
) -> Result<Option<String>, AppError> {
    let mut tx = state.pool.begin().await?;
    let (group, _) = lock_group(&mut tx, group_id).await?;
    let current: Option<(String, Uuid, String)> = sqlx::query_as(
        "SELECT u.email, g.id, g.name FROM users u JOIN permission_groups g ON g.id = u.group_id
         WHERE u.id = $1 FOR UPDATE OF u",
    )
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (email, from_id, from) = current.ok_or_else(|| AppError::NotFound("That person".into()))?;
    if from_id == group_id {
        return Ok(None);
    }
    sqlx::query("UPDATE users SET group_id = $2, updated_at = now() WHERE id = $1")
        .bind(user_id)
        .bind(group_id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        &admin.user().actor(),
        "group.member_moved",
        &email,
        Some(json!({ "group": from })),
        Some(json!({ "group": group })),
    )
    .await?;
    tx.commit().await?;
    state.changes.publish(Change::User(user_id));
    state.changes.settle().await;
    Ok(Some(from))
}

/// Takes a person out of a group: they return to the default group.
pub async fn remove_member(
    state: &AppState,
    admin: &Admin,
    group_id: Uuid,
    user_id: Uuid,
) -> Result<(), AppError> {
    let (default_id, in_group): (Uuid, bool) = sqlx::query_as(
        "SELECT (SELECT id FROM permission_groups WHERE is_default),
                EXISTS (SELECT 1 FROM users WHERE id = $2 AND group_id = $1)",
    )
    .bind(group_id)
    .bind(user_id)
    .fetch_one(&state.pool)
    .await?;
    if default_id == group_id {
        return Err(AppError::invalid(
            "group",
            "Everyone belongs to a group: people leave the default group by being added to another one.",
        ));
    }
    if !in_group {
        return Err(AppError::NotFound("That member".into()));
    }
    move_member(state, admin, default_id, user_id).await?;
    Ok(())
}

/// Sets exactly which tools of `server_id` the group may not call. Restrictions on tools the
/// server no longer lists are kept when they are in `tools` (the page sends them back).
pub async fn set_restrictions(
    state: &AppState,
    admin: &Admin,
    group_id: Uuid,
    server_id: Uuid,
    tools: &[String],
) -> Result<(), AppError> {
    let mut wanted: Vec<String> = tools
        .iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    wanted.sort();
    wanted.dedup();
    if let Some(long) = wanted.iter().find(|t| t.len() > 256) {
        return Err(AppError::invalid(
            "tools",
            format!(
                "\u{201c}{}…\u{201d} is longer than a tool name can be.",
                long.chars().take(40).collect::<String>()
            ),
        ));
    }
    let mut tx = state.pool.begin().await?;
    lock_group(&mut tx, group_id).await?;
    let (server, deleted): (String, bool) =
        sqlx::query_as("SELECT slug, status = 'deleted' FROM servers WHERE id = $1")
            .bind(server_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| AppError::NotFound("The server".into()))?;
    if deleted {
        return Err(AppError::NotFound("The server".into()));
    }
    let before: Vec<String> = sqlx::query_scalar(
        "SELECT tool_name FROM tool_restrictions WHERE group_id = $1 AND server_id = $2 ORDER BY 1 FOR UPDATE",
    )
    .bind(group_id)
    .bind(server_id)
    .fetch_all(&mut *tx)
    .await?;
    if before == wanted {
        return Ok(());
    }
    sqlx::query(
        "DELETE FROM tool_restrictions WHERE group_id = $1 AND server_id = $2 AND NOT (tool_name = ANY($3))",
    )
    .bind(group_id)
    .bind(server_id)
    .bind(&wanted)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO tool_restrictions (group_id, server_id, tool_name, created_by)
         SELECT $1, $2, t, $4 FROM unnest($3::text[]) t ON CONFLICT DO NOTHING",
    )
    .bind(group_id)
    .bind(server_id)
    .bind(&wanted)
    .bind(admin.user().id)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        &admin.user().actor(),
        "restriction.changed",
        &server,
        Some(json!({ "group_id": group_id, "restricted": before })),
        Some(json!({ "group_id": group_id, "restricted": wanted })),
    )
    .await?;
    tx.commit().await?;
    state.changes.publish(Change::Restrictions { server_id });
    state.changes.settle().await;
    Ok(())
}
