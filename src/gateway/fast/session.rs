//! The fast path of the session revisions (2025-11-25, and those before it that name their
//! version on each request): a `tools/call` in a session is sent by the gateway itself into its
//! own session with the upstream, when the upstream speaks the client's revision over
//! Streamable HTTP.
//!
//! rmcp's session path hands each request through the session's worker, a task of its own and
//! the gateway's rmcp client with its worker: about eight channel hops each way
//! (docs/PERFORMANCE.md). Here the request is relayed as bytes, as on the stateless path. The
//! upstream session is shared by every client session of the server, so the request's id and
//! progress token are replaced with the gateway's own on the way up and put back on the way
//! down; nothing else in the body is touched.
//!
//! What rmcp's session path does that this one does too:
//! - A client cancels with a `notifications/cancelled` in a request of its own, which [`cancel`]
//!   matches to the call; ending the session or a timeout cancel the call upstream as well.
//!   A client that only hangs up cancels nothing (the revision says a disconnection is not a
//!   cancellation); the call runs to its end upstream, and its row says the client went away.
//!   Answers carry no event ids, so such a client cannot pick its answer up again.
//! - rmcp ends a session after five minutes without traffic of its own, so a call goes around
//!   rmcp only if a request of its session went through rmcp in the last minute and the call
//!   must end before those five minutes are up (`OpenSession::may_go_around_rmcp`).
//! - The upstream may ask the client something mid-call. Only sessions whose client declared it
//!   cannot be asked (no sampling, elicitation or roots) take this path, and the gateway answers
//!   for it as such a client would: an empty result to `ping`, an error to anything else.
//! - Notifications on the call's stream: progress and log messages go to the caller; anything
//!   about the server as a whole (its tools changed, say) to every session, as the rmcp path
//!   sends them.
//! - An upstream that closes the call's stream before answering is asked for the rest (see
//!   `stream::Resume`); one that forgot the session is reached in the new one rmcp's client
//!   opens.

use std::{
    borrow::Cow,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

mod stream;

use super::{
    Reply, ToolCall, accepts_json_and_sse, fixed_headers, gateway_answer, is_event_stream, judge,
    read_limited, send,
    stream::{Resume, sse_response},
    with_client_headers,
};
use crate::{
    activity::CallStatus,
    gateway::{
        Gateway, Shared,
        cache::ServerEntry,
        calls::{CallLog, timeout_message, unavailable_message},
        principal::Principal,
        runtime::Era,
        sessions::{OpenSession, Relayed},
        upstream::{HttpEndpoint, Upstream, tap::UpstreamSession},
    },
    servers::ServerStatus,
};

/// Whether the request may take this path, judged from its headers alone; as on the
/// stateless path, what rmcp would refuse or check further goes the rmcp way: an `Origin`,
/// an `Accept` without JSON and SSE, or no single version header (clients of 2025-03-26 and
/// before send none, and their upstream session may be of another revision).
pub(in crate::gateway) fn wanted(headers: &HeaderMap) -> bool {
    !headers.contains_key(header::ORIGIN)
        && accepts_json_and_sse(headers)
        && headers.get_all("mcp-protocol-version").iter().count() == 1
}

#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(rename = "progressToken", borrow, default)]
    progress_token: Option<&'a RawValue>,
    /// Set only by clients of the stateless revision; rmcp judges what they mean in a session.
    #[serde(rename = "io.modelcontextprotocol/protocolVersion", borrow, default)]
    protocol_version: Option<&'a RawValue>,
    #[serde(rename = "io.modelcontextprotocol/clientInfo", borrow, default)]
    client_info: Option<&'a RawValue>,
    #[serde(rename = "io.modelcontextprotocol/clientCapabilities", borrow, default)]
    client_capabilities: Option<&'a RawValue>,
}

/// Handles the call if it belongs on this path; `None` hands it to the rmcp path.
pub(in crate::gateway) async fn try_call(
    gateway: &Gateway,
    server: &Arc<ServerEntry>,
    principal: &Principal,
    session: &Arc<OpenSession>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Option<Response> {
    let client = session.client()?;
    if server.status != ServerStatus::Active
        || client.may_be_asked
        || !session.may_go_around_rmcp(server.call_timeout)
    {
        return None;
    }
    let envelope: ToolCall<Meta> = serde_json::from_slice(body).ok()?;
    let meta = envelope.params.meta.as_ref();
    if !envelope.is_tool_call()
        || meta.is_some_and(|m| {
            m.protocol_version.is_some()
                || m.client_info.is_some()
                || m.client_capabilities.is_some()
        })
    {
        return None;
    }
    let upstream = gateway.runtime(server).connected(server, Era::Session)?;
    let (endpoint, upstream_session) = upstream.session_http()?;
    let endpoint = endpoint.clone();
    if headers.get("mcp-protocol-version") != Some(&upstream_session.version) {
        return None;
    }
    // Registered before anything is awaited, so a cancel that follows the call finds it; an
    // id already in use (a client may not reuse one while its call runs) goes the rmcp way.
    let relayed = session.relay(request_id(envelope.id.get())?)?;

    // The gateway's id for the call upstream; its progress token is the same string.
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let upstream_id = format!("\"gatehouse-{}\"", NEXT.fetch_add(1, Ordering::Relaxed));
    let client_token = meta.and_then(|m| m.progress_token);
    let mut replaced = vec![(envelope.id, upstream_id.as_str())];
    replaced.extend(client_token.map(|token| (token, upstream_id.as_str())));
    let upstream_body = Bytes::from(splice(body, &replaced)?);

    let shared = &gateway.shared;
    let client_info = (client.name.clone(), client.version.clone());
    let mut log = match envelope
        .admit(shared, server, principal, client_info)
        .await?
    {
        Ok(log) => log,
        Err(denied) => return Some(denied),
    };
    let id = envelope.id.get();
    let call = Call {
        shared: shared.clone(),
        server: server.clone(),
        upstream,
        endpoint,
        session: upstream_session,
        relayed,
        downstream_id: id.to_owned(),
        upstream_id,
        client_token: client_token.map(|t| t.get().to_owned()),
    };
    log.started();
    Some(call.relay(headers, upstream_body, log).await)
}

/// A client's `notifications/cancelled` for a call this path relays: the call is cancelled
/// and the notification answered `202 Accepted`. `None` for any other message (rmcp takes it).
pub(in crate::gateway) fn cancel(session: &OpenSession, body: &[u8]) -> Option<Response> {
    #[derive(Deserialize)]
    struct Notification<'a> {
        method: Cow<'a, str>,
        #[serde(borrow)]
        params: Cancelled<'a>,
    }
    #[derive(Deserialize)]
    struct Cancelled<'a> {
        #[serde(rename = "requestId", borrow)]
        request_id: &'a RawValue,
    }
    let notification: Notification = serde_json::from_slice(body).ok()?;
    if notification.method != "notifications/cancelled" {
        return None;
    }
    let id = request_id(notification.params.request_id.get())?;
    session
        .cancel(&id)
        .then(|| StatusCode::ACCEPTED.into_response())
}

/// A JSON-RPC request id written the one way, so the id of a call and of its cancellation
/// compare equal however the client spelt them; `None` if it is not a string or an integer.
fn request_id(raw: &str) -> Option<String> {
    match serde_json::from_str::<serde_json::Value>(raw).ok()? {
        id @ serde_json::Value::String(_) => Some(id.to_string()),
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// `text` with pieces of it replaced: each `(piece, with)` names a JSON value parsed out of
/// `text` itself (so it borrows from it). `None` if one does not, or two overlap.
fn splice(text: &[u8], replaced: &[(&RawValue, &str)]) -> Option<Vec<u8>> {
    let base = text.as_ptr() as usize;
    let mut spans = replaced
        .iter()
        .map(|(piece, with)| {
            let piece = piece.get();
            let start = (piece.as_ptr() as usize).checked_sub(base)?;
            let end = start.checked_add(piece.len())?;
            (end <= text.len()).then_some((start, end, *with))
        })
        .collect::<Option<Vec<_>>>()?;
    spans.sort_by_key(|&(start, ..)| start);
    let mut out = Vec::with_capacity(text.len() + 32);
    let mut at = 0;
    for (start, end, with) in spans {
        if start < at {
            return None;
        }
        out.extend_from_slice(&text[at..start]);
        out.extend_from_slice(with.as_bytes());
        at = end;
    }
    out.extend_from_slice(&text[at..]);
    Some(out)
}

/// One call being relayed.
struct Call {
    shared: Arc<Shared>,
    server: Arc<ServerEntry>,
    upstream: Arc<Upstream>,
    endpoint: Arc<HttpEndpoint>,
    /// The upstream session the call went into.
    session: Arc<UpstreamSession>,
    /// Registered with the client's session; its token fires when the call is cancelled.
    relayed: Relayed,
    /// The call's id as the client wrote it, and the gateway's (a JSON string) in its place
    /// upstream.
    downstream_id: String,
    upstream_id: String,
    /// The client's progress token as it wrote it, if it asked for progress.
    client_token: Option<String>,
}

/// Why a call ended when the gateway closed the connection under it.
const CLOSED: &str = "the gateway closed its connection to it (the server was disabled or \
                      deleted, or the gateway is stopping)";

/// Why a call stopped before its answer.
enum Stop {
    /// The client cancelled it, or its session ended.
    Cancelled,
    /// The gateway closed its connection to the upstream: the server was disabled or deleted,
    /// or the gateway is stopping.
    UpstreamClosed,
}

impl Call {
    /// Sends the call into the upstream session and relays the answer: JSON is read whole,
    /// an SSE stream translated as it arrives (see [`Call::stream_back`]).
    async fn relay(mut self, client: &HeaderMap, body: Bytes, log: CallLog) -> Response {
        let deadline = tokio::time::Instant::now() + self.server.call_timeout;
        let mut renewed = false;
        let (status, content_type, answer) = loop {
            let headers =
                with_client_headers(session_headers(&self.endpoint, &self.session), client, &[]);
            let sent = send(&self.shared, &self.endpoint, headers, body.clone());
            let sent = tokio::select! {
                biased;
                stop = self.stopped() => return self.stop(stop, log),
                sent = tokio::time::timeout_at(deadline, sent) => sent,
            };
            match sent {
                // The upstream no longer knows the session (it restarted, or let it idle out),
                // so the call did not run. rmcp's client opens a new session when a request of
                // its own meets the same answer; the call then goes into that one, once.
                Ok(Ok((StatusCode::NOT_FOUND, ..))) if !renewed => {
                    renewed = true;
                    let renewal = tokio::select! {
                        biased;
                        stop = self.stopped() => return self.stop(stop, log),
                        renewal = renew(&self.upstream, &self.session, deadline) => renewal,
                    };
                    match renewal {
                        Some(fresh) => self.session = fresh,
                        None => return self.unavailable(log, "it no longer knows the session"),
                    }
                }
                Ok(Ok(sent)) => break sent,
                Ok(Err(why)) => return self.unavailable(log, &why),
                Err(_) => return self.timed_out(log),
            }
        };
        if is_event_stream(content_type.as_ref()) && status.is_success() {
            let resume = Resume::new(
                self.shared.clone(),
                self.endpoint.clone(),
                session_headers(&self.endpoint, &self.session).clone(),
            );
            return self.stream_back(answer, resume, log, deadline);
        }
        let read = tokio::select! {
            biased;
            stop = self.stopped() => return self.stop(stop, log),
            read = tokio::time::timeout_at(deadline, read_limited(answer)) => read,
        };
        let answer = match read {
            Ok(Ok(answer)) => answer,
            Ok(Err(why)) => return self.unavailable(log, &why),
            Err(_) => return self.timed_out(log),
        };
        let Some(answer) = self.as_downstream(&answer) else {
            let why = format!("the upstream answered {status} with no JSON-RPC response");
            return self.unavailable(log, &why);
        };
        let judged = judge(&answer, status);
        // A result goes out as 200 whatever the upstream's status, as rmcp's session path
        // sends every answer in a 200 stream; anything else is not an answer at all.
        if judged.reply == Reply::NotJsonRpc
            || (judged.reply == Reply::Result && !status.is_success())
        {
            let why = judged.error.unwrap_or_default();
            return self.unavailable(log, &why);
        }
        log.finish(judged.status, judged.output, judged.error);
        (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            answer,
        )
            .into_response()
    }

    /// Waits until the call must stop before its answer.
    async fn stopped(&self) -> Stop {
        tokio::select! {
            () = self.relayed.token.cancelled() => Stop::Cancelled,
            () = self.upstream.closing().cancelled() => Stop::UpstreamClosed,
        }
    }

    /// `message` from the upstream as the client must see it, when it is the answer to this
    /// call: with the client's id in the gateway's place.
    fn as_downstream(&self, message: &[u8]) -> Option<Vec<u8>> {
        #[derive(Deserialize)]
        struct Answer<'a> {
            #[serde(borrow)]
            id: &'a RawValue,
        }
        let answer: Answer = serde_json::from_slice(message).ok()?;
        if answer.id.get() != self.upstream_id {
            return None;
        }
        splice(message, &[(answer.id, &self.downstream_id)])
    }

    /// The call stopped before its answer: nothing more is sent to the client.
    fn stop(self, stop: Stop, log: CallLog) -> Response {
        match stop {
            Stop::Cancelled => {
                self.log_cancelled(log);
                sse_response(Body::empty())
            }
            Stop::UpstreamClosed => self.unavailable(log, CLOSED),
        }
    }

    /// Logs why the call was cancelled, and tells the upstream.
    fn log_cancelled(&self, log: CallLog) {
        let (why, reason) = if self.relayed.session_ended() {
            (
                "The session ended before the tool answered.",
                "the session ended",
            )
        } else {
            ("Cancelled by the client.", "cancelled by the client")
        };
        self.cancel_upstream(reason);
        log.finish(CallStatus::Error, None, Some(why.to_owned()));
    }

    fn unavailable(self, log: CallLog, why: &str) -> Response {
        let message = unavailable_message(&self.server, why);
        log.finish(CallStatus::Error, None, Some(message.clone()));
        gateway_answer(&self.downstream_id, &message, "upstream_unavailable")
    }

    fn timed_out(self, log: CallLog) -> Response {
        let message = self.log_timeout(log);
        gateway_answer(&self.downstream_id, &message, "timeout")
    }

    /// Logs that the call ran out of time, and tells the upstream; the message for the client.
    fn log_timeout(&self, log: CallLog) -> String {
        let message = timeout_message(log.tool(), self.server.call_timeout);
        log.finish(CallStatus::Timeout, None, Some(message.clone()));
        self.cancel_upstream("the gateway's time limit for the call passed");
        message
    }

    /// Tells the upstream the call is cancelled, through rmcp's client in the same session.
    fn cancel_upstream(&self, reason: &'static str) {
        let upstream = self.upstream.clone();
        let id = self.upstream_id.trim_matches('"').to_owned();
        tokio::spawn(async move {
            let cancelled = rmcp::model::CancelledNotificationParam::new(
                Some(rmcp::model::RequestId::String(id.into())),
                Some(reason.to_owned()),
            );
            let _ = upstream.peer().notify_cancelled(cancelled).await;
        });
    }
}

/// Asks rmcp's client to reach the upstream, which opens a new session when the one it knew
/// is gone; the new session, if there is one.
async fn renew(
    upstream: &Upstream,
    stale: &UpstreamSession,
    deadline: tokio::time::Instant,
) -> Option<Arc<UpstreamSession>> {
    let ping = rmcp::model::ClientRequest::PingRequest(Default::default());
    let pinged = tokio::time::timeout_at(deadline, upstream.peer().send_request(ping)).await;
    if !matches!(pinged, Ok(Ok(_))) {
        return None;
    }
    let (_, session) = upstream.session_http()?;
    (session.id != stale.id).then_some(session)
}

/// The headers every call into `session` carries: those of every relayed call and the
/// session's own, built once per session. A call adds the client's that the upstream must see.
fn session_headers<'a>(endpoint: &HttpEndpoint, session: &'a UpstreamSession) -> &'a HeaderMap {
    session.call_headers.get_or_init(|| {
        let mut fixed = fixed_headers(endpoint);
        fixed.insert("mcp-protocol-version", session.version.clone());
        if let Some(id) = &session.id
            && let Ok(id) = HeaderValue::from_str(id)
        {
            fixed.insert("mcp-session-id", id);
        }
        fixed
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_compare_however_the_client_spelt_them() {
        assert_eq!(request_id("7"), Some("7".to_owned()));
        assert_eq!(request_id(" \"a\\u0062\" "), Some("\"ab\"".to_owned()));
        assert_eq!(request_id("null"), None);
        assert_eq!(request_id("1.5"), None);
    }

    #[test]
    fn the_id_and_progress_token_are_replaced_and_nothing_else() {
        let body = br#"{"jsonrpc":"2.0", "id" : 7,"method":"tools/call","params":{"name":"echo","arguments":{"id":7},"_meta":{"progressToken":"p"}}}"#;
        let envelope: ToolCall<Meta> = serde_json::from_slice(body).unwrap();
        let token = envelope
            .params
            .meta
            .as_ref()
            .unwrap()
            .progress_token
            .unwrap();
        let spliced = splice(body, &[(token, "\"g-1\""), (envelope.id, "\"g-1\"")]).unwrap();
        assert_eq!(
            std::str::from_utf8(&spliced).unwrap(),
            r#"{"jsonrpc":"2.0", "id" : "g-1","method":"tools/call","params":{"name":"echo","arguments":{"id":7},"_meta":{"progressToken":"g-1"}}}"#
        );
        // A value parsed from another text cannot be spliced into this one.
        let other: Box<RawValue> = RawValue::from_string("7".to_owned()).unwrap();
        assert_eq!(splice(body, &[(&other, "1")]), None);
    }
}
