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
//!
//! And it keeps what the session fast path (`fast::session`) needs: what the client said of
//! itself at `initialize`, the calls it is relaying (so a `notifications/cancelled` on another
//! request finds them), and when a request of the session last went through rmcp, whose idle
//! timer only its own traffic resets.

use std::{
    collections::HashMap,
    sync::{
        Arc, LazyLock, Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures::Stream;
use rmcp::{
    model::{ClientJsonRpcMessage, ServerJsonRpcMessage},
    transport::{
        common::server_side_http::{ServerSseMessage, SessionId},
        streamable_http_server::session::{
            EventStore, RestoreOutcome, SessionManager,
            local::{LocalSessionManager, LocalSessionManagerError, SessionConfig},
        },
    },
};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Fired when the session a request belongs to has ended; carried in the request's
/// `http::request::Parts` extensions.
#[derive(Clone, Debug, Default)]
pub struct SessionClosed(pub CancellationToken);

/// What the client said of itself in the `initialize` that opened its session.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientProfile {
    pub name: Option<String>,
    pub version: Option<String>,
    /// Whether it declared a capability that lets a server ask it something mid-call
    /// (sampling, elicitation, roots): only the rmcp path can relay such a request to it.
    pub may_be_asked: bool,
}

impl ClientProfile {
    /// The profile in an `initialize` request's body, if that is what `body` is.
    pub fn of_initialize(body: &[u8]) -> Option<ClientProfile> {
        #[derive(Deserialize)]
        struct Request<'a> {
            method: &'a str,
            #[serde(borrow)]
            params: Params<'a>,
        }
        #[derive(Deserialize)]
        struct Params<'a> {
            #[serde(rename = "clientInfo", default)]
            client_info: Option<Info>,
            #[serde(borrow, default)]
            capabilities: HashMap<&'a str, &'a RawValue>,
        }
        #[derive(Deserialize)]
        struct Info {
            name: String,
            #[serde(default)]
            version: Option<String>,
        }
        let request: Request = serde_json::from_slice(body).ok()?;
        if request.method != "initialize" {
            return None;
        }
        let params = request.params;
        let may_be_asked = ["sampling", "elicitation", "roots"].iter().any(|asked| {
            params
                .capabilities
                .get(asked)
                .is_some_and(|v| v.get() != "null")
        });
        Some(ClientProfile {
            name: params.client_info.as_ref().map(|c| c.name.clone()),
            version: params.client_info.and_then(|c| c.version),
            may_be_asked,
        })
    }
}

/// What the gateway knows of an open session.
#[derive(Debug, Default)]
pub struct OpenSession {
    pub closed: SessionClosed,
    /// The person who opened it, once its `initialize` has been answered: only they may use,
    /// listen to or end it (and before then, no one).
    owner: OnceLock<Uuid>,
    client: OnceLock<ClientProfile>,
    /// When a request of the session last went through rmcp, in ms since [`EPOCH`], plus one
    /// (0: never).
    through_rmcp_at: AtomicU64,
    /// Calls relayed on the fast path, by their JSON-RPC id as the client wrote it: firing one
    /// cancels it.
    relayed: Mutex<HashMap<String, CancellationToken>>,
}

/// rmcp ends a session after this long without traffic of its own (its default, which the
/// gateway keeps).
const KEEP_ALIVE: Duration = SessionConfig::DEFAULT_KEEP_ALIVE;
/// The fast path lets a session's next call go through rmcp when none has for this long, so
/// rmcp's idle timer never ends a session in use. Well inside [`KEEP_ALIVE`], which leaves
/// calls of up to three minutes the fast path.
const RMCP_AT_LEAST_EVERY: Duration = Duration::from_secs(60);
const _: () = assert!(RMCP_AT_LEAST_EVERY.as_secs() * 2 < KEEP_ALIVE.as_secs());

static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

impl OpenSession {
    pub fn owner(&self) -> Option<Uuid> {
        self.owner.get().copied()
    }

    pub fn client(&self) -> Option<&ClientProfile> {
        self.client.get()
    }

    /// Notes that a request of this session is going through rmcp.
    pub fn through_rmcp(&self) {
        self.through_rmcp_at.store(now_ms() + 1, Ordering::Relaxed);
    }

    /// Whether a call that may take up to `call_timeout` can go around rmcp: only if rmcp saw
    /// the session lately and the call ends before rmcp's idle timer could end the session.
    pub fn may_go_around_rmcp(&self, call_timeout: Duration) -> bool {
        call_timeout + RMCP_AT_LEAST_EVERY < KEEP_ALIVE && self.seen_by_rmcp_by(now_ms())
    }

    fn seen_by_rmcp_by(&self, now_ms: u64) -> bool {
        match self.through_rmcp_at.load(Ordering::Relaxed) {
            0 => false,
            at => (now_ms + 1).saturating_sub(at) < RMCP_AT_LEAST_EVERY.as_millis() as u64,
        }
    }

    /// Registers a relayed call under the id the client gave it. The token fires when the
    /// client cancels it or the session ends; the registration ends with the returned guard.
    /// `None` if a call with that id is already registered.
    pub fn relay(self: &Arc<Self>, client_id: String) -> Option<Relayed> {
        let token = self.closed.0.child_token();
        match self.relayed_calls().entry(client_id.clone()) {
            std::collections::hash_map::Entry::Occupied(_) => return None,
            std::collections::hash_map::Entry::Vacant(entry) => entry.insert(token.clone()),
        };
        Some(Relayed {
            session: self.clone(),
            client_id,
            token,
        })
    }

    /// Cancels the relayed call the client gave `client_id`; false when there is none.
    pub fn cancel(&self, client_id: &str) -> bool {
        match self.relayed_calls().get(client_id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    fn relayed_calls(&self) -> std::sync::MutexGuard<'_, HashMap<String, CancellationToken>> {
        self.relayed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A call relayed on the fast path, registered with its session until dropped.
pub struct Relayed {
    session: Arc<OpenSession>,
    client_id: String,
    pub token: CancellationToken,
}

impl Relayed {
    /// Why the call was stopped, once its token fired.
    pub fn session_ended(&self) -> bool {
        self.session.closed.0.is_cancelled()
    }
}

impl Drop for Relayed {
    fn drop(&mut self) {
        self.session.relayed_calls().remove(&self.client_id);
    }
}

/// rmcp's in-memory session manager, plus an [`OpenSession`] per session.
#[derive(Default)]
pub struct Sessions {
    inner: LocalSessionManager,
    /// An entry leaves when rmcp closes its session: on the client's `DELETE`, or when the
    /// session's loop ends otherwise (it idled out, the gateway stops).
    open: Mutex<HashMap<SessionId, Arc<OpenSession>>>,
}

impl Sessions {
    /// The session `id`, if it is open.
    pub fn get(&self, id: &str) -> Option<Arc<OpenSession>> {
        self.lock().get(id).cloned()
    }

    /// Records who opened the session `id` (the person whose `initialize` created it) and what
    /// their client said of itself.
    pub fn claim(&self, id: &str, owner: Uuid, client: Option<ClientProfile>) {
        if let Some(session) = self.get(id) {
            let _ = session.owner.set(owner);
            if let Some(client) = client {
                let _ = session.client.set(client);
            }
            session.through_rmcp();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Arc<OpenSession>>> {
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
        self.lock().insert(id.clone(), Arc::default());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_goes_around_rmcp_only_while_rmcp_saw_the_session_within_the_last_minute() {
        let session = OpenSession::default();
        assert!(!session.seen_by_rmcp_by(now_ms()), "never seen");
        assert!(!session.may_go_around_rmcp(Duration::from_secs(60)));
        session.through_rmcp();
        let at = now_ms();
        assert!(session.seen_by_rmcp_by(at));
        assert!(session.seen_by_rmcp_by(at + 59_000));
        assert!(!session.seen_by_rmcp_by(at + 61_000));
        assert!(session.may_go_around_rmcp(Duration::from_secs(60)));
        // A call allowed to run for four minutes could outlast the session in rmcp.
        assert!(!session.may_go_around_rmcp(Duration::from_secs(240)));
    }

    #[test]
    fn a_call_id_is_relayed_once_at_a_time() {
        let session = Arc::new(OpenSession::default());
        let first = session.relay("1".to_owned()).unwrap();
        assert!(session.relay("1".to_owned()).is_none());
        assert!(session.cancel("1"));
        assert!(first.token.is_cancelled());
        drop(first);
        assert!(!session.cancel("1"));
        assert!(session.relay("1".to_owned()).is_some());
    }

    #[test]
    fn a_client_that_declared_sampling_elicitation_or_roots_may_be_asked_mid_call() {
        let profile = |capabilities: &str| {
            ClientProfile::of_initialize(
                format!(
                    r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{capabilities},"clientInfo":{{"name":"c","version":"1"}}}}}}"#
                )
                .as_bytes(),
            )
            .unwrap()
        };
        assert_eq!(
            profile("{}"),
            ClientProfile {
                name: Some("c".to_owned()),
                version: Some("1".to_owned()),
                may_be_asked: false,
            }
        );
        assert!(!profile(r#"{"experimental":{},"sampling":null}"#).may_be_asked);
        for asked in ["sampling", "elicitation", "roots"] {
            assert!(
                profile(&format!(r#"{{"{asked}":{{}}}}"#)).may_be_asked,
                "{asked}"
            );
        }
        assert_eq!(
            ClientProfile::of_initialize(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#),
            None
        );
    }
}
