//! The gateway's rmcp client to a Streamable HTTP upstream, watched: which session it holds
//! with the upstream and which revision it negotiated there, so that the session fast path
//! (`gateway::fast::session`) can send a call into that same session by itself. rmcp keeps
//! both inside its transport's worker; every message it posts carries them, so the HTTP client
//! it posts through notes them.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
};

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue, header::HeaderMap};
use rmcp::{
    model::ClientJsonRpcMessage,
    transport::streamable_http_client::{
        StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    },
};
use sse_stream::{Error as SseError, Sse};

/// The upstream session the gateway's rmcp client is in, as its last message showed it.
#[derive(Debug)]
pub struct UpstreamSession {
    /// `None` for an upstream that keeps no sessions.
    pub id: Option<Arc<str>>,
    /// The revision negotiated at `initialize`, as the `MCP-Protocol-Version` header says it.
    pub version: HeaderValue,
    /// The headers every call relayed into this session carries, built on the first one.
    pub call_headers: OnceLock<HeaderMap>,
}

/// reqwest, as rmcp's Streamable HTTP client, noting the session it posts in.
#[derive(Clone)]
pub struct Tapped {
    http: reqwest::Client,
    seen: Arc<Mutex<Option<Arc<UpstreamSession>>>>,
}

const VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");

impl Tapped {
    pub fn new(http: reqwest::Client) -> Self {
        Tapped {
            http,
            seen: Arc::default(),
        }
    }

    /// The session as last seen: none before the handshake is done, nor after the session
    /// was deleted.
    pub fn session(&self) -> Option<Arc<UpstreamSession>> {
        self.lock().clone()
    }

    /// What a message about to be posted says of the session. The `initialize` request
    /// carries neither (nothing is negotiated yet); every message after it carries both.
    fn note(&self, id: Option<&Arc<str>>, headers: &HashMap<HeaderName, HeaderValue>) {
        let Some(version) = headers.get(&VERSION) else {
            return;
        };
        let mut seen = self.lock();
        let same = seen
            .as_ref()
            .is_some_and(|s| s.id.as_ref() == id && s.version == version);
        if !same {
            *seen = Some(Arc::new(UpstreamSession {
                id: id.cloned(),
                version: version.clone(),
                call_headers: OnceLock::new(),
            }));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Arc<UpstreamSession>>> {
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

type Posted = Result<StreamableHttpPostResponse, StreamableHttpError<reqwest::Error>>;
type Streamed =
    Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<reqwest::Error>>;

impl StreamableHttpClient for Tapped {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Posted {
        self.note(session_id.as_ref(), &custom_headers);
        self.http
            .post_message(uri, message, session_id, auth_header, custom_headers)
            .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Posted {
        self.note(session_id.as_ref(), &custom_headers);
        self.http
            .post_message_with_max_sse_event_size(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<reqwest::Error>> {
        {
            let mut seen = self.lock();
            if seen
                .as_ref()
                .is_some_and(|s| s.id.as_ref() == Some(&session_id))
            {
                *seen = None;
            }
        }
        self.http
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Streamed {
        self.http
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Streamed {
        self.http
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }
}
