//! The gateway (SPEC S5): one MCP URL per server, `/mcp/{slug}`, that authenticates the
//! person, enforces what their group may call, forwards to the upstream and logs every call.

pub mod cache;
