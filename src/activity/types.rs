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
