//! A [`Link`]: one upstream connection of a server, for one protocol era, kept alive. It
//! connects on first use, reconnects after a crash (at once the first time, with growing
//! backoff in a crash loop, in the background for processes), switches to a new deployment by
//! draining the old connection, and stops on request.

use std::{
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use uuid::Uuid;

use super::{
    cache::ServerEntry,
    runtime::{Era, ServerRuntime, Unavailable},
    upstream::{Target, Upstream},
};
use crate::servers::{ServerSource, ServerStatus};

pub struct Link {
    era: Era,
    current: RwLock<Option<Arc<Upstream>>>,
    slot: tokio::sync::Mutex<Slot>,
}

#[derive(Default)]
struct Slot {
    deployment_id: Option<Uuid>,
    connected_at: Option<Instant>,
    /// Failures in a row; a connection that stays up for a minute resets it.
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<String>,
    /// Set by [`Link::stop`] (the server was disabled or deleted, or the gateway stops) until
    /// the server is usable again: a restart in the background, or a request that was already
    /// waiting for the slot, must not start a process nobody stops.
    stopped: bool,
}

/// How long a connection must stay up to count as healthy again.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);

impl Link {
    pub fn new(era: Era) -> Self {
        Link {
            era,
            current: RwLock::new(None),
            slot: tokio::sync::Mutex::new(Slot::default()),
        }
    }

    /// The connection for `server`'s live deployment, connecting (or reconnecting after a
    /// crash, with backoff) when needed. Concurrent callers share one connection attempt.
    pub async fn get(
        self: &Arc<Self>,
        runtime: &Arc<ServerRuntime>,
        server: &ServerEntry,
    ) -> Result<Arc<Upstream>, Unavailable> {
        let deployment = server
            .deployment
            .as_ref()
            .ok_or_else(|| Unavailable(format!("{} has no live deployment yet.", server.name)))?;
        if let Some(upstream) = self.current.read().expect("current lock").as_ref()
            && !upstream.is_closed()
            && self
                .slot
                .try_lock()
                .map_or(true, |slot| slot.deployment_id == Some(deployment.id))
        {
            return Ok(upstream.clone());
        }

        let mut slot = self.slot.lock().await;
        if slot.stopped {
            let now = runtime.shared.cache.server(&server.slug).await;
            let usable = matches!(&now, Ok(Some(s)) if s.id == runtime.server_id && s.status == ServerStatus::Active);
            if !usable {
                return Err(Unavailable(format!(
                    "{} is not available any more.",
                    server.name
                )));
            }
            slot.stopped = false;
        }
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
                if slot
                    .connected_at
                    .is_some_and(|at| at.elapsed() > HEALTHY_AFTER)
                {
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
            let wait = at
                .saturating_duration_since(Instant::now())
                .as_secs()
                .max(1);
            let last = slot
                .last_error
                .clone()
                .unwrap_or_else(|| "it stopped".to_owned());
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
        match Upstream::connect(target, self.era.lifecycle(), &runtime.shared.http).await {
            Ok(upstream) => {
                let upstream = Arc::new(upstream);
                slot.deployment_id = Some(deployment.id);
                slot.connected_at = Some(Instant::now());
                slot.retry_at = None;
                slot.last_error = None;
                runtime.connected_to(&upstream);
                *self.current.write().expect("current lock") = Some(upstream.clone());
                if matches!(deployment.source, ServerSource::Command { .. }) {
                    self.watch(runtime, upstream.clone(), server.slug.clone());
                }
                tracing::info!(server = %server.slug, era = ?self.era, pid = upstream.pid(), "connected to the upstream");
                Ok(upstream)
            }
            Err(err) => {
                slot.deployment_id = Some(deployment.id);
                slot.failures += 1;
                slot.retry_at = Some(Instant::now() + backoff(slot.failures));
                slot.last_error = Some(err.0.clone());
                tracing::warn!(server = %server.slug, error = %err.0, "could not connect to the upstream");
                Err(Unavailable(format!(
                    "{} is unavailable: {}",
                    server.name, err.0
                )))
            }
        }
    }

    /// Restarts a crashed process in the background (with backoff) while the server stays
    /// active, so the next caller finds it running.
    fn watch(
        self: &Arc<Self>,
        runtime: &Arc<ServerRuntime>,
        upstream: Arc<Upstream>,
        slug: String,
    ) {
        let (link, runtime) = (Arc::downgrade(self), Arc::downgrade(runtime));
        tokio::spawn(async move {
            while !upstream.is_closed() {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let (Some(link), Some(runtime)) = (link.upgrade(), runtime.upgrade()) else {
                return;
            };
            let still_current = link
                .current
                .read()
                .expect("current lock")
                .as_ref()
                .is_some_and(|c| Arc::ptr_eq(c, &upstream));
            if !still_current {
                return;
            }
            drop(upstream);
            let failures = link.slot.lock().await.failures;
            tokio::time::sleep(backoff(failures)).await;
            // Until it runs again, or nobody wants it any more: each failed attempt sets when
            // the next may be made (the backoff), and the loop waits for that.
            loop {
                let Ok(Some(server)) = runtime.shared.cache.server(&slug).await else {
                    return;
                };
                if server.status != ServerStatus::Active || server.id != runtime.server_id {
                    return;
                }
                match link.get(&runtime, &server).await {
                    Ok(_) => {
                        tracing::info!(server = %slug, "restarted the upstream after it stopped");
                        return;
                    }
                    Err(err) => {
                        let slot = link.slot.lock().await;
                        if slot.stopped {
                            return;
                        }
                        let wait = slot
                            .retry_at
                            .map(|at| at.saturating_duration_since(Instant::now()))
                            .unwrap_or_else(|| backoff(slot.failures));
                        drop(slot);
                        tracing::warn!(server = %slug, error = %err.0, "restart failed; trying again in {} ms", wait.as_millis());
                        tokio::time::sleep(wait.max(Duration::from_millis(100))).await;
                    }
                }
            }
        });
    }

    /// Stops the connection (and its process). The next request connects again.
    pub async fn stop(&self) {
        let mut slot = self.slot.lock().await;
        // A server enabled again starts afresh, without the backoff of its earlier crashes.
        *slot = Slot {
            stopped: true,
            ..Slot::default()
        };
        let previous = self.current.write().expect("current lock").take();
        if let Some(previous) = previous {
            previous.close().await;
        }
    }

    /// The connection, if it is up and serves `server`'s live deployment.
    pub fn connected(&self, server: &ServerEntry) -> Option<Arc<Upstream>> {
        let slot = self.slot.try_lock().ok()?;
        if slot.deployment_id != server.deployment.as_ref().map(|d| d.id) {
            return None;
        }
        drop(slot);
        let current = self.current.read().expect("current lock").clone()?;
        (!current.is_closed()).then_some(current)
    }

    pub fn pid(&self) -> Option<u32> {
        self.current
            .read()
            .expect("current lock")
            .as_ref()
            .and_then(|u| u.pid())
    }
}

/// Waits for the requests still using an old connection to finish (at most a minute), then
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
