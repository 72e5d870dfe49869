//! Writing a batch of activity rows to Postgres: one upsert keyed by call id that also adds
//! finished calls to the rollups, and the row-by-row fallback when Postgres refuses a row for
//! what it holds.

use std::{collections::HashMap, sync::Arc};

use sqlx::PgPool;
use uuid::Uuid;

use super::CallRecord;

/// Writes a batch, keeping one row Postgres refuses from holding up the rest. A refusal
/// because of the data (a NUL character in a name, JSON Postgres does not accept) is not an
/// outage: retrying the batch would fail for ever and every later row would wait behind it.
/// So the batch is written row by row; a refused row is written once more made storable
/// ([`CallRecord::storable`]), and only if that fails too is it given up, with an error in
/// the log. Any other error is returned: Postgres is away, and the batch waits.
pub(super) async fn write_batch(pool: &PgPool, batch: &[CallRecord]) -> sqlx::Result<()> {
    match upsert(pool, batch).await {
        Err(err) if refused_for_its_data(&err) => {}
        done => return done,
    }
    for record in batch {
        match upsert(pool, std::slice::from_ref(record)).await {
            Err(err) if refused_for_its_data(&err) => {
                let storable = record.storable();
                if let Err(err) = upsert(pool, std::slice::from_ref(&storable)).await {
                    if !refused_for_its_data(&err) {
                        return Err(err);
                    }
                    tracing::error!(call = %record.id, error = %err, "activity row given up: Postgres refuses it");
                }
            }
            done => done?,
        }
    }
    Ok(())
}

/// Whether Postgres refused the statement for the values in it (SQLSTATE classes 22, data
/// exception, and 23, integrity constraint violation), not because it is unreachable.
fn refused_for_its_data(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code.starts_with("22") || code.starts_with("23"))
}

impl CallRecord {
    /// The same row with everything Postgres may refuse replaced: NUL characters in text
    /// (Postgres text cannot hold them) and input or output JSON it cannot parse (kept as a
    /// JSON string, so the text is still there to read).
    fn storable(&self) -> CallRecord {
        fn text(value: &str) -> String {
            value.replace('\0', "\u{fffd}")
        }
        fn json(value: &str) -> String {
            serde_json::from_str::<serde_json::Value>(value)
                .map(|parsed| parsed.to_string())
                .unwrap_or_else(|_| serde_json::Value::String(value.to_owned()).to_string())
        }
        CallRecord {
            client_name: self.client_name.as_deref().map(text),
            client_version: self.client_version.as_deref().map(text),
            tool_name: text(&self.tool_name),
            input: self.input.as_deref().map(|v| Arc::from(json(&text(v)))),
            output: self.output.as_deref().map(|v| json(&text(v))),
            error: self.error.as_deref().map(text),
            ..self.clone()
        }
    }
}

/// Upserts a batch. Within the batch the latest record per call wins, with the input of
/// whichever record carried it; against the table, a finished row's outcome is never
/// overwritten (neither by its start nor by a retried finish).
///
/// A call's end record leaves out the input its start record carried (an input of up to 4 MiB
/// goes to Postgres once), so a start that reaches the table after its end (written from the
/// spill file later, say) fills in the input of the finished row. One ordering does not: a
/// start and its end merged in one batch after the same end was already written alone, which
/// takes a commit that succeeded but reported a failure; that row keeps no input.
async fn upsert(pool: &PgPool, batch: &[CallRecord]) -> sqlx::Result<()> {
    let mut latest: HashMap<Uuid, (&CallRecord, Option<&str>)> =
        HashMap::with_capacity(batch.len());
    for record in batch {
        latest
            .entry(record.id)
            .and_modify(|(seen, input)| {
                if record.status.is_finished() || !seen.status.is_finished() {
                    *seen = record;
                }
                if input.is_none() {
                    *input = record.input.as_deref();
                }
            })
            .or_insert((record, record.input.as_deref()));
    }
    let rows: Vec<(&CallRecord, Option<&str>)> = latest.values().copied().collect();
    let by_id = latest;
    let n = rows.len();
    let mut ids = Vec::with_capacity(n);
    let mut server_ids = Vec::with_capacity(n);
    let mut deployment_ids = Vec::with_capacity(n);
    let mut user_ids = Vec::with_capacity(n);
    let mut client_names = Vec::with_capacity(n);
    let mut client_versions = Vec::with_capacity(n);
    let mut tool_names = Vec::with_capacity(n);
    let mut inputs = Vec::with_capacity(n);
    let mut outputs = Vec::with_capacity(n);
    let mut truncated = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut errors = Vec::with_capacity(n);
    let mut latencies = Vec::with_capacity(n);
    let mut started = Vec::with_capacity(n);
    let mut ended = Vec::with_capacity(n);
    for (r, input) in rows {
        ids.push(r.id);
        server_ids.push(r.server_id);
        deployment_ids.push(r.deployment_id);
        user_ids.push(r.user_id);
        client_names.push(r.client_name.clone());
        client_versions.push(r.client_version.clone());
        tool_names.push(r.tool_name.clone());
        inputs.push(input);
        outputs.push(r.output.as_deref());
        truncated.push(r.output_truncated);
        statuses.push(r.status.as_str());
        errors.push(r.error.clone());
        latencies.push(r.latency_ms);
        started.push(r.started_at);
        ended.push(r.ended_at);
    }
    let mut tx = pool.begin().await?;
    // A conflict updates a row in one of two ways: a finished record moves an `in_progress`
    // row to its end, and a start record fills in the input of a row its end record wrote
    // first. RETURNING lists the rows this statement inserted or updated; those whose record
    // here is finished are the calls new to the rollups (a start that only filled in an input
    // is not).
    let written: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO tool_calls (id, server_id, deployment_id, user_id, client_name, client_version, \
             tool_name, input, output, output_truncated, status, error, latency_ms, started_at, ended_at) \
         SELECT id, server_id, deployment_id, user_id, client_name, client_version, tool_name, input::json, \
             output::json, output_truncated, status::call_status, error, latency_ms, started_at, ended_at \
         FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], \
             $8::text[], $9::text[], $10::bool[], $11::text[], $12::text[], $13::int4[], \
             $14::timestamptz[], $15::timestamptz[]) \
             AS t(id, server_id, deployment_id, user_id, client_name, client_version, tool_name, input, output, \
                  output_truncated, status, error, latency_ms, started_at, ended_at) \
         ON CONFLICT (id) DO UPDATE SET \
             input = COALESCE(tool_calls.input, EXCLUDED.input), \
             output = CASE WHEN EXCLUDED.status = 'in_progress' THEN tool_calls.output ELSE EXCLUDED.output END, \
             output_truncated = CASE WHEN EXCLUDED.status = 'in_progress' THEN tool_calls.output_truncated ELSE EXCLUDED.output_truncated END, \
             status = CASE WHEN EXCLUDED.status = 'in_progress' THEN tool_calls.status ELSE EXCLUDED.status END, \
             error = CASE WHEN EXCLUDED.status = 'in_progress' THEN tool_calls.error ELSE EXCLUDED.error END, \
             latency_ms = CASE WHEN EXCLUDED.status = 'in_progress' THEN tool_calls.latency_ms ELSE EXCLUDED.latency_ms END, \
             ended_at = CASE WHEN EXCLUDED.status = 'in_progress' THEN tool_calls.ended_at ELSE EXCLUDED.ended_at END \
         WHERE (tool_calls.status = 'in_progress' AND EXCLUDED.status <> 'in_progress') \
             OR (EXCLUDED.status = 'in_progress' AND tool_calls.input IS NULL AND EXCLUDED.input IS NOT NULL) \
         RETURNING id",
    )
    .bind(&ids)
    .bind(&server_ids)
    .bind(&deployment_ids)
    .bind(&user_ids)
    .bind(&client_names)
    .bind(&client_versions)
    .bind(&tool_names)
    .bind(&inputs)
    .bind(&outputs)
    .bind(&truncated)
    .bind(&statuses)
    .bind(&errors)
    .bind(&latencies)
    .bind(&started)
    .bind(&ended)
    .fetch_all(&mut *tx)
    .await?;
    let finished: Vec<&CallRecord> = written
        .into_iter()
        .filter_map(|id| by_id.get(&id).map(|(record, _)| *record))
        .filter(|record| record.status.is_finished())
        .collect();
    crate::activity::rollup::add_finished(&mut tx, &finished).await?;
    tx.commit().await
}
