//! Servers (SPEC S2, S3): the internal MCP servers an organization registers, their sources,
//! states and environment variables. The gateway serves what this room stores.

mod types;

#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod service;

pub use types::*;
