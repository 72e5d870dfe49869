//! Keeping progress notifications ahead of their result. rmcp hands each incoming notification
//! to a task of its own, so the task relaying an upstream's last progress notification can run
//! after the call's result has already gone to the client — which then sees progress for a
//! request it considers finished. The transport is tapped to count, in wire order, the progress
//! notifications each upstream token received; a forwarded call holds its result until the
//! relay has caught up with that count.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use rmcp::{
    RoleClient,
    model::{ProgressToken, ServerJsonRpcMessage, ServerNotification},
    service::{RxJsonRpcMessage, TxJsonRpcMessage},
    transport::Transport,
};
use tokio::sync::Notify;

/// Per upstream progress token: notifications read off the wire, and those relayed (or dropped
/// on purpose).
#[derive(Default)]
pub struct ProgressLedger {
    counts: Mutex<HashMap<ProgressToken, (u64, u64)>>,
    caught_up: Notify,
}

impl ProgressLedger {
    fn received(&self, token: &ProgressToken) {
        self.counts
            .lock()
            .expect("ledger lock")
            .entry(token.clone())
            .or_default()
            .0 += 1;
    }

    /// The relay is done with one notification for `token`.
    pub fn relayed(&self, token: &ProgressToken) {
        if let Some(entry) = self.counts.lock().expect("ledger lock").get_mut(token) {
            entry.1 += 1;
        }
        self.caught_up.notify_waiters();
    }

    /// Waits (at most `limit`) until every notification received for `token` so far has been
    /// relayed, then forgets the token.
    pub async fn settle(&self, token: &ProgressToken, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.caught_up.notified();
            {
                let mut counts = self.counts.lock().expect("ledger lock");
                match counts.get(token) {
                    Some((received, relayed)) if relayed < received => {}
                    _ => {
                        counts.remove(token);
                        return;
                    }
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                self.counts.lock().expect("ledger lock").remove(token);
                return;
            }
        }
    }
}

/// An upstream transport whose incoming progress notifications are counted on the way in.
pub struct Tapped<T> {
    inner: T,
    ledger: std::sync::Arc<super::client::Routes>,
}

impl<T> Tapped<T> {
    pub fn new(inner: T, routes: std::sync::Arc<super::client::Routes>) -> Self {
        Tapped {
            inner,
            ledger: routes,
        }
    }
}

impl<T: Transport<RoleClient>> Transport<RoleClient> for Tapped<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        let message = self.inner.receive().await;
        if let Some(ServerJsonRpcMessage::Notification(notification)) = &message
            && let ServerNotification::ProgressNotification(progress) = &notification.notification
        {
            self.ledger
                .progress()
                .received(&progress.params.progress_token);
        }
        message
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Instant};

    use super::*;

    #[tokio::test]
    async fn a_result_waits_for_the_progress_read_before_it_and_no_longer() {
        let ledger = Arc::new(ProgressLedger::default());
        let token = ProgressToken(rmcp::model::NumberOrString::Number(7));
        let started = Instant::now();
        ledger.settle(&token, Duration::from_secs(5)).await;
        assert!(
            started.elapsed() < Duration::from_millis(50),
            "nothing to wait for"
        );

        ledger.received(&token);
        ledger.received(&token);
        ledger.relayed(&token);
        let relay = {
            let (ledger, token) = (ledger.clone(), token.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                ledger.relayed(&token);
            })
        };
        let started = Instant::now();
        ledger.settle(&token, Duration::from_secs(5)).await;
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(90),
            "returned before the relay: {waited:?}"
        );
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        relay.await.unwrap();

        // A relay that never comes costs at most the limit.
        ledger.received(&token);
        let started = Instant::now();
        ledger.settle(&token, Duration::from_millis(200)).await;
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
