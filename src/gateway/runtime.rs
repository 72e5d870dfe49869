//! One [`ServerRuntime`] per server the gateway has served: its Streamable HTTP service (and
//! the sessions in it), its upstream connection, and the tools that upstream last listed. A
//! crashed upstream is reconnected with backoff; a disabled, deleted or redeployed server has
//! its upstream (and the process behind it) stopped.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use rmcp::{
    model::{ServerPeerInfo, Tool},
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use uuid::Uuid;

use super::{
    Shared,
    cache::ServerEntry,
    handler::GatewayHandler,
    upstream::{Target, Upstream},
};
use crate::servers::{ServerSource, ServerStatus};

pub struct ServerRuntime {
    pub server_id: Uuid,
    slug: String,
    pub shared: Arc<Shared>,
    pub http: StreamableHttpService<GatewayHandler, LocalSessionManager>,
    current: RwLock<Option<Arc<Upstream>>>,
    slot: tokio::sync::Mutex<Slot>,
    /// What the upstream said about itself when last connected.
    info: RwLock<Option<Arc<ServerPeerInfo>>>,
    /// The upstream's unfiltered tool list, as last fetched.
    tools: RwLock<Option<Arc<HashMap<String, Tool>>>>,
}

#[derive(Default)]
struct Slot {
    deployment_id: Option<Uuid>,
    connected_at: Option<Instant>,
    /// Failures in a row; a connection that stays up for a minute resets it.
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<String>,
}

/// How long a connection must stay up to count as healthy again.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);

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
            let http = StreamableHttpService::new(
                move || {
                    let runtime = weak
                        .upgrade()
                        .ok_or_else(|| std::io::Error::other("the server runtime is gone"))?;
                    Ok(GatewayHandler::new(runtime))
                },
                Arc::new(LocalSessionManager::default()),
                config,
            );
            ServerRuntime {
                server_id,
                slug,
                shared,
                http,
                current: RwLock::new(None),
                slot: tokio::sync::Mutex::new(Slot::default()),
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
        self.tools.read().expect("tools lock").as_ref()?.get(name).cloned()
    }

    pub fn remember_tools(&self, tools: &[Tool]) {
        let map = tools.iter().map(|t| (t.name.to_string(), t.clone())).collect();
        *self.tools.write().expect("tools lock") = Some(Arc::new(map));
    }

    fn forget_tools(&self) {
        *self.tools.write().expect("tools lock") = None;
    }

    /// The upstream for `server`'s live deployment, connecting (or reconnecting after a crash,
    /// with backoff) when needed. Concurrent callers share one connection attempt.
    pub async fn upstream(self: &Arc<Self>, server: &ServerEntry) -> Result<Arc<Upstream>, Unavailable> {
        let deployment = server
            .deployment
            .as_ref()
            .ok_or_else(|| Unavailable(format!("{} has no live deployment yet.", server.name)))?;
        if let Some(upstream) = self.current.read().expect("current lock").as_ref()
            && !upstream.is_closed()
            && self.slot.try_lock().map_or(true, |slot| slot.deployment_id == Some(deployment.id))
        {
            return Ok(upstream.clone());
        }

        let mut slot = self.slot.lock().await;
        // Another caller may have connected while we waited.
        if let Some(upstream) = self.current.read().expect("current lock").as_ref()
            && !upstream.is_closed()
            && slot.deployment_id == Some(deployment.id)
        {
            return Ok(upstream.clone());
        }
        let previous = self.current.write().expect("current lock").take();
        if let Some(previous) = previous {
            if slot.deployment_id == Some(deployment.id) && previous.is_closed() {
                if slot.connected_at.is_some_and(|at| at.elapsed() > HEALTHY_AFTER) {
                    slot.failures = 0;
                }
                slot.failures += 1;
                tracing::warn!(server = %server.slug, failures = slot.failures, "the upstream connection was lost");
                // The first loss reconnects at once; a crash loop backs off.
                if slot.failures > 1 {
                    slot.retry_at = Some(Instant::now() + backoff(slot.failures - 1));
                }
            } else if slot.deployment_id != Some(deployment.id) {
                slot.failures = 0;
                slot.retry_at = None;
            }
            retire(previous);
        }
        if let Some(at) = slot.retry_at
            && at > Instant::now()
        {
            let wait = at.saturating_duration_since(Instant::now()).as_secs().max(1);
            let last = slot.last_error.clone().unwrap_or_else(|| "it stopped".to_owned());
            return Err(Unavailable(format!(
                "{} is restarting after a failure ({last}); try again in {wait} s.",
                server.name
            )));
        }

        let target = Target {
            server: &server.slug,
            source: &deployment.source,
            env: &deployment.env,
            headers: reqwest::header::HeaderMap::new(),
        };
        match Upstream::connect(target, &self.shared.http).await {
            Ok(upstream) => {
                let upstream = Arc::new(upstream);
                slot.deployment_id = Some(deployment.id);
                slot.connected_at = Some(Instant::now());
                slot.retry_at = None;
                slot.last_error = None;
                *self.info.write().expect("info lock") = upstream.info();
                self.forget_tools();
                let weak = Arc::downgrade(self);
                upstream.routes().on_tools_changed(move || {
                    if let Some(runtime) = weak.upgrade() {
                        runtime.forget_tools();
                    }
                });
                *self.current.write().expect("current lock") = Some(upstream.clone());
                if matches!(deployment.source, ServerSource::Command { .. }) {
                    self.watch(upstream.clone(), server.slug.clone());
                }
                tracing::info!(server = %server.slug, pid = upstream.pid(), "connected to the upstream");
                Ok(upstream)
            }
            Err(err) => {
                slot.deployment_id = Some(deployment.id);
                slot.failures += 1;
                slot.retry_at = Some(Instant::now() + backoff(slot.failures));
                slot.last_error = Some(err.0.clone());
                tracing::warn!(server = %server.slug, error = %err.0, "could not connect to the upstream");
                Err(Unavailable(format!("{} is unavailable: {}", server.name, err.0)))
            }
        }
    }

    /// Restarts a crashed process in the background (with backoff) while the server stays
    /// active, so the next caller finds it running.
    fn watch(self: &Arc<Self>, upstream: Arc<Upstream>, slug: String) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            while !upstream.is_closed() {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let Some(runtime) = weak.upgrade() else { return };
            let still_current = runtime
                .current
                .read()
                .expect("current lock")
                .as_ref()
                .is_some_and(|c| Arc::ptr_eq(c, &upstream));
            if !still_current {
                return;
            }
            let failures = runtime.slot.lock().await.failures;
            tokio::time::sleep(backoff(failures)).await;
            if let Ok(Some(server)) = runtime.shared.cache.server(&slug).await
                && server.status == ServerStatus::Active
                && server.id == runtime.server_id
            {
                match runtime.upstream(&server).await {
                    Ok(_) => tracing::info!(server = %slug, "restarted the upstream after it stopped"),
                    Err(err) => tracing::warn!(server = %slug, error = %err.0, "restart failed; will retry on demand"),
                }
            }
        });
    }

    /// Stops the upstream (and its process): the server was disabled, deleted or the gateway
    /// is shutting down. The next request after re-enabling connects again.
    pub async fn stop(&self) {
        let _slot = self.slot.lock().await;
        let previous = self.current.write().expect("current lock").take();
        if let Some(previous) = previous {
            previous.close().await;
        }
    }

    /// The current upstream, if connected, for the deployment `server` runs now.
    pub fn connected(&self, server: &ServerEntry) -> Option<Arc<Upstream>> {
        let slot = self.slot.try_lock().ok()?;
        if slot.deployment_id != server.deployment.as_ref().map(|d| d.id) {
            return None;
        }
        drop(slot);
        let current = self.current.read().expect("current lock").clone()?;
        (!current.is_closed()).then_some(current)
    }

    pub fn upstream_pid(&self) -> Option<u32> {
        self.current.read().expect("current lock").as_ref().and_then(|u| u.pid())
    }
}

/// Waits for the requests still using an old upstream to finish (at most a minute), then
/// closes it: a redeploy drains rather than cuts.
fn retire(upstream: Arc<Upstream>) {
    tokio::spawn(async move {
        let until = Instant::now() + Duration::from_secs(60);
        while Arc::strong_count(&upstream) > 1 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        upstream.close().await;
    });
}

/// 1 s, 2 s, 4 s … up to a minute.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(6)).min(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(4), Duration::from_secs(8));
        assert_eq!(backoff(20), Duration::from_secs(60));
    }
}
