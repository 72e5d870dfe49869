//! The activity filters. They live in the URL (so a view can be shared) as plain strings, and
//! are checked here, on both sides: a bad value becomes a message on the page, never a failure.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::CallStatus;
use crate::error::AppError;

/// The filters exactly as the URL holds them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityQuery {
    /// Statuses, comma-separated (`error,timeout`); empty for all.
    #[serde(default)]
    pub status: String,
    /// A server's URL name (the global page only).
    #[serde(default)]
    pub server: String,
    /// A tool name (a server's tab only).
    #[serde(default)]
    pub tool: String,
    /// A person's email (not on a person's own page).
    #[serde(default)]
    pub user: String,
    /// `1h`, `24h`, `7d`, `30d` or `custom` (with `from` and `to`).
    #[serde(default)]
    pub range: String,
    /// Start and end of a custom range, `YYYY-MM-DDTHH:MM` in UTC (what a datetime field sends).
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub page: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Preset {
    LastHour,
    Last24Hours,
    Last7Days,
    Last30Days,
    Custom,
}

impl Preset {
    pub const CHOICES: [(Preset, &'static str, &'static str); 4] = [
        (Preset::LastHour, "1h", "Last hour"),
        (Preset::Last24Hours, "24h", "Last 24 hours"),
        (Preset::Last7Days, "7d", "Last 7 days"),
        (Preset::Last30Days, "30d", "Last 30 days"),
    ];

    pub fn key(self) -> &'static str {
        Self::CHOICES
            .iter()
            .find(|(p, ..)| *p == self)
            .map_or("custom", |(_, key, _)| key)
    }

    fn length(self) -> Option<TimeDelta> {
        match self {
            Preset::LastHour => Some(TimeDelta::hours(1)),
            Preset::Last24Hours => Some(TimeDelta::hours(24)),
            Preset::Last7Days => Some(TimeDelta::days(7)),
            Preset::Last30Days => Some(TimeDelta::days(30)),
            Preset::Custom => None,
        }
    }
}

/// The checked filters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Filters {
    pub statuses: Vec<CallStatus>,
    pub server: Option<String>,
    pub tool: Option<String>,
    pub user: Option<String>,
    pub preset: Preset,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub page: u32,
}

/// The longest custom range: beyond a year the charts say nothing and exports get huge.
const MAX_RANGE_DAYS: i64 = 400;
pub const DATETIME_FORMAT: &str = "%Y-%m-%dT%H:%M";

impl ActivityQuery {
    /// Checks the filters; `default_preset` applies when the URL names no range.
    pub fn parse(&self, now: DateTime<Utc>, default_preset: Preset) -> Result<Filters, AppError> {
        let mut statuses = Vec::new();
        for part in self
            .status
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let status: CallStatus = part.parse().map_err(|_| {
                AppError::invalid(
                    "status",
                    format!(
                        "Unknown status \u{201c}{}\u{201d}: use success, error, permission_denied, timeout or in_progress.",
                        shorten(part)
                    ),
                )
            })?;
            if !statuses.contains(&status) {
                statuses.push(status);
            }
        }
        let (preset, from, to) =
            parse_range(&self.range, &self.from, &self.to, now, default_preset)?;
        let text = |value: &str, field: &str| -> Result<Option<String>, AppError> {
            let value = value.trim();
            if value.chars().count() > 200 {
                return Err(AppError::invalid(field, "That filter is too long."));
            }
            Ok((!value.is_empty()).then(|| value.to_owned()))
        };
        Ok(Filters {
            statuses,
            server: text(&self.server, "server")?,
            tool: text(&self.tool, "tool")?,
            user: text(&self.user, "user")?,
            preset,
            from,
            to,
            page: self.page.unwrap_or(1).max(1),
        })
    }
}

/// A time range as the URL holds it: a preset key (`1h`, `24h`, `7d`, `30d`), or `custom` with
/// a start and an optional end (now); a start with no range named is custom too.
pub fn parse_range(
    range: &str,
    from_text: &str,
    to_text: &str,
    now: DateTime<Utc>,
    default_preset: Preset,
) -> Result<(Preset, DateTime<Utc>, DateTime<Utc>), AppError> {
    let preset = match range.trim() {
        // A start date with no range named is a custom range (a form sent without the
        // range select changed, or a hand-written URL).
        "" if !from_text.trim().is_empty() || !to_text.trim().is_empty() => Preset::Custom,
        "" => default_preset,
        "custom" => Preset::Custom,
        key => Preset::CHOICES
            .iter()
            .find(|(_, k, _)| *k == key)
            .map(|(p, ..)| *p)
            .ok_or_else(|| {
                AppError::invalid(
                    "range",
                    format!(
                        "Unknown range \u{201c}{}\u{201d}: use 1h, 24h, 7d, 30d or custom.",
                        shorten(key)
                    ),
                )
            })?,
    };
    let (from, to) = match preset.length() {
        Some(length) => (now - length, now),
        None => {
            let from = parse_time("from", from_text)?;
            let to = match to_text.trim() {
                "" => now,
                _ => parse_time("to", to_text)?,
            };
            if from >= to {
                return Err(AppError::invalid(
                    "to",
                    "The end of the range must be after its start.",
                ));
            }
            if to - from > TimeDelta::days(MAX_RANGE_DAYS) {
                return Err(AppError::invalid(
                    "from",
                    format!("Choose a range of at most {MAX_RANGE_DAYS} days."),
                ));
            }
            (from, to)
        }
    };
    Ok((preset, from, to))
}

fn parse_time(field: &str, value: &str) -> Result<DateTime<Utc>, AppError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AppError::invalid(field, "Choose a date and time."));
    }
    NaiveDateTime::parse_from_str(value, DATETIME_FORMAT)
        .or_else(|_| NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S"))
        .map(|t| t.and_utc())
        .or_else(|_| DateTime::parse_from_rfc3339(value).map(|t| t.to_utc()))
        .map_err(|_| {
            AppError::invalid(
                field,
                format!(
                    "\u{201c}{}\u{201d} is not a date and time like 2026-11-01T09:30.",
                    shorten(value)
                ),
            )
        })
}

/// Echoes at most a few dozen characters of a bad value back to the page.
fn shorten(value: &str) -> String {
    let mut short: String = value.chars().take(40).collect();
    if short.len() < value.len() {
        short.push('…');
    }
    short
}

impl Filters {
    /// How many filters narrow the view, for the badge on the filter bar (the range is always
    /// set and does not count).
    pub fn active(&self) -> usize {
        usize::from(!self.statuses.is_empty())
            + usize::from(self.server.is_some())
            + usize::from(self.tool.is_some())
            + usize::from(self.user.is_some())
    }

    /// The URL query for these filters, with `page`.
    pub fn to_query(&self, page: u32) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if !self.statuses.is_empty() {
            let statuses: Vec<&str> = self.statuses.iter().map(|s| s.as_str()).collect();
            pairs.push(("status", statuses.join(",")));
        }
        for (key, value) in [
            ("server", &self.server),
            ("tool", &self.tool),
            ("user", &self.user),
        ] {
            if let Some(value) = value {
                pairs.push((key, value.clone()));
            }
        }
        pairs.push(("range", self.preset.key().to_owned()));
        if self.preset == Preset::Custom {
            pairs.push(("from", self.from.format(DATETIME_FORMAT).to_string()));
            pairs.push(("to", self.to.format(DATETIME_FORMAT).to_string()));
        }
        if page > 1 {
            pairs.push(("page", page.to_string()));
        }
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-22T12:00:00Z".parse().unwrap()
    }

    fn query(pairs: &[(&str, &str)]) -> ActivityQuery {
        let mut q = ActivityQuery::default();
        for (k, v) in pairs {
            let v = (*v).to_owned();
            match *k {
                "status" => q.status = v,
                "range" => q.range = v,
                "from" => q.from = v,
                "to" => q.to = v,
                "server" => q.server = v,
                _ => unreachable!(),
            }
        }
        q
    }

    #[test]
    fn presets_end_now() {
        let f = query(&[("range", "7d")])
            .parse(now(), Preset::Last24Hours)
            .unwrap();
        assert_eq!(f.to, now());
        assert_eq!(f.to - f.from, TimeDelta::days(7));
        let f = query(&[]).parse(now(), Preset::Last24Hours).unwrap();
        assert_eq!(f.preset, Preset::Last24Hours);
    }

    #[test]
    fn a_custom_range_needs_a_start_before_its_end() {
        let ok = query(&[
            ("range", "custom"),
            ("from", "2026-11-01T09:30"),
            ("to", "2026-11-02T10:00"),
        ])
        .parse(now(), Preset::Last24Hours)
        .unwrap();
        assert_eq!(ok.from.to_rfc3339(), "2026-11-01T09:30:00+00:00");
        let inverted = query(&[
            ("range", "custom"),
            ("from", "2026-11-02T09:30"),
            ("to", "2026-11-01T10:00"),
        ])
        .parse(now(), Preset::Last24Hours)
        .unwrap_err();
        assert_eq!(
            inverted.for_field("to").unwrap(),
            "The end of the range must be after its start."
        );
        let bad = query(&[("range", "custom"), ("from", "yesterday")])
            .parse(now(), Preset::Last24Hours)
            .unwrap_err();
        assert!(
            bad.for_field("from")
                .unwrap()
                .contains("not a date and time")
        );
    }

    #[test]
    fn unknown_values_are_named_in_the_message() {
        let err = query(&[("status", "success,'; DROP TABLE users;--")])
            .parse(now(), Preset::Last24Hours)
            .unwrap_err();
        assert!(err.for_field("status").unwrap().contains("DROP TABLE"));
        let err = query(&[("range", "forever")])
            .parse(now(), Preset::Last24Hours)
            .unwrap_err();
        assert!(err.for_field("range").is_some());
    }

    #[test]
    fn the_url_round_trips_and_counts_its_filters() {
        let f = query(&[
            ("status", "error,timeout,error"),
            ("server", "linear"),
            ("range", "30d"),
        ])
        .parse(now(), Preset::Last24Hours)
        .unwrap();
        assert_eq!(f.statuses, [CallStatus::Error, CallStatus::Timeout]);
        assert_eq!(f.active(), 2);
        assert_eq!(
            f.to_query(3),
            "status=error%2Ctimeout&server=linear&range=30d&page=3"
        );
    }
}
