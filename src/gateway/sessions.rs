//! Sessions of the Streamable HTTP transport: ending one ends its running calls at once,
//! upstream too, and only the person who opened one may use it.
//!
//! rmcp's session manager, on a client's `DELETE`, closes the session's transport and then gives
//! its running handlers 5 s to answer before it cancels them (a grace meant for answers already
//! on their way). A gateway call waiting on a slow tool would go on upstream for those 5 s, for
//! a client that has said it no longer listens; the Python SDK, giving up on a call, sends its
//! cancel and its `DELETE` at once, and when the `DELETE` wins the cancel finds no session.
//! [`Sessions`] wraps rmcp's manager and keeps one [`SessionClosed`] token per session, fired
//! when the session closes; the gateway hands it to each request of the session, and a
//! forwarded request that sees it fire cancels its upstream request. The legacy SSE transport
//! fires the same token when its event stream goes away.
//!
//! It also remembers who opened each session. rmcp answers a session's `GET` stream and
//! `DELETE` without asking the gateway's handler, so the gateway checks the owner itself before
//! any request of a session reaches rmcp: a session id is not a credential of its own.

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
use uuid::Uuid;

/// Fired when the session a request belongs to has ended; carried in the request's
/// `http::request::Parts` extensions.
#[derive(Clone, Debug, Default)]
pub struct SessionClosed(pub CancellationToken);

/// What the gateway knows of an open session.
#[derive(Clone, Debug, Default)]
pub struct OpenSession {
    pub closed: SessionClosed,
    /// The person who opened it, once its `initialize` has been answered: only they may use,
    /// listen to or end it (and before then, no one).
    pub owner: Option<Uuid>,
}

/// rmcp's in-memory session manager, plus an [`OpenSession`] per session.
#[derive(Default)]
pub struct Sessions {
    inner: LocalSessionManager,
    /// An entry leaves when rmcp closes its session: on the client's `DELETE`, or when the
    /// session's loop ends otherwise (it idled out, the gateway stops).
    open: Mutex<HashMap<SessionId, OpenSession>>,
}

impl Sessions {
    /// The session `id`, if it is open.
    pub fn get(&self, id: &str) -> Option<OpenSession> {
        self.lock().get(id).cloned()
    }

    /// Records who opened the session `id` (the person whose `initialize` created it).
    pub fn claim(&self, id: &str, owner: Uuid) {
        if let Some(session) = self.lock().get_mut(id) {
            session.owner.get_or_insert(owner);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, OpenSession>> {
        // A panic while holding the lock cannot leave the map half-changed.
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl SessionManager for Sessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let (id, transport) = self.inner.create_session().await?;
        self.lock().insert(id.clone(), OpenSession::default());
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
        // Fired first, so running calls cancel upstream while the session winds down; the
        // entry stays until rmcp has let go of the session, so a request that reaches it in
        // the meantime still gets the (fired) token.
        if let Some(session) = self.get(id) {
            session.closed.0.cancel();
        }
        let closed = self.inner.close_session(id).await;
        self.lock().remove(id);
        closed
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
        // rmcp restores sessions only from a session store, which the gateway does not
        // configure; this keeps the wrapper whole should one be added.
        let outcome = self.inner.restore_session(id.clone()).await?;
        if let RestoreOutcome::Restored(_) = &outcome {
            self.lock().entry(id).or_default();
        }
        Ok(outcome)
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.inner.event_store()
    }
}
