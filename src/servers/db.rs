//! Queries on servers, their environment variables and deployments. Each takes an executor so
//! the caller decides the transaction.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, types::Json};
use uuid::Uuid;

use super::{AuthMethod, ServerSource, ServerStatus, Slug};
use crate::error::AppError;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ServerRow {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub status: ServerStatus,
    pub source: Json<ServerSource>,
    pub auth_method: AuthMethod,
    pub auth_config: Json<serde_json::Value>,
    pub call_timeout_ms: i32,
    pub live_deployment_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub creator_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SELECT_SERVER: &str = "SELECT s.id, s.slug, s.name, s.description, s.status, s.source, s.auth_method, \
     s.auth_config, s.call_timeout_ms, s.live_deployment_id, s.created_by, u.name AS creator_name, \
     s.created_at, s.updated_at \
     FROM servers s LEFT JOIN users u ON u.id = s.created_by";

/// The server at `/mcp/{slug}`: the one that is not deleted.
pub async fn find_by_slug(ex: impl PgExecutor<'_>, slug: &str) -> sqlx::Result<Option<ServerRow>> {
    sqlx::query_as(&format!(
        "{SELECT_SERVER} WHERE s.slug = $1 AND s.status <> 'deleted'"
    ))
    .bind(slug)
    .fetch_optional(ex)
    .await
}

pub async fn find_by_id(ex: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<ServerRow>> {
    sqlx::query_as(&format!("{SELECT_SERVER} WHERE s.id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await
}

pub struct NewServerRow<'a> {
    pub slug: &'a Slug,
    pub name: &'a str,
    pub description: &'a str,
    pub source: &'a ServerSource,
    pub auth_method: AuthMethod,
    pub auth_config: &'a serde_json::Value,
    pub call_timeout_ms: i32,
    pub created_by: Option<Uuid>,
}

/// Inserts a server. A slug already in use is a conflict on the `slug` field.
pub async fn insert(conn: &mut PgConnection, new: NewServerRow<'_>) -> Result<Uuid, AppError> {
    let result = sqlx::query_scalar(
        "INSERT INTO servers (slug, name, description, source, auth_method, auth_config, call_timeout_ms, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(new.slug.as_str())
    .bind(new.name)
    .bind(new.description)
    .bind(Json(new.source))
    .bind(new.auth_method)
    .bind(Json(new.auth_config))
    .bind(new.call_timeout_ms)
    .bind(new.created_by)
    .fetch_one(&mut *conn)
    .await;
    match result {
        Ok(id) => Ok(id),
        Err(sqlx::Error::Database(db)) if db.constraint() == Some("servers_slug_key") => {
            Err(AppError::invalid(
                "slug",
                format!(
                    "The URL name {} is taken by another server; choose another name.",
                    new.slug
                ),
            ))
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn set_status(
    ex: impl PgExecutor<'_>,
    id: Uuid,
    status: ServerStatus,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE servers SET status = $2, updated_at = now(), \
         deleted_at = CASE WHEN $2 = 'deleted'::server_status THEN now() ELSE deleted_at END \
         WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .execute(ex)
    .await
    .map(|_| ())
}

pub async fn upsert_env_var(
    ex: impl PgExecutor<'_>,
    server_id: Uuid,
    name: &str,
    sealed: &[u8],
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO server_env_vars (server_id, name, value) VALUES ($1, $2, $3) \
         ON CONFLICT (server_id, name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
    )
    .bind(server_id)
    .bind(name)
    .bind(sealed)
    .execute(ex)
    .await
    .map(|_| ())
}

pub async fn delete_env_var(
    ex: impl PgExecutor<'_>,
    server_id: Uuid,
    name: &str,
) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM server_env_vars WHERE server_id = $1 AND name = $2")
        .bind(server_id)
        .bind(name)
        .execute(ex)
        .await
        .map(|r| r.rows_affected() > 0)
}

/// Sealed environment variables, by name.
pub async fn env_vars(
    ex: impl PgExecutor<'_>,
    server_id: Uuid,
) -> sqlx::Result<Vec<(String, Vec<u8>)>> {
    sqlx::query_as("SELECT name, value FROM server_env_vars WHERE server_id = $1 ORDER BY name")
        .bind(server_id)
        .fetch_all(ex)
        .await
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DeploymentRow {
    pub id: Uuid,
    pub server_id: Uuid,
    pub number: i32,
    pub status: String,
    pub source: Json<ServerSource>,
    pub env: Option<Vec<u8>>,
    pub summary: String,
    pub created_at: DateTime<Utc>,
}

/// Records a deployment that goes live at once (remote servers, commands without a build)
/// and points the server at it; the previous live one becomes superseded.
pub async fn insert_live_deployment(
    conn: &mut PgConnection,
    server_id: Uuid,
    source: &ServerSource,
    sealed_env: &[u8],
    summary: &str,
    created_by: Option<Uuid>,
) -> sqlx::Result<Uuid> {
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO deployments (server_id, number, status, source, env, summary, created_by, finished_at) \
         SELECT $1, coalesce(max(number), 0) + 1, 'live', $2, $3, $4, $5, now() \
         FROM deployments WHERE server_id = $1 RETURNING id",
    )
    .bind(server_id)
    .bind(Json(source))
    .bind(sealed_env)
    .bind(summary)
    .bind(created_by)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("UPDATE deployments SET status = 'superseded' WHERE server_id = $1 AND status = 'live' AND id <> $2")
        .bind(server_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE servers SET live_deployment_id = $2, updated_at = now() WHERE id = $1")
        .bind(server_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(id)
}

pub async fn find_deployment(
    ex: impl PgExecutor<'_>,
    id: Uuid,
) -> sqlx::Result<Option<DeploymentRow>> {
    sqlx::query_as(
        "SELECT id, server_id, number, status::text AS status, source, env, summary, created_at \
         FROM deployments WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(ex)
    .await
}

/// The servers list: newest change first, filtered as the list's controls ask.
pub async fn list(
    ex: impl PgExecutor<'_>,
    filter: &super::ServerFilter,
    viewer: Uuid,
) -> sqlx::Result<Vec<ServerRow>> {
    let pattern = format!(
        "%{}%",
        filter
            .q
            .trim()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    sqlx::query_as(&format!(
        "{SELECT_SERVER} WHERE s.name ILIKE $1 \
           AND ($2 OR s.status = 'active') \
           AND (NOT $3 OR s.created_by = $4) \
         ORDER BY s.status = 'deleted', s.updated_at DESC LIMIT 1000"
    ))
    .bind(pattern)
    .bind(filter.deactivated)
    .bind(filter.mine)
    .bind(viewer)
    .fetch_all(ex)
    .await
}

/// Renames or re-describes a server, if nobody changed it since `seen` (the `updated_at` the
/// editor loaded). Returns whether it was updated.
pub async fn update_details(
    ex: impl PgExecutor<'_>,
    id: Uuid,
    name: &str,
    description: &str,
    seen: DateTime<Utc>,
) -> sqlx::Result<bool> {
    sqlx::query(
        "UPDATE servers SET name = $2, description = $3, updated_at = now() \
         WHERE id = $1 AND status <> 'deleted' AND date_trunc('milliseconds', updated_at) = date_trunc('milliseconds', $4)",
    )
    .bind(id)
    .bind(name)
    .bind(description)
    .bind(seen)
    .execute(ex)
    .await
    .map(|r| r.rows_affected() == 1)
}

pub async fn touch(ex: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE servers SET updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(ex)
        .await
        .map(|_| ())
}

pub async fn env_var_names(
    ex: impl PgExecutor<'_>,
    server_id: Uuid,
) -> sqlx::Result<Vec<(String, DateTime<Utc>)>> {
    sqlx::query_as(
        "SELECT name, updated_at FROM server_env_vars WHERE server_id = $1 ORDER BY name",
    )
    .bind(server_id)
    .fetch_all(ex)
    .await
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DeploymentListRow {
    pub id: Uuid,
    pub number: i32,
    pub status: String,
    pub summary: String,
    pub source: Json<ServerSource>,
    pub author: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

pub async fn deployments(
    ex: impl PgExecutor<'_>,
    server_id: Uuid,
) -> sqlx::Result<Vec<DeploymentListRow>> {
    sqlx::query_as(
        "SELECT d.id, d.number, d.status::text AS status, d.summary, d.source, \
                coalesce(u.name, d.author) AS author, d.created_at, d.finished_at, d.error \
         FROM deployments d LEFT JOIN users u ON u.id = d.created_by \
         WHERE d.server_id = $1 ORDER BY d.number DESC LIMIT 200",
    )
    .bind(server_id)
    .fetch_all(ex)
    .await
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ToolsRow {
    pub tools: Json<serde_json::Value>,
    pub error: Option<String>,
    pub fetched_at: DateTime<Utc>,
}

pub async fn tools(ex: impl PgExecutor<'_>, server_id: Uuid) -> sqlx::Result<Option<ToolsRow>> {
    sqlx::query_as("SELECT tools, error, fetched_at FROM server_tools WHERE server_id = $1")
        .bind(server_id)
        .fetch_optional(ex)
        .await
}

/// Stores the outcome of asking the upstream for its tools: the list, or why it failed (the
/// last good list is kept).
pub async fn save_tools(
    ex: impl PgExecutor<'_>,
    server_id: Uuid,
    deployment_id: Option<Uuid>,
    outcome: Result<&serde_json::Value, &str>,
) -> sqlx::Result<()> {
    match outcome {
        Ok(tools) => sqlx::query(
            "INSERT INTO server_tools (server_id, deployment_id, tools, error, fetched_at) VALUES ($1, $2, $3, NULL, now()) \
             ON CONFLICT (server_id) DO UPDATE SET deployment_id = $2, tools = $3, error = NULL, fetched_at = now()",
        )
        .bind(server_id)
        .bind(deployment_id)
        .bind(Json(tools))
        .execute(ex)
        .await
        .map(|_| ()),
        Err(error) => sqlx::query(
            "INSERT INTO server_tools (server_id, deployment_id, tools, error, fetched_at) VALUES ($1, $2, '[]', $3, now()) \
             ON CONFLICT (server_id) DO UPDATE SET error = $3, fetched_at = now()",
        )
        .bind(server_id)
        .bind(deployment_id)
        .bind(error)
        .execute(ex)
        .await
        .map(|_| ()),
    }
}

/// Notes that the environment changed (the live deployment still runs with the old one).
pub async fn mark_env_changed(ex: impl PgExecutor<'_>, server_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE servers SET env_changed_at = now(), updated_at = now() WHERE id = $1")
        .bind(server_id)
        .execute(ex)
        .await
        .map(|_| ())
}

/// Whether the environment changed after the live deployment was made.
pub async fn env_pending(ex: impl PgExecutor<'_>, server_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT coalesce(s.env_changed_at > d.created_at, false) FROM servers s \
         LEFT JOIN deployments d ON d.id = s.live_deployment_id WHERE s.id = $1",
    )
    .bind(server_id)
    .fetch_one(ex)
    .await
}
