//! The one error type of the dashboard boundary (server functions). A user mistake says exactly
//! what to fix; an internal failure is logged once on the server and shown as a generic message.

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Please sign in to continue.")]
    Unauthenticated,
    #[error("You do not have access to this page.")]
    Forbidden,
    #[error("{0} was not found.")]
    NotFound(String),
    /// Bad input; `field` names the form field to highlight, when there is one.
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        message: String,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("Something went wrong on our side. It has been logged; please try again.")]
    Internal,
    /// The browser could not talk to the server (network down, server restarting).
    #[error("Could not reach Gatehouse: {0}")]
    Transport(String),
}

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Invalid {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// The message for `field`, if this error is about that form field.
    pub fn for_field(&self, name: &str) -> Option<String> {
        match self {
            AppError::Invalid {
                field: Some(field),
                message,
            } if field == name => Some(message.clone()),
            _ => None,
        }
    }

    /// Logs an unexpected failure with its details and returns the opaque error users see.
    #[cfg(feature = "ssr")]
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "{context}");
        AppError::Internal
    }

    /// The HTTP status this error stands for.
    #[cfg(feature = "ssr")]
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Internal | AppError::Transport(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(msg) | ServerFnErrorErr::MissingArg(msg) => AppError::Invalid {
                field: None,
                message: format!("The form was incomplete: {msg}"),
            },
            ServerFnErrorErr::Request(msg) | ServerFnErrorErr::Response(msg) => {
                AppError::Transport(msg)
            }
            other => {
                #[cfg(feature = "ssr")]
                tracing::error!(error = %other, "server function failed");
                #[cfg(not(feature = "ssr"))]
                let _ = other;
                AppError::Internal
            }
        }
    }
}

/// The JSON API's answer for an error: the status it stands for and a body that says what to
/// fix, `{"error": {"kind": "invalid", "message": "...", "field": "name"}}`.
#[cfg(feature = "ssr")]
impl axum::response::IntoResponse for AppError {
    fn into_response(self) -> axum::response::Response {
        let kind = match &self {
            AppError::Unauthenticated => "unauthenticated",
            AppError::Forbidden => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::Invalid { .. } => "invalid",
            AppError::Conflict(_) => "conflict",
            AppError::TooManyRequests(_) => "too_many_requests",
            AppError::Internal | AppError::Transport(_) => "internal",
        };
        let field = match &self {
            AppError::Invalid { field, .. } => field.clone(),
            _ => None,
        };
        let body = serde_json::json!({ "error": { "kind": kind, "message": self.to_string(), "field": field } });
        (self.status(), axum::Json(body)).into_response()
    }
}

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        AppError::internal("database error", err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_are_found_by_field_name() {
        let err = AppError::invalid("email", "Enter an email address.");
        assert_eq!(
            err.for_field("email").as_deref(),
            Some("Enter an email address.")
        );
        assert_eq!(err.for_field("password"), None);
    }

    #[test]
    fn internal_errors_reveal_nothing() {
        assert!(!AppError::Internal.to_string().contains("sql"));
    }
}
