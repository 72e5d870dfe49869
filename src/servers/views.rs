//! What the server pages show, as the server hands it to the browser.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{AuthMethod, ServerSource, ServerStatus};

/// One row of the servers list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServerSummary {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub status: ServerStatus,
    pub source: String,
    pub creator_name: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// The servers list, with the moment it was read (for relative times).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServerList {
    pub servers: Vec<ServerSummary>,
    pub now: DateTime<Utc>,
}

/// The filters of the servers list; they live in the URL so a view can be shared.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServerFilter {
    pub q: String,
    pub deactivated: bool,
    pub mine: bool,
}

/// Everything the detail header and the Overview and Settings tabs show.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServerDetail {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub status: ServerStatus,
    pub auth_method: AuthMethod,
    pub source: ServerSource,
    pub creator_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The MCP URL clients connect to.
    pub mcp_url: String,
    pub call_timeout_ms: i32,
    pub live_deployment: Option<DeploymentView>,
    /// Environment variables changed since the live deployment was made.
    pub env_pending: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EnvVarView {
    pub name: String,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DeploymentView {
    pub id: Uuid,
    pub number: i32,
    pub status: String,
    pub summary: String,
    pub source: String,
    pub author: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub live: bool,
}

/// A tool the live deployment exposes, and which groups may call it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ToolView {
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    /// The input schema, pretty-printed.
    pub input_schema: String,
    /// Annotation hints that are set, as (name, value).
    pub annotations: Vec<(String, String)>,
    pub allowed_groups: Vec<String>,
    pub restricted_groups: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ToolsView {
    pub tools: Vec<ToolView>,
    pub fetched_at: Option<DateTime<Utc>>,
    /// Why the last refresh failed, if it did.
    pub error: Option<String>,
}
