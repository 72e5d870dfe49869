//! Permission groups (SPEC S9): every person is in exactly one group, and a group's tool
//! restrictions decide what its members may call on each server. This room owns the groups
//! pages, their server functions and the `/api/v1/groups` routes.

mod api;
mod pages;
mod types;

#[cfg(feature = "ssr")]
pub mod read;
#[cfg(feature = "ssr")]
pub mod routes;
#[cfg(feature = "ssr")]
pub mod service;

pub use api::*;
pub use pages::*;
pub use types::*;
