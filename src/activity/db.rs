//! Reading activity: stat cards, percentiles, volume charts and pages of calls for any filter
//! combination, fast at millions of calls.
//!
//! A time range is read in pieces (see [`plan`]): whole UTC days from `activity_daily`, whole
//! hours at the edges from `activity_hourly`, and the minutes before the first and after the
//! last whole hour from `tool_calls` itself. So a request reads at most a few thousand rollup
//! rows plus two partial hours of calls, whatever the range. Filters the rollups do not carry
//! (a tool, a person) narrow the calls enough to read them directly through their indexes.
//! SQL is assembled with only the filters in use, all values bound, so each combination gets
//! a plan that uses its index.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::{
    ActivitySummary, CallStatus, Volume, VolumeBucket,
    histogram::Histogram,
    rollup::{Grain, status_bit},
};

mod calls;

pub use calls::{ExportRow, call_part, calls, export, recent};

/// Every finished status's bit: no status filter.
const ALL_FINISHED: i32 = 1 | 2 | 4 | 8;

/// Which calls a view covers.
#[derive(Clone, Debug)]
pub struct Scope {
    pub server_id: Option<Uuid>,
    pub tool: Option<String>,
    pub user_id: Option<Uuid>,
    /// Empty for every status.
    pub statuses: Vec<CallStatus>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Scope {
    /// Every call of every server in `[from, to)`.
    pub fn range(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Scope {
            server_id: None,
            tool: None,
            user_id: None,
            statuses: Vec::new(),
            from,
            to,
        }
    }

    /// Filters the rollups cannot answer: read the calls themselves.
    fn raw_only(&self) -> bool {
        self.tool.is_some() || self.user_id.is_some()
    }

    fn includes(&self, status: CallStatus) -> bool {
        self.statuses.is_empty() || self.statuses.contains(&status)
    }

    fn finished_statuses(&self) -> Vec<&'static str> {
        CallStatus::ALL
            .into_iter()
            .filter(|s| s.is_finished() && self.includes(*s))
            .map(CallStatus::as_str)
            .collect()
    }

    /// Adds this scope's filters on `tool_calls` (aliased `c`), except time and status.
    fn push_call_filters(&self, qb: &mut QueryBuilder<'_, Postgres>) {
        if let Some(server) = self.server_id {
            qb.push(" AND c.server_id = ").push_bind(server);
        }
        if let Some(tool) = &self.tool {
            qb.push(" AND c.tool_name = ").push_bind(tool.clone());
        }
        if let Some(user) = self.user_id {
            qb.push(" AND c.user_id = ").push_bind(user);
        }
    }
}

type Span = (DateTime<Utc>, DateTime<Utc>);

/// Where each part of a range is read from.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub daily: Option<Span>,
    pub hourly: Vec<Span>,
    pub raw: Vec<Span>,
}

pub fn plan(from: DateTime<Utc>, to: DateTime<Utc>) -> Plan {
    let (h0, h1) = (Grain::Hour.ceil(from), Grain::Hour.floor(to));
    if h0 >= h1 {
        return Plan {
            raw: vec![(from, to)],
            ..Plan::default()
        };
    }
    let raw = [(from, h0), (h1, to)]
        .into_iter()
        .filter(|(a, b)| a < b)
        .collect();
    let (d0, d1) = (Grain::Day.ceil(h0), Grain::Day.floor(h1));
    if d0 < d1 {
        Plan {
            daily: Some((d0, d1)),
            hourly: [(h0, d0), (d1, h1)]
                .into_iter()
                .filter(|(a, b)| a < b)
                .collect(),
            raw,
        }
    } else {
        Plan {
            daily: None,
            hourly: vec![(h0, h1)],
            raw,
        }
    }
}

fn push_spans(qb: &mut QueryBuilder<'_, Postgres>, column: &str, spans: &[Span]) {
    if spans.is_empty() {
        qb.push(" AND false");
        return;
    }
    qb.push(" AND (");
    for (i, (a, b)) in spans.iter().enumerate() {
        if i > 0 {
            qb.push(" OR ");
        }
        qb.push(format!("({column} >= "))
            .push_bind(*a)
            .push(format!(" AND {column} < "))
            .push_bind(*b)
            .push(")");
    }
    qb.push(")");
}

fn push_statuses(qb: &mut QueryBuilder<'_, Postgres>, column: &str, statuses: &[&str]) {
    qb.push(format!(" AND {column} = ANY("))
        .push_bind(statuses.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .push("::call_status[])");
}

/// Finished calls of one server, summed over the pieces of a range.
#[derive(Default)]
struct ServerTotals {
    by_status: [i64; 5],
    latency_sum: i64,
    histogram: Histogram,
}

fn status_index(status: CallStatus) -> usize {
    CallStatus::ALL
        .iter()
        .position(|s| *s == status)
        .expect("every status is listed")
}

fn parse_status(text: &str) -> CallStatus {
    text.parse().unwrap_or(CallStatus::Error)
}

/// Totals per server of the finished calls in scope (`servers` narrows further, for the
/// per-server distributions).
async fn finished_totals(
    pool: &PgPool,
    scope: &Scope,
    servers: &[Uuid],
) -> sqlx::Result<HashMap<Uuid, ServerTotals>> {
    let statuses = scope.finished_statuses();
    let mut totals: HashMap<Uuid, ServerTotals> = HashMap::new();
    if statuses.is_empty() {
        return Ok(totals);
    }
    let plan = if scope.raw_only() {
        Plan {
            raw: vec![(scope.from, scope.to)],
            ..Plan::default()
        }
    } else {
        plan(scope.from, scope.to)
    };
    let rollup_query = |grain: Grain, spans: Vec<Span>| {
        let statuses = statuses.clone();
        async move {
            let mut qb = QueryBuilder::new(format!(
                "SELECT server_id, status::text, calls, latency_sum, latency_hist FROM {} WHERE true",
                grain.table()
            ));
            push_spans(&mut qb, "bucket", &spans);
            if let Some(server) = scope.server_id {
                qb.push(" AND server_id = ").push_bind(server);
            }
            if !servers.is_empty() {
                qb.push(" AND server_id = ANY(")
                    .push_bind(servers.to_vec())
                    .push(")");
            }
            push_statuses(&mut qb, "status", &statuses);
            qb.build_query_as::<(Uuid, String, i64, i64, Vec<i32>)>()
                .fetch_all(pool)
                .await
        }
    };
    let raw_query = async {
        if plan.raw.is_empty() {
            return Ok(Vec::new());
        }
        // Grouped by the exact latency (a few thousand distinct values at most) and bucketed
        // here: cheaper than calling the SQL bucket function once per call.
        let mut qb = QueryBuilder::new(
            "SELECT c.server_id, c.status::text, count(*), coalesce(c.latency_ms, 0) \
             FROM tool_calls c WHERE true",
        );
        push_spans(&mut qb, "c.started_at", &plan.raw);
        scope.push_call_filters(&mut qb);
        if !servers.is_empty() {
            qb.push(" AND c.server_id = ANY(")
                .push_bind(servers.to_vec())
                .push(")");
        }
        push_statuses(&mut qb, "c.status", &statuses);
        qb.push(" GROUP BY 1, 2, 4");
        qb.build_query_as::<(Uuid, String, i64, i32)>()
            .fetch_all(pool)
            .await
    };
    let daily = async {
        match plan.daily {
            Some(span) => rollup_query(Grain::Day, vec![span]).await,
            None => Ok(Vec::new()),
        }
    };
    let hourly = async {
        if plan.hourly.is_empty() {
            Ok(Vec::new())
        } else {
            rollup_query(Grain::Hour, plan.hourly.clone()).await
        }
    };
    let (daily, hourly, raw) = tokio::try_join!(daily, hourly, raw_query)?;
    for (server, status, calls, latency_sum, hist) in daily.into_iter().chain(hourly) {
        let t = totals.entry(server).or_default();
        t.by_status[status_index(parse_status(&status))] += calls;
        t.latency_sum += latency_sum;
        t.histogram.add_counts(&hist);
    }
    for (server, status, calls, latency) in raw {
        let t = totals.entry(server).or_default();
        t.by_status[status_index(parse_status(&status))] += calls;
        t.latency_sum += latency.max(0) as i64 * calls;
        t.histogram.record_many(latency, calls);
    }
    Ok(totals)
}

/// Calls in scope still running (never rolled up; few, and indexed on their own).
async fn running(pool: &PgPool, scope: &Scope) -> sqlx::Result<i64> {
    if !scope.includes(CallStatus::InProgress) {
        return Ok(0);
    }
    let mut qb =
        QueryBuilder::new("SELECT count(*) FROM tool_calls c WHERE c.status = 'in_progress'");
    push_spans(&mut qb, "c.started_at", &[(scope.from, scope.to)]);
    scope.push_call_filters(&mut qb);
    qb.build_query_scalar().fetch_one(pool).await
}

/// How many different people made calls in scope.
async fn unique_users(pool: &PgPool, scope: &Scope) -> sqlx::Result<i64> {
    let mut qb = QueryBuilder::new("SELECT count(*) FROM (");
    let all_statuses: Vec<&str> = CallStatus::ALL
        .into_iter()
        .filter(|s| scope.includes(*s))
        .map(CallStatus::as_str)
        .collect();
    if scope.raw_only() {
        qb.push("SELECT DISTINCT c.user_id FROM tool_calls c WHERE c.user_id IS NOT NULL");
        push_spans(&mut qb, "c.started_at", &[(scope.from, scope.to)]);
        scope.push_call_filters(&mut qb);
        push_statuses(&mut qb, "c.status", &all_statuses);
    } else {
        let plan = plan(scope.from, scope.to);
        let finished = scope.finished_statuses();
        let mask: i32 = CallStatus::ALL
            .into_iter()
            .filter(|s| scope.includes(*s))
            .map(status_bit)
            .fold(0, |a, b| a | b);
        let mut parts = 0;
        for (grain, spans) in [
            (Grain::Day, plan.daily.into_iter().collect::<Vec<_>>()),
            (Grain::Hour, plan.hourly),
        ] {
            if spans.is_empty() || finished.is_empty() {
                continue;
            }
            if parts > 0 {
                qb.push(" UNION ");
            }
            parts += 1;
            // One row per person per bucket: across servers, or of the one server in scope.
            let table = match scope.server_id {
                Some(_) => grain.users_table(),
                None => grain.people_table(),
            };
            qb.push(format!("SELECT user_id FROM {table} WHERE true"));
            push_spans(&mut qb, "bucket", &spans);
            if let Some(server) = scope.server_id {
                qb.push(" AND server_id = ").push_bind(server);
            }
            if mask != ALL_FINISHED {
                qb.push(" AND statuses & ").push_bind(mask).push(" <> 0");
            }
        }
        // The raw edges, and running calls anywhere in the range.
        if parts > 0 {
            qb.push(" UNION ");
        }
        qb.push("SELECT c.user_id FROM tool_calls c WHERE c.user_id IS NOT NULL AND ((true");
        push_spans(&mut qb, "c.started_at", &plan.raw);
        push_statuses(&mut qb, "c.status", &all_statuses);
        qb.push(") OR (c.status = 'in_progress'");
        if !scope.includes(CallStatus::InProgress) {
            qb.push(" AND false");
        }
        push_spans(&mut qb, "c.started_at", &[(scope.from, scope.to)]);
        qb.push("))");
        scope.push_call_filters(&mut qb);
    }
    qb.push(") callers");
    qb.build_query_scalar().fetch_one(pool).await
}

/// The stat cards and percentiles for a scope.
pub async fn summary(pool: &PgPool, scope: &Scope) -> sqlx::Result<ActivitySummary> {
    let (totals, running, users) = tokio::try_join!(
        finished_totals(pool, scope, &[]),
        running(pool, scope),
        unique_users(pool, scope),
    )?;
    let mut by_status = [0i64; 5];
    let mut histogram = Histogram::default();
    let mut latency_sum = 0i64;
    for t in totals.values() {
        for (all, n) in by_status.iter_mut().zip(t.by_status) {
            *all += n;
        }
        histogram.merge(&t.histogram);
        latency_sum += t.latency_sum;
    }
    by_status[status_index(CallStatus::InProgress)] += running;
    let finished = histogram.total();
    let failed =
        by_status[status_index(CallStatus::Error)] + by_status[status_index(CallStatus::Timeout)];
    Ok(ActivitySummary {
        total_calls: by_status.iter().sum(),
        unique_users: users,
        error_rate: if finished > 0 {
            failed as f64 / finished as f64
        } else {
            0.0
        },
        avg_latency_ms: (finished > 0).then(|| latency_sum as f64 / finished as f64),
        p50_ms: histogram.quantile(0.50),
        p95_ms: histogram.quantile(0.95),
        p99_ms: histogram.quantile(0.99),
        by_status: CallStatus::ALL.into_iter().zip(by_status).collect(),
    })
}

/// The latency distribution of each of `servers` over a range, all finished calls: what a
/// call's latency percentile is measured against.
pub async fn distributions(
    pool: &PgPool,
    servers: &[Uuid],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<HashMap<Uuid, Histogram>> {
    if servers.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(finished_totals(pool, &Scope::range(from, to), servers)
        .await?
        .into_iter()
        .map(|(server, t)| (server, t.histogram))
        .collect())
}

/// The latency distribution of the whole scope (the latency chart).
pub async fn latency_histogram(pool: &PgPool, scope: &Scope) -> sqlx::Result<Histogram> {
    let mut histogram = Histogram::default();
    for t in finished_totals(pool, scope, &[]).await?.values() {
        histogram.merge(&t.histogram);
    }
    Ok(histogram)
}

/// The bar width of the volume chart for a range: a few dozen bars up to a day, then days.
pub fn bar_width(range: TimeDelta) -> TimeDelta {
    const STEPS: [(i64, i64); 5] = [(1, 2), (3, 5), (6, 15), (12, 30), (25, 60)];
    STEPS
        .iter()
        .find(|(hours, _)| range <= TimeDelta::hours(*hours))
        .map(|(_, minutes)| TimeDelta::minutes(*minutes))
        .unwrap_or(TimeDelta::days(1))
}

/// Calls per bar and status over the scope's range.
pub async fn volume(pool: &PgPool, scope: &Scope) -> sqlx::Result<Volume> {
    let width = bar_width(scope.to - scope.from);
    let origin: DateTime<Utc> = DateTime::UNIX_EPOCH;
    let all: Vec<&str> = CallStatus::ALL
        .into_iter()
        .filter(|s| scope.includes(*s))
        .map(CallStatus::as_str)
        .collect();
    let finished = scope.finished_statuses();
    let mut counts: HashMap<DateTime<Utc>, [i64; 5]> = HashMap::new();
    let mut add = |rows: Vec<(DateTime<Utc>, String, i64)>| {
        for (bar, status, n) in rows {
            counts.entry(bar).or_default()[status_index(parse_status(&status))] += n;
        }
    };
    if width < TimeDelta::hours(1) || scope.raw_only() {
        let mut qb = QueryBuilder::new("SELECT date_bin(");
        qb.push_bind(width)
            .push(", c.started_at, ")
            .push_bind(origin)
            .push("), c.status::text, count(*) FROM tool_calls c WHERE true");
        push_spans(&mut qb, "c.started_at", &[(scope.from, scope.to)]);
        scope.push_call_filters(&mut qb);
        push_statuses(&mut qb, "c.status", &all);
        qb.push(" GROUP BY 1, 2");
        add(qb.build_query_as().fetch_all(pool).await?);
    } else {
        let plan = plan(scope.from, scope.to);
        for (grain, spans) in [
            (Grain::Day, plan.daily.into_iter().collect::<Vec<_>>()),
            (Grain::Hour, plan.hourly.clone()),
        ] {
            if spans.is_empty() || finished.is_empty() {
                continue;
            }
            let mut qb = QueryBuilder::new("SELECT date_bin(");
            qb.push_bind(width)
                .push(", bucket, ")
                .push_bind(origin)
                .push(format!(
                    "), status::text, sum(calls)::int8 FROM {} WHERE true",
                    grain.table()
                ));
            push_spans(&mut qb, "bucket", &spans);
            if let Some(server) = scope.server_id {
                qb.push(" AND server_id = ").push_bind(server);
            }
            push_statuses(&mut qb, "status", &finished);
            qb.push(" GROUP BY 1, 2");
            add(qb.build_query_as().fetch_all(pool).await?);
        }
        // Raw edges (finished and running), then running calls in the rolled-up middle.
        let mut qb = QueryBuilder::new("SELECT date_bin(");
        qb.push_bind(width)
            .push(", c.started_at, ")
            .push_bind(origin)
            .push("), c.status::text, count(*) FROM tool_calls c WHERE ((true");
        if plan.raw.is_empty() {
            qb.push(" AND false");
        } else {
            push_spans(&mut qb, "c.started_at", &plan.raw);
        }
        push_statuses(&mut qb, "c.status", &all);
        qb.push(") OR (c.status = 'in_progress'");
        if !scope.includes(CallStatus::InProgress) {
            qb.push(" AND false");
        }
        push_spans(&mut qb, "c.started_at", &[(scope.from, scope.to)]);
        qb.push("))");
        scope.push_call_filters(&mut qb);
        qb.push(" GROUP BY 1, 2");
        add(qb.build_query_as().fetch_all(pool).await?);
    }
    // Every bar in the range, empty ones included, so the time axis is even.
    let first = bin(scope.from, width);
    let mut buckets = Vec::new();
    let mut start = first;
    while start < scope.to {
        buckets.push(VolumeBucket {
            start,
            counts: counts.get(&start).copied().unwrap_or_default(),
        });
        start += width;
    }
    Ok(Volume {
        bucket_seconds: width.num_seconds(),
        buckets,
    })
}

fn bin(at: DateTime<Utc>, width: TimeDelta) -> DateTime<Utc> {
    let w = width.num_seconds();
    let secs = at.timestamp().div_euclid(w) * w;
    DateTime::from_timestamp(secs, 0).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_long_range_reads_days_then_hours_then_minutes_at_each_end() {
        let p = plan(at("2026-11-01T09:30:00Z"), at("2026-11-08T14:45:00Z"));
        assert_eq!(
            p.daily,
            Some((at("2026-11-02T00:00:00Z"), at("2026-11-08T00:00:00Z")))
        );
        assert_eq!(
            p.hourly,
            [
                (at("2026-11-01T10:00:00Z"), at("2026-11-02T00:00:00Z")),
                (at("2026-11-08T00:00:00Z"), at("2026-11-08T14:00:00Z"))
            ]
        );
        assert_eq!(
            p.raw,
            [
                (at("2026-11-01T09:30:00Z"), at("2026-11-01T10:00:00Z")),
                (at("2026-11-08T14:00:00Z"), at("2026-11-08T14:45:00Z"))
            ]
        );
    }

    #[test]
    fn a_short_range_reads_calls_and_an_aligned_one_reads_only_rollups() {
        let p = plan(at("2026-11-01T09:10:00Z"), at("2026-11-01T09:50:00Z"));
        assert_eq!(
            p.raw,
            [(at("2026-11-01T09:10:00Z"), at("2026-11-01T09:50:00Z"))]
        );
        assert!(p.hourly.is_empty() && p.daily.is_none());
        let p = plan(at("2026-11-01T00:00:00Z"), at("2026-11-03T00:00:00Z"));
        assert_eq!(
            p.daily,
            Some((at("2026-11-01T00:00:00Z"), at("2026-11-03T00:00:00Z")))
        );
        assert!(p.hourly.is_empty() && p.raw.is_empty());
    }

    #[test]
    fn bars_are_minutes_for_short_ranges_and_days_beyond_one() {
        assert_eq!(bar_width(TimeDelta::hours(1)), TimeDelta::minutes(2));
        assert_eq!(bar_width(TimeDelta::hours(24)), TimeDelta::hours(1));
        assert_eq!(bar_width(TimeDelta::days(7)), TimeDelta::days(1));
    }
}
