//! Fast-path calls answered as an SSE stream: relayed as they arrive, progress notifications
//! included, while the final response is picked out for the activity log.

use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use futures::{StreamExt, stream::BoxStream};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{MAX_ANSWER_BYTES, answer_json, get, is_event_stream, judge};
use crate::activity::CallStatus;
use crate::gateway::{
    Shared,
    calls::{CallLog, timeout_message},
    upstream::HttpEndpoint,
};

/// An upstream's answer as it arrives.
pub(super) type Chunks = BoxStream<'static, Result<Bytes, String>>;

/// Relays an SSE answer as it arrives (progress notifications included), watching for the
/// final response to log it, and ending it with a timeout result if the deadline passes.
pub(super) fn stream_back(
    upstream: Chunks,
    id: String,
    log: CallLog,
    deadline: tokio::time::Instant,
    limit: Duration,
) -> Response {
    struct State {
        upstream: Chunks,
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
            Bytes::from(sse_event(&answer_json(
                &self.id,
                &message,
                "upstream_unavailable",
            )))
        }
    }
    let stream = futures::stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        match tokio::time::timeout_at(state.deadline, state.upstream.next()).await {
            Ok(Some(Ok(chunk))) => match state.watch.feed(&chunk, &state.id) {
                Ok(answer) => {
                    if let Some(answer) = answer
                        && let Some(log) = state.log.take()
                    {
                        let judged = judge(answer.as_bytes(), StatusCode::OK);
                        log.finish(judged.status, judged.output, judged.error);
                    }
                    Some((Ok::<Bytes, std::io::Error>(chunk), state))
                }
                Err(why) => {
                    state.done = true;
                    Some((Ok(state.last_word(&why)), state))
                }
            },
            Ok(Some(Err(err))) => {
                let why = format!("its stream broke off ({err})");
                state.done = true;
                Some((Ok(state.last_word(&why)), state))
            }
            Ok(None) => {
                state.done = true;
                let last = state.last_word("it ended its stream without an answer");
                Some((Ok(last), state))
            }
            Err(_) => {
                // Out of time: answer the request ourselves, as the last event of the stream.
                state.done = true;
                let log = state.log.take()?;
                let message = timeout_message(log.tool(), state.limit);
                log.finish(CallStatus::Timeout, None, Some(message.clone()));
                let answer = answer_json(&state.id, &message, "timeout");
                Some((Ok(Bytes::from(sse_event(&answer))), state))
            }
        }
    });
    sse_response(Body::from_stream(stream))
}

/// One SSE event carrying `message`, a line of `data` per line of it.
pub(super) fn sse_event(message: &str) -> String {
    let mut event = String::from("event: message\n");
    for line in message.split('\n') {
        event.push_str("data: ");
        event.push_str(line.strip_suffix('\r').unwrap_or(line));
        event.push('\n');
    }
    event.push('\n');
    event
}

pub(super) fn sse_response(body: Body) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        )
        .header(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))
        .body(body)
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

/// How an upstream's SSE answer is picked up again when the upstream closes the stream
/// before answering, as a server of the session revision may to have its clients poll (SSE
/// polling, 2025-11-25): a `GET` naming the last event it sent, after the wait it asked for.
pub(super) struct Resume {
    shared: Arc<Shared>,
    endpoint: Arc<HttpEndpoint>,
    /// The `GET`'s headers: those of the revision (and the session), none of the call's own.
    headers: HeaderMap,
    /// Pick-ups in a row that brought no new event: after a few, the upstream is not coming
    /// back with the answer.
    fruitless: u32,
    resumed_after: Option<String>,
}

/// Longest wait between pick-ups, whatever the upstream asks for.
const MAX_RETRY: Duration = Duration::from_secs(5);

impl Resume {
    pub fn new(shared: Arc<Shared>, endpoint: Arc<HttpEndpoint>, headers: HeaderMap) -> Self {
        Resume {
            shared,
            endpoint,
            headers,
            fruitless: 0,
            resumed_after: None,
        }
    }

    /// The rest of the answer, when the upstream gave the stream an event id to go on from.
    pub async fn rest(
        &mut self,
        events: &mut SseEvents,
        deadline: tokio::time::Instant,
    ) -> Option<Chunks> {
        let last = events.last_id.clone()?;
        if self.resumed_after.as_ref() == Some(&last) {
            self.fruitless += 1;
        } else {
            self.fruitless = 0;
        }
        if self.fruitless >= 3 {
            return None;
        }
        self.resumed_after = Some(last.clone());
        // A stream that broke off mid-event starts again with whole events.
        events.forget_partial();
        let wait = events.retry.unwrap_or_default().min(MAX_RETRY);
        tokio::time::sleep_until((tokio::time::Instant::now() + wait).min(deadline)).await;
        let mut headers = self.headers.clone();
        headers.remove(header::CONTENT_TYPE);
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert("last-event-id", HeaderValue::from_str(&last).ok()?);
        let asked = get(&self.shared, &self.endpoint, headers);
        let (status, content_type, rest) =
            tokio::time::timeout_at(deadline, asked).await.ok()?.ok()?;
        (status.is_success() && is_event_stream(content_type.as_ref())).then_some(rest)
    }
}

/// Finds the JSON-RPC response to `id` in an SSE byte stream fed chunk by chunk.
#[derive(Default)]
struct SseWatch {
    events: SseEvents,
}

impl SseWatch {
    fn feed(&mut self, chunk: &[u8], id: &str) -> Result<Option<String>, String> {
        Ok(self
            .events
            .feed(chunk)?
            .into_iter()
            .rfind(|data| is_response_to(data, id)))
    }
}

/// Splits an SSE byte stream, fed chunk by chunk, into the data of its events, and keeps
/// what the stream said of picking it up again (the last event id, the wait).
#[derive(Default)]
pub(super) struct SseEvents {
    buffer: Vec<u8>,
    /// Where the line being read starts, and how far the buffer was searched for its end.
    line_start: usize,
    scanned: usize,
    last_id: Option<String>,
    retry: Option<Duration>,
}

impl SseEvents {
    /// The data of each event `chunk` completes, in order; events without data are left out.
    /// Bytes are kept until their event is complete, so a character split between chunks
    /// arrives whole. An event larger than any answer the gateway relays is an error.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<String>, String> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(at) = self.buffer[self.scanned..].iter().position(|&b| b == b'\n') {
            let newline = self.scanned + at;
            let line = &self.buffer[self.line_start..newline];
            let blank = line.is_empty() || line == b"\r";
            if blank {
                // An event ends with a blank line.
                let event = String::from_utf8_lossy(&self.buffer[..self.line_start]);
                let mut data = Vec::new();
                for line in event.lines() {
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "data" => data.push(value),
                        "id" if !value.contains('\0') => {
                            self.last_id = Some(value.to_owned()).filter(|v| !v.is_empty());
                        }
                        "retry" => {
                            if let Ok(ms) = value.parse() {
                                self.retry = Some(Duration::from_millis(ms));
                            }
                        }
                        _ => {}
                    }
                }
                if !data.is_empty() {
                    events.push(data.join("\n"));
                }
                self.buffer.drain(..=newline);
                self.line_start = 0;
                self.scanned = 0;
            } else {
                self.line_start = newline + 1;
                self.scanned = newline + 1;
            }
        }
        self.scanned = self.buffer.len();
        if self.buffer.len() > MAX_ANSWER_BYTES {
            return Err("the upstream's answer is too large".to_owned());
        }
        Ok(events)
    }

    /// Drops an event the stream broke off in.
    fn forget_partial(&mut self) {
        self.buffer.clear();
        self.line_start = 0;
        self.scanned = 0;
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
    fn events_are_split_across_chunks_and_line_endings_and_characters_arrive_whole() {
        let mut events = SseEvents::default();
        assert!(
            events
                .feed(b": primer\n\nid: 1\r\nretry: 250\r\ndata: {\"a\":")
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            events.feed(b"1}\r\n\r\ndata: \xc3").unwrap(),
            vec!["{\"a\":1}"]
        );
        assert_eq!(
            (events.last_id.as_deref(), events.retry),
            (Some("1"), Some(Duration::from_millis(250)))
        );
        assert_eq!(
            events.feed(b"\xa9\ndata: two\n\n").unwrap(),
            vec!["\u{e9}\ntwo".to_owned()]
        );
    }

    #[test]
    fn the_answer_is_found_across_chunks_among_notifications() {
        let mut watch = SseWatch::default();
        let progress = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n";
        assert_eq!(watch.feed(progress.as_bytes(), "7"), Ok(None));
        assert_eq!(
            watch.feed(b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,", "7"),
            Ok(None)
        );
        let found = watch
            .feed(b"\"result\":{\"content\":[]}}\n\n", "7")
            .unwrap();
        assert_eq!(
            found.as_deref(),
            Some("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[]}}")
        );
    }

    #[test]
    fn events_carry_every_line_of_their_message() {
        assert_eq!(
            sse_event("{\n\"a\":1}"),
            "event: message\ndata: {\ndata: \"a\":1}\n\n"
        );
    }
}
