//! Queries on tool calls. The activity pages (and the server Overview) read from here.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::servers::ServerStats;

/// Stat cards for one server (or all, with `None`) since `since`.
pub async fn server_stats(
    ex: impl PgExecutor<'_>,
    server_id: Option<Uuid>,
    since: DateTime<Utc>,
) -> sqlx::Result<ServerStats> {
    let (total, users, failed, avg): (i64, i64, i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT user_id), \
                count(*) FILTER (WHERE status IN ('error', 'timeout')), \
                avg(latency_ms)::float8 \
         FROM tool_calls WHERE ($1::uuid IS NULL OR server_id = $1) AND started_at >= $2",
    )
    .bind(server_id)
    .bind(since)
    .fetch_one(ex)
    .await?;
    Ok(ServerStats {
        total_calls: total,
        unique_users: users,
        error_rate: if total > 0 {
            failed as f64 / total as f64
        } else {
            0.0
        },
        avg_latency_ms: avg,
    })
}

/// Which calls a table shows.
#[derive(Clone, Debug, Default)]
pub struct CallFilter {
    pub server_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
}

#[derive(sqlx::FromRow)]
struct CallRow {
    id: Uuid,
    server_slug: String,
    server_name: String,
    tool_name: String,
    user_name: Option<String>,
    user_email: Option<String>,
    client_name: Option<String>,
    client_version: Option<String>,
    status: String,
    latency_ms: Option<i32>,
    started_at: DateTime<Utc>,
    input: Option<sqlx::types::Json<serde_json::Value>>,
    output: Option<sqlx::types::Json<serde_json::Value>>,
    output_truncated: bool,
    error: Option<String>,
}

fn pretty(value: Option<sqlx::types::Json<serde_json::Value>>) -> Option<String> {
    value.and_then(|v| serde_json::to_string_pretty(&v.0).ok())
}

/// One page of calls, newest first.
pub async fn calls(
    pool: &sqlx::PgPool,
    filter: &CallFilter,
    page: u32,
    per_page: u32,
) -> sqlx::Result<super::CallPage> {
    let page = page.max(1);
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tool_calls WHERE ($1::uuid IS NULL OR server_id = $1) AND ($2::uuid IS NULL OR user_id = $2)",
    )
    .bind(filter.server_id)
    .bind(filter.user_id)
    .fetch_one(pool)
    .await?;
    let rows: Vec<CallRow> = sqlx::query_as(
        "SELECT c.id, s.slug AS server_slug, s.name AS server_name, c.tool_name, u.name AS user_name, \
                u.email AS user_email, c.client_name, c.client_version, c.status::text AS status, c.latency_ms, \
                c.started_at, c.input, c.output, c.output_truncated, c.error \
         FROM tool_calls c JOIN servers s ON s.id = c.server_id LEFT JOIN users u ON u.id = c.user_id \
         WHERE ($1::uuid IS NULL OR c.server_id = $1) AND ($2::uuid IS NULL OR c.user_id = $2) \
         ORDER BY c.started_at DESC, c.id LIMIT $3 OFFSET $4",
    )
    .bind(filter.server_id)
    .bind(filter.user_id)
    .bind(per_page as i64)
    .bind(((page - 1) * per_page) as i64)
    .fetch_all(pool)
    .await?;
    Ok(super::CallPage {
        calls: rows
            .into_iter()
            .map(|r| super::CallView {
                id: r.id,
                server_slug: r.server_slug,
                server_name: r.server_name,
                tool: r.tool_name,
                user_name: r.user_name,
                user_email: r.user_email,
                client: r.client_name.map(|n| match r.client_version {
                    Some(v) if !v.is_empty() => format!("{n} {v}"),
                    _ => n,
                }),
                status: r.status.parse().unwrap_or(super::CallStatus::Error),
                latency_ms: r.latency_ms,
                started_at: r.started_at,
                input: pretty(r.input),
                output: pretty(r.output),
                output_truncated: r.output_truncated,
                error: r.error,
            })
            .collect(),
        page,
        per_page,
        total,
        now: Utc::now(),
    })
}
