//! HTTP/1 connections to plain-HTTP upstreams, driven by the task that makes the call.
//!
//! A pooled client (reqwest over hyper-util) runs each connection as a task of its own: a call
//! hands its request to that task, which writes it, reads the answer and hands it back, piece
//! by piece — task wake-ups on top of the socket's, each a possible futex wake of the other
//! worker, and a second task to schedule while Postgres competes for the cores. Here the
//! caller polls hyper's connection itself while it waits, and reads the channels between the
//! two without a waker of their own, so only the socket wakes it. Measured in
//! docs/PERFORMANCE.md (through-gateway p99 about a third lower).
//!
//! Only plain `http://` upstreams without a proxy take this path; TLS, proxies and URLs with
//! credentials stay with reqwest, which knows them.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, LazyLock, Mutex},
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::Stream;
use http_body_util::Full;
use hyper::{
    body::{Body, Incoming},
    client::conn::http1,
};
use hyper_util::{client::legacy::connect::HttpConnector, rt::TokioIo};
use tokio::net::TcpStream;

/// How long opening a connection may take, as for reqwest's connections to upstreams.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Idle connections kept per upstream; more concurrent calls open more, and the extra ones
/// close when their call is done.
const MAX_IDLE_PER_UPSTREAM: usize = 64;

/// Where a plain-HTTP upstream is reached: `host:port` to connect to and the request target.
#[derive(Clone, Debug, PartialEq)]
pub struct PlainHttp {
    /// `host:port`, the port always written out: what connections are opened to and pooled by.
    pub authority: String,
    /// The `Host` header, as clients send it: the port only when the URL names one.
    pub host: String,
    /// The request target (path and query), parsed once.
    pub target: http::Uri,
}

impl PlainHttp {
    /// The direct route to `url`, when there is one: `http`, no credentials in the URL and no
    /// proxy configured for the process (reqwest honours `HTTP_PROXY` and friends).
    pub fn for_url(url: &str) -> Option<Self> {
        static PROXIED: LazyLock<bool> = LazyLock::new(|| {
            ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
                .iter()
                .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
        });
        let url = url::Url::parse(url).ok()?;
        if url.scheme() != "http" || !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        if *PROXIED {
            return None;
        }
        let host = match url.host()? {
            url::Host::Ipv6(ip) => format!("[{ip}]"),
            host => host.to_string(),
        };
        let port = url.port_or_known_default()?;
        let host_header = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        let mut target = url.path().to_owned();
        if let Some(query) = url.query() {
            target.push('?');
            target.push_str(query);
        }
        Some(PlainHttp {
            authority: format!("{host}:{port}"),
            host: host_header,
            target: target.parse().ok()?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Connect(Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Http(#[from] hyper::Error),
    #[error("the connection closed before the answer was complete")]
    Closed,
}

/// One open connection: the sending half and the connection itself, kept together.
pub struct Link {
    send: http1::SendRequest<Full<Bytes>>,
    conn: http1::Connection<TokioIo<TcpStream>, Full<Bytes>>,
    /// The connection future has completed and must not be polled again.
    closed: bool,
}

/// How long a connection may sit unused before it is closed, as for reqwest's pool: an
/// upstream that was deleted or moved should not keep sockets open here.
const IDLE_LIMIT: Duration = Duration::from_secs(90);

/// Idle connections by `host:port`.
pub struct Links {
    idle: Mutex<HashMap<String, Vec<Idle>>>,
    idle_limit: Duration,
}

struct Idle {
    since: Instant,
    link: Link,
}

impl Default for Links {
    fn default() -> Self {
        Links::with_idle_limit(IDLE_LIMIT)
    }
}

impl Links {
    pub fn with_idle_limit(idle_limit: Duration) -> Self {
        Links {
            idle: Mutex::default(),
            idle_limit,
        }
    }

    /// Closes idle connections past the limit every so often, for as long as `self` lives.
    pub fn sweep_in_background(self: &Arc<Self>) {
        let links = Arc::downgrade(self);
        let period = self.idle_limit / 3;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.tick().await;
            loop {
                tick.tick().await;
                match links.upgrade() {
                    Some(links) => links.sweep(),
                    None => return,
                }
            }
        });
    }

    /// Closes the idle connections unused for longer than the limit.
    pub fn sweep(&self) {
        let limit = self.idle_limit;
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|_, list| {
            list.retain(|entry| entry.since.elapsed() <= limit);
            !list.is_empty()
        });
    }

    /// Sends the request `make` builds to `authority` and waits for the answer's head. A reused
    /// connection the upstream closed while it was idle is replaced, as long as the request was
    /// not sent on it; `make` is called again only then.
    pub async fn send(
        self: &Arc<Self>,
        authority: &str,
        make: impl Fn() -> http::Request<Full<Bytes>>,
    ) -> Result<(http::response::Parts, Answer), RelayError> {
        let (mut link, reused) = match self.reuse(authority) {
            Some(link) => (link, true),
            None => (connect(authority).await?, false),
        };
        // Retried only when the request cannot have reached the upstream: hyper cancelled it
        // before writing it, or the connection ended with the request still queued (a request
        // it had written would have been answered with an error instead).
        let response = match exchange(&mut link, make()).await {
            Err(RelayError::Closed) if reused => {
                link = connect(authority).await?;
                exchange(&mut link, make()).await?
            }
            Err(RelayError::Http(err)) if reused && err.is_canceled() => {
                link = connect(authority).await?;
                exchange(&mut link, make()).await?
            }
            other => other?,
        };
        let (parts, body) = response.into_parts();
        Ok((
            parts,
            Answer {
                link: Some(link),
                body,
                home: Some((self.clone(), authority.to_owned())),
            },
        ))
    }

    fn keep(&self, authority: String, link: Link) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.entry(authority).or_default();
        if list.len() < MAX_IDLE_PER_UPSTREAM {
            list.push(Idle {
                since: Instant::now(),
                link,
            });
        }
    }

    /// An idle connection that is still open and ready for a request.
    fn reuse(&self, authority: &str) -> Option<Link> {
        // With the task's budget spent, tokio's I/O answers Pending without looking, and a
        // closed connection would pass for an open one; a new connection is the safe choice.
        if !tokio::task::coop::has_budget_remaining() {
            return None;
        }
        loop {
            let Idle { since, mut link } = {
                let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
                idle.get_mut(authority)?.pop()?
            };
            if since.elapsed() > self.idle_limit {
                continue;
            }
            // Let the connection read what came while it was idle (a close, most likely).
            let mut quiet = Context::from_waker(Waker::noop());
            if link.closed || Pin::new(&mut link.conn).poll(&mut quiet).is_ready() {
                continue;
            }
            if let Poll::Ready(Ok(())) = link.send.poll_ready(&mut quiet) {
                return Some(link);
            }
        }
    }
}

/// Opens a connection with hyper-util's connector, as reqwest does: the resolver on a blocking
/// thread, every resolved address tried, IPv6 and IPv4 raced (happy eyeballs).
async fn connect(authority: &str) -> Result<Link, RelayError> {
    use tower::ServiceExt;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let uri: http::Uri = format!("http://{authority}")
        .parse()
        .map_err(|e: http::uri::InvalidUri| RelayError::Connect(e.into()))?;
    let stream = connector
        .oneshot(uri)
        .await
        .map_err(|e| RelayError::Connect(e.into()))?;
    let (send, conn) = http1::handshake(stream).await?;
    Ok(Link {
        send,
        conn,
        closed: false,
    })
}

/// Sends the request and polls the connection until the answer's head is in.
async fn exchange(
    link: &mut Link,
    request: http::Request<Full<Bytes>>,
) -> Result<http::Response<Incoming>, RelayError> {
    let mut head = std::pin::pin!(link.send.send_request(request));
    std::future::poll_fn(|cx| {
        drive(link, cx, |quiet| {
            head.as_mut()
                .poll(quiet)
                .map(|out| out.map_err(RelayError::from))
        })
    })
    .await
}

/// Polls `ready` (a channel the connection fills) and the connection in turn until `ready`
/// gives something. `ready` gets a waker that does nothing: it only moves when the connection
/// does, and the connection is polled with the task's own waker, so no wake-up is spent on it.
fn drive<T>(
    link: &mut Link,
    cx: &mut Context<'_>,
    mut ready: impl FnMut(&mut Context<'_>) -> Poll<Result<T, RelayError>>,
) -> Poll<Result<T, RelayError>> {
    let mut quiet = Context::from_waker(Waker::noop());
    if let Poll::Ready(out) = ready(&mut quiet) {
        return Poll::Ready(out);
    }
    if link.closed {
        return Poll::Ready(Err(RelayError::Closed));
    }
    match Pin::new(&mut link.conn).poll(cx) {
        // The connection may have filled the channel before it ran out of input.
        Poll::Pending => match ready(&mut quiet) {
            Poll::Pending if !tokio::task::coop::has_budget_remaining() => {
                // Tokio's budget for this poll is spent: a channel may have answered Pending
                // and left its wake-up to the no-op waker. Yield, so the task looks again.
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            other => other,
        },
        Poll::Ready(done) => {
            link.closed = true;
            match (ready(&mut quiet), done) {
                (Poll::Ready(out), _) => Poll::Ready(out),
                (Poll::Pending, Ok(())) => Poll::Ready(Err(RelayError::Closed)),
                (Poll::Pending, Err(err)) => Poll::Ready(Err(err.into())),
            }
        }
    }
}

/// An answer's body, read while driving its connection. When the body is complete the
/// connection goes back to the pool; dropped before that, it closes.
pub struct Answer {
    link: Option<Link>,
    body: Incoming,
    home: Option<(Arc<Links>, String)>,
}

impl Answer {
    fn finished(&mut self) {
        if let (Some(link), Some((links, authority))) = (self.link.take(), self.home.take())
            && !link.closed
        {
            links.keep(authority, link);
        }
    }
}

impl Stream for Answer {
    type Item = Result<Bytes, RelayError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(link) = this.link.as_mut() else {
            return Poll::Ready(None);
        };
        let body = &mut this.body;
        let next = drive(link, cx, |quiet| {
            loop {
                match Pin::new(&mut *body).poll_frame(quiet) {
                    Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                        Ok(data) => return Poll::Ready(Ok(Some(data))),
                        // Trailers carry nothing a JSON-RPC answer needs.
                        Err(_) => continue,
                    },
                    Poll::Ready(Some(Err(err))) => return Poll::Ready(Err(err.into())),
                    Poll::Ready(None) => return Poll::Ready(Ok(None)),
                    Poll::Pending => return Poll::Pending,
                }
            }
        });
        match next {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Some(data))) => Poll::Ready(Some(Ok(data))),
            Poll::Ready(Ok(None)) => {
                this.finished();
                Poll::Ready(None)
            }
            Poll::Ready(Err(err)) => {
                this.link = None;
                Poll::Ready(Some(Err(err)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn post(authority: &str) -> http::Request<Full<Bytes>> {
        http::Request::post("/mcp")
            .header(http::header::HOST, authority)
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap()
    }

    async fn call(links: &Arc<Links>, authority: &str) -> String {
        let (parts, answer) = links.send(authority, || post(authority)).await.unwrap();
        assert_eq!(parts.status, http::StatusCode::OK);
        let chunks: Vec<Bytes> = futures::TryStreamExt::try_collect(answer).await.unwrap();
        String::from_utf8(chunks.concat()).unwrap()
    }

    /// A bare HTTP/1 server that answers each request on a connection with `ok` and closes the
    /// connection `idle_close` after its last answer, as uvicorn and many proxies do.
    async fn server(idle_close: std::time::Duration) -> (String, Arc<AtomicUsize>) {
        let (authority, accepted, _) = counting_server(idle_close).await;
        (authority, accepted)
    }

    /// [`server`], also counting the connections the client closed.
    async fn counting_server(
        idle_close: std::time::Duration,
    ) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = listener.local_addr().unwrap().to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let hung_up = Arc::new(AtomicUsize::new(0));
        let (counter, hang_ups) = (accepted.clone(), hung_up.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let hang_ups = hang_ups.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0; 4096];
                    loop {
                        let read = tokio::time::timeout(idle_close, socket.read(&mut buf)).await;
                        let Ok(Ok(n)) = read else { return };
                        if n == 0 {
                            hang_ups.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if socket.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (authority, accepted, hung_up)
    }

    #[tokio::test]
    async fn calls_one_after_another_share_one_connection() {
        let (authority, accepted) = server(std::time::Duration::from_secs(30)).await;
        let links = Arc::new(Links::default());
        for _ in 0..5 {
            assert_eq!(call(&links, &authority).await, "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_connection_the_upstream_closed_while_idle_is_replaced() {
        let (authority, accepted) = server(std::time::Duration::from_millis(50)).await;
        let links = Arc::new(Links::default());
        assert_eq!(call(&links, &authority).await, "ok");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(call(&links, &authority).await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn connections_unused_past_the_idle_limit_are_closed() {
        let limit = std::time::Duration::from_secs(1);
        let (authority, accepted, hung_up) = counting_server(limit * 30).await;
        let links = Arc::new(Links::with_idle_limit(limit));
        assert_eq!(call(&links, &authority).await, "ok");
        links.sweep();
        tokio::time::sleep(limit / 4).await;
        assert_eq!(
            hung_up.load(Ordering::SeqCst),
            0,
            "a fresh connection is kept"
        );

        tokio::time::sleep(limit).await;
        links.sweep();
        for _ in 0..40 {
            if hung_up.load(Ordering::SeqCst) == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(hung_up.load(Ordering::SeqCst), 1, "a stale one is closed");
        assert_eq!(call(&links, &authority).await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_answer_dropped_half_read_does_not_come_back_to_the_pool() {
        let (authority, accepted) = server(std::time::Duration::from_secs(30)).await;
        let links = Arc::new(Links::default());
        let (_, answer) = links.send(&authority, || post(&authority)).await.unwrap();
        drop(answer);
        assert_eq!(call(&links, &authority).await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn only_plain_http_without_credentials_is_reached_directly() {
        assert_eq!(
            PlainHttp::for_url("http://127.0.0.1:8931/mcp?x=1"),
            Some(PlainHttp {
                authority: "127.0.0.1:8931".into(),
                host: "127.0.0.1:8931".into(),
                target: http::Uri::from_static("/mcp?x=1"),
            })
        );
        let default_port = PlainHttp::for_url("http://tools.internal/mcp").unwrap();
        assert_eq!(
            (default_port.authority.as_str(), default_port.host.as_str()),
            ("tools.internal:80", "tools.internal")
        );
        assert_eq!(
            PlainHttp::for_url("http://[::1]:9000/").map(|p| p.authority),
            Some("[::1]:9000".into())
        );
        assert_eq!(PlainHttp::for_url("https://tools.internal/mcp"), None);
        assert_eq!(
            PlainHttp::for_url("http://me:secret@tools.internal/mcp"),
            None
        );
    }
}
