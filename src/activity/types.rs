use serde::{Deserialize, Serialize};

/// How a tool call ended, or that it is still running.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// Input and output, pretty-printed.
    pub input: Option<String>,
    pub output: Option<String>,
    pub output_truncated: bool,
    pub error: Option<String>,
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
