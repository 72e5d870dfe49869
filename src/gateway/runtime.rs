//! One [`ServerRuntime`] per server the gateway has served: its Streamable HTTP service (and
//! the sessions in it), its upstream links and the tools the upstream last listed.
//!
//! A server is reached over two links, one per protocol era, so each client talks to the
//! upstream in its own era: clients of the session-based revisions need the upstream's
//! server-to-client requests, logging and subscriptions, which only a session carries; clients
//! of the stateless revision need its multi-round-trip results. An upstream that speaks only
//! the older revisions is simply reached that way on both links.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use rmcp::{
    model::{ProtocolVersion, ServerPeerInfo, Tool},
    service::ClientLifecycleMode,
    transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService},
};
use uuid::Uuid;

use super::{
    Shared, cache::ServerEntry, handler::GatewayHandler, link::Link, sessions::Sessions,
    upstream::Upstream,
};

/// The protocol era a client speaks, and so the link its requests travel on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    /// `initialize` and sessions: 2025-11-25 and earlier.
    Session,
    /// Per-request metadata, no sessions: 2026-07-28 and later.
    Stateless,
}

impl Era {
    pub fn of(version: Option<&ProtocolVersion>) -> Era {
        match version {
            Some(version) if !version.has_initialize() => Era::Stateless,
            _ => Era::Session,
        }
    }

    /// How a link of this era opens its upstream session.
    pub fn lifecycle(self) -> ClientLifecycleMode {
        match self {
            Era::Session => ClientLifecycleMode::Initialize,
            // Falls back to `initialize` when the upstream predates the stateless revision.
            Era::Stateless => ClientLifecycleMode::Auto {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                legacy_version: Some(ProtocolVersion::V_2025_11_25),
            },
        }
    }
}

pub struct ServerRuntime {
    pub server_id: Uuid,
    slug: String,
    pub shared: Arc<Shared>,
    pub http: StreamableHttpService<GatewayHandler, Sessions>,
    /// The sessions `http` serves.
    pub sessions: Arc<Sessions>,
    session: Arc<Link>,
    stateless: Arc<Link>,
    /// What the upstream said about itself when last connected.
    info: RwLock<Option<Arc<ServerPeerInfo>>>,
    /// The upstream's unfiltered tool list, as last fetched.
    tools: RwLock<Option<Arc<HashMap<String, Tool>>>>,
}

/// The refusal a request gets when the upstream cannot be reached.
#[derive(Debug, Clone)]
pub struct Unavailable(pub String);
impl ServerRuntime {
    pub fn new(server_id: Uuid, slug: String, shared: Arc<Shared>) -> Arc<Self> {
        Arc::new_cyclic(|weak: &std::sync::Weak<ServerRuntime>| {
            let weak = weak.clone();
            let mut config = StreamableHttpServerConfig::default()
                .disable_allowed_hosts()
                .with_sse_keep_alive(Some(Duration::from_secs(15)))
                // Stateless answers as plain JSON when nothing needs streaming first.
                .with_json_response(true)
                .with_max_request_body_bytes(shared.settings.max_body_bytes)
                .with_allowed_origins(shared.settings.allowed_origins.clone());
            config = config.enforce_origin_validation();
            let sessions = Arc::new(Sessions::default());
            let http = StreamableHttpService::new(
                move || {
                    let runtime = weak
                        .upgrade()
                        .ok_or_else(|| std::io::Error::other("the server runtime is gone"))?;
                    Ok(GatewayHandler::new(runtime))
                },
                sessions.clone(),
                config,
            );
            ServerRuntime {
                server_id,
                slug,
                shared,
                http,
                sessions,
                session: Arc::new(Link::new(Era::Session)),
                stateless: Arc::new(Link::new(Era::Stateless)),
                info: RwLock::new(None),
                tools: RwLock::new(None),
            }
        })
    }

    pub fn slug(&self) -> String {
        self.slug.clone()
    }

    pub fn info(&self) -> Option<Arc<ServerPeerInfo>> {
        self.info.read().expect("info lock").clone()
    }

    pub fn tool(&self, name: &str) -> Option<Tool> {
        self.tools
            .read()
            .expect("tools lock")
            .as_ref()?
            .get(name)
            .cloned()
    }

    pub fn remember_tools(&self, tools: &[Tool]) {
        let map = tools
            .iter()
            .map(|t| (t.name.to_string(), t.clone()))
            .collect();
        *self.tools.write().expect("tools lock") = Some(Arc::new(map));
    }

    pub fn forget_tools(&self) {
        *self.tools.write().expect("tools lock") = None;
    }

    /// The upstream for `server`, on the link of the client's `era`.
    pub async fn upstream(
        self: &Arc<Self>,
        server: &ServerEntry,
        era: Era,
    ) -> Result<Arc<Upstream>, Unavailable> {
        self.link(era).get(self, server).await
    }

    fn link(&self, era: Era) -> &Arc<Link> {
        match era {
            Era::Session => &self.session,
            Era::Stateless => &self.stateless,
        }
    }

    /// Remembers what a newly connected upstream said about itself.
    pub fn connected_to(self: &Arc<Self>, upstream: &Upstream) {
        *self.info.write().expect("info lock") = upstream.info();
        self.forget_tools();
        let weak = Arc::downgrade(self);
        upstream.routes().on_tools_changed(move || {
            if let Some(runtime) = weak.upgrade() {
                runtime.forget_tools();
            }
        });
    }

    /// Stops both links (and their processes): the server was disabled, deleted or the
    /// gateway is shutting down. The next request after re-enabling connects again.
    pub async fn stop(&self) {
        self.session.stop().await;
        self.stateless.stop().await;
    }

    /// The connection of `era`, if it is up for `server`'s live deployment.
    pub fn connected(&self, server: &ServerEntry, era: Era) -> Option<Arc<Upstream>> {
        self.link(era).connected(server)
    }

    pub fn upstream_pid(&self) -> Option<u32> {
        self.session.pid().or_else(|| self.stateless.pid())
    }
}
