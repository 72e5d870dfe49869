//! HTTP plumbing shared by every room: cross-origin protection, security headers, health.

pub mod csrf;
pub mod headers;
pub mod health;
pub mod server_fn_status;
