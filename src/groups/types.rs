//! The shapes of groups the pages, the server functions and the JSON API share.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::accounts::Role;

/// Members per page on a group's Members tab.
pub const MEMBERS_PER_PAGE: u32 = 15;

/// A row of the groups list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct GroupSummary {
    pub id: Uuid,
    pub name: String,
    pub is_default: bool,
    pub member_count: i64,
    /// The names of the few people who joined most recently.
    pub recent_members: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// A person as a group's member list shows them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MemberView {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    #[cfg_attr(feature = "ssr", schema(value_type = String))]
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MemberPage {
    pub members: Vec<MemberView>,
    pub total: i64,
    pub page: u32,
}

impl MemberPage {
    pub fn pages(&self) -> u32 {
        ((self.total.max(0) as u64).div_ceil(MEMBERS_PER_PAGE as u64)).max(1) as u32
    }
}

/// Someone about to be added to a group, with the group they would leave.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub group_id: Uuid,
    pub group_name: String,
}

/// One tool of a server on a group's Agent tools tab.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ToolAccess {
    pub name: String,
    pub description: Option<String>,
    /// When the restriction was added, if the tool is restricted.
    pub restricted_at: Option<DateTime<Utc>>,
    /// Restricted, but the server no longer lists the tool. Kept until someone removes it.
    pub stale: bool,
}

/// A server's tools and which of them the group may not call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServerAccess {
    pub server_id: Uuid,
    pub slug: String,
    pub name: String,
    pub tools: Vec<ToolAccess>,
}

impl ServerAccess {
    pub fn restricted(&self) -> usize {
        self.tools
            .iter()
            .filter(|t| t.restricted_at.is_some())
            .count()
    }

    /// Every tool the server lists is restricted: the group does not see the server.
    pub fn hidden(&self) -> bool {
        let listed: Vec<&ToolAccess> = self.tools.iter().filter(|t| !t.stale).collect();
        !listed.is_empty() && listed.iter().all(|t| t.restricted_at.is_some())
    }
}

/// A group with what its detail page shows in its header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct GroupDetail {
    pub id: Uuid,
    pub name: String,
    pub is_default: bool,
    pub member_count: i64,
    pub created_at: DateTime<Utc>,
    /// The name of the default group, where removed members go.
    pub default_group: String,
}
