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
    /// A marker [`ChangeFeed::settle`] sends; each replica's cache answers it with an
    /// [`Change::Ack`] once it has applied every change before it.
    Barrier(Uuid),
    /// Replica `replica` has applied everything up to barrier `barrier`.
    Ack {
        barrier: Uuid,
        replica: Uuid,
    },
}

impl Change {
    /// Parses a notification payload such as `servers:7c9e…`.
    pub fn parse(payload: &str) -> Option<Change> {
        let (table, key) = payload.split_once(':')?;
        if table == "ack" {
            let (barrier, replica) = key.split_once(':')?;
            return Some(Change::Ack {
                barrier: Uuid::parse_str(barrier).ok()?,
                replica: Uuid::parse_str(replica).ok()?,
            });
        }
        let id = Uuid::parse_str(key).ok()?;
        Some(match table {
            "servers" => Change::Server(id),
            "users" => Change::User(id),
            "api_tokens" | "oauth_grants" => Change::Token(id),
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
    /// This process among the replicas; its listening connection is named after it, so a
    /// replica can count the others (`pg_stat_activity.application_name`).
    replica: Uuid,
}

/// The `application_name` prefix of every replica's listening connection.
const LISTENER_NAME: &str = "gatehouse-listener:";

impl ChangeFeed {
    /// A feed that only carries local publications (tests of single pieces).
    pub fn local() -> Self {
        let (tx, _) = broadcast::channel(1024);
        ChangeFeed {
            tx,
            pool: None,
            replica: Uuid::new_v4(),
        }
    }

    /// Starts listening on `pool`'s database; returns once the first LISTEN is in place so
    /// no change committed after start-up is missed.
    pub async fn listen(pool: PgPool) -> anyhow::Result<Self> {
        let mut feed = Self::local();
        let listener = connect(&pool, feed.replica).await?;
        tokio::spawn(follow(
            pool.clone(),
            listener,
            feed.tx.clone(),
            feed.replica,
        ));
        feed.pool = Some(pool);
        Ok(feed)
    }

    /// Tells this process's caches about a change it just committed.
    pub fn publish(&self, change: Change) {
        let _ = self.tx.send(change);
    }

    /// This replica's id, for its acknowledgements.
    pub fn replica(&self) -> Uuid {
        self.replica
    }

    /// Acknowledges `barrier` to whoever is settling: everything before it is applied here.
    pub async fn acknowledge(&self, barrier: Uuid) {
        if let Some(pool) = &self.pool {
            let _ = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(format!("ack:{barrier}:{}", self.replica))
                .execute(pool)
                .await;
        }
    }

    /// Returns once every replica's caches have applied the changes this process committed so
    /// far. It sends a marker after them (Postgres delivers notifications to each listener in
    /// commit order), and each replica's cache acknowledges the marker after applying what came
    /// before it. Admin operations call this before answering, so whichever replica a client
    /// calls next already enforces the change. Replicas are the listening connections in
    /// `pg_stat_activity`; one that does not answer within two seconds (busy, or going away)
    /// is not waited for longer — its caches still catch up as the notifications arrive.
    pub async fn settle(&self) {
        let Some(pool) = &self.pool else {
            return;
        };
        let barrier = Uuid::new_v4();
        let mut rx = self.tx.subscribe();
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(format!("barrier:{barrier}"))
            .execute(pool)
            .await;
        let replicas: Vec<String> = sqlx::query_scalar(
            "SELECT substr(application_name, $1) FROM pg_stat_activity \
             WHERE datname = current_database() AND starts_with(application_name, $2)",
        )
        .bind(LISTENER_NAME.len() as i32 + 1)
        .bind(LISTENER_NAME)
        .fetch_all(pool)
        .await
        .unwrap_or_default();
        if sent.is_err() {
            return;
        }
        let mut waiting: std::collections::HashSet<Uuid> =
            replicas.iter().filter_map(|r| r.parse().ok()).collect();
        let settled = tokio::time::timeout(Duration::from_secs(2), async {
            while !waiting.is_empty() {
                match rx.recv().await {
                    Ok(Change::Ack {
                        barrier: b,
                        replica,
                    }) if b == barrier => {
                        waiting.remove(&replica);
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                    _ => {}
                }
            }
        })
        .await;
        if settled.is_err() {
            tracing::warn!(
                "a change was not acknowledged by every replica within 2 s; their caches catch up as notifications arrive"
            );
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.tx.subscribe()
    }
}

async fn connect(pool: &PgPool, replica: Uuid) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    sqlx::query("SELECT set_config('application_name', $1, false)")
        .bind(format!("{LISTENER_NAME}{replica}"))
        .execute(&mut listener)
        .await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Relays notifications. When the connection drops, caches keep serving what they hold (while
/// Postgres is away nothing can change); once listening again, anything may have changed in
/// between, so caches start over.
async fn follow(
    pool: PgPool,
    mut listener: PgListener,
    tx: broadcast::Sender<Change>,
    replica: Uuid,
) {
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
                // The old listener holds its pooled connection until dropped; closing the pool
                // (shutdown) waits for every connection, so it must go before anything else.
                drop(listener);
                if pool.is_closed() {
                    return;
                }
                tracing::warn!("change feed connection lost; reconnecting");
                let mut wait = Duration::from_millis(200);
                listener = loop {
                    tokio::time::sleep(wait).await;
                    if pool.is_closed() {
                        return;
                    }
                    match connect(&pool, replica).await {
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
