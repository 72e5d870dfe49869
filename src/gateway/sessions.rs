//! Ending a session ends its running calls at once, upstream too.
//!
//! rmcp's session manager, on a client's `DELETE`, closes the session's transport and then gives
//! its running handlers 5 s to answer before it cancels them (a grace meant for answers already
//! on their way). A gateway call waiting on a slow tool would go on upstream for those 5 s, for
//! a client that has said it no longer listens; the Python SDK, giving up on a call, sends its
//! cancel and its `DELETE` at once, and when the `DELETE` wins the cancel finds no session.
//! [`Sessions`] wraps rmcp's manager and keeps one [`SessionClosed`] token per session, fired on
//! `DELETE`; the gateway hands it to each request of the session, and a forwarded request that
//! sees it fire cancels its upstream request. The legacy SSE transport fires the same token when
//! its event stream goes away.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use futures::Stream;
use rmcp::{
    model::{ClientJsonRpcMessage, ServerJsonRpcMessage},
    transport::{
        common::server_side_http::{ServerSseMessage, SessionId},
        streamable_http_server::session::{
            EventStore, RestoreOutcome, SessionManager,
            local::{LocalSessionManager, LocalSessionManagerError},
        },
    },
};
use tokio_util::sync::CancellationToken;

/// Fired when the session a request belongs to has ended; carried in the request's
/// `http::request::Parts` extensions.
#[derive(Clone, Debug, Default)]
pub struct SessionClosed(pub CancellationToken);

/// rmcp's in-memory session manager, plus a [`SessionClosed`] per session.
#[derive(Default)]
pub struct Sessions {
    inner: LocalSessionManager,
    /// An entry leaves when rmcp closes its session: on the client's `DELETE`, or when the
    /// session's loop ends otherwise (it idled out, the gateway stops).
    closing: Mutex<HashMap<SessionId, SessionClosed>>,
}

impl Sessions {
    /// The token of the session `id`, if it is open.
    pub fn closed(&self, id: &str) -> Option<SessionClosed> {
        self.lock().get(id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, SessionClosed>> {
        // A panic while holding the lock cannot leave the map half-changed.
        self.closing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl SessionManager for Sessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let (id, transport) = self.inner.create_session().await?;
        self.lock().insert(id.clone(), SessionClosed::default());
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        // Fired first, so running calls cancel upstream while the session winds down.
        if let Some(closed) = self.lock().remove(id) {
            closed.0.cancel();
        }
        self.inner.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.resume(id, last_event_id).await
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        let outcome = self.inner.restore_session(id.clone()).await?;
        if let RestoreOutcome::Restored(_) = &outcome {
            self.lock().insert(id, SessionClosed::default());
        }
        Ok(outcome)
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.inner.event_store()
    }
}
