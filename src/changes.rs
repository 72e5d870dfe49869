//! The change feed that keeps every replica's caches fresh (SPEC S5, S12). Database triggers
//! `NOTIFY gatehouse_changes` with "table:key" when a write commits; each process listens and
//! broadcasts a [`Change`] to its caches. Writes made by this process are also published
//! locally the moment they commit, so its own next request never sees stale data.

use std::time::Duration;

use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::broadcast;
use uuid::Uuid;

pub const CHANNEL: &str = "gatehouse_changes";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Server(Uuid),
    User(Uuid),
    Token(Uuid),
    /// Tool restrictions of some group on this server changed.
    Restrictions {
        server_id: Uuid,
    },
    Deployment {
        server_id: Uuid,
    },
    /// Notifications may have been missed (the listener reconnected, or a cache fell behind):
    /// forget everything.
    Resync,
    /// The tools a server lists changed (a deployment or a refresh).
    ServerTools {
        server_id: Uuid,
    },
    /// A marker [`ChangeFeed::settle`] sends itself; caches ignore it.
    Barrier(Uuid),
}

impl Change {
    /// Parses a notification payload such as `servers:7c9e…`.
    pub fn parse(payload: &str) -> Option<Change> {
        let (table, key) = payload.split_once(':')?;
        let id = Uuid::parse_str(key).ok()?;
        Some(match table {
            "servers" => Change::Server(id),
            "users" => Change::User(id),
            "api_tokens" => Change::Token(id),
            "tool_restrictions" => Change::Restrictions { server_id: id },
            "server_tools" => Change::ServerTools { server_id: id },
            "deployments" => Change::Deployment { server_id: id },
            "barrier" => Change::Barrier(id),
            _ => return None,
        })
    }
}

#[derive(Clone)]
pub struct ChangeFeed {
    tx: broadcast::Sender<Change>,
    /// The database whose notifications this feed follows (none for a local feed).
    pool: Option<PgPool>,
}

impl ChangeFeed {
    /// A feed that only carries local publications (tests of single pieces).
    pub fn local() -> Self {
        let (tx, _) = broadcast::channel(1024);
        ChangeFeed { tx, pool: None }
    }

    /// Starts listening on `pool`'s database; returns once the first LISTEN is in place so
    /// no change committed after start-up is missed.
    pub async fn listen(pool: PgPool) -> anyhow::Result<Self> {
        let mut feed = Self::local();
        let listener = connect(&pool).await?;
        tokio::spawn(follow(pool.clone(), listener, feed.tx.clone()));
        feed.pool = Some(pool);
        Ok(feed)
    }

    /// Tells this process's caches about a change it just committed.
    pub fn publish(&self, change: Change) {
        let _ = self.tx.send(change);
    }

    /// Returns once the changes this process committed so far have reached every replica's
    /// listener: Postgres delivers notifications to each listening connection in commit order,
    /// so when a marker sent now comes back to this process, every replica has been sent what
    /// was committed before it. Admin operations call this before answering, so a client that
    /// waits for the answer finds the change in force on whichever replica it calls next.
    /// Gives up after two seconds (Postgres away): the caches catch up when it returns.
    pub async fn settle(&self) {
        let Some(pool) = &self.pool else {
            return;
        };
        let id = Uuid::new_v4();
        let mut rx = self.tx.subscribe();
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("barrier:{id}"))
            .execute(pool)
            .await;
        if sent.is_err() {
            return;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                match rx.recv().await {
                    Ok(Change::Barrier(marker)) if marker == id => break,
                    Err(broadcast::error::RecvError::Closed) => break,
                    _ => {}
                }
            }
        })
        .await;
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.tx.subscribe()
    }
}

async fn connect(pool: &PgPool) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Relays notifications. When the connection drops, caches keep serving what they hold (while
/// Postgres is away nothing can change); once listening again, anything may have changed in
/// between, so caches start over.
async fn follow(pool: PgPool, mut listener: PgListener, tx: broadcast::Sender<Change>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => match Change::parse(notification.payload()) {
                Some(change) => {
                    let _ = tx.send(change);
                }
                None => tracing::warn!(
                    payload = notification.payload(),
                    "unknown change notification"
                ),
            },
            Ok(None) | Err(_) => {
                tracing::warn!("change feed connection lost; reconnecting");
                let mut wait = Duration::from_millis(200);
                listener = loop {
                    tokio::time::sleep(wait).await;
                    match connect(&pool).await {
                        Ok(listener) => break listener,
                        Err(err) => {
                            tracing::debug!(error = %err, "change feed reconnect failed");
                            wait = (wait * 2).min(Duration::from_secs(5));
                        }
                    }
                };
                tracing::info!("change feed listening again");
                let _ = tx.send(Change::Resync);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_a_table_and_a_key() {
        let id = Uuid::new_v4();
        assert_eq!(
            Change::parse(&format!("servers:{id}")),
            Some(Change::Server(id))
        );
        assert_eq!(
            Change::parse(&format!("tool_restrictions:{id}")),
            Some(Change::Restrictions { server_id: id })
        );
        assert_eq!(Change::parse("servers:not-a-uuid"), None);
        assert_eq!(Change::parse("nonsense"), None);
    }
}
