//! Structured logs through `tracing`: human-readable on a terminal, JSON for log collectors
//! (`GATEHOUSE_LOG_FORMAT=json`). `RUST_LOG` sets the filter.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(
        // rmcp reports a refused `initialize` (a disabled server) as an error of its session
        // worker; the gateway logs its own decisions, so that module stays quiet.
        "info,sqlx=warn,tower_http=warn,tower_sessions=warn,rmcp=warn,rmcp::transport::streamable_http_server=off",
    ));
    let json = std::env::var("GATEHOUSE_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry
            .with(fmt::layer().json().with_current_span(false))
            .try_init()
    } else {
        registry.with(fmt::layer().with_target(false)).try_init()
    };
    // A second init (tests spawning several apps) keeps the first subscriber.
    let _ = result;
}
