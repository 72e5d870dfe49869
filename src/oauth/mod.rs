//! The OAuth 2.1 authorization server (SPEC S7): how any MCP client signs a person in by
//! itself. Clients discover it from the gateway's `401` (RFC 9728 protected-resource metadata,
//! then RFC 8414 server metadata), register (Client ID Metadata Documents, RFC 7591 dynamic
//! registration, or by an admin), send the person through sign-in and consent, and exchange a
//! PKCE-bound code for tokens bound to one server or to the gateway root (RFC 8707).
//!
//! What a person allowed a client is a *grant*; every code and token it leads to belongs to it,
//! so revoking the grant (by hand, by replaying a code or an old refresh token, by deleting the
//! client or the person) ends the whole family on every replica at the next request.

mod pages;
mod types;
mod view;

pub use pages::{ConnectionsPage, ConsentPage, OAuthClientsPage};
pub use types::*;
pub use view::*;

#[cfg(feature = "ssr")]
pub mod authorize;
#[cfg(feature = "ssr")]
pub mod cimd;
#[cfg(feature = "ssr")]
pub mod clients;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod error;
#[cfg(feature = "ssr")]
pub mod metadata;
#[cfg(feature = "ssr")]
pub mod resource;
#[cfg(feature = "ssr")]
pub mod routes;
#[cfg(feature = "ssr")]
pub mod rules;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod token;

#[cfg(feature = "ssr")]
pub fn router() -> axum::Router<crate::startup::AppState> {
    use axum::routing::{get, post};
    use tower_http::cors::CorsLayer;

    // Discovery, registration, token and revocation are called by browser-based clients from
    // other origins (the Inspector, web agents); none of them rely on cookies.
    let public = axum::Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(metadata::authorization_server),
        )
        .route(
            "/.well-known/oauth-protected-resource",
            get(metadata::protected_resource_root),
        )
        .route(
            "/.well-known/oauth-protected-resource/{*path}",
            get(metadata::protected_resource),
        )
        .route("/oauth/register", post(clients::register))
        .route("/oauth/token", post(token::token))
        .route("/oauth/revoke", post(token::revoke))
        .layer(CorsLayer::permissive());
    axum::Router::new()
        .route("/oauth/authorize", get(authorize::authorize))
        .route("/oauth/decision", post(authorize::decide))
        .merge(public)
}
