//! Servers (SPEC S2, S3): the internal MCP servers an organization registers, their sources,
//! states and environment variables. The gateway serves what this room stores.

mod api;
pub mod pages;
mod types;
mod views;

#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod env;
#[cfg(feature = "ssr")]
pub mod read;
#[cfg(feature = "ssr")]
pub mod routes;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod wizard;

pub use api::*;
pub use types::*;
pub use views::*;
