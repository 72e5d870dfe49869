//! People and sign-in: users, roles, passwords and sessions (SPEC S1).
//! Everything another room needs to know about "who is asking" comes from here.

mod api;
mod directory;
mod directory_pages;
mod pages;
mod types;

#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod password;
#[cfg(feature = "ssr")]
pub mod routes;
#[cfg(feature = "ssr")]
pub mod session;
#[cfg(feature = "ssr")]
pub mod throttle;

pub use api::*;
pub use directory::*;
pub use directory_pages::{UserPage, UsersPage};
pub use pages::{LoginPage, ProfilePage};
pub use types::*;
#[cfg(feature = "ssr")]
pub mod users;
