//! Gatehouse: a self-hosted platform that registers, deploys and governs internal MCP servers.
//! One crate, two builds: `ssr` is the server binary, `hydrate` the browser bundle.

#![recursion_limit = "256"]

pub mod accounts;
pub mod activity;
#[cfg(feature = "ssr")]
pub mod api;
pub mod app;
pub mod audit;
pub mod error;
pub mod groups;
pub mod oauth;
pub mod servers;
pub mod tokens;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod changes;
#[cfg(feature = "ssr")]
pub mod cli;
#[cfg(feature = "ssr")]
pub mod config;
#[cfg(feature = "ssr")]
pub mod crypto;
#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod gateway;
#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod startup;
#[cfg(feature = "ssr")]
pub mod telemetry;

/// Entry point of the browser bundle: attaches the app to the server-rendered HTML.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
    // Lets browser tests (and curious people) see that the page is live.
    let _ = js_sys::Reflect::set(
        &js_sys::global(),
        &"__gatehouse_hydrated".into(),
        &true.into(),
    );
}
