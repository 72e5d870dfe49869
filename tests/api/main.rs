//! Integration tests: the whole app on a real Postgres, driven over HTTP like a browser or a
//! script would. One binary, one module per area.

mod activity;
mod admin_api;
mod audit;
mod cli;
mod conformance;
mod durability;
mod fast_path;
mod gateway;
mod gateway_edges;
mod groups;
mod health;
mod helpers;
mod interop;
mod oauth;
mod roles;
mod sign_in;
mod supervision;
