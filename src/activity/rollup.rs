//! Keeping the activity rollups (migration 0005) in step with `tool_calls`. The recorder calls
//! [`add_finished`] in the transaction that wrote a batch, with exactly the calls that batch
//! finished, so each call is counted once however often its rows are retried.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::{CallStatus, histogram::Histogram, recorder::CallRecord};

/// How finely a rollup table divides time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grain {
    Hour,
    Day,
}

impl Grain {
    pub fn table(self) -> &'static str {
        match self {
            Grain::Hour => "activity_hourly",
            Grain::Day => "activity_daily",
        }
    }

    pub fn users_table(self) -> &'static str {
        match self {
            Grain::Hour => "activity_hourly_users",
            Grain::Day => "activity_daily_users",
        }
    }

    pub fn length(self) -> TimeDelta {
        match self {
            Grain::Hour => TimeDelta::hours(1),
            Grain::Day => TimeDelta::days(1),
        }
    }

    /// The start of the bucket `at` falls in (days are UTC days).
    pub fn floor(self, at: DateTime<Utc>) -> DateTime<Utc> {
        at.duration_trunc(self.length()).unwrap_or(at)
    }

    /// The first bucket boundary at or after `at`.
    pub fn ceil(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let floor = self.floor(at);
        if floor == at {
            at
        } else {
            floor + self.length()
        }
    }
}

#[derive(Default)]
struct Totals {
    calls: i64,
    latency_sum: i64,
    histogram: Histogram,
}

type Key = (DateTime<Utc>, Uuid, CallStatus);

/// Adds finished calls to every rollup table.
pub async fn add_finished(
    tx: &mut Transaction<'_, Postgres>,
    calls: &[&CallRecord],
) -> sqlx::Result<()> {
    if calls.is_empty() {
        return Ok(());
    }
    for grain in [Grain::Hour, Grain::Day] {
        // Sorted keys: two replicas writing the same buckets lock them in the same order.
        let mut totals: BTreeMap<Key, Totals> = BTreeMap::new();
        let mut callers: BTreeMap<(Key, Uuid), i64> = BTreeMap::new();
        for call in calls {
            let key = (grain.floor(call.started_at), call.server_id, call.status);
            let latency = call.latency_ms.unwrap_or(0);
            let entry = totals.entry(key).or_default();
            entry.calls += 1;
            entry.latency_sum += latency.max(0) as i64;
            entry.histogram.record(latency);
            if let Some(user) = call.user_id {
                *callers.entry((key, user)).or_default() += 1;
            }
        }
        upsert_totals(tx, grain, totals).await?;
        upsert_callers(tx, grain, callers).await?;
    }
    Ok(())
}

async fn upsert_totals(
    tx: &mut Transaction<'_, Postgres>,
    grain: Grain,
    totals: BTreeMap<Key, Totals>,
) -> sqlx::Result<()> {
    let n = totals.len();
    let (mut buckets, mut servers, mut statuses) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut calls, mut sums, mut histograms) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for ((bucket, server, status), t) in totals {
        buckets.push(bucket);
        servers.push(server);
        statuses.push(status.as_str());
        calls.push(t.calls);
        sums.push(t.latency_sum);
        histograms.push(array_literal(&t.histogram.to_counts()));
    }
    let table = grain.table();
    sqlx::query(&format!(
        "INSERT INTO {table} (bucket, server_id, status, calls, latency_sum, latency_hist) \
         SELECT b, s, st::call_status, c, l, h::integer[] \
         FROM UNNEST($1::timestamptz[], $2::uuid[], $3::text[], $4::int8[], $5::int8[], $6::text[]) \
             AS t(b, s, st, c, l, h) \
         ON CONFLICT (bucket, server_id, status) DO UPDATE SET \
             calls = {table}.calls + EXCLUDED.calls, \
             latency_sum = {table}.latency_sum + EXCLUDED.latency_sum, \
             latency_hist = gatehouse_hist_add({table}.latency_hist, EXCLUDED.latency_hist)"
    ))
    .bind(&buckets)
    .bind(&servers)
    .bind(&statuses)
    .bind(&calls)
    .bind(&sums)
    .bind(&histograms)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

async fn upsert_callers(
    tx: &mut Transaction<'_, Postgres>,
    grain: Grain,
    callers: BTreeMap<(Key, Uuid), i64>,
) -> sqlx::Result<()> {
    if callers.is_empty() {
        return Ok(());
    }
    let n = callers.len();
    let (mut buckets, mut servers, mut statuses) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut users, mut calls) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for (((bucket, server, status), user), count) in callers {
        buckets.push(bucket);
        servers.push(server);
        statuses.push(status.as_str());
        users.push(user);
        calls.push(count);
    }
    let table = grain.users_table();
    sqlx::query(&format!(
        "INSERT INTO {table} (bucket, server_id, status, user_id, calls) \
         SELECT b, s, st::call_status, u, c \
         FROM UNNEST($1::timestamptz[], $2::uuid[], $3::text[], $4::uuid[], $5::int8[]) AS t(b, s, st, u, c) \
         ON CONFLICT (bucket, server_id, status, user_id) DO UPDATE SET calls = {table}.calls + EXCLUDED.calls"
    ))
    .bind(&buckets)
    .bind(&servers)
    .bind(&statuses)
    .bind(&users)
    .bind(&calls)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

fn array_literal(counts: &[i32]) -> String {
    let mut out = String::with_capacity(counts.len() * 2 + 2);
    out.push('{');
    for (i, c) in counts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&c.to_string());
    }
    out.push('}');
    out
}

/// Recomputes every rollup from `tool_calls` (after a bulk load).
pub async fn rebuild(pool: &sqlx::PgPool) -> sqlx::Result<()> {
    sqlx::query("SELECT gatehouse_rebuild_activity_rollups()")
        .execute(pool)
        .await
        .map(|_| ())
}
