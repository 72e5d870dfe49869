//! Downloads from the activity pages:
//! - `GET /activity/export.csv`: the current activity view as CSV, streamed from Postgres row by
//!   row so an export of millions of calls holds only one batch in memory;
//! - `GET /activity/calls/{id}/input.json` and `output.json`: one call's JSON, whole, for the
//!   inputs and outputs too large to show on a page.

use axum::{
    Extension, Router,
    body::Body,
    extract::{Path, Query, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;

use super::{ActivityQuery, ActivityTarget, CallStatus, Part, db, service};
use crate::{accounts::session::CurrentUser, error::AppError, startup::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/activity/export.csv", get(export))
        .route("/activity/calls/{id}/{file}", get(call_json))
}

/// A call's input or output, whole, to people who may see the call: admins, and whoever made
/// it. Anyone else gets the same 404 as for a call that does not exist.
async fn call_json(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
    Path((id, file)): Path<(String, String)>,
) -> Response {
    let Some(Extension(user)) = user else {
        return Redirect::to("/login").into_response();
    };
    match find_call_json(&state, &user, &id, &file).await {
        Ok((id, part, json)) => download(
            json.into(),
            "application/json",
            &format!("call-{id}-{}", part.file()),
        ),
        // A download link has no page around it: say what is wrong in plain words.
        Err(error) => (error.status(), error.to_string()).into_response(),
    }
}

async fn find_call_json(
    state: &AppState,
    user: &CurrentUser,
    id: &str,
    file: &str,
) -> Result<(uuid::Uuid, Part, String), AppError> {
    let no_call = || AppError::NotFound("The call".to_owned());
    let part = Part::from_file(file).ok_or_else(no_call)?;
    let id: uuid::Uuid = id.parse().map_err(|_| no_call())?;
    let json = db::call_part(&state.pool, id, part, user.id, user.role.is_admin())
        .await?
        .ok_or_else(no_call)?;
    let json =
        json.ok_or_else(|| AppError::NotFound(format!("The {} of this call", part.noun())))?;
    Ok((id, part, json))
}

/// `body` as a file to save, never cached (activity is private).
fn download(body: Body, content_type: &'static str, file_name: &str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Deserialize)]
struct Target {
    #[serde(default)]
    target: String,
}

const HEADER: [&str; 8] = [
    "status",
    "time",
    "server",
    "tool",
    "user",
    "latency_ms",
    "latency_percentile",
    "error",
];

/// Rows are written to the response in batches of this many.
const BATCH: usize = 500;

async fn export(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
    Query(target): Query<Target>,
    Query(query): Query<ActivityQuery>,
) -> Response {
    let Some(Extension(user)) = user else {
        return Redirect::to("/login").into_response();
    };
    match stream(&state, &user, &target.target, &query).await {
        Ok(response) => response,
        // A download link has no page around it: say what is wrong in plain words.
        Err(error) => (error.status(), error.to_string()).into_response(),
    }
}

async fn stream(
    state: &AppState,
    user: &CurrentUser,
    target: &str,
    query: &ActivityQuery,
) -> Result<Response, AppError> {
    let target = ActivityTarget::parse(if target.is_empty() { "home" } else { target })?;
    let resolved = service::resolve(state, user, &target, query).await?;
    let scope = resolved.scope;
    // Percentiles are against each server's calls over the exported range.
    let servers: Vec<uuid::Uuid> = match scope.server_id {
        Some(id) => vec![id],
        None => {
            sqlx::query_scalar("SELECT id FROM servers")
                .fetch_all(&state.pool)
                .await?
        }
    };
    let distributions = db::distributions(&state.pool, &servers, scope.from, scope.to).await?;

    let header = csv_bytes(std::iter::once(HEADER.map(str::to_owned).to_vec()));
    let rows = db::export(state.pool.clone(), scope)
        .try_chunks(BATCH)
        .map_err(|e| e.1)
        .map_ok(move |batch| {
            csv_bytes(batch.into_iter().map(|row| {
                let status: CallStatus = row.status.parse().unwrap_or(CallStatus::Error);
                let percentile = row
                    .latency_ms
                    .filter(|_| status.is_finished())
                    .and_then(|ms| distributions.get(&row.server_id)?.rank(ms))
                    .map(|rank| format!("{:.0}", rank * 100.0))
                    .unwrap_or_default();
                vec![
                    row.status,
                    row.started_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    safe(row.server_name),
                    safe(row.tool_name),
                    safe(row.user_email.unwrap_or_default()),
                    row.latency_ms.map(|ms| ms.to_string()).unwrap_or_default(),
                    percentile,
                    safe(row.error.unwrap_or_default()),
                ]
            }))
        })
        .inspect_err(|error| tracing::error!(%error, "activity export stopped"));
    let body = futures::stream::once(async { Ok(header) }).chain(rows);

    let name = format!(
        "{}-{}.csv",
        resolved.export_stem,
        chrono::Utc::now().format("%Y-%m-%d")
    );
    Ok(download(
        Body::from_stream(body),
        "text/csv; charset=utf-8",
        &name,
    ))
}

fn csv_bytes(records: impl Iterator<Item = Vec<String>>) -> bytes::Bytes {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(BATCH * 96));
    for record in records {
        // Writing to a Vec cannot fail.
        let _ = writer.write_record(&record);
    }
    bytes::Bytes::from(writer.into_inner().unwrap_or_default())
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`) is prefixed with `'`.
fn safe(value: String) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_looking_cells_are_defused_and_others_kept() {
        assert_eq!(safe("=HYPERLINK(\"x\")".into()), "'=HYPERLINK(\"x\")");
        assert_eq!(safe("search".into()), "search");
        let bytes = csv_bytes(std::iter::once(vec!["a,b".into(), "say \"hi\"".into()]));
        assert_eq!(&bytes[..], b"\"a,b\",\"say \"\"hi\"\"\"\n");
    }
}
