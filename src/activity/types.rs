use serde::{Deserialize, Serialize};

/// How a tool call ended, or that it is still running.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    InProgress,
    Success,
    Error,
    PermissionDenied,
    Timeout,
}

impl CallStatus {
    pub const ALL: [CallStatus; 5] = [
        CallStatus::Success,
        CallStatus::Error,
        CallStatus::PermissionDenied,
        CallStatus::Timeout,
        CallStatus::InProgress,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::InProgress => "in_progress",
            CallStatus::Success => "success",
            CallStatus::Error => "error",
            CallStatus::PermissionDenied => "permission_denied",
            CallStatus::Timeout => "timeout",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            CallStatus::InProgress => "In progress",
            CallStatus::Success => "Success",
            CallStatus::Error => "Error",
            CallStatus::PermissionDenied => "Permission denied",
            CallStatus::Timeout => "Timeout",
        }
    }

    pub fn is_finished(self) -> bool {
        self != CallStatus::InProgress
    }
}

impl std::str::FromStr for CallStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CallStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown status {s:?}"))
    }
}

/// One tool call as the activity tables show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallView {
    pub id: uuid::Uuid,
    pub server_slug: String,
    pub server_name: String,
    pub tool: String,
    pub user_name: Option<String>,
    pub user_email: Option<String>,
    pub client: Option<String>,
    pub status: CallStatus,
    pub latency_ms: Option<i32>,
    /// Where the latency falls among the server's calls in the selected range (0..=1).
    pub latency_rank: Option<f64>,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub input: Payload,
    pub output: Payload,
    pub output_truncated: bool,
    pub error: Option<String>,
}

/// A call's input or output as a page shows it. A page holds a few calls, so one that is too
/// large to show whole is offered as a download instead ([`Payload::SHOWN_BYTES`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Payload {
    NotRecorded,
    /// Pretty-printed.
    Shown(String),
    TooLarge {
        bytes: i64,
    },
}

impl Payload {
    /// The largest input or output shown on a page.
    pub const SHOWN_BYTES: i64 = 64 * 1024;
}

/// Which JSON of a call a download asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Input,
    Output,
}

impl Part {
    /// The file name a download of this part ends in.
    pub fn file(self) -> &'static str {
        match self {
            Part::Input => "input.json",
            Part::Output => "output.json",
        }
    }

    pub fn from_file(file: &str) -> Option<Part> {
        [Part::Input, Part::Output]
            .into_iter()
            .find(|part| part.file() == file)
    }

    /// Where a call's part is downloaded, whole.
    pub fn href(self, call: uuid::Uuid) -> String {
        format!("/activity/calls/{call}/{}", self.file())
    }

    pub fn noun(self) -> &'static str {
        match self {
            Part::Input => "input",
            Part::Output => "output",
        }
    }
}

/// A page of calls, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallPage {
    pub calls: Vec<CallView>,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
    /// When the page was read, so relative times agree between server and browser.
    pub now: chrono::DateTime<chrono::Utc>,
}

impl CallPage {
    pub fn pages(&self) -> u32 {
        ((self.total.max(0) as u64).div_ceil(self.per_page.max(1) as u64)).max(1) as u32
    }
}

/// The numbers above every activity view, for the selected range and filters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ActivitySummary {
    /// Every call in range, running ones included.
    pub total_calls: i64,
    pub unique_users: i64,
    /// Errors and timeouts over finished calls.
    pub error_rate: f64,
    pub avg_latency_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub by_status: Vec<(CallStatus, i64)>,
}

impl ActivitySummary {
    pub fn count(&self, status: CallStatus) -> i64 {
        self.by_status
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n)
    }
}

/// Calls per time bucket and status: the data behind the volume charts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    pub bucket_seconds: i64,
    pub buckets: Vec<VolumeBucket>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VolumeBucket {
    pub start: chrono::DateTime<chrono::Utc>,
    /// Calls per status, in the order of [`CallStatus::ALL`].
    pub counts: [i64; 5],
}
