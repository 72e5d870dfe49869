//! Activity (SPEC S6): one row per tool call through the gateway, how it ended and how long it
//! took; the recorder that writes rows without slowing calls down, and the pages that read them.

mod table;
mod types;

#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod recorder;

pub use table::*;
pub use types::*;
