//! Permission groups (SPEC S9): every person is in exactly one group, and a group's tool
//! restrictions decide what its members may call on each server.

#[cfg(feature = "ssr")]
pub mod service;
