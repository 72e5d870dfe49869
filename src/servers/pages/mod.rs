//! The servers pages: the list, the creation wizard, and the five-tab detail page.

mod detail;
mod list;
mod settings;
mod tabs;
mod wizard;

pub use detail::{OverviewTab, ServerLayout};
pub use list::ServersPage;
pub use settings::SettingsTab;
pub use tabs::{ActivityTab, DeploymentsTab, ToolsTab};
pub use wizard::NewServerPage;

use leptos::prelude::*;

use super::ServerStatus;

pub fn status_class(status: ServerStatus) -> &'static str {
    match status {
        ServerStatus::Active => "badge badge-success",
        ServerStatus::Disabled => "badge badge-warning",
        ServerStatus::Deleted => "badge badge-danger",
    }
}

#[component]
pub fn ServerStatusBadge(status: ServerStatus) -> impl IntoView {
    view! { <span class=status_class(status)>{status.label()}</span> }
}
