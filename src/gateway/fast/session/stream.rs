//! A session call answered as an SSE stream, relayed event by event as it arrives.

use std::{borrow::Cow, time::Duration};

use axum::{body::Body, http::StatusCode, response::Response};
use bytes::Bytes;
use futures::StreamExt;
use rmcp::model::ServerNotification;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{CLOSED, Call, Stop, session_headers, splice};
use crate::{
    activity::CallStatus,
    gateway::{
        calls::{CallLog, unavailable_message},
        fast::{
            answer_json, judge, send,
            stream::{Chunks, Resume, SseEvents, sse_event, sse_response},
        },
    },
};

/// How long the upstream gets to end its stream once it answered, so that its connection can
/// serve the next call instead of being closed.
const DRAIN: Duration = Duration::from_millis(100);
/// How long the upstream gets to take the gateway's answer to a request it made mid-call.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

impl Call {
    /// Relays an SSE answer event by event as it arrives (see [`Call::translate`]). Ends with
    /// a timeout result when the deadline passes first, and with nothing more when the call
    /// is cancelled.
    pub(super) fn stream_back(
        self,
        upstream: Chunks,
        resume: Resume,
        log: CallLog,
        deadline: tokio::time::Instant,
    ) -> Response {
        struct State {
            call: Call,
            upstream: Chunks,
            resume: Resume,
            events: SseEvents,
            /// Taken once the call's outcome is logged.
            log: Option<CallLog>,
            deadline: tokio::time::Instant,
            done: bool,
        }
        let state = State {
            call: self,
            upstream,
            resume,
            events: SseEvents::default(),
            log: Some(log),
            deadline,
            done: false,
        };
        let stream = futures::stream::unfold(state, |mut state| async move {
            loop {
                if state.done {
                    return None;
                }
                if state.log.is_none() {
                    // Answered: the stream ends here, once the upstream's has (briefly waited
                    // for, so the connection goes back to the pool).
                    state.done = true;
                    let _ = tokio::time::timeout(DRAIN, async {
                        while state.upstream.next().await.is_some() {}
                    })
                    .await;
                    return None;
                }
                let next = tokio::select! {
                    biased;
                    stop = state.call.stopped() => {
                        state.done = true;
                        let log = state.log.take().expect("checked above");
                        match stop {
                            Stop::Cancelled => {
                                state.call.log_cancelled(log);
                                return None;
                            }
                            Stop::UpstreamClosed => {
                                let last = state.call.closed(log);
                                return Some((Ok(last), state));
                            }
                        }
                    }
                    next = tokio::time::timeout_at(state.deadline, state.upstream.next()) => next,
                };
                match next {
                    Ok(Some(Ok(chunk))) => {
                        let out = match state.events.feed(&chunk) {
                            Ok(events) => state.call.translate(events, &mut state.log),
                            Err(why) => {
                                state.done = true;
                                let log = state.log.take().expect("checked above");
                                state.call.last_word(log, &why)
                            }
                        };
                        if !out.is_empty() {
                            return Some((Ok::<Bytes, std::io::Error>(out), state));
                        }
                    }
                    Ok(Some(Err(err))) => {
                        state.done = true;
                        let log = state.log.take().expect("checked above");
                        let why = format!("its stream broke off ({err})");
                        return Some((Ok(state.call.last_word(log, &why)), state));
                    }
                    Ok(None) => {
                        if let Some(rest) =
                            state.resume.rest(&mut state.events, state.deadline).await
                        {
                            state.upstream = rest;
                            continue;
                        }
                        state.done = true;
                        let log = state.log.take().expect("checked above");
                        let why = "it ended its stream without an answer";
                        return Some((Ok(state.call.last_word(log, why)), state));
                    }
                    Err(_) => {
                        // Out of time: answer the call ourselves, as the stream's last event.
                        state.done = true;
                        let log = state.log.take().expect("checked above");
                        let message = state.call.log_timeout(log);
                        let answer = answer_json(&state.call.downstream_id, &message, "timeout");
                        return Some((Ok(Bytes::from(sse_event(&answer))), state));
                    }
                }
            }
        });
        sse_response(Body::from_stream(stream))
    }

    /// The upstream's messages as the client must see them: the answer (logged, and its log
    /// taken) and progress with the client's id and token in the gateway's place, log messages
    /// as they are. What the upstream says of itself as a whole goes to every session, as
    /// the rmcp path sends it; requests it makes of the client are answered here.
    fn translate(&self, events: Vec<String>, log: &mut Option<CallLog>) -> Bytes {
        #[derive(Deserialize)]
        struct Message<'a> {
            #[serde(borrow, default)]
            id: Option<&'a RawValue>,
            #[serde(default)]
            method: Option<Cow<'a, str>>,
            #[serde(borrow, default)]
            params: Option<&'a RawValue>,
            #[serde(borrow, default)]
            result: Option<&'a RawValue>,
            #[serde(borrow, default)]
            error: Option<&'a RawValue>,
        }
        #[derive(Deserialize)]
        struct Progress<'a> {
            #[serde(rename = "progressToken", borrow)]
            token: &'a RawValue,
        }
        let mut out = String::new();
        for data in events {
            let Ok(message) = serde_json::from_str::<Message>(&data) else {
                continue;
            };
            match (message.id, message.method.as_deref()) {
                (Some(id), None) if message.result.is_some() || message.error.is_some() => {
                    if id.get() != self.upstream_id {
                        continue;
                    }
                    let Some(log) = log.take() else {
                        continue;
                    };
                    let Some(answer) = splice(data.as_bytes(), &[(id, &self.downstream_id)]) else {
                        continue;
                    };
                    let judged = judge(&answer, StatusCode::OK);
                    log.finish(judged.status, judged.output, judged.error);
                    out.push_str(&sse_event(&String::from_utf8_lossy(&answer)));
                }
                (Some(id), Some(method)) => self.answer_for_client(id.get(), method),
                (None, Some("notifications/progress")) => {
                    let progress = message
                        .params
                        .and_then(|p| serde_json::from_str::<Progress>(p.get()).ok());
                    // Progress only makes sense to the client that asked for it, with its token.
                    if let (Some(progress), Some(token)) = (progress, &self.client_token)
                        && progress.token.get() == self.upstream_id
                        && let Some(relayed) = splice(data.as_bytes(), &[(progress.token, token)])
                    {
                        out.push_str(&sse_event(&String::from_utf8_lossy(&relayed)));
                    }
                }
                (None, Some("notifications/message")) => out.push_str(&sse_event(&data)),
                // The upstream cancelling a request it made of us: there is none running here.
                (None, Some("notifications/cancelled")) => {}
                (None, Some(_)) => {
                    if let Ok(notification) = serde_json::from_str::<ServerNotification>(&data) {
                        let routes = self.upstream.routes().clone();
                        tokio::spawn(async move { routes.broadcast(notification).await });
                    }
                }
                _ => {}
            }
        }
        Bytes::from(out)
    }

    /// The answer the upstream gets to a request it made of this call's client, which
    /// declared it can answer none but `ping`.
    fn answer_for_client(&self, id: &str, method: &str) {
        let answer = if method == "ping" {
            format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#)
        } else {
            let message = serde_json::Value::from(format!(
                "The client did not declare the capability {method} needs."
            ));
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32601,"message":{message}}}}}"#
            )
        };
        let shared = self.shared.clone();
        let endpoint = self.endpoint.clone();
        let headers = session_headers(&self.endpoint, &self.session).clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(ANSWER_TIMEOUT, async {
                if let Ok((_, _, mut body)) = send(&shared, &endpoint, headers, answer.into()).await
                {
                    while body.next().await.is_some() {}
                }
            })
            .await;
        });
    }

    /// The event that ends a stream whose call the gateway's closed connection cut off.
    fn closed(&self, log: CallLog) -> Bytes {
        let message = unavailable_message(&self.server, CLOSED);
        log.finish(CallStatus::Error, None, Some(message.clone()));
        let answer = answer_json(&self.downstream_id, &message, "upstream_unavailable");
        Bytes::from(sse_event(&answer))
    }

    /// The event that ends a stream the upstream left without an answer: the client still
    /// gets a response to its call.
    fn last_word(&self, log: CallLog, why: &str) -> Bytes {
        let message = format!("The upstream failed to answer: {why}.");
        log.finish(CallStatus::Error, None, Some(message.clone()));
        let answer = answer_json(&self.downstream_id, &message, "upstream_unavailable");
        Bytes::from(sse_event(&answer))
    }
}
