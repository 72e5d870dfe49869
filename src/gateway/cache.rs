//! The gateway's in-memory view of the database: tokens, people, servers and restrictions.
//! Every request is answered from here; a miss loads from Postgres once (concurrent misses for
//! one key share the load), and the change feed drops entries the moment their rows change, on
//! every replica.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use moka::future::Cache;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    accounts::Role,
    changes::{Change, ChangeFeed},
    crypto::{SecretBox, token_digest},
    servers::{
        AuthMethod, ServerSource, ServerStatus, db as servers_db, service::open_env_snapshot,
    },
    tokens::db as tokens_db,
};

/// Where a bearer token came from, which decides how a wrong server is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// Minted in the dashboard; may be limited to some servers (`403 insufficient_scope`).
    Personal,
    /// Issued by the OAuth server for one resource (RFC 8707): any other is `401
    /// invalid_token`, as a token for another audience is no token at all here.
    OAuth,
}

#[derive(Debug)]
pub struct TokenEntry {
    /// The personal token's id, or the OAuth grant's.
    pub id: Uuid,
    pub kind: TokenKind,
    pub user_id: Uuid,
    pub server_ids: Option<Vec<Uuid>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

#[derive(Debug)]
pub struct UserEntry {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub group_id: Uuid,
}

#[derive(Debug)]
pub struct DeploymentEntry {
    pub id: Uuid,
    pub source: ServerSource,
    pub env: Vec<(String, String)>,
}

#[derive(Debug)]
pub struct ServerEntry {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub status: ServerStatus,
    pub auth_method: AuthMethod,
    pub call_timeout: Duration,
    pub deployment: Option<Arc<DeploymentEntry>>,
}

/// The tools a group may not call on a server.
#[derive(Debug, Default)]
pub struct Restrictions {
    pub tools: HashSet<String>,
}

impl Restrictions {
    pub fn contains(&self, tool: &str) -> bool {
        self.tools.contains(tool)
    }

    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// Every tool the server lists is restricted: the group does not see the server at all
    /// (SPEC S9), and its URL answers as if there were no server there.
    pub fn hide(&self, listed: &[String]) -> bool {
        !listed.is_empty() && listed.iter().all(|name| self.tools.contains(name))
    }
}

/// Failures loading from Postgres; a request meeting one answers 503, never a wrong answer.
#[derive(Debug, thiserror::Error)]
#[error("the gateway could not load {what}: {source}")]
pub struct LoadError {
    what: &'static str,
    #[source]
    source: Arc<dyn std::error::Error + Send + Sync>,
}

fn load_error(what: &'static str) -> impl FnOnce(Arc<anyhow::Error>) -> LoadError {
    move |err| LoadError {
        what,
        source: Arc::new(ArcError(err)),
    }
}

#[derive(Debug)]
struct ArcError(Arc<anyhow::Error>);
impl std::fmt::Display for ArcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}
impl std::error::Error for ArcError {}

#[derive(Clone)]
pub struct GatewayCache {
    pool: PgPool,
    secrets: SecretBox,
    tokens: Cache<[u8; 32], Option<Arc<TokenEntry>>>,
    users: Cache<Uuid, Option<Arc<UserEntry>>>,
    servers: Cache<String, Option<Arc<ServerEntry>>>,
    restrictions: Cache<(Uuid, Uuid), Arc<Restrictions>>,
    /// The tool names each server listed when last asked (only needed when a group restricts
    /// some of them).
    tool_names: Cache<Uuid, Arc<Vec<String>>>,
    /// How many invalidations have been applied. A value read from Postgres before a change
    /// committed but stored after the change's invalidation would otherwise outlive it until
    /// the TTL; [`lookup`] drops any entry an invalidation raced with.
    generation: Arc<AtomicU64>,
    changes: ChangeFeed,
}

impl GatewayCache {
    pub fn new(pool: PgPool, secrets: SecretBox, changes: &ChangeFeed) -> Self {
        // Entries also expire on their own, a backstop should a notification ever be lost
        // without the listener noticing.
        let ttl = Duration::from_secs(300);
        let cache = GatewayCache {
            pool,
            secrets,
            changes: changes.clone(),
            tokens: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
            users: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
            servers: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(ttl)
                .build(),
            restrictions: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
            tool_names: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(ttl)
                .build(),
            generation: Arc::default(),
        };
        cache.follow(changes);
        cache
    }

    fn follow(&self, changes: &ChangeFeed) {
        let mut rx = changes.subscribe();
        let cache = self.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(change) => cache.apply(&change).await,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        cache.apply(&Change::Resync).await
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    /// Drops what `change` makes stale. Server, token and restriction changes are rare admin
    /// actions, so they clear their whole map; a person's change clears just them.
    pub async fn apply(&self, change: &Change) {
        if !matches!(change, Change::Barrier(_) | Change::Ack { .. }) {
            // Before invalidating: a lookup that began earlier sees the change of generation.
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        match change {
            Change::User(id) => self.users.invalidate(id).await,
            Change::Token(_) => self.tokens.invalidate_all(),
            Change::Server(_) | Change::Deployment { .. } => self.servers.invalidate_all(),
            Change::Restrictions { .. } => self.restrictions.invalidate_all(),
            Change::ServerTools { server_id } => self.tool_names.invalidate(server_id).await,
            // Everything before the barrier is applied (changes arrive in order): say so.
            Change::Barrier(barrier) => self.changes.acknowledge(*barrier).await,
            Change::Ack { .. } => {}
            Change::Resync => {
                self.tokens.invalidate_all();
                self.users.invalidate_all();
                self.servers.invalidate_all();
                self.restrictions.invalidate_all();
                self.tool_names.invalidate_all();
            }
        }
    }

    pub async fn token(&self, bearer: &str) -> Result<Option<Arc<TokenEntry>>, LoadError> {
        let digest = token_digest(bearer);
        let pool = self.pool.clone();
        let oauth = bearer.starts_with(crate::oauth::ACCESS_TOKEN_PREFIX);
        lookup(&self.generation, &self.tokens, &digest, async move {
            if oauth {
                let row = crate::oauth::db::find_access(&pool, &digest).await?;
                return Ok::<_, anyhow::Error>(row.map(|row| {
                    Arc::new(TokenEntry {
                        id: row.grant_id,
                        kind: TokenKind::OAuth,
                        user_id: row.user_id,
                        server_ids: row.server_id.map(|id| vec![id]),
                        expires_at: Some(row.expires_at),
                        revoked: row.revoked,
                    })
                }));
            }
            let row = tokens_db::find_by_digest(&pool, &digest).await?;
            Ok::<_, anyhow::Error>(row.map(|row| {
                Arc::new(TokenEntry {
                    id: row.id,
                    kind: TokenKind::Personal,
                    user_id: row.user_id,
                    server_ids: row.server_ids,
                    expires_at: row.expires_at,
                    revoked: row.revoked_at.is_some(),
                })
            }))
        })
        .await
        .map_err(load_error("a token"))
    }

    pub async fn user(&self, id: Uuid) -> Result<Option<Arc<UserEntry>>, LoadError> {
        let pool = self.pool.clone();
        lookup(&self.generation, &self.users, &id, async move {
            let row = crate::accounts::db::find_by_id(&pool, id).await?;
            Ok::<_, anyhow::Error>(row.map(|row| {
                Arc::new(UserEntry {
                    id: row.id,
                    email: row.email,
                    name: row.name,
                    role: row.role,
                    group_id: row.group_id,
                })
            }))
        })
        .await
        .map_err(load_error("a user"))
    }

    /// The server at `/mcp/{slug}` with its live deployment, or `None` for an unknown or
    /// deleted one.
    pub async fn server(&self, slug: &str) -> Result<Option<Arc<ServerEntry>>, LoadError> {
        let pool = self.pool.clone();
        let secrets = self.secrets.clone();
        lookup(&self.generation, &self.servers, slug, async move {
            let Some(row) = servers_db::find_by_slug(&pool, slug).await? else {
                return Ok::<_, anyhow::Error>(None);
            };
            let deployment = match row.live_deployment_id {
                Some(id) => match servers_db::find_deployment(&pool, id).await? {
                    Some(d) => {
                        let env = open_env_snapshot(&secrets, row.id, d.env.as_deref())?;
                        Some(Arc::new(DeploymentEntry {
                            id: d.id,
                            source: d.source.0,
                            env: env.into_iter().collect(),
                        }))
                    }
                    None => None,
                },
                None => None,
            };
            Ok(Some(Arc::new(ServerEntry {
                id: row.id,
                slug: row.slug,
                name: row.name,
                status: row.status,
                auth_method: row.auth_method,
                call_timeout: Duration::from_millis(row.call_timeout_ms.max(1) as u64),
                deployment,
            })))
        })
        .await
        .map_err(load_error("a server"))
    }

    /// The tools `group_id` may not call on `server_id`.
    pub async fn restrictions(
        &self,
        group_id: Uuid,
        server_id: Uuid,
    ) -> Result<Arc<Restrictions>, LoadError> {
        let pool = self.pool.clone();
        lookup(
            &self.generation,
            &self.restrictions,
            &(group_id, server_id),
            async move {
                let names: Vec<String> = sqlx::query_scalar(
                "SELECT tool_name FROM tool_restrictions WHERE group_id = $1 AND server_id = $2",
            )
            .bind(group_id)
            .bind(server_id)
            .fetch_all(&pool)
            .await?;
                Ok::<_, anyhow::Error>(Arc::new(Restrictions {
                    tools: names.into_iter().collect(),
                }))
            },
        )
        .await
        .map_err(load_error("tool restrictions"))
    }

    /// The tool names `server_id` listed when last asked; `None` when they cannot be read now
    /// (the caller then assumes the server is visible: the calls themselves are still checked).
    pub async fn tool_names(&self, server_id: Uuid) -> Option<Arc<Vec<String>>> {
        let pool = self.pool.clone();
        lookup(&self.generation, &self.tool_names, &server_id, async move {
            let names: Option<Vec<String>> = sqlx::query_scalar(
                "SELECT array(SELECT t->>'name' FROM jsonb_array_elements(tools) t) \
                     FROM server_tools WHERE server_id = $1",
            )
            .bind(server_id)
            .fetch_optional(&pool)
            .await?;
            Ok::<_, anyhow::Error>(Arc::new(names.unwrap_or_default()))
        })
        .await
        .map_err(|err| tracing::warn!(error = %err, "loading a server's tool names failed"))
        .ok()
    }
}

/// `cache[key]`, loaded by `load` when missing. If an invalidation was applied meanwhile (the
/// `generation` moved), the value may have been read before the change committed: it answers
/// this request, which raced the change anyway, but is not kept, so the next one reads again.
/// The key is borrowed: a hit, the gateway's usual case, copies nothing.
async fn lookup<K, Q, V>(
    generation: &AtomicU64,
    cache: &Cache<K, V>,
    key: &Q,
    load: impl Future<Output = anyhow::Result<V>>,
) -> Result<V, Arc<anyhow::Error>>
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq + Send + Sync + 'static,
    Q: ToOwned<Owned = K> + std::hash::Hash + Eq + ?Sized,
    V: Clone + Send + Sync + 'static,
{
    let before = generation.load(Ordering::Acquire);
    let value = cache.try_get_with_by_ref(key, load).await?;
    if generation.load(Ordering::Acquire) != before {
        cache.invalidate(key).await;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_value_read_before_an_invalidation_answers_once_but_is_not_kept() {
        let generation = AtomicU64::new(0);
        let cache: Cache<u32, &str> = Cache::new(10);
        // The load reads the old row; the change's invalidation is applied before it is stored.
        let value = lookup(&generation, &cache, &1, async {
            generation.fetch_add(1, Ordering::AcqRel);
            cache.invalidate_all();
            Ok("before the change")
        })
        .await
        .unwrap();
        assert_eq!(value, "before the change");
        assert_eq!(cache.get(&1).await, None, "the stale value is not kept");

        // With no change in between, what is loaded stays.
        lookup(&generation, &cache, &2, async { Ok("current") })
            .await
            .unwrap();
        assert_eq!(cache.get(&2).await, Some("current"));
    }
}
