//! Connections to upstream MCP servers. An [`Upstream`] is one rmcp client session to the
//! server's live deployment: over Streamable HTTP, legacy SSE, or the stdio/HTTP of a process
//! the gateway started. It is shared by every downstream session of that server, so it keeps
//! the routes that send the upstream's own messages (progress, sampling, elicitation,
//! notifications) back to the downstream they belong to.

mod client;
pub mod process;
mod progress;
pub mod relay;
mod sse;
pub mod tap;

use std::{sync::Arc, time::Duration};

use reqwest::header::HeaderMap;
use rmcp::{
    RoleClient, RoleServer,
    model::{ClientRequest, ErrorData, ProgressToken, RequestId, ServerResult},
    service::{
        ClientLifecycleMode, Peer, PeerRequestOptions, RequestContext, RunningService, ServiceError,
    },
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use tokio::sync::Mutex;

pub use client::{Routes, SessionGuard, UpstreamClient};
use process::ChildProcess;

use super::sessions::SessionClosed;
use crate::servers::{CommandTransport, RemoteTransport, ServerSource};

/// Why a request could not be forwarded.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The upstream answered with a JSON-RPC error: passed on as it is.
    #[error("{}", .0.message)]
    Upstream(ErrorData),
    #[error("the upstream did not answer within {} s", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("the request was cancelled")]
    Cancelled,
    /// The session the request belongs to ended while it ran (the client deleted it or went
    /// away, or it idled out).
    #[error("the session ended")]
    SessionEnded,
    #[error("the upstream connection closed: {0}")]
    Closed(String),
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConnectError(pub String);

#[derive(Debug)]
pub struct HttpEndpoint {
    pub url: String,
    pub headers: HeaderMap,
    /// How to reach it without reqwest, when it is plain HTTP (see [`relay`]).
    pub plain: Option<relay::PlainHttp>,
    /// The headers every fast-path call to it carries, built on its first call
    /// (`gateway::fast`).
    pub call_headers: std::sync::OnceLock<HeaderMap>,
}

impl HttpEndpoint {
    fn new(url: String, headers: HeaderMap) -> Arc<Self> {
        Arc::new(HttpEndpoint {
            plain: relay::PlainHttp::for_url(&url),
            url,
            headers,
            call_headers: std::sync::OnceLock::new(),
        })
    }
}

/// Everything needed to open an upstream session.
pub struct Target<'a> {
    pub server: &'a str,
    pub source: &'a ServerSource,
    pub env: &'a [(String, String)],
    pub headers: HeaderMap,
}

pub struct Upstream {
    service: RunningService<RoleClient, UpstreamClient>,
    routes: Arc<Routes>,
    /// Where an HTTP upstream takes its requests, and the headers the gateway adds.
    http: Option<Arc<HttpEndpoint>>,
    /// What the rmcp client's HTTP client saw of the upstream session (Streamable HTTP only).
    tap: Option<tap::Tapped>,
    /// The process behind this session, for `command` servers; stopped with the session.
    process: Mutex<Option<ChildProcess>>,
    /// Fired when the gateway closes the connection, for calls relayed around rmcp's client.
    closing: tokio_util::sync::CancellationToken,
}

/// How long a new upstream gets to answer its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an `http` command gets to start listening.
const PROCESS_START_TIMEOUT: Duration = Duration::from_secs(60);

impl Upstream {
    pub async fn connect(
        target: Target<'_>,
        lifecycle: ClientLifecycleMode,
        http: &reqwest::Client,
    ) -> Result<Upstream, ConnectError> {
        let routes = Arc::new(Routes::default());
        let client = UpstreamClient::new(routes.clone());
        let handshake = |e: String| {
            ConnectError(format!(
                "the upstream did not complete the MCP handshake: {e}"
            ))
        };
        let mut endpoint = None;
        let tap = tap::Tapped::new(http.clone());
        let mut tapped = None;
        let (service, process) = match target.source {
            ServerSource::Remote {
                url,
                transport: RemoteTransport::StreamableHttp,
            } => {
                let service = serve_http(client, &tap, url, target.headers.clone(), lifecycle)
                    .await
                    .map_err(handshake)?;
                endpoint = Some(HttpEndpoint::new(url.clone(), target.headers));
                tapped = Some(tap);
                (service, None)
            }
            ServerSource::Remote {
                url,
                transport: RemoteTransport::Sse,
            } => {
                let (sink, stream) =
                    sse::connect(http.clone(), url, target.headers, HANDSHAKE_TIMEOUT)
                        .await
                        .map_err(|e| ConnectError(format!("could not reach {url}: {e}")))?;
                let transport = progress::Tapped::new(
                    rmcp::transport::sink_stream::SinkStreamTransport::new(sink, stream),
                    routes.clone(),
                );
                let service = timeout(rmcp::service::serve_client_with_lifecycle(
                    client, transport, lifecycle,
                ))
                .await
                .map_err(handshake)?;
                (service, None)
            }
            ServerSource::Command {
                command,
                args,
                transport: CommandTransport::Stdio,
                ..
            } => {
                let mut child =
                    ChildProcess::spawn(target.server, command, args, target.env, &[], true)
                        .map_err(|e| ConnectError(format!("could not start `{command}`: {e}")))?;
                let (stdout, stdin) = child.take_stdio().expect("stdio was piped");
                let transport = progress::Tapped::new(
                    rmcp::transport::async_rw::AsyncRwTransport::new_client(stdout, stdin),
                    routes.clone(),
                );
                match timeout(rmcp::service::serve_client_with_lifecycle(
                    client, transport, lifecycle,
                ))
                .await
                {
                    Ok(service) => (service, Some(child)),
                    Err(e) => return Err(process_failed(child, e).await),
                }
            }
            ServerSource::Command {
                command,
                args,
                transport: CommandTransport::Http,
                path,
            } => {
                let port =
                    process::free_port().map_err(|e| ConnectError(format!("no free port: {e}")))?;
                let port_env = [("PORT".to_owned(), port.to_string())];
                let mut child =
                    ChildProcess::spawn(target.server, command, args, target.env, &port_env, false)
                        .map_err(|e| ConnectError(format!("could not start `{command}`: {e}")))?;
                if !process::wait_for_port(port, PROCESS_START_TIMEOUT).await {
                    let exited = child.try_exit_status();
                    let why = match exited {
                        Some(status) => format!("it exited ({status})"),
                        None => format!(
                            "nothing listened on port {port} within {} s",
                            PROCESS_START_TIMEOUT.as_secs()
                        ),
                    };
                    return Err(process_failed(child, why).await);
                }
                let url = format!("http://127.0.0.1:{port}{path}");
                match serve_http(client, &tap, &url, target.headers.clone(), lifecycle).await {
                    Ok(service) => {
                        endpoint = Some(HttpEndpoint::new(url, target.headers));
                        tapped = Some(tap);
                        (service, Some(child))
                    }
                    Err(e) => return Err(process_failed(child, e).await),
                }
            }
        };
        Ok(Upstream {
            service,
            routes,
            http: endpoint,
            tap: tapped,
            process: Mutex::new(process),
            closing: tokio_util::sync::CancellationToken::new(),
        })
    }

    pub fn peer(&self) -> &Peer<RoleClient> {
        self.service.peer()
    }

    pub fn routes(&self) -> &Arc<Routes> {
        &self.routes
    }

    /// Whether the session ended: closed by us, or its transport went away (the process
    /// exited, the remote hung up).
    /// Whether the connection is gone: the session ended, or the process behind it exited.
    /// An `http` process's exit is not a closed transport (the HTTP client just sees each
    /// request fail), so it is asked directly; a stdio one would close its pipes as well.
    /// Asking costs one `waitid` per request to a `command` server; the link's watcher asks
    /// too, but a request that only read what the watcher last saw would fail for up to half
    /// a second after a crash instead of reconnecting.
    pub fn is_closed(&self) -> bool {
        self.service.is_closed() || self.service.peer().is_transport_closed() || self.exited()
    }

    fn exited(&self) -> bool {
        self.process
            .try_lock()
            .is_ok_and(|process| process.as_ref().is_some_and(|p| p.has_exited()))
    }

    pub fn info(&self) -> Option<Arc<rmcp::model::ServerPeerInfo>> {
        self.service.peer().peer_info()
    }

    /// The HTTP endpoint, when this upstream speaks the stateless revision over HTTP: then a
    /// request needs no session and can be relayed as it is (see `gateway::fast`).
    pub fn stateless_http(&self) -> Option<&Arc<HttpEndpoint>> {
        let info = self.info()?;
        (!info.protocol_version.has_initialize()).then_some(self.http.as_ref()?)
    }

    /// The HTTP endpoint and the session the gateway holds with the upstream, when it is
    /// reached over Streamable HTTP in a revision with sessions: then a call can be sent into
    /// that session as it came (see `gateway::fast::session`).
    pub fn session_http(&self) -> Option<(&Arc<HttpEndpoint>, Arc<tap::UpstreamSession>)> {
        let info = self.info()?;
        if !info.protocol_version.has_initialize() {
            return None;
        }
        Some((self.http.as_ref()?, self.tap.as_ref()?.session()?))
    }

    pub fn pid(&self) -> Option<u32> {
        self.process
            .try_lock()
            .ok()
            .and_then(|p| p.as_ref().and_then(|p| p.pid))
    }

    /// Sends `request` on behalf of the downstream request in `ctx`, with its `_meta` (minus
    /// what describes the downstream connection), its progress token mapped both ways, and
    /// its cancellation passed on.
    pub async fn forward(
        &self,
        request: ClientRequest,
        ctx: &RequestContext<RoleServer>,
        limit: Option<Duration>,
    ) -> Result<ServerResult, ForwardError> {
        let mut meta = ctx.meta.clone();
        for key in [
            "io.modelcontextprotocol/protocolVersion",
            "io.modelcontextprotocol/clientInfo",
            "io.modelcontextprotocol/clientCapabilities",
            "progressToken",
        ] {
            meta.remove(key);
        }
        let downstream_token: Option<ProgressToken> = ctx.meta.get_progress_token();
        let mut options = match limit {
            Some(limit) => PeerRequestOptions::with_timeout(limit),
            None => PeerRequestOptions::no_options(),
        };
        if !meta.is_empty() {
            options = options.with_meta(meta);
        }
        let handle = self
            .peer()
            .send_request_with_option(request, options)
            .await
            .map_err(map_service_error)?;
        let upstream_id: RequestId = handle.id.clone();
        let caller = ctx
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| {
                parts
                    .extensions
                    .get::<crate::gateway::principal::Principal>()
            })
            .map(|principal| principal.user_id);
        let _route = self.routes.open(
            upstream_id.clone(),
            handle.progress_token.clone(),
            ctx.peer.clone(),
            ctx.id.clone(),
            downstream_token,
            caller,
        );
        let token = handle.progress_token.clone();
        let session_closed = ctx
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<SessionClosed>())
            .map(|closed| closed.0.clone());
        let session_ended = async {
            match &session_closed {
                Some(closed) => closed.cancelled().await,
                None => std::future::pending().await,
            }
        };
        // In this order when several are ready: an answer that came is relayed, and a session
        // that ended is the reason, even when rmcp's own cancel (which follows it on the legacy
        // transport) is ready too.
        let (error, reason) = tokio::select! {
            biased;
            result = handle.await_response() => {
                // Progress read before the result is relayed before it (see progress.rs).
                self.routes.progress().settle(&token, Duration::from_millis(500)).await;
                return result.map_err(map_service_error);
            }
            () = session_ended => (ForwardError::SessionEnded, "the session ended"),
            () = ctx.ct.cancelled() => (ForwardError::Cancelled, "cancelled by the client"),
        };
        let _ = self
            .peer()
            .notify_cancelled(rmcp::model::CancelledNotificationParam::new(
                Some(upstream_id),
                Some(reason.to_owned()),
            ))
            .await;
        Err(error)
    }

    /// Fired when the gateway closes this connection (see [`Upstream::close`]).
    pub fn closing(&self) -> &tokio_util::sync::CancellationToken {
        &self.closing
    }

    /// Ends the session and stops the process behind it, if any.
    pub async fn close(&self) {
        self.closing.cancel();
        self.service.cancellation_token().cancel();
        if let Some(child) = self.process.lock().await.take() {
            child.stop(Duration::from_secs(5)).await;
        }
    }
}

pub(super) fn map_service_error(err: ServiceError) -> ForwardError {
    match err {
        ServiceError::McpError(e) => ForwardError::Upstream(e),
        ServiceError::Timeout { timeout } => ForwardError::Timeout(timeout),
        ServiceError::Cancelled { .. } => ForwardError::Cancelled,
        other => ForwardError::Closed(other.to_string()),
    }
}

async fn timeout<T, E: std::fmt::Display>(
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "no answer within {} s",
            HANDSHAKE_TIMEOUT.as_secs()
        )),
    }
}

async fn serve_http(
    client: UpstreamClient,
    http: &tap::Tapped,
    url: &str,
    headers: HeaderMap,
    lifecycle: ClientLifecycleMode,
) -> Result<RunningService<RoleClient, UpstreamClient>, String> {
    let custom = headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect::<std::collections::HashMap<_, _>>();
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_owned())
        .max_concurrent_requests(512)
        .custom_headers(custom);
    let transport = progress::Tapped::new(
        StreamableHttpClientTransport::with_client(http.clone(), config),
        client.routes().clone(),
    );
    timeout(rmcp::service::serve_client_with_lifecycle(
        client, transport, lifecycle,
    ))
    .await
}

async fn process_failed(mut child: ChildProcess, why: String) -> ConnectError {
    let tail = child.last_words().await;
    child.stop(Duration::from_secs(2)).await;
    if tail.is_empty() {
        ConnectError(format!("the server process failed: {why}"))
    } else {
        ConnectError(format!(
            "the server process failed: {why}. Its last output:\n{tail}"
        ))
    }
}
