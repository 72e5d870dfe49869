//! The Leptos application: the HTML shell, the routes, and the signed-in layout with its
//! navigation. Each area's pages live in that area's room; this file only places them.

mod home;
mod layout;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::{
    SsrMode,
    components::{ParentRoute, Route, Router, Routes},
    path,
};

use crate::accounts::{LoginPage, Me, ProfilePage, UserPage, UsersPage};
use crate::activity::ActivityPage;
use crate::audit::AuditPage;
use crate::error::AppError;
use crate::groups;
use crate::oauth::{ConnectionsPage, ConsentPage, OAuthClientsPage};
use crate::servers::pages as servers;
use crate::tokens::TokensPage;
pub use layout::use_me;

/// The stylesheet's URL carries the build's content hash so browsers never keep a stale one.
pub const STYLESHEET: &str = concat!("/pkg/gatehouse.css?v=", env!("CARGO_PKG_VERSION"));

/// The whole HTML document, rendered on the server around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light"/>
                <link rel="stylesheet" href=STYLESHEET/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// Pages render completely on the server before anything is sent (`SsrMode::Async`): the page
/// works without JavaScript, and a redirect or error status decided while loading data still
/// reaches the response headers.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title text="Gatehouse"/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async/>
                <Route path=path!("/oauth/consent") view=ConsentPage ssr=SsrMode::Async/>
                <ParentRoute path=path!("") view=layout::SignedIn ssr=SsrMode::Async>
                    <Route path=path!("") view=home::HomePage ssr=SsrMode::Async/>
                    <Route path=path!("profile") view=ProfilePage ssr=SsrMode::Async/>
                    <Route path=path!("tokens") view=TokensPage ssr=SsrMode::Async/>
                    <Route path=path!("connections") view=ConnectionsPage ssr=SsrMode::Async/>
                    <Route path=path!("oauth-clients") view=OAuthClientsPage ssr=SsrMode::Async/>
                    <Route path=path!("activity") view=ActivityPage ssr=SsrMode::Async/>
                    <Route path=path!("audit") view=AuditPage ssr=SsrMode::Async/>
                    <Route path=path!("users") view=UsersPage ssr=SsrMode::Async/>
                    <Route path=path!("users/:id") view=UserPage ssr=SsrMode::Async/>
                    <Route path=path!("groups") view=groups::GroupsPage ssr=SsrMode::Async/>
                    <ParentRoute path=path!("groups/:id") view=groups::GroupLayout ssr=SsrMode::Async>
                        <Route path=path!("") view=groups::GroupIndex ssr=SsrMode::Async/>
                        <Route path=path!("members") view=groups::GroupMembersTab ssr=SsrMode::Async/>
                        <Route path=path!("tools") view=groups::GroupToolsTab ssr=SsrMode::Async/>
                        <Route path=path!("settings") view=groups::GroupSettingsTab ssr=SsrMode::Async/>
                    </ParentRoute>
                    <Route path=path!("servers") view=servers::ServersPage ssr=SsrMode::Async/>
                    <Route path=path!("servers/new") view=servers::NewServerPage ssr=SsrMode::Async/>
                    <ParentRoute path=path!("servers/:slug") view=servers::ServerLayout ssr=SsrMode::Async>
                        <Route path=path!("") view=ServerIndex ssr=SsrMode::Async/>
                        <Route path=path!("overview") view=servers::OverviewTab ssr=SsrMode::Async/>
                        <Route path=path!("tools") view=servers::ToolsTab ssr=SsrMode::Async/>
                        <Route path=path!("activity") view=servers::ActivityTab ssr=SsrMode::Async/>
                        <Route path=path!("deployments") view=servers::DeploymentsTab ssr=SsrMode::Async/>
                        <Route path=path!("settings") view=servers::SettingsTab ssr=SsrMode::Async/>
                    </ParentRoute>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// `/servers/{slug}` opens the Overview tab.
#[component]
fn ServerIndex() -> impl IntoView {
    let params = leptos_router::hooks::use_params_map();
    let slug = params.read_untracked().get("slug").unwrap_or_default();
    view! { <leptos_router::components::Redirect path=format!("/servers/{slug}/overview")/> }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found · Gatehouse"/>
        <main class="auth-page">
            <div class="auth-card">
                <h1>"Page not found"</h1>
                <p class="muted">"There is nothing at this address. It may have moved, or the link is mistyped."</p>
                <a class="btn btn-primary" href="/">"Go to the start page"</a>
            </div>
        </main>
    }
}

/// What every page gets to know about the signed-in person.
pub type MeResource = Resource<Result<Option<Me>, AppError>>;
