//! The gateway (SPEC S5): one MCP URL per server, `/mcp/{slug}`, that authenticates the
//! person, enforces what their group may call, forwards to the upstream and logs every call.
//!
//! Streamable HTTP (both the stateless 2026-07-28 revision and the session-based 2025-11-25
//! one) is served by rmcp; the legacy HTTP+SSE transport (2024-11-05) by `legacy_sse`. Both
//! run the same [`handler::GatewayHandler`]. The hottest request, a `tools/call` to an HTTP
//! upstream that speaks the client's own revision, goes around rmcp on a fast path (`fast`)
//! with the same policy and logging.

pub mod cache;
mod calls;
mod fast;
mod handler;
mod legacy_sse;
mod link;
pub mod principal;
mod runtime;
mod sessions;
pub mod upstream;
mod usage;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Body,
    extract::{Path, Request, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{any, get, post},
};
use bytes::Bytes;
use rmcp::transport::common::http_header::{HEADER_MCP_PROTOCOL_VERSION, HEADER_SESSION_ID};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    activity::recorder::ActivityRecorder,
    changes::{Change, ChangeFeed},
    crypto::SecretBox,
    servers::ServerStatus,
};
use cache::{GatewayCache, ServerEntry};
pub use calls::META_KEY;
use runtime::ServerRuntime;

/// Limits and policies of the gateway.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// Outputs larger than this are logged as a marker with their size and a preview. Inputs
    /// are logged whole: the issue asks for the full input, and `max_body_bytes` bounds it.
    pub max_logged_output_bytes: usize,
    /// Browser origins allowed to call the gateway (besides none at all, for non-browser
    /// clients). Requests naming any other origin get 403.
    pub allowed_origins: Vec<String>,
    /// The public base URL (the OAuth issuer), without a trailing slash.
    pub public_base: String,
}

impl Settings {
    pub fn new(public_url: &url::Url) -> Self {
        let mut allowed_origins = vec![public_url.origin().ascii_serialization()];
        // Reached on the loopback interface, any local page is as local as Gatehouse itself
        // (an Inspector on another port, say); a rebinding attack names another host.
        let loopback = match public_url.host() {
            Some(url::Host::Domain(name)) => name == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        if loopback {
            for origin in ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"] {
                allowed_origins.push(origin.to_owned());
            }
        }
        Settings {
            max_body_bytes: 4 * 1024 * 1024,
            max_logged_output_bytes: 256 * 1024,
            allowed_origins,
            public_base: public_url.as_str().trim_end_matches('/').to_owned(),
        }
    }
}

/// What every server runtime shares.
pub struct Shared {
    pub cache: GatewayCache,
    pub recorder: ActivityRecorder,
    pub http: reqwest::Client,
    /// Connections to plain-HTTP upstreams for the fast path (`upstream::relay`).
    pub links: Arc<upstream::relay::Links>,
    pub settings: Settings,
    usage: usage::TokenUsage,
}

#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
    runtimes: Arc<Mutex<HashMap<Uuid, Arc<ServerRuntime>>>>,
    legacy: legacy_sse::Sessions,
}

impl Gateway {
    pub fn new(
        pool: PgPool,
        secrets: SecretBox,
        changes: &ChangeFeed,
        recorder: ActivityRecorder,
        settings: Settings,
    ) -> anyhow::Result<Self> {
        // TLS for upstreams: rustls with ring, chosen once for the process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        let links = Arc::new(upstream::relay::Links::default());
        links.sweep_in_background();
        let shared = Arc::new(Shared {
            cache: GatewayCache::new(pool.clone(), secrets, changes),
            recorder,
            http,
            links,
            settings,
            usage: usage::TokenUsage::start(pool),
        });
        let gateway = Gateway {
            shared,
            runtimes: Arc::default(),
            legacy: legacy_sse::Sessions::default(),
        };
        gateway.follow(changes);
        Ok(gateway)
    }

    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        Router::new()
            .route("/mcp/{slug}", any(mcp))
            .route("/mcp/{slug}/sse", get(legacy_sse::open))
            .route("/mcp/{slug}/message", post(legacy_sse::message))
            .with_state(self.clone())
    }

    /// Where a client learns how to get a token for the server at `slug` (RFC 9728).
    fn resource_metadata(&self, slug: &str) -> String {
        let base = &self.shared.settings.public_base;
        crate::oauth::resource::metadata_url(base, &crate::oauth::resource::server_uri(base, slug))
    }

    pub fn cache(&self) -> &GatewayCache {
        &self.shared.cache
    }

    /// The runtime for `server`, created on first use.
    fn runtime(&self, server: &ServerEntry) -> Arc<ServerRuntime> {
        let mut runtimes = self.runtimes.lock().expect("runtimes lock");
        runtimes
            .entry(server.id)
            .or_insert_with(|| {
                ServerRuntime::new(server.id, server.slug.clone(), self.shared.clone())
            })
            .clone()
    }

    /// Asks the server's upstream for every tool it exposes, unfiltered (for the dashboard).
    /// Connects first if nothing has yet.
    pub async fn fetch_tools(&self, slug: &str) -> Result<Vec<rmcp::model::Tool>, String> {
        let server = match self.shared.cache.server(slug).await {
            Ok(Some(server)) => server,
            Ok(None) => return Err("The server no longer exists.".to_owned()),
            Err(err) => return Err(err.to_string()),
        };
        if server.status != ServerStatus::Active {
            return Err(format!(
                "{} is {}; enable it to list its tools.",
                server.name,
                server.status.label().to_lowercase()
            ));
        }
        let runtime = self.runtime(&server);
        let upstream = runtime
            .upstream(&server, runtime::Era::Session)
            .await
            .map_err(|e| e.0)?;
        let listed =
            tokio::time::timeout(server.call_timeout, upstream.peer().list_all_tools()).await;
        match listed {
            Ok(Ok(tools)) => {
                runtime.remember_tools(&tools);
                Ok(tools)
            }
            Ok(Err(err)) => Err(format!("The server did not list its tools: {err}")),
            Err(_) => Err(format!(
                "The server did not list its tools within {} s.",
                server.call_timeout.as_secs()
            )),
        }
    }

    /// The pid of the process serving `server_id`, if it runs one (for tests and the dashboard).
    pub fn upstream_pid(&self, server_id: Uuid) -> Option<u32> {
        self.runtimes
            .lock()
            .expect("runtimes lock")
            .get(&server_id)?
            .upstream_pid()
    }

    /// Stops upstreams of servers that were disabled or deleted, as soon as that is committed.
    fn follow(&self, changes: &ChangeFeed) {
        let mut rx = changes.subscribe();
        let gateway = self.clone();
        tokio::spawn(async move {
            loop {
                let change = match rx.recv().await {
                    Ok(change) => change,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => Change::Resync,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                // Let the cache drop its entry first.
                tokio::task::yield_now().await;
                let affected: Vec<Arc<ServerRuntime>> = {
                    let runtimes = gateway.runtimes.lock().expect("runtimes lock");
                    match change {
                        Change::Server(id) => runtimes.get(&id).cloned().into_iter().collect(),
                        Change::Resync => runtimes.values().cloned().collect(),
                        _ => Vec::new(),
                    }
                };
                for runtime in affected {
                    gateway
                        .shared
                        .cache
                        .apply(&Change::Server(runtime.server_id))
                        .await;
                    let server = gateway.shared.cache.server(&runtime.slug()).await;
                    let usable = matches!(&server, Ok(Some(s)) if s.id == runtime.server_id && s.status == ServerStatus::Active);
                    if !usable {
                        runtime.stop().await;
                    }
                }
            }
        });
    }

    /// Waits until every activity row queued so far is written (or spilled).
    pub async fn flush_activity(&self) {
        self.shared.recorder.flush().await;
    }

    /// Stops every upstream and the processes behind them; writes pending activity.
    pub async fn shutdown(&self) {
        let runtimes: Vec<_> = self
            .runtimes
            .lock()
            .expect("runtimes lock")
            .values()
            .cloned()
            .collect();
        for runtime in runtimes {
            runtime.stop().await;
        }
        self.shared.usage.flush().await;
        self.shared.recorder.shutdown().await;
    }
}

/// Resolves the server, authenticates the caller, then hands the request to rmcp.
async fn mcp(
    State(gateway): State<Gateway>,
    Path(slug): Path<String>,
    request: Request,
) -> Response {
    let server = match find_server(&gateway, &slug).await {
        Ok(server) => server,
        Err(response) => return response,
    };
    let (mut parts, body) = request.into_parts();
    let principal = match principal::authenticate(
        &gateway.shared.cache,
        &parts.headers,
        &parts.uri,
        server.id,
        || gateway.resource_metadata(&server.slug),
    )
    .await
    {
        Ok(principal) => principal,
        Err(failure) => return failure.into_response(),
    };
    gateway.shared.usage.touch(principal.token_id);
    if let Some(hidden) = hidden_from(&gateway, &principal, &server).await {
        return hidden;
    }
    let user = principal.user_id;
    // rmcp answers unreadable bodies with 415; JSON-RPC wants a parse error. Reading the body
    // here (which rmcp would do anyway) lets the gateway say which.
    let json_post = parts.method == axum::http::Method::POST && is_json(&parts.headers);
    let (posted, body) = if json_post {
        match axum::body::to_bytes(body, gateway.shared.settings.max_body_bytes).await {
            Ok(bytes) if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() => {
                (bytes, None)
            }
            Ok(_) => {
                return jsonrpc_error(
                    StatusCode::BAD_REQUEST,
                    -32700,
                    "Parse error: the body is not valid JSON.",
                );
            }
            Err(err) if is_too_large(&err) => {
                let limit = gateway.shared.settings.max_body_bytes / (1024 * 1024);
                return jsonrpc_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    -32600,
                    &format!("The request body is larger than {limit} MiB."),
                );
            }
            Err(_) => {
                return jsonrpc_error(
                    StatusCode::BAD_REQUEST,
                    -32600,
                    "The request body could not be read.",
                );
            }
        }
    } else {
        (Bytes::new(), Some(body))
    };
    if json_post
        && fast::stateless::wanted(&parts.headers)
        && let Some(response) =
            fast::stateless::try_call(&gateway, &server, &principal, &parts.headers, &posted).await
    {
        return response;
    }
    let runtime = gateway.runtime(&server);
    let session_id = session_id(&parts.headers);
    let session = match session_id.and_then(|id| runtime.sessions.get(id)) {
        // A session without an owner yet is one whose `initialize` has not been answered: no
        // one can rightly know its id.
        Some(session) if session.owner() != Some(user) => return someone_elses_session(),
        session => session,
    };
    if let Some(session) = &session {
        if json_post {
            if fast::session::wanted(&parts.headers)
                && let Some(response) = fast::session::try_call(
                    &gateway,
                    &server,
                    &principal,
                    session,
                    &parts.headers,
                    &posted,
                )
                .await
            {
                return response;
            }
            if let Some(response) = fast::session::cancel(session, &posted) {
                return response;
            }
        }
        session.through_rmcp();
        parts.extensions.insert(session.closed.clone());
    }
    parts.extensions.insert(principal);
    let may_open_session = session_id.is_none() && parts.method == axum::http::Method::POST;
    let body = body.unwrap_or_else(|| Body::from(posted.clone()));
    let response = runtime
        .http
        .handle(Request::from_parts(parts, body))
        .await
        .map(Body::new);
    if may_open_session
        && let Some(opened) = response
            .headers()
            .get(HEADER_SESSION_ID)
            .and_then(|id| id.to_str().ok())
    {
        runtime.sessions.claim(
            opened,
            user,
            sessions::ClientProfile::of_initialize(&posted),
        );
    }
    if json_post && response.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return jsonrpc_error(
            StatusCode::BAD_REQUEST,
            -32600,
            "Invalid Request: the body is JSON but not a JSON-RPC request or notification.",
        );
    }
    response
}

/// The session a request names, if it belongs to one: a request of the stateless revision is
/// served without a session whatever headers it carries.
fn session_id(headers: &axum::http::HeaderMap) -> Option<&str> {
    let version = headers
        .get(HEADER_MCP_PROTOCOL_VERSION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| serde_json::from_value(serde_json::Value::String(v.trim().to_owned())).ok());
    if runtime::Era::of(version.as_ref()) == runtime::Era::Stateless {
        return None;
    }
    headers.get(HEADER_SESSION_ID)?.to_str().ok()
}

/// The answer to a request in a session someone else opened, on either transport.
fn someone_elses_session() -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({ "error": "forbidden", "error_description": "This session belongs to someone else." })),
    )
        .into_response()
}

fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

fn is_too_large(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// A JSON-RPC error the gateway answers itself, before any server sees the request.
fn jsonrpc_error(status: StatusCode, code: i32, message: &str) -> Response {
    (
        status,
        Json(json!({ "jsonrpc": "2.0", "error": { "code": code, "message": message } })),
    )
        .into_response()
}

fn no_server_at(slug: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "not_found", "error_description": format!("There is no MCP server at /mcp/{slug}.") })),
    )
        .into_response()
}

/// The answer for someone whose group restricts every tool of `server`: the same as for no
/// server at all (SPEC S9), so the group does not see it.
async fn hidden_from(
    gateway: &Gateway,
    principal: &principal::Principal,
    server: &ServerEntry,
) -> Option<Response> {
    let cache = &gateway.shared.cache;
    match cache.restrictions(principal.group_id, server.id).await {
        Ok(restrictions) if restrictions.is_empty() => None,
        Ok(restrictions) => {
            let listed = cache.tool_names(server.id).await?;
            restrictions
                .hide(&listed)
                .then(|| no_server_at(&server.slug))
        }
        Err(err) => {
            tracing::error!(error = %err, "loading tool restrictions failed");
            Some(
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({ "error": "temporarily_unavailable", "error_description": "Gatehouse cannot load this server right now; try again shortly." })),
                )
                    .into_response(),
            )
        }
    }
}

/// The server at `slug`, or the response for an unknown or deleted one.
async fn find_server(gateway: &Gateway, slug: &str) -> Result<Arc<ServerEntry>, Response> {
    match gateway.shared.cache.server(slug).await {
        Ok(Some(server)) => Ok(server),
        Ok(None) => Err(no_server_at(slug)),
        Err(err) => {
            tracing::error!(error = %err, "loading a server failed");
            Err((
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": "temporarily_unavailable", "error_description": "Gatehouse cannot load this server right now; try again shortly." })),
            )
                .into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::session_id;

    fn headers(version: Option<&'static str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("mcp-session-id", HeaderValue::from_static("abc"));
        if let Some(version) = version {
            headers.insert("mcp-protocol-version", HeaderValue::from_static(version));
        }
        headers
    }

    #[test]
    fn a_session_id_counts_only_on_requests_of_the_session_revisions() {
        assert_eq!(session_id(&headers(Some("2025-11-25"))), Some("abc"));
        assert_eq!(session_id(&headers(Some("2024-11-05"))), Some("abc"));
        // Clients of 2025-03-26 and earlier need not send the version header.
        assert_eq!(session_id(&headers(None)), Some("abc"));
        // The stateless revision is served without a session whatever the request carries.
        assert_eq!(session_id(&headers(Some("2026-07-28"))), None);
        assert_eq!(session_id(&HeaderMap::new()), None);
    }
}
