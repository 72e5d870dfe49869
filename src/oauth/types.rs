//! OAuth values shared by the server and the pages.

use serde::{Deserialize, Serialize};

/// Access tokens live an hour; clients refresh them.
pub const ACCESS_TOKEN_SECONDS: i64 = 3600;
/// Refresh tokens live six months from when they are issued, and each is used once.
pub const REFRESH_TOKEN_DAYS: i64 = 183;
/// Authorization codes are exchanged within minutes or not at all.
pub const CODE_SECONDS: i64 = 300;
/// How long the consent page may wait for an answer.
pub const REQUEST_SECONDS: i64 = 600;

/// Token prefixes say what a token is at a glance (and to secret scanners).
pub const ACCESS_TOKEN_PREFIX: &str = "gh_oat_";
pub const REFRESH_TOKEN_PREFIX: &str = "gh_ort_";
pub const CODE_PREFIX: &str = "gh_oac_";
pub const CLIENT_SECRET_PREFIX: &str = "gh_ocs_";

/// The scopes clients may ask for. `mcp` reaches the MCP servers; `offline_access` is
/// accepted for clients that ask for refresh tokens by name (they get one either way).
pub const SCOPES: &[&str] = &["mcp", "offline_access"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::Type, utoipa::ToSchema))]
#[cfg_attr(
    feature = "ssr",
    sqlx(type_name = "oauth_client_kind", rename_all = "snake_case")
)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    MetadataDocument,
    Dynamic,
    Manual,
}

impl ClientKind {
    pub fn label(self) -> &'static str {
        match self {
            ClientKind::MetadataDocument => "Metadata document",
            ClientKind::Dynamic => "Registered itself",
            ClientKind::Manual => "Registered by an admin",
        }
    }
}
