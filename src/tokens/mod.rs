//! Personal access tokens (SPEC S7, S10): bearer tokens people mint in the dashboard for MCP
//! clients and scripts that cannot do OAuth. Only a digest is stored; the token is shown once.

mod api;
mod pages;
mod types;

#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod service;

pub use api::*;
pub use pages::TokensPage;
pub use types::*;
