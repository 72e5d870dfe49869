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

    /// Who called each server in each bucket.
    pub fn users_table(self) -> &'static str {
        match self {
            Grain::Hour => "activity_hourly_users",
            Grain::Day => "activity_daily_users",
        }
    }

    /// Who called any server in each bucket.
    pub fn people_table(self) -> &'static str {
        match self {
            Grain::Hour => "activity_hourly_people",
            Grain::Day => "activity_daily_people",
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

/// The bit of a finished status in the rollups' `statuses` masks (SQL `gatehouse_status_bit`).
pub fn status_bit(status: CallStatus) -> i32 {
    match status {
        CallStatus::Success => 1,
        CallStatus::Error => 2,
        CallStatus::PermissionDenied => 4,
        CallStatus::Timeout => 8,
        CallStatus::InProgress => 0,
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
        let mut callers: BTreeMap<(DateTime<Utc>, Uuid, Uuid), i32> = BTreeMap::new();
        let mut people: BTreeMap<(DateTime<Utc>, Uuid), i32> = BTreeMap::new();
        for call in calls {
            let key = (grain.floor(call.started_at), call.server_id, call.status);
            let latency = call.latency_ms.unwrap_or(0);
            let entry = totals.entry(key).or_default();
            entry.calls += 1;
            entry.latency_sum += latency.max(0) as i64;
            entry.histogram.record(latency);
            if let Some(user) = call.user_id {
                let bit = status_bit(call.status);
                *callers.entry((key.0, call.server_id, user)).or_default() |= bit;
                *people.entry((key.0, user)).or_default() |= bit;
            }
        }
        upsert_totals(tx, grain, totals).await?;
        upsert_callers(tx, grain, callers).await?;
        upsert_people(tx, grain, people).await?;
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
    callers: BTreeMap<(DateTime<Utc>, Uuid, Uuid), i32>,
) -> sqlx::Result<()> {
    if callers.is_empty() {
        return Ok(());
    }
    let n = callers.len();
    let (mut buckets, mut servers, mut users, mut masks) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for ((bucket, server, user), mask) in callers {
        buckets.push(bucket);
        servers.push(server);
        users.push(user);
        masks.push(mask);
    }
    let table = grain.users_table();
    sqlx::query(&format!(
        "INSERT INTO {table} (bucket, server_id, user_id, statuses) \
         SELECT * FROM UNNEST($1::timestamptz[], $2::uuid[], $3::uuid[], $4::int4[]) \
         ON CONFLICT (bucket, server_id, user_id) DO UPDATE SET statuses = {table}.statuses | EXCLUDED.statuses"
    ))
    .bind(&buckets)
    .bind(&servers)
    .bind(&users)
    .bind(&masks)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

async fn upsert_people(
    tx: &mut Transaction<'_, Postgres>,
    grain: Grain,
    people: BTreeMap<(DateTime<Utc>, Uuid), i32>,
) -> sqlx::Result<()> {
    if people.is_empty() {
        return Ok(());
    }
    let (mut buckets, mut users, mut masks) = (Vec::new(), Vec::new(), Vec::new());
    for ((bucket, user), mask) in people {
        buckets.push(bucket);
        users.push(user);
        masks.push(mask);
    }
    let table = grain.people_table();
    sqlx::query(&format!(
        "INSERT INTO {table} (bucket, user_id, statuses) \
         SELECT * FROM UNNEST($1::timestamptz[], $2::uuid[], $3::int4[]) \
         ON CONFLICT (bucket, user_id) DO UPDATE SET statuses = {table}.statuses | EXCLUDED.statuses"
    ))
    .bind(&buckets)
    .bind(&users)
    .bind(&masks)
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
