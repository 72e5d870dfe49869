//! Reading the audit trail: filters from the URL, one page of events.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{activity::Preset, error::AppError};

pub const PER_PAGE: u32 = 20;

/// What the audit log can be narrowed to: the first part of an event's kind.
pub const KINDS: [(&str, &str); 8] = [
    ("server", "Servers"),
    ("env", "Environment variables"),
    ("group", "Groups"),
    ("restriction", "Tool restrictions"),
    ("user", "People"),
    ("token", "Tokens"),
    ("client", "OAuth clients"),
    ("connection", "Connected clients"),
];

/// The filters exactly as the URL holds them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    pub range: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    /// Who made the change: an email, or `command line`.
    #[serde(default)]
    pub actor: String,
    /// One of [`KINDS`].
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub page: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    pub subject: String,
    /// The changed fields, pretty-printed.
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditPageData {
    pub events: Vec<AuditEvent>,
    pub total: i64,
    pub page: u32,
    pub preset: Preset,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    /// Everyone who has made a change, for the actor field's suggestions.
    pub actors: Vec<String>,
    pub now: DateTime<Utc>,
}

impl AuditPageData {
    pub fn pages(&self) -> u32 {
        ((self.total.max(0) as u64).div_ceil(PER_PAGE as u64)).max(1) as u32
    }

    /// The URL of another page of the same view.
    pub fn href(&self, page: u32) -> String {
        let mut pairs: Vec<(&str, String)> = vec![("range", self.preset.key().to_owned())];
        if self.preset == Preset::Custom {
            let format = crate::activity::DATETIME_FORMAT;
            pairs.push(("from", self.from.format(format).to_string()));
            pairs.push(("to", self.to.format(format).to_string()));
        }
        if !self.actor.is_empty() {
            pairs.push(("actor", self.actor.clone()));
        }
        if !self.kind.is_empty() {
            pairs.push(("kind", self.kind.clone()));
        }
        if page > 1 {
            pairs.push(("page", page.to_string()));
        }
        format!(
            "/audit?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    }
}

#[server(prefix = "/_fn", endpoint = "audit/list")]
pub async fn audit_events(query: AuditQuery) -> Result<AuditPageData, AppError> {
    crate::accounts::session::require_admin()?;
    let state = crate::startup::AppState::from_context()?;
    read(&state.pool, &query).await
}

#[cfg(feature = "ssr")]
fn pretty(value: Option<serde_json::Value>) -> Option<String> {
    value.and_then(|v| serde_json::to_string_pretty(&v).ok())
}

#[cfg(feature = "ssr")]
pub async fn read(pool: &sqlx::PgPool, query: &AuditQuery) -> Result<AuditPageData, AppError> {
    let now = Utc::now();
    let (preset, from, to) =
        crate::activity::parse_range(&query.range, &query.from, &query.to, now, Preset::Last7Days)?;
    let kind = query.kind.trim();
    if !kind.is_empty() && !KINDS.iter().any(|(k, _)| *k == kind) {
        return Err(AppError::invalid(
            "kind",
            "Unknown kind of change: choose one from the list.",
        ));
    }
    let actor = query.actor.trim();
    if actor.chars().count() > 254 {
        return Err(AppError::invalid("actor", "That filter is too long."));
    }
    let page = query.page.unwrap_or(1).max(1);
    let filters = |qb: &mut sqlx::QueryBuilder<'_, sqlx::Postgres>| {
        qb.push(" WHERE occurred_at >= ")
            .push_bind(from)
            .push(" AND occurred_at < ")
            .push_bind(to);
        if !kind.is_empty() {
            qb.push(" AND split_part(kind, '.', 1) = ")
                .push_bind(kind.to_owned());
        }
        if !actor.is_empty() {
            qb.push(" AND lower(actor_label) = lower(")
                .push_bind(actor.to_owned())
                .push(")");
        }
    };
    let mut count = sqlx::QueryBuilder::new("SELECT count(*) FROM audit_events");
    filters(&mut count);
    let mut rows = sqlx::QueryBuilder::new(
        "SELECT id, occurred_at, actor_label, kind, subject, before, after FROM audit_events",
    );
    filters(&mut rows);
    rows.push(" ORDER BY occurred_at DESC, id DESC LIMIT ")
        .push_bind(PER_PAGE as i64)
        .push(" OFFSET ")
        .push_bind((page as i64 - 1) * PER_PAGE as i64);
    type Row = (
        i64,
        DateTime<Utc>,
        String,
        String,
        String,
        Option<serde_json::Value>,
        Option<serde_json::Value>,
    );
    let (total, rows, actors) = tokio::try_join!(
        count.build_query_scalar::<i64>().fetch_one(pool),
        rows.build_query_as::<Row>().fetch_all(pool),
        sqlx::query_scalar::<_, String>(
            "SELECT DISTINCT actor_label FROM audit_events ORDER BY 1 LIMIT 500"
        )
        .fetch_all(pool),
    )?;
    Ok(AuditPageData {
        events: rows
            .into_iter()
            .map(
                |(id, occurred_at, actor, kind, subject, before, after)| AuditEvent {
                    id,
                    occurred_at,
                    actor,
                    kind,
                    subject,
                    before: pretty(before),
                    after: pretty(after),
                },
            )
            .collect(),
        total,
        page,
        preset,
        from,
        to,
        actor: actor.to_owned(),
        kind: kind.to_owned(),
        actors,
        now,
    })
}
