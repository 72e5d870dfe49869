//! What an activity page asks for and gets back: one server function serves the global page,
//! a server's Activity tab and a person's page, so they cannot drift apart.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::{ActivityQuery, ActivitySummary, CallPage, Filters};
use crate::error::AppError;

/// Whose calls a page shows, as it travels in the server function's form: `all`, `home`
/// (everything for an admin, their own calls for anyone else), `mine`, `server:{slug}` or
/// `user:{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActivityTarget {
    All,
    Home,
    Mine,
    Server(String),
    User(uuid::Uuid),
}

impl ActivityTarget {
    pub fn key(&self) -> String {
        match self {
            ActivityTarget::All => "all".to_owned(),
            ActivityTarget::Home => "home".to_owned(),
            ActivityTarget::Mine => "mine".to_owned(),
            ActivityTarget::Server(slug) => format!("server:{slug}"),
            ActivityTarget::User(id) => format!("user:{id}"),
        }
    }

    pub fn parse(key: &str) -> Result<Self, AppError> {
        let unknown = || AppError::invalid("target", "Unknown activity view.");
        Ok(match key.split_once(':') {
            None if key == "all" => ActivityTarget::All,
            None if key == "home" => ActivityTarget::Home,
            None if key == "mine" => ActivityTarget::Mine,
            Some(("server", slug)) if !slug.is_empty() => ActivityTarget::Server(slug.to_owned()),
            Some(("user", id)) => ActivityTarget::User(id.parse().map_err(|_| unknown())?),
            _ => return Err(unknown()),
        })
    }
}

/// The filter bar's choices.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FilterChoices {
    /// `(slug, label)` of every server, deleted ones marked (global page only).
    pub servers: Vec<(String, String)>,
    /// The server's tools (a server's tab only).
    pub tools: Vec<String>,
    /// Emails offered while typing a person (admins only).
    pub users: Vec<String>,
}

/// Everything an activity page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivityData {
    /// Where the page lives; filter links and the pager point here.
    pub base: String,
    pub filters: Filters,
    pub choices: FilterChoices,
    pub summary: ActivitySummary,
    pub calls: CallPage,
    /// Whether the table shows the server column, and which filters the bar offers.
    pub show_server: bool,
    pub show_tool: bool,
    pub show_user: bool,
    /// Calls over time stacked by status (bars of minutes up to a day, of days beyond).
    pub volume_title: String,
    pub volume_svg: String,
    /// The latency distribution (a server's tab).
    pub latency_svg: Option<String>,
    /// The current view as CSV.
    pub export_href: String,
}

#[server(prefix = "/_fn", endpoint = "activity/view")]
pub async fn activity_view(target: String, query: ActivityQuery) -> Result<ActivityData, AppError> {
    let user = crate::accounts::session::require_user()?;
    let state = crate::startup::AppState::from_context()?;
    let target = ActivityTarget::parse(&target)?;
    super::service::page(&state, &user, &target, &query).await
}
