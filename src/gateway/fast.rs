//! The fast path, for the hottest case: a stateless (2026-07-28) `tools/call` to an upstream
//! that speaks the same revision over HTTP. Nothing needs translating between the two, so the
//! request is checked, logged and relayed as bytes — headers, `_meta`, unknown fields and all —
//! instead of being parsed into rmcp's types on the way in and out of each side, which is where
//! most of a proxied call's cost went (docs/PERFORMANCE.md has the numbers).
//!
//! Policy and logging are the same functions the rmcp path uses. Anything unusual — another
//! method, headers that disagree with the body, an upstream not yet connected or speaking an
//! older revision, a server that is not active — is left to the rmcp path, which knows every
//! rule of the protocol.

use std::{borrow::Cow, sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use futures::{StreamExt, stream::BoxStream};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    Gateway, Shared,
    cache::ServerEntry,
    calls::{CallLog, denial, gateway_error, timeout_message, unavailable_message},
    principal::Principal,
    upstream::{HttpEndpoint, relay::PlainHttp},
};
use crate::{activity::CallStatus, servers::ServerStatus};

mod stream;

use stream::stream_back;

const MODERN: &str = "2026-07-28";
/// Headers a client sends that the upstream must see unchanged (never `Authorization`: the
/// gateway's token stays with the gateway).
const RELAYED_PREFIXES: &[&str] = &["mcp-param-", "traceparent", "tracestate"];
/// Largest JSON answer relayed from the upstream.
const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// Whether the request may take the fast path, judged from its headers alone.
pub(super) fn wanted(headers: &HeaderMap) -> bool {
    header_is(headers, "mcp-protocol-version", MODERN)
        && header_is(headers, "mcp-method", "tools/call")
}

fn header_is(headers: &HeaderMap, name: &str, value: &str) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == value)
}

#[derive(Deserialize)]
struct Envelope<'a> {
    jsonrpc: Cow<'a, str>,
    #[serde(borrow)]
    id: &'a RawValue,
    method: Cow<'a, str>,
    #[serde(borrow)]
    params: Params<'a>,
}

#[derive(Deserialize)]
struct Params<'a> {
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    arguments: Option<&'a RawValue>,
    #[serde(rename = "_meta", borrow)]
    meta: Meta<'a>,
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
pub(super) async fn try_call(
    gateway: &Gateway,
    server: &Arc<ServerEntry>,
    principal: &Principal,
    headers: &HeaderMap,
    body: &Bytes,
) -> Option<Response> {
    if server.status != ServerStatus::Active {
        return None;
    }
    let envelope: Envelope = serde_json::from_slice(body).ok()?;
    let id = envelope.id.get();
    let id_ok = id.starts_with('"') || id.starts_with(|c: char| c == '-' || c.is_ascii_digit());
    let name_header = headers
        .get("mcp-name")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    if envelope.jsonrpc != "2.0"
        || envelope.method != "tools/call"
        || envelope.params.meta.protocol_version != MODERN
        || !id_ok
        || name_header != Some(envelope.params.name.as_ref())
    {
        return None;
    }
    let upstream = gateway.runtime(server).connected(server)?;
    let endpoint = upstream.stateless_http()?.clone();
    drop(upstream);

    let shared = &gateway.shared;
    let client = envelope
        .params
        .meta
        .client_info
        .as_ref()
        .map(|c| (Some(c.name.to_string()), Some(c.version.to_string())))
        .unwrap_or_default();
    let tool = envelope.params.name.as_ref();
    let input = envelope.params.arguments.map(|a| a.get().to_owned());
    let mut log = CallLog::begin(shared, server.id, tool, input, client);
    log.caller(principal, server);
    match denial(shared, principal, server, tool).await {
        Ok(Some(message)) => {
            log.finish(CallStatus::PermissionDenied, None, Some(message.clone()));
            return Some(gateway_answer(id, &message, "permission_denied"));
        }
        Ok(None) => {}
        Err(_) => return None,
    }
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
    let sent = async {
        match &endpoint.plain {
            Some(plain) => send_direct(shared, plain, &endpoint, headers, body).await,
            None => send_reqwest(shared, &endpoint, headers, body).await,
        }
    };
    let (status, content_type, answer) = match tokio::time::timeout_at(deadline, sent).await {
        Ok(Ok(sent)) => sent,
        Ok(Err(why)) => {
            let message = unavailable_message(server, &why);
            log.finish(CallStatus::Error, None, Some(message.clone()));
            return gateway_answer(&id, &message, "upstream_unavailable");
        }
        Err(_) => return timed_out(log, &id, limit),
    };
    let streaming = content_type
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if streaming && status.is_success() {
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
    let (call_status, output, error) = judge(&answer, status);
    log.finish(call_status, output, error);
    let mut reply = Response::builder().status(status);
    if let Some(content_type) = content_type {
        reply = reply.header(header::CONTENT_TYPE, content_type);
    }
    reply
        .body(Body::from(answer))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

/// An upstream's answer as it arrives: status, content type, body.
type Sent = (
    StatusCode,
    Option<HeaderValue>,
    BoxStream<'static, Result<Bytes, String>>,
);

/// The headers every relayed call carries: the endpoint's own (injected credentials), the
/// protocol's, `Host` for a direct connection (unless the endpoint sets one, as with reqwest)
/// and the client's that the upstream must see. All but the client's are the same on every
/// call, so they are built once per endpoint.
fn upstream_headers(endpoint: &HttpEndpoint, client: &HeaderMap) -> HeaderMap {
    let mut out = endpoint
        .call_headers
        .get_or_init(|| {
            let mut fixed = endpoint.headers.clone();
            fixed.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            fixed.insert(
                header::ACCEPT,
                HeaderValue::from_static("application/json, text/event-stream"),
            );
            fixed.insert("mcp-protocol-version", HeaderValue::from_static(MODERN));
            fixed.insert("mcp-method", HeaderValue::from_static("tools/call"));
            if let Some(plain) = &endpoint.plain
                && !fixed.contains_key(header::HOST)
                && let Ok(host) = HeaderValue::from_str(&plain.host)
            {
                fixed.insert(header::HOST, host);
            }
            fixed
        })
        .clone();
    for (name, value) in client {
        let relayed = name == "mcp-name"
            || RELAYED_PREFIXES
                .iter()
                .any(|p| name.as_str().starts_with(p));
        if relayed {
            out.append(name, value.clone());
        }
    }
    out
}

/// Over a connection the calling task drives itself (`upstream::relay`).
async fn send_direct(
    shared: &Shared,
    plain: &PlainHttp,
    endpoint: &HttpEndpoint,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Sent, String> {
    let make = || {
        let mut request = axum::http::Request::new(http_body_util::Full::new(body.clone()));
        *request.method_mut() = axum::http::Method::POST;
        *request.uri_mut() = plain.target.clone();
        *request.headers_mut() = upstream_headers(endpoint, headers);
        request
    };
    let (parts, answer) = shared
        .links
        .send(&plain.authority, make)
        .await
        .map_err(|e| unreachable(&e))?;
    let content_type = parts.headers.get(header::CONTENT_TYPE).cloned();
    let too_large = content_length(&parts.headers).is_some_and(|n| n > MAX_ANSWER_BYTES);
    if too_large {
        return Err("the upstream's answer is too large".to_owned());
    }
    let body = answer
        .map(|chunk| chunk.map_err(|e| root_cause(&e)))
        .boxed();
    Ok((parts.status, content_type, body))
}

/// Through reqwest: TLS, proxies, credentials in the URL.
async fn send_reqwest(
    shared: &Shared,
    endpoint: &HttpEndpoint,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Sent, String> {
    let response = shared
        .http
        .post(&endpoint.url)
        .headers(upstream_headers(endpoint, headers))
        .body(body)
        .send()
        .await
        .map_err(|e| unreachable(&e))?;
    let too_large = content_length(response.headers()).is_some_and(|n| n > MAX_ANSWER_BYTES);
    if too_large {
        return Err("the upstream's answer is too large".to_owned());
    }
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    let status = response.status();
    let body = response
        .bytes_stream()
        .map(|chunk| chunk.map_err(|e| root_cause(&e)))
        .boxed();
    Ok((status, content_type, body))
}

fn unreachable(err: &(dyn std::error::Error + 'static)) -> String {
    format!("the upstream could not be reached ({})", root_cause(err))
}

fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

async fn read_limited(
    mut chunks: BoxStream<'static, Result<Bytes, String>>,
) -> Result<Bytes, String> {
    let mut body = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| format!("the upstream's answer broke off ({e})"))?;
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err("the upstream's answer is too large".to_owned());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// What a JSON-RPC answer says about the call: its status, the result to log, and the error.
fn judge(answer: &[u8], http_status: StatusCode) -> (CallStatus, Option<String>, Option<String>) {
    #[derive(Deserialize)]
    struct Reply<'a> {
        #[serde(borrow)]
        result: Option<&'a RawValue>,
        error: Option<ReplyError<'a>>,
    }
    #[derive(Deserialize)]
    struct ReplyError<'a> {
        #[serde(borrow)]
        message: Cow<'a, str>,
    }
    #[derive(Deserialize)]
    struct Outcome<'a> {
        #[serde(rename = "isError", default)]
        is_error: bool,
        #[serde(borrow, default)]
        content: Vec<Piece<'a>>,
    }
    #[derive(Deserialize)]
    struct Piece<'a> {
        #[serde(borrow, default)]
        text: Option<Cow<'a, str>>,
    }
    match serde_json::from_slice::<Reply>(answer) {
        Ok(Reply {
            result: Some(result),
            ..
        }) => {
            let outcome: Option<Outcome> = serde_json::from_str(result.get()).ok();
            match outcome {
                Some(outcome) if outcome.is_error => {
                    let text = outcome
                        .content
                        .iter()
                        .find_map(|p| p.text.as_deref())
                        .unwrap_or("The tool reported an error.");
                    (
                        CallStatus::Error,
                        Some(result.get().to_owned()),
                        Some(text.to_owned()),
                    )
                }
                _ => (CallStatus::Success, Some(result.get().to_owned()), None),
            }
        }
        Ok(Reply {
            error: Some(error), ..
        }) => (
            CallStatus::Error,
            std::str::from_utf8(answer).ok().map(str::to_owned),
            Some(error.message.into_owned()),
        ),
        _ => (
            CallStatus::Error,
            None,
            Some(format!(
                "The upstream answered {http_status} with no JSON-RPC response."
            )),
        ),
    }
}

fn timed_out(log: CallLog, id: &str, limit: Duration) -> Response {
    let message = timeout_message(log.tool(), limit);
    log.finish(CallStatus::Timeout, None, Some(message.clone()));
    gateway_answer(id, &message, "timeout")
}

/// A JSON-RPC response carrying a tool result the gateway wrote itself.
fn answer_json(id: &str, message: &str, reason: &str) -> String {
    let mut result = gateway_error(message, reason);
    result.result_type = Some(rmcp::model::ResultType::COMPLETE);
    let result = serde_json::to_string(&result).unwrap_or_else(|_| "{}".to_owned());
    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}"#)
}

fn gateway_answer(id: &str, message: &str, reason: &str) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        answer_json(id, message, reason),
    )
        .into_response()
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_errors_and_rpc_errors_are_told_apart_from_success() {
        let ok = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}]}}"#;
        assert_eq!(judge(ok, StatusCode::OK).0, CallStatus::Success);
        let tool_error = br#"{"jsonrpc":"2.0","id":1,"result":{"isError":true,"content":[{"type":"text","text":"boom"}]}}"#;
        let judged = judge(tool_error, StatusCode::OK);
        assert_eq!(
            (judged.0, judged.2.as_deref()),
            (CallStatus::Error, Some("boom"))
        );
        let rpc_error = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"bad args"}}"#;
        let judged = judge(rpc_error, StatusCode::BAD_REQUEST);
        assert_eq!(
            (judged.0, judged.2.as_deref()),
            (CallStatus::Error, Some("bad args"))
        );
        assert_eq!(
            judge(b"<html>", StatusCode::BAD_GATEWAY).0,
            CallStatus::Error
        );
    }

    #[test]
    fn gateway_answers_echo_the_request_id() {
        let answer: serde_json::Value =
            serde_json::from_str(&answer_json("\"abc\"", "No.", "permission_denied")).unwrap();
        assert_eq!(answer["id"], "abc");
        assert_eq!(answer["result"]["isError"], true);
        assert_eq!(answer["result"]["resultType"], "complete");
    }
}
