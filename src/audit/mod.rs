//! The admin audit trail: who changed what, when, with the fields before and after (SPEC S6),
//! and the page admins read it on.

mod pages;
mod view;

#[cfg(feature = "ssr")]
mod record;

pub use pages::AuditPage;
#[cfg(feature = "ssr")]
pub use record::{Actor, record};
pub use view::*;
