//! A client for the legacy HTTP+SSE transport (MCP 2024-11-05), which rmcp no longer ships:
//! GET opens an event stream whose first `endpoint` event names the URL to POST messages to;
//! replies arrive as `message` events on the stream. Exposed to rmcp as a sink/stream pair.

use std::time::Duration;

use futures::{SinkExt, StreamExt, channel::mpsc};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use rmcp::model::{
    ClientJsonRpcMessage, ErrorData, JsonRpcError, JsonRpcMessage, ServerJsonRpcMessage,
};
use sse_stream::SseStream;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum SseConnectError {
    #[error("could not open the event stream: {0}")]
    Request(#[from] reqwest::Error),
    #[error("the server answered {0} to the event stream request")]
    Status(reqwest::StatusCode),
    #[error("the server never sent its message endpoint")]
    NoEndpoint,
    #[error("the message endpoint {0:?} is not a valid URL")]
    BadEndpoint(String),
}

pub type SseSink = mpsc::Sender<ClientJsonRpcMessage>;
pub type SseStreamOut = mpsc::Receiver<ServerJsonRpcMessage>;

/// Opens the event stream at `url` and returns the message sink and stream rmcp serves over.
pub async fn connect(
    http: reqwest::Client,
    url: &str,
    headers: HeaderMap,
    endpoint_timeout: Duration,
) -> Result<(SseSink, SseStreamOut), SseConnectError> {
    let base = Url::parse(url).map_err(|_| SseConnectError::BadEndpoint(url.to_owned()))?;
    let response = http
        .get(base.clone())
        .headers(headers.clone())
        .header(ACCEPT, "text/event-stream")
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(SseConnectError::Status(response.status()));
    }
    let mut events = SseStream::from_bytes_stream(response.bytes_stream()).fuse();

    // The first event names where to post.
    let endpoint = tokio::time::timeout(endpoint_timeout, async {
        while let Some(event) = events.next().await {
            let Ok(event) = event else { return None };
            if event.event.as_deref() == Some("endpoint") {
                return event.data;
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .ok_or(SseConnectError::NoEndpoint)?;
    let endpoint = base
        .join(endpoint.trim())
        .map_err(|_| SseConnectError::BadEndpoint(endpoint.clone()))?;

    let (in_tx, in_rx) = mpsc::channel::<ServerJsonRpcMessage>(64);
    let (out_tx, mut out_rx) = mpsc::channel::<ClientJsonRpcMessage>(64);

    // Reader: every `message` event is one JSON-RPC message from the server.
    let mut reader_tx = in_tx.clone();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            let Ok(event) = event else { break };
            if !matches!(event.event.as_deref(), None | Some("message")) {
                continue;
            }
            let Some(data) = event.data else { continue };
            match serde_json::from_str::<ServerJsonRpcMessage>(&data) {
                Ok(message) => {
                    if reader_tx.send(message).await.is_err() {
                        break;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "ignoring an unreadable SSE message from upstream")
                }
            }
        }
        // Stream ended: dropping the sender closes the transport.
    });

    // Writer: each outgoing message is one POST. A refused request is answered locally with an
    // error so its caller does not wait forever.
    let mut error_tx = in_tx;
    tokio::spawn(async move {
        while let Some(message) = out_rx.next().await {
            let request_id = match &message {
                JsonRpcMessage::Request(request) => Some(request.id.clone()),
                _ => None,
            };
            let result = http
                .post(endpoint.clone())
                .headers(headers.clone())
                .header(CONTENT_TYPE, "application/json")
                .json(&message)
                .send()
                .await;
            let failure = match result {
                Ok(response) if response.status().is_success() => None,
                Ok(response) => Some(format!("the upstream answered {}", response.status())),
                Err(err) => Some(format!("the upstream could not be reached: {err}")),
            };
            if let (Some(reason), Some(id)) = (failure, request_id) {
                let error = JsonRpcMessage::Error(JsonRpcError::new(
                    Some(id),
                    ErrorData::internal_error(reason, None),
                ));
                if error_tx.send(error).await.is_err() {
                    break;
                }
            }
        }
    });

    Ok((out_tx, in_rx))
}
