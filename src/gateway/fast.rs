//! The fast paths, for the hottest case: a `tools/call` to an HTTP upstream that speaks the
//! client's own revision. Nothing needs translating between the two, so the request is checked,
//! logged and relayed as bytes instead of being parsed into rmcp's types on the way in and out
//! of each side, which is where most of a proxied call's cost went (docs/PERFORMANCE.md has the
//! numbers). There is one path per era: [`stateless`] (2026-07-28), relayed as it came, and
//! [`session`] (2025-11-25 and the revisions before it), relayed into the gateway's own session
//! with the upstream.
//!
//! Policy and logging are the same functions the rmcp path uses. Anything unusual — another
//! method, headers that disagree with the body, an upstream not yet connected or speaking
//! another revision, a server that is not active — is left to the rmcp path, which knows every
//! rule of the protocol.

use std::{borrow::Cow, sync::Arc, time::Duration};

use axum::{
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use futures::{StreamExt, stream::BoxStream};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    Shared,
    cache::ServerEntry,
    calls::{CallLog, denial, gateway_error, timeout_message},
    principal::Principal,
    upstream::{HttpEndpoint, relay::PlainHttp},
};
use crate::activity::CallStatus;
use rmcp::model::ErrorCode;

pub(super) mod session;
pub(super) mod stateless;
mod stream;

/// Headers a client sends that the upstream must see unchanged (never `Authorization`: the
/// gateway's token stays with the gateway).
const RELAYED_PREFIXES: &[&str] = &["traceparent", "tracestate"];
/// Largest JSON answer relayed from the upstream.
const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

fn only_value_is(headers: &HeaderMap, name: &str, value: &str) -> bool {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(only), None) => only.to_str().is_ok_and(|v| v.trim() == value),
        _ => false,
    }
}

fn accepts_json_and_sse(headers: &HeaderMap) -> bool {
    let (mut json, mut sse) = (false, false);
    for value in headers.get_all(header::ACCEPT) {
        for item in value.to_str().unwrap_or_default().split(',') {
            let essence = item.split(';').next().unwrap_or_default().trim();
            json |= essence.eq_ignore_ascii_case("application/json");
            sse |= essence.eq_ignore_ascii_case("text/event-stream");
        }
    }
    json && sse
}

/// A `tools/call` request, as much of it as a fast path decides on; `M` is what it reads of
/// the request's `_meta`.
#[derive(Deserialize)]
#[serde(bound(deserialize = "M: Deserialize<'de>"))]
struct ToolCall<'a, M> {
    jsonrpc: Cow<'a, str>,
    #[serde(borrow)]
    id: &'a RawValue,
    method: Cow<'a, str>,
    params: ToolCallParams<'a, M>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "M: Deserialize<'de>"))]
struct ToolCallParams<'a, M> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    arguments: Option<&'a RawValue>,
    #[serde(rename = "_meta", default = "Option::default")]
    meta: Option<M>,
}

impl<M> ToolCall<'_, M> {
    /// Whether it is a JSON-RPC 2.0 `tools/call`, with an object (or nothing) for arguments.
    fn is_tool_call(&self) -> bool {
        self.jsonrpc == "2.0"
            && self.method == "tools/call"
            && self
                .params
                .arguments
                .is_none_or(|a| a.get().starts_with('{'))
    }
}

impl<M> ToolCall<'_, M> {
    /// Opens the call's log and applies the caller's group's restrictions: the log, or the
    /// answer for a restricted tool (logged as denied). `None` when the restrictions cannot
    /// be read right now; the rmcp path answers then.
    async fn admit(
        &self,
        shared: &Arc<Shared>,
        server: &ServerEntry,
        principal: &Principal,
        client: (Option<String>, Option<String>),
    ) -> Option<Result<CallLog, Response>> {
        let tool = self.params.name.as_ref();
        let input = self.params.arguments.map(|a| a.get().to_owned());
        let mut log = CallLog::begin(shared, server.id, tool, input, client);
        log.caller(principal, server);
        match denial(shared, principal, server, tool).await {
            Ok(Some(message)) => {
                log.finish(CallStatus::PermissionDenied, None, Some(message.clone()));
                Some(Err(gateway_answer(
                    self.id.get(),
                    &message,
                    "permission_denied",
                )))
            }
            Ok(None) => Some(Ok(log)),
            Err(_) => None,
        }
    }
}

fn is_event_stream(content_type: Option<&HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// An upstream's answer as it arrives: status, content type, body.
type Sent = (
    StatusCode,
    Option<HeaderValue>,
    BoxStream<'static, Result<Bytes, String>>,
);

/// Sends a call upstream with `headers` (see [`fixed_headers`]): over a connection of its own
/// when the endpoint is plain HTTP, else through reqwest.
async fn send(
    shared: &Shared,
    endpoint: &HttpEndpoint,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Sent, String> {
    exchange(shared, endpoint, Method::POST, headers, body).await
}

/// Asks the upstream for the rest of an answer's event stream (see `stream::Resume`).
async fn get(shared: &Shared, endpoint: &HttpEndpoint, headers: HeaderMap) -> Result<Sent, String> {
    exchange(shared, endpoint, Method::GET, headers, Bytes::new()).await
}

async fn exchange(
    shared: &Shared,
    endpoint: &HttpEndpoint,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Sent, String> {
    match &endpoint.plain {
        Some(plain) => send_direct(shared, plain, method, headers, body).await,
        None => send_reqwest(shared, endpoint, method, headers, body).await,
    }
}

/// The headers every relayed call carries, whatever its revision: the endpoint's own (injected
/// credentials), JSON in, JSON or SSE out, and `Host` for a direct connection (unless the
/// endpoint sets one, as reqwest does for itself).
fn fixed_headers(endpoint: &HttpEndpoint) -> HeaderMap {
    let mut fixed = endpoint.headers.clone();
    fixed.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    fixed.insert(
        header::ACCEPT,
        HeaderValue::from_static("application/json, text/event-stream"),
    );
    if let Some(plain) = &endpoint.plain
        && !fixed.contains_key(header::HOST)
        && let Ok(host) = HeaderValue::from_str(&plain.host)
    {
        fixed.insert(header::HOST, host);
    }
    fixed
}

/// `fixed`, plus the client's headers the upstream must see: tracing, and `also`.
fn with_client_headers(fixed: &HeaderMap, client: &HeaderMap, also: &[&str]) -> HeaderMap {
    let mut out = fixed.clone();
    for (name, value) in client {
        let relayed = also.contains(&name.as_str())
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
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Sent, String> {
    let make = || {
        let mut request = axum::http::Request::new(http_body_util::Full::new(body.clone()));
        *request.method_mut() = method.clone();
        *request.uri_mut() = plain.target.clone();
        *request.headers_mut() = headers.clone();
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
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Sent, String> {
    let response = shared
        .http
        .request(method, &endpoint.url)
        .headers(headers)
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

/// What a JSON-RPC answer says about the call.
struct Judged {
    /// The call's status for the activity log.
    status: CallStatus,
    /// The result (or the whole error response) to log.
    output: Option<String>,
    error: Option<String>,
    /// What the answer was: a result, an error with its code, or not JSON-RPC at all.
    reply: Reply,
}

#[derive(Debug, PartialEq)]
enum Reply {
    Result,
    Error(i64),
    NotJsonRpc,
}

impl Judged {
    /// The HTTP status the client gets with the answer, `None` when there is no JSON-RPC
    /// answer to relay. A result goes out as 200 and an error with the status rmcp gives that
    /// code, whatever the upstream's HTTP status was, so the client reads the same statuses
    /// from every path.
    fn reply_status(&self, upstream: StatusCode) -> Option<StatusCode> {
        match self.reply {
            Reply::Result if upstream.is_success() => Some(StatusCode::OK),
            Reply::Result | Reply::NotJsonRpc => None,
            Reply::Error(code) => Some(match rmcp::model::ErrorCode(code as i32) {
                ErrorCode::UNSUPPORTED_PROTOCOL_VERSION
                | ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY
                | ErrorCode::HEADER_MISMATCH
                | ErrorCode::INVALID_PARAMS
                    if upstream == StatusCode::BAD_REQUEST =>
                {
                    StatusCode::BAD_REQUEST
                }
                ErrorCode::METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
                _ => StatusCode::OK,
            }),
        }
    }
}

/// Reads the call's outcome out of a JSON-RPC answer.
fn judge(answer: &[u8], http_status: StatusCode) -> Judged {
    #[derive(Deserialize)]
    struct Response<'a> {
        #[serde(borrow)]
        result: Option<&'a RawValue>,
        error: Option<ResponseError<'a>>,
    }
    #[derive(Deserialize)]
    struct ResponseError<'a> {
        #[serde(default)]
        code: i64,
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
    match serde_json::from_slice::<Response>(answer) {
        Ok(Response {
            result: Some(result),
            ..
        }) => {
            let outcome: Option<Outcome> = serde_json::from_str(result.get()).ok();
            let error = match outcome {
                Some(outcome) if outcome.is_error => Some(
                    outcome
                        .content
                        .iter()
                        .find_map(|p| p.text.as_deref())
                        .unwrap_or("The tool reported an error.")
                        .to_owned(),
                ),
                _ => None,
            };
            Judged {
                status: if error.is_some() {
                    CallStatus::Error
                } else {
                    CallStatus::Success
                },
                output: Some(result.get().to_owned()),
                error,
                reply: Reply::Result,
            }
        }
        Ok(Response {
            error: Some(error), ..
        }) => Judged {
            status: CallStatus::Error,
            output: std::str::from_utf8(answer).ok().map(str::to_owned),
            error: Some(error.message.into_owned()),
            reply: Reply::Error(error.code),
        },
        _ => Judged {
            status: CallStatus::Error,
            output: None,
            error: Some(format!(
                "the upstream answered {http_status} with no JSON-RPC response"
            )),
            reply: Reply::NotJsonRpc,
        },
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
        let judged = judge(ok, StatusCode::OK);
        assert_eq!(judged.status, CallStatus::Success);
        assert_eq!(judged.reply_status(StatusCode::OK), Some(StatusCode::OK));
        let tool_error = br#"{"jsonrpc":"2.0","id":1,"result":{"isError":true,"content":[{"type":"text","text":"boom"}]}}"#;
        let judged = judge(tool_error, StatusCode::OK);
        assert_eq!(
            (judged.status, judged.error.as_deref()),
            (CallStatus::Error, Some("boom"))
        );
        let rpc_error = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"bad args"}}"#;
        let judged = judge(rpc_error, StatusCode::BAD_REQUEST);
        assert_eq!(
            (judged.status, judged.error.as_deref()),
            (CallStatus::Error, Some("bad args"))
        );
        assert_eq!(judged.reply, Reply::Error(-32602));
    }

    #[test]
    fn only_json_rpc_answers_are_relayed_and_with_the_statuses_rmcp_gives_them() {
        let page = judge(b"<html>Bad gateway</html>", StatusCode::BAD_GATEWAY);
        assert_eq!(page.status, CallStatus::Error);
        assert_eq!(page.reply_status(StatusCode::BAD_GATEWAY), None);
        let result = judge(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#, StatusCode::OK);
        assert_eq!(result.reply_status(StatusCode::UNAUTHORIZED), None);
        let unknown_method =
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no such method"}}"#;
        assert_eq!(
            judge(unknown_method, StatusCode::NOT_FOUND).reply_status(StatusCode::NOT_FOUND),
            Some(StatusCode::NOT_FOUND)
        );
        let internal = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"oops"}}"#;
        assert_eq!(
            judge(internal, StatusCode::INTERNAL_SERVER_ERROR)
                .reply_status(StatusCode::INTERNAL_SERVER_ERROR),
            Some(StatusCode::OK)
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
