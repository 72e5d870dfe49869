//! A client of the session revision (2025-11-25), by hand: it opens a session with
//! `initialize`, and its requests carry the session id the gateway gave.

use reqwest::StatusCode;
use serde_json::{Value, json};

/// The `traceparent` every request of a [`SessionClient`] carries, as a traced agent's would.
/// Only the gateway's fast paths pass it on, so an upstream that saw it was reached on one.
pub const TRACE: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

#[derive(Clone)]
pub struct SessionClient {
    pub client: reqwest::Client,
    pub url: String,
    pub token: String,
    pub id: String,
}

impl SessionClient {
    /// Opens a session at `url` as the owner of `token`, for a client with `capabilities`.
    pub async fn initialize(
        client: &reqwest::Client,
        url: &str,
        token: &str,
        capabilities: Value,
    ) -> Self {
        let response = client
            .post(url)
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .json(
                &json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": capabilities,
                "clientInfo": { "name": "edge-tests", "version": "1.0" },
            } }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let id = response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let session = SessionClient {
            client: client.clone(),
            url: url.to_owned(),
            token: token.to_owned(),
            id,
        };
        let initialized = session
            .post(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
            .await;
        assert_eq!(initialized, StatusCode::ACCEPTED);
        session
    }

    pub fn request(&self, method: reqwest::Method) -> reqwest::RequestBuilder {
        self.client
            .request(method, &self.url)
            .bearer_auth(&self.token)
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", "2025-11-25")
            .header("traceparent", TRACE)
    }

    /// Posts `message`, and reads the whole answer.
    pub async fn post(&self, message: Value) -> StatusCode {
        self.send(self.request(reqwest::Method::POST), message)
            .await
            .0
    }

    /// Posts `message` as `request` (this session's, perhaps with more headers) and reads the
    /// messages of the answer, whether it came as JSON or as an SSE stream.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        message: Value,
    ) -> (StatusCode, Vec<Value>) {
        let response = request
            .header("accept", "application/json, text/event-stream")
            .json(&message)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let streamed = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap().starts_with("text/event-stream"));
        let text = response.text().await.unwrap();
        let messages = if streamed {
            sse_messages(&text)
        } else {
            serde_json::from_str(&text).into_iter().collect()
        };
        (status, messages)
    }

    /// Calls `tool` (as request `id`) and returns every message of the answer.
    pub async fn call(&self, id: Value, tool: &str, arguments: Value) -> Vec<Value> {
        let (status, messages) = self
            .send(
                self.request(reqwest::Method::POST),
                json!({ "jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": { "name": tool, "arguments": arguments } }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{messages:?}");
        messages
    }

    pub async fn delete(&self) -> reqwest::Response {
        self.request(reqwest::Method::DELETE).send().await.unwrap()
    }
}

/// The JSON messages of an SSE body (events without data, such as primers, left out).
pub fn sse_messages(text: &str) -> Vec<Value> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.trim_start())
                .collect();
            serde_json::from_str(&data.join("\n")).ok()
        })
        .collect()
}
