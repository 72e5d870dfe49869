//! Pages of calls: the activity table, a server's latest calls, one call's whole input or
//! output, and the CSV export.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::{Scope, distributions, parse_status, push_spans, push_statuses};
use crate::activity::{CallPage, CallView, Part, Payload};

#[derive(sqlx::FromRow)]
struct CallRow {
    id: Uuid,
    server_id: Uuid,
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
    input: Option<String>,
    input_bytes: Option<i64>,
    output: Option<String>,
    output_bytes: Option<i64>,
    output_truncated: bool,
    error: Option<String>,
}

/// What a page shows of an input or output: the JSON itself only when it is small enough to be
/// read (the query leaves a larger one in the database). JSON that cannot be pretty-printed
/// (nested deeper than the parser goes) or grows too much by it is shown as it was stored.
fn payload(text: Option<String>, bytes: Option<i64>) -> Payload {
    match (text, bytes) {
        (Some(text), _) => {
            let pretty = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|value| serde_json::to_string_pretty(&value).ok())
                .filter(|pretty| pretty.len() as i64 <= 4 * Payload::SHOWN_BYTES);
            Payload::Shown(pretty.unwrap_or(text))
        }
        (None, Some(bytes)) => Payload::TooLarge { bytes },
        (None, None) => Payload::NotRecorded,
    }
}

/// A query for [`CallRow`]s. The caller adds filters, its order and its limit to the inner
/// query, then closes it with [`end_calls_query`]. Inputs and outputs are measured and read
/// only in the outer query, after the limit, and only when small enough to show: a page reads
/// its own calls' JSON and no other (inputs are up to 4 MiB each).
fn calls_query() -> QueryBuilder<'static, Postgres> {
    let shown = Payload::SHOWN_BYTES;
    QueryBuilder::new(format!(
        "SELECT id, server_id, server_slug, server_name, tool_name, user_name, user_email, \
         client_name, client_version, status, latency_ms, started_at, \
         CASE WHEN octet_length(input::text) <= {shown} THEN input::text END AS input, \
         octet_length(input::text)::int8 AS input_bytes, \
         CASE WHEN octet_length(output::text) <= {shown} THEN output::text END AS output, \
         octet_length(output::text)::int8 AS output_bytes, \
         output_truncated, error FROM (\
         SELECT c.id, c.server_id, s.slug AS server_slug, s.name AS server_name, c.tool_name, \
         u.name AS user_name, u.email AS user_email, c.client_name, c.client_version, \
         c.status::text AS status, c.latency_ms, c.started_at, c.input, c.output, \
         c.output_truncated, c.error \
         FROM tool_calls c JOIN servers s ON s.id = c.server_id LEFT JOIN users u ON u.id = c.user_id WHERE true"
    ))
}

/// Closes [`calls_query`], keeping the inner query's order (newest first).
fn end_calls_query(qb: &mut QueryBuilder<'_, Postgres>) {
    qb.push(") page ORDER BY started_at DESC, id");
}

fn push_page_filters(qb: &mut QueryBuilder<'_, Postgres>, scope: &Scope) {
    push_spans(qb, "c.started_at", &[(scope.from, scope.to)]);
    scope.push_call_filters(qb);
    if !scope.statuses.is_empty() {
        let all: Vec<&str> = scope.statuses.iter().map(|s| s.as_str()).collect();
        push_statuses(qb, "c.status", &all);
    }
}

/// One page of calls in scope, newest first; `total` is the count from [`super::summary`]. Each
/// call's latency is ranked against its server's calls over the same range.
pub async fn calls(
    pool: &PgPool,
    scope: &Scope,
    page: u32,
    per_page: u32,
    total: i64,
) -> sqlx::Result<CallPage> {
    let page = page.max(1);
    let mut qb = calls_query();
    push_page_filters(&mut qb, scope);
    qb.push(" ORDER BY c.started_at DESC, c.id LIMIT ")
        .push_bind(per_page as i64)
        .push(" OFFSET ")
        .push_bind((page as i64 - 1) * per_page as i64);
    end_calls_query(&mut qb);
    let rows: Vec<CallRow> = qb.build_query_as().fetch_all(pool).await?;
    let mut servers: Vec<Uuid> = rows.iter().map(|r| r.server_id).collect();
    servers.sort();
    servers.dedup();
    let distributions = distributions(pool, &servers, scope.from, scope.to).await?;
    Ok(CallPage {
        calls: rows
            .into_iter()
            .map(|r| {
                let rank = r
                    .latency_ms
                    .filter(|_| r.status != "in_progress")
                    .and_then(|ms| distributions.get(&r.server_id)?.rank(ms));
                call_view(r, rank)
            })
            .collect(),
        page,
        per_page,
        total,
        now: Utc::now(),
    })
}

/// The most recent calls of a server, whatever their time (the Overview tab).
pub async fn recent(pool: &PgPool, server_id: Uuid, limit: u32) -> sqlx::Result<Vec<CallView>> {
    let mut qb = calls_query();
    qb.push(" AND c.server_id = ")
        .push_bind(server_id)
        .push(" ORDER BY c.started_at DESC, c.id LIMIT ")
        .push_bind(limit as i64);
    end_calls_query(&mut qb);
    let rows: Vec<CallRow> = qb.build_query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().map(|r| call_view(r, None)).collect())
}

fn call_view(r: CallRow, latency_rank: Option<f64>) -> CallView {
    CallView {
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
        status: parse_status(&r.status),
        latency_ms: r.latency_ms,
        latency_rank,
        started_at: r.started_at,
        input: payload(r.input, r.input_bytes),
        output: payload(r.output, r.output_bytes),
        output_truncated: r.output_truncated,
        error: r.error,
    }
}

/// A call's input or output, whole, if `viewer` may see the call (`None` otherwise, as when
/// there is no such call): admins see every call, others their own. The check is in the query,
/// so a call someone may not see is never read.
pub async fn call_part(
    pool: &PgPool,
    id: Uuid,
    part: Part,
    viewer: Uuid,
    viewer_is_admin: bool,
) -> sqlx::Result<Option<Option<String>>> {
    let sql = match part {
        Part::Input => "SELECT input::text FROM tool_calls WHERE id = $1 AND ($2 OR user_id = $3)",
        Part::Output => {
            "SELECT output::text FROM tool_calls WHERE id = $1 AND ($2 OR user_id = $3)"
        }
    };
    sqlx::query_scalar(sql)
        .bind(id)
        .bind(viewer_is_admin)
        .bind(viewer)
        .fetch_optional(pool)
        .await
}

/// One row of a CSV export.
#[derive(sqlx::FromRow)]
pub struct ExportRow {
    pub server_id: Uuid,
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub server_name: String,
    pub tool_name: String,
    pub user_email: Option<String>,
    pub latency_ms: Option<i32>,
    pub error: Option<String>,
}

/// Every call in scope, newest first, as a stream: an export holds one row at a time, however
/// many it writes.
pub fn export(
    pool: PgPool,
    scope: Scope,
) -> impl futures::Stream<Item = sqlx::Result<ExportRow>> + Send + 'static {
    async_stream::try_stream! {
        let mut qb = QueryBuilder::new(
            "SELECT c.server_id, c.status::text AS status, c.started_at, s.name AS server_name, c.tool_name, \
                    u.email AS user_email, c.latency_ms, c.error \
             FROM tool_calls c JOIN servers s ON s.id = c.server_id LEFT JOIN users u ON u.id = c.user_id WHERE true",
        );
        push_page_filters(&mut qb, &scope);
        qb.push(" ORDER BY c.started_at DESC, c.id");
        let mut rows = qb.build_query_as::<ExportRow>().fetch(&pool);
        while let Some(row) = rows.try_next().await? {
            yield row;
        }
    }
}
