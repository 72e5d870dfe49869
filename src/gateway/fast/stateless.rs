//! The fast path of the stateless revision (2026-07-28): a `tools/call` to an upstream that
//! speaks the same revision over HTTP. Nothing needs translating between the two, so the
//! request is checked, logged and relayed as bytes — headers, `_meta`, unknown fields and all.

use std::{borrow::Cow, sync::Arc};

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    ToolCall, accepts_json_and_sse, fixed_headers, gateway_answer, is_event_stream, judge,
    only_value_is, read_limited, send, stream::stream_back, timed_out, with_client_headers,
};
use crate::{
    activity::CallStatus,
    gateway::{
        Gateway, Shared,
        cache::ServerEntry,
        calls::{CallLog, unavailable_message},
        principal::Principal,
        runtime::Era,
        upstream::HttpEndpoint,
    },
    servers::ServerStatus,
};

const MODERN: &str = "2026-07-28";

/// Whether the request may take the fast path, judged from its headers alone. Whatever rmcp
/// would have to check against more than the headers themselves goes the rmcp way, so each
/// rule of the transport lives in one place:
/// - an `Origin` (browsers): rmcp checks it against the allowed origins, 403 otherwise;
/// - an `Accept` without both JSON and SSE: rmcp answers 406;
/// - a repeated `Mcp-Method`, `Mcp-Name` or version header: rmcp answers -32020;
/// - `Mcp-Param-*` headers: rmcp checks them against the tool's input schema.
pub(in crate::gateway) fn wanted(headers: &HeaderMap) -> bool {
    !headers.contains_key(header::ORIGIN)
        && only_value_is(headers, "mcp-protocol-version", MODERN)
        && only_value_is(headers, "mcp-method", "tools/call")
        && headers.get_all("mcp-name").iter().count() == 1
        && accepts_json_and_sse(headers)
        && !headers
            .keys()
            .any(|name| name.as_str().starts_with("mcp-param-"))
}

#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(rename = "io.modelcontextprotocol/protocolVersion")]
    protocol_version: Cow<'a, str>,
    // Required by the revision; the upstream reads it, the gateway only checks it is there.
    #[serde(rename = "io.modelcontextprotocol/clientCapabilities", borrow)]
    _capabilities: &'a RawValue,
    #[serde(rename = "io.modelcontextprotocol/clientInfo", default)]
    client_info: Option<ClientInfo<'a>>,
}

#[derive(Deserialize)]
struct ClientInfo<'a> {
    name: Cow<'a, str>,
    #[serde(default)]
    version: Cow<'a, str>,
}

/// Handles the call if it belongs on the fast path; `None` hands it to the rmcp path.
pub(in crate::gateway) async fn try_call(
    gateway: &Gateway,
    server: &Arc<ServerEntry>,
    principal: &Principal,
    headers: &HeaderMap,
    body: &Bytes,
) -> Option<Response> {
    if server.status != ServerStatus::Active {
        return None;
    }
    let envelope: ToolCall<Meta> = serde_json::from_slice(body).ok()?;
    let meta = envelope.params.meta.as_ref()?;
    let id = envelope.id.get();
    let id_ok = id.starts_with('"') || id.starts_with(|c: char| c == '-' || c.is_ascii_digit());
    let name_header = headers
        .get("mcp-name")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    if !envelope.is_tool_call()
        || meta.protocol_version != MODERN
        || !id_ok
        || name_header != Some(envelope.params.name.as_ref())
    {
        return None;
    }
    let upstream = gateway.runtime(server).connected(server, Era::Stateless)?;
    let endpoint = upstream.stateless_http()?.clone();
    drop(upstream);

    let shared = &gateway.shared;
    let client = meta
        .client_info
        .as_ref()
        .map(|c| (Some(c.name.to_string()), Some(c.version.to_string())))
        .unwrap_or_default();
    let mut log = match envelope.admit(shared, server, principal, client).await? {
        Ok(log) => log,
        Err(denied) => return Some(denied),
    };
    log.started();
    Some(
        relay(
            shared,
            server,
            endpoint,
            headers,
            body.clone(),
            id.to_owned(),
            log,
        )
        .await,
    )
}

/// Sends the call upstream and relays the answer: JSON is read whole, judged and passed on;
/// SSE is passed on as it arrives (see [`stream_back`]).
async fn relay(
    shared: &Shared,
    server: &ServerEntry,
    endpoint: Arc<HttpEndpoint>,
    headers: &HeaderMap,
    body: Bytes,
    id: String,
    log: CallLog,
) -> Response {
    let limit = server.call_timeout;
    let deadline = tokio::time::Instant::now() + limit;
    let sent = send(
        shared,
        &endpoint,
        upstream_headers(&endpoint, headers),
        body,
    );
    let (status, content_type, answer) = match tokio::time::timeout_at(deadline, sent).await {
        Ok(Ok(sent)) => sent,
        Ok(Err(why)) => {
            let message = unavailable_message(server, &why);
            log.finish(CallStatus::Error, None, Some(message.clone()));
            return gateway_answer(&id, &message, "upstream_unavailable");
        }
        Err(_) => return timed_out(log, &id, limit),
    };
    if is_event_stream(content_type.as_ref()) && status.is_success() {
        return stream_back(answer, id, log, deadline, limit);
    }
    let answer = match tokio::time::timeout_at(deadline, read_limited(answer)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(why)) => {
            let message = unavailable_message(server, &why);
            log.finish(CallStatus::Error, None, Some(message.clone()));
            return gateway_answer(&id, &message, "upstream_unavailable");
        }
        Err(_) => return timed_out(log, &id, limit),
    };
    let judged = judge(&answer, status);
    let Some(status) = judged.reply_status(status) else {
        // Not a JSON-RPC answer (a proxy's error page, say): passed on as it is, an upstream's
        // 401 or 404 would read as the gateway's own "sign in again" or "no such server".
        let message = unavailable_message(server, judged.error.as_deref().unwrap_or_default());
        log.finish(CallStatus::Error, None, Some(message.clone()));
        return gateway_answer(&id, &message, "upstream_unavailable");
    };
    log.finish(judged.status, judged.output, judged.error);
    let mut reply = Response::builder().status(status);
    if let Some(content_type) = content_type {
        reply = reply.header(header::CONTENT_TYPE, content_type);
    }
    reply
        .body(Body::from(answer))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

/// The headers a stateless call carries: those of every relayed call (`fixed_headers`), the
/// revision's own, and the client's that the upstream must see (its `Mcp-Name` among them).
/// All but the client's are the same on every call, so they are built once per endpoint.
fn upstream_headers(endpoint: &HttpEndpoint, client: &HeaderMap) -> HeaderMap {
    let fixed = endpoint.call_headers.get_or_init(|| {
        let mut fixed = fixed_headers(endpoint);
        fixed.insert("mcp-protocol-version", HeaderValue::from_static(MODERN));
        fixed.insert("mcp-method", HeaderValue::from_static("tools/call"));
        fixed
    });
    with_client_headers(fixed, client, &["mcp-name"])
}
