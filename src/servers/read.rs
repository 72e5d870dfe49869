//! What the server pages and the JSON API read: the list, a server's detail, its deployments
//! and its tools with the groups that may call them.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::{
    DeploymentView, ServerDetail, ServerFilter, ServerStatus, ServerSummary, ToolView, ToolsView,
    db, db::ServerRow,
};
use crate::{accounts::session::Admin, error::AppError, startup::AppState};

pub async fn list(
    state: &AppState,
    admin: &Admin,
    filter: &ServerFilter,
) -> Result<Vec<ServerSummary>, AppError> {
    Ok(db::list(&state.pool, filter, admin.user().id)
        .await?
        .into_iter()
        .map(|row| ServerSummary {
            id: row.id,
            slug: row.slug,
            name: row.name,
            description: row.description,
            status: row.status,
            source: row.source.0.describe(),
            creator_name: row.creator_name,
            updated_at: row.updated_at,
        })
        .collect())
}

/// The server at `slug` (not deleted), or "not found".
pub async fn find(state: &AppState, slug: &str) -> Result<ServerRow, AppError> {
    db::find_by_slug(&state.pool, slug)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("The server {slug}")))
}

pub async fn detail(
    state: &AppState,
    _admin: &Admin,
    slug: &str,
) -> Result<ServerDetail, AppError> {
    let row = find(state, slug).await?;
    let deployments = deployment_views(state, &row).await?;
    let env_pending = db::env_pending(&state.pool, row.id).await?;
    Ok(ServerDetail {
        id: row.id,
        mcp_url: state.config.url_for(&format!("/mcp/{}", row.slug)),
        slug: row.slug,
        name: row.name,
        description: row.description,
        status: row.status,
        auth_method: row.auth_method,
        source: row.source.0,
        creator_name: row.creator_name,
        created_at: row.created_at,
        updated_at: row.updated_at,
        call_timeout_ms: row.call_timeout_ms,
        live_deployment: deployments.into_iter().find(|d| d.live),
        env_pending,
    })
}

pub async fn deployments(
    state: &AppState,
    _admin: &Admin,
    slug: &str,
) -> Result<Vec<DeploymentView>, AppError> {
    let row = find(state, slug).await?;
    deployment_views(state, &row).await
}

async fn deployment_views(
    state: &AppState,
    row: &ServerRow,
) -> Result<Vec<DeploymentView>, AppError> {
    Ok(db::deployments(&state.pool, row.id)
        .await?
        .into_iter()
        .map(|d| DeploymentView {
            live: Some(d.id) == row.live_deployment_id,
            id: d.id,
            number: d.number,
            status: d.status,
            summary: d.summary,
            source: d.source.0.describe(),
            author: d.author,
            created_at: d.created_at,
            finished_at: d.finished_at,
            error: d.error,
        })
        .collect())
}

/// The tools the upstream last listed, each with the groups that may and may not call it.
pub async fn tools(state: &AppState, _admin: &Admin, slug: &str) -> Result<ToolsView, AppError> {
    let row = find(state, slug).await?;
    let stored = db::tools(&state.pool, row.id).await?;
    let groups: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, name FROM permission_groups ORDER BY lower(name)")
            .fetch_all(&state.pool)
            .await?;
    let restrictions: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT group_id, tool_name FROM tool_restrictions WHERE server_id = $1")
            .bind(row.id)
            .fetch_all(&state.pool)
            .await?;
    let Some(stored) = stored else {
        return Ok(ToolsView {
            tools: Vec::new(),
            fetched_at: None,
            error: None,
        });
    };
    let listed: Vec<rmcp::model::Tool> = serde_json::from_value(stored.tools.0).unwrap_or_default();
    let tools = listed
        .into_iter()
        .map(|tool| {
            let name = tool.name.to_string();
            let (restricted, allowed): (Vec<_>, Vec<_>) = groups
                .iter()
                .partition(|(id, _)| restrictions.iter().any(|(g, t)| g == id && *t == name));
            ToolView {
                title: tool.title.clone(),
                description: tool.description.as_ref().map(|d| d.to_string()),
                input_schema: serde_json::to_string_pretty(&*tool.input_schema).unwrap_or_default(),
                annotations: annotations(&tool),
                allowed_groups: allowed.into_iter().map(|(_, n)| n.clone()).collect(),
                restricted_groups: restricted.into_iter().map(|(_, n)| n.clone()).collect(),
                name,
            }
        })
        .collect();
    Ok(ToolsView {
        tools,
        fetched_at: Some(stored.fetched_at),
        error: stored.error,
    })
}

/// The annotation hints a tool sets, in a stable order for display.
fn annotations(tool: &rmcp::model::Tool) -> Vec<(String, String)> {
    let Some(annotations) = &tool.annotations else {
        return Vec::new();
    };
    let value = serde_json::to_value(annotations).unwrap_or_default();
    let map: BTreeMap<String, serde_json::Value> =
        serde_json::from_value(value).unwrap_or_default();
    map.into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            (
                k,
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string()),
            )
        })
        .collect()
}

/// A server that may be managed: not deleted.
pub async fn active_row(state: &AppState, slug: &str) -> Result<ServerRow, AppError> {
    let row = find(state, slug).await?;
    if row.status == ServerStatus::Deleted {
        return Err(AppError::NotFound(format!("The server {slug}")));
    }
    Ok(row)
}
