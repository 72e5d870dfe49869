//! The gateway's side of an upstream session: what it tells the upstream about itself, and
//! where the upstream's own requests and notifications go. An upstream is shared, so every
//! forwarded request leaves a route (its upstream id and progress token → the downstream
//! request) that lives until the answer comes back.

// Roots and sampling are deprecated in the newest revision but still used by older upstreams.
#![allow(deprecated)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
};

use rmcp::{
    RoleClient, RoleServer, Service,
    model::{
        ClientCapabilities, ClientConfig, ClientResult, ErrorData, GetExtensions, GetMeta,
        Implementation, ListRootsResult, ProgressToken, RequestId, ServerNotification,
        ServerRequest,
    },
    service::{
        InboundStreamOrigin, NotificationContext, OriginatingRequestId, Peer, RequestContext,
    },
};

struct Route {
    peer: Peer<RoleServer>,
    downstream_id: RequestId,
    downstream_token: Option<ProgressToken>,
    /// The person the request is for.
    caller: Option<uuid::Uuid>,
}

/// Where the upstream's messages go.
#[derive(Default)]
pub struct Routes {
    by_request: Mutex<HashMap<RequestId, Arc<Route>>>,
    by_token: Mutex<HashMap<ProgressToken, Arc<Route>>>,
    /// Downstream sessions that receive the upstream's broadcast notifications.
    sessions: Mutex<Vec<(u64, Peer<RoleServer>)>>,
    next_session: std::sync::atomic::AtomicU64,
    /// Called when the upstream says its tool list changed.
    on_tools_changed: Mutex<Option<Box<dyn Fn() + Send + Sync>>>,
    /// Progress notifications received and relayed, so results never overtake them.
    progress: super::progress::ProgressLedger,
    /// Requests answered within the last [`LOG_GRACE`]: a log message of theirs can still be
    /// on its way when their answer has been relayed.
    finished: Mutex<Vec<(std::time::Instant, Arc<Route>)>>,
}

/// How long after its answer a request's log messages may still arrive (rmcp's client hands
/// notifications and answers on separately, so one can overtake the other).
const LOG_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Removes a request's route when the forwarded request is done.
pub struct RouteGuard {
    routes: Weak<Routes>,
    upstream_id: RequestId,
    upstream_token: ProgressToken,
}

impl Drop for RouteGuard {
    fn drop(&mut self) {
        if let Some(routes) = self.routes.upgrade() {
            let route = routes
                .by_request
                .lock()
                .expect("routes lock")
                .remove(&self.upstream_id);
            if let Some(route) = route {
                let mut finished = routes.finished.lock().expect("routes lock");
                finished.retain(|(at, _)| at.elapsed() < LOG_GRACE);
                finished.push((std::time::Instant::now(), route));
            }
            routes
                .by_token
                .lock()
                .expect("routes lock")
                .remove(&self.upstream_token);
        }
    }
}

/// Keeps a downstream session subscribed to broadcasts until dropped.
pub struct SessionGuard {
    routes: Weak<Routes>,
    key: u64,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        if let Some(routes) = self.routes.upgrade() {
            routes
                .sessions
                .lock()
                .expect("routes lock")
                .retain(|(k, _)| *k != self.key);
        }
    }
}

impl Routes {
    pub fn open(
        self: &Arc<Self>,
        upstream_id: RequestId,
        upstream_token: ProgressToken,
        peer: Peer<RoleServer>,
        downstream_id: RequestId,
        downstream_token: Option<ProgressToken>,
        caller: Option<uuid::Uuid>,
    ) -> RouteGuard {
        let route = Arc::new(Route {
            peer,
            downstream_id,
            downstream_token,
            caller,
        });
        self.by_request
            .lock()
            .expect("routes lock")
            .insert(upstream_id.clone(), route.clone());
        self.by_token
            .lock()
            .expect("routes lock")
            .insert(upstream_token.clone(), route);
        RouteGuard {
            routes: Arc::downgrade(self),
            upstream_id,
            upstream_token,
        }
    }

    pub fn subscribe(self: &Arc<Self>, peer: Peer<RoleServer>) -> SessionGuard {
        let key = self
            .next_session
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.sessions.lock().expect("routes lock").push((key, peer));
        SessionGuard {
            routes: Arc::downgrade(self),
            key,
        }
    }

    pub fn progress(&self) -> &super::progress::ProgressLedger {
        &self.progress
    }

    pub fn on_tools_changed(&self, callback: impl Fn() + Send + Sync + 'static) {
        *self.on_tools_changed.lock().expect("routes lock") = Some(Box::new(callback));
    }

    /// The downstream request an upstream request belongs to: the one whose response stream it
    /// arrived on, else the only request in flight.
    fn route_for(&self, ctx: &RequestContext<RoleClient>) -> Option<Arc<Route>> {
        let by_request = self.by_request.lock().expect("routes lock");
        if let Some(InboundStreamOrigin::OutboundRequest(id)) =
            ctx.extensions.get::<InboundStreamOrigin>()
            && let Some(route) = by_request.get(id)
        {
            return Some(route.clone());
        }
        let mut routes = by_request.values();
        match (routes.next(), routes.next()) {
            (Some(only), None) => Some(only.clone()),
            _ => None,
        }
    }

    /// Passes on a log message. It may carry a caller's data, and the upstream session is
    /// shared by everyone's sessions, but the message names no request. So it goes to the
    /// session of a request in flight or just answered when those are all one person's; to
    /// every session when there are none (it is about the server then); and to no one when
    /// several people's are, since it cannot be told whose it is.
    async fn log(&self, notification: ServerNotification) {
        let candidates: Vec<Arc<Route>> = {
            let mut finished = self.finished.lock().expect("routes lock");
            finished.retain(|(at, _)| at.elapsed() < LOG_GRACE);
            let by_request = self.by_request.lock().expect("routes lock");
            by_request
                .values()
                .chain(finished.iter().rev().map(|(_, route)| route))
                .cloned()
                .collect()
        };
        let Some(first) = candidates.first() else {
            return self.broadcast(notification).await;
        };
        let one_person =
            first.caller.is_some() && candidates.iter().all(|route| route.caller == first.caller);
        if !one_person {
            tracing::debug!("a log message while several people's calls ran was dropped");
            return;
        }
        let _ = first.peer.send_notification(notification).await;
    }

    /// Passes on a notification the upstream sent about itself to every downstream session
    /// (forgetting the tool list first when that is what changed).
    pub async fn broadcast(&self, notification: ServerNotification) {
        if matches!(
            notification,
            ServerNotification::ToolListChangedNotification(_)
        ) && let Some(callback) = self.on_tools_changed.lock().expect("routes lock").as_ref()
        {
            callback();
        }
        for peer in self.broadcast_targets() {
            let _ = peer.send_notification(notification.clone()).await;
        }
    }

    fn broadcast_targets(&self) -> Vec<Peer<RoleServer>> {
        self.sessions
            .lock()
            .expect("routes lock")
            .iter()
            .map(|(_, p)| p.clone())
            .collect()
    }
}

/// What the gateway presents to upstreams: a client that can relay sampling, elicitation and
/// roots to the person's own client.
#[derive(Clone)]
pub struct UpstreamClient {
    routes: Arc<Routes>,
}

impl UpstreamClient {
    pub fn new(routes: Arc<Routes>) -> Self {
        UpstreamClient { routes }
    }

    pub fn routes(&self) -> &Arc<Routes> {
        &self.routes
    }
}

impl Service<RoleClient> for UpstreamClient {
    async fn handle_request(
        &self,
        request: ServerRequest,
        ctx: RequestContext<RoleClient>,
    ) -> Result<ClientResult, ErrorData> {
        if let ServerRequest::PingRequest(_) = request {
            return Ok(ClientResult::empty(()));
        }
        let Some(route) = self.routes.route_for(&ctx) else {
            // Outside any call (say, right after the handshake) the upstream is talking to the
            // gateway itself, which has no filesystem roots to offer and no one to ask.
            if let ServerRequest::ListRootsRequest(_) = request {
                return Ok(ClientResult::ListRootsResult(ListRootsResult::new(
                    Vec::new(),
                )));
            }
            return Err(ErrorData::invalid_request(
                "this request needs a client, and the gateway cannot tell which client it is for",
                None,
            ));
        };
        let mut request = request;
        let meta = request.get_meta_mut();
        *meta = ctx.meta.clone();
        meta.remove("progressToken");
        request
            .extensions_mut()
            .insert(OriginatingRequestId(route.downstream_id.clone()));
        // A fresh task: rmcp tags outbound requests with the *current* task's request id, which
        // here would be the upstream's.
        let peer = route.peer.clone();
        let answer = tokio::spawn(async move { peer.send_request(request).await })
            .await
            .map_err(|e| {
                ErrorData::internal_error(format!("relaying to the client failed: {e}"), None)
            })?;
        answer.map_err(|e| match e {
            rmcp::ServiceError::McpError(error) => error,
            other => ErrorData::internal_error(format!("the client did not answer: {other}"), None),
        })
    }

    async fn handle_notification(
        &self,
        notification: ServerNotification,
        _ctx: NotificationContext<RoleClient>,
    ) -> Result<(), ErrorData> {
        match notification {
            ServerNotification::ProgressNotification(mut progress) => {
                let upstream_token = progress.params.progress_token.clone();
                let route = self
                    .routes
                    .by_token
                    .lock()
                    .expect("routes lock")
                    .get(&progress.params.progress_token)
                    .cloned();
                // Progress only makes sense to the client that asked for it, with its token.
                if let Some(route) = route
                    && let Some(token) = route.downstream_token.clone()
                {
                    progress.params.progress_token = token;
                    let _ = route
                        .peer
                        .send_notification(ServerNotification::ProgressNotification(progress))
                        .await;
                }
                self.routes.progress.relayed(&upstream_token);
            }
            ServerNotification::CancelledNotification(_) => {
                // Cancels a request the upstream sent us; rmcp stops that handler itself.
            }
            log @ ServerNotification::LoggingMessageNotification(_) => self.routes.log(log).await,
            other => self.routes.broadcast(other).await,
        }
        Ok(())
    }

    // Sampling and roots are deprecated in the newest revision but still used by upstreams of
    // the older ones; the gateway relays them.
    #[allow(deprecated)]
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder()
                .enable_sampling()
                .enable_elicitation()
                .enable_roots()
                .build(),
            Implementation::new("gatehouse", env!("CARGO_PKG_VERSION")),
        )
    }
}
