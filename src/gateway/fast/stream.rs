//! A fast-path call answered as an SSE stream: relayed as it arrives, progress notifications
//! included, while the final response is picked out of it for the activity log.

use std::time::Duration;

use axum::{
    body::Body,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use futures::{StreamExt, stream::BoxStream};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{answer_json, judge};
use crate::{
    activity::CallStatus,
    gateway::calls::{CallLog, timeout_message},
};

/// Relays an SSE answer as it arrives (progress notifications included), watching for the
/// final response to log it, and ending it with a timeout result if the deadline passes.
pub(super) fn stream_back(
    upstream: BoxStream<'static, Result<Bytes, String>>,
    id: String,
    log: CallLog,
    deadline: tokio::time::Instant,
    limit: Duration,
) -> Response {
    struct State {
        upstream: BoxStream<'static, Result<Bytes, String>>,
        watch: SseWatch,
        log: Option<CallLog>,
        id: String,
        deadline: tokio::time::Instant,
        limit: Duration,
        done: bool,
    }
    // A client that goes away before the answer drops the state, and with it the log, which
    // then records the call as abandoned (`CallLog`'s `Drop`).
    let state = State {
        upstream,
        watch: SseWatch::default(),
        log: Some(log),
        id,
        deadline,
        limit,
        done: false,
    };
    impl State {
        /// The event that ends a stream the upstream left without an answer: the client still
        /// gets a response to its request, as the rmcp path would give it. Empty once the
        /// answer has been relayed (the upstream only closed late).
        fn last_word(&mut self, why: &str) -> Bytes {
            let Some(log) = self.log.take() else {
                return Bytes::new();
            };
            let message = format!("The upstream failed to answer: {why}.");
            log.finish(CallStatus::Error, None, Some(message.clone()));
            let answer = answer_json(&self.id, &message, "upstream_unavailable");
            Bytes::from(format!("event: message\ndata: {answer}\n\n"))
        }
    }
    let stream = futures::stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        match tokio::time::timeout_at(state.deadline, state.upstream.next()).await {
            Ok(Some(Ok(chunk))) => {
                if let Some(answer) = state.watch.feed(&chunk, &state.id)
                    && let Some(log) = state.log.take()
                {
                    let judged = judge(answer.as_bytes(), StatusCode::OK);
                    log.finish(judged.status, judged.output, judged.error);
                }
                Some((Ok::<Bytes, std::io::Error>(chunk), state))
            }
            Ok(Some(Err(err))) => {
                let why = format!("its stream broke off ({err})");
                state.done = true;
                Some((Ok(state.last_word(&why)), state))
            }
            Ok(None) => {
                state.done = true;
                Some((
                    Ok(state.last_word("it ended its stream without an answer")),
                    state,
                ))
            }
            Err(_) => {
                // Out of time: answer the request ourselves, as the last event of the stream.
                state.done = true;
                let mut event = String::from("event: message\ndata: ");
                if let Some(log) = state.log.take() {
                    let message = timeout_message(log.tool(), state.limit);
                    log.finish(CallStatus::Timeout, None, Some(message.clone()));
                    event.push_str(&answer_json(&state.id, &message, "timeout"));
                }
                event.push_str("\n\n");
                Some((Ok(Bytes::from(event)), state))
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        )
        .header(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

/// Finds the JSON-RPC response to `id` in an SSE byte stream fed chunk by chunk.
#[derive(Default)]
struct SseWatch {
    buffer: String,
}

impl SseWatch {
    fn feed(&mut self, chunk: &[u8], id: &str) -> Option<String> {
        self.buffer.push_str(&String::from_utf8_lossy(chunk));
        let mut found = None;
        // Events end with a blank line.
        while let Some((end, separator)) = self
            .buffer
            .find("\r\n\r\n")
            .map(|at| (at, 4))
            .or_else(|| self.buffer.find("\n\n").map(|at| (at, 2)))
        {
            let event: String = self.buffer[..end].to_owned();
            self.buffer.drain(..end + separator);
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if data.is_empty() {
                continue;
            }
            let data = data.join("\n");
            if is_response_to(&data, id) {
                found = Some(data);
            }
        }
        found
    }
}

fn is_response_to(message: &str, id: &str) -> bool {
    #[derive(Deserialize)]
    struct Peek<'a> {
        #[serde(borrow)]
        id: Option<&'a RawValue>,
        #[serde(borrow)]
        result: Option<&'a RawValue>,
        #[serde(borrow)]
        error: Option<&'a RawValue>,
    }
    match serde_json::from_str::<Peek>(message) {
        Ok(peek) => {
            let same_id = peek.id.is_some_and(|found| {
                found.get() == id
                    || serde_json::from_str::<serde_json::Value>(found.get()).ok()
                        == serde_json::from_str::<serde_json::Value>(id).ok()
            });
            same_id && (peek.result.is_some() || peek.error.is_some())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_found_across_chunks_among_notifications() {
        let mut watch = SseWatch::default();
        let progress = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n";
        assert_eq!(watch.feed(progress.as_bytes(), "7"), None);
        assert_eq!(
            watch.feed(b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,", "7"),
            None
        );
        let found = watch.feed(b"\"result\":{\"content\":[]}}\n\n", "7");
        assert_eq!(
            found.as_deref(),
            Some("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[]}}")
        );
    }
}
