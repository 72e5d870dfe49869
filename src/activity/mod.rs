//! Activity (SPEC S6): one row per tool call through the gateway, how it ended and how long it
//! took; the recorder that writes rows without slowing calls down, and the pages that read them.

mod filters;
pub mod histogram;
mod pages;
mod table;
mod types;
mod view;

#[cfg(feature = "ssr")]
mod charts;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod recorder;
#[cfg(feature = "ssr")]
pub mod rollup;
#[cfg(feature = "ssr")]
pub mod routes;
#[cfg(feature = "ssr")]
pub mod seed;
#[cfg(feature = "ssr")]
pub mod service;

pub use filters::*;
pub use pages::*;
pub use table::*;
pub use types::*;
pub use view::*;
