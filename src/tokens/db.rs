//! Queries on personal access tokens.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::TokenInfo;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TokenRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub prefix: String,
    pub server_ids: Option<Vec<Uuid>>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<TokenRow> for TokenInfo {
    fn from(row: TokenRow) -> Self {
        TokenInfo {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        }
    }
}

const SELECT: &str = "SELECT id, user_id, name, prefix, server_ids, created_at, expires_at, last_used_at, revoked_at FROM api_tokens";

pub async fn find_by_digest(
    ex: impl PgExecutor<'_>,
    digest: &[u8],
) -> sqlx::Result<Option<TokenRow>> {
    sqlx::query_as(&format!("{SELECT} WHERE token_hash = $1"))
        .bind(digest)
        .fetch_optional(ex)
        .await
}

pub async fn list_for_user(ex: impl PgExecutor<'_>, user_id: Uuid) -> sqlx::Result<Vec<TokenRow>> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE user_id = $1 ORDER BY created_at DESC"
    ))
    .bind(user_id)
    .fetch_all(ex)
    .await
}

pub struct NewToken<'a> {
    pub user_id: Uuid,
    pub name: &'a str,
    pub digest: &'a [u8],
    pub prefix: &'a str,
    pub server_ids: Option<&'a [Uuid]>,
    pub expires_at: Option<DateTime<Utc>>,
}

pub async fn insert(ex: impl PgExecutor<'_>, new: NewToken<'_>) -> sqlx::Result<TokenRow> {
    sqlx::query_as(
        "INSERT INTO api_tokens (user_id, name, token_hash, prefix, server_ids, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         RETURNING id, user_id, name, prefix, server_ids, created_at, expires_at, last_used_at, revoked_at",
    )
    .bind(new.user_id)
    .bind(new.name)
    .bind(new.digest)
    .bind(new.prefix)
    .bind(new.server_ids)
    .bind(new.expires_at)
    .fetch_one(ex)
    .await
}

/// Revokes the token if it belongs to `user_id`; returns it as it was before.
pub async fn revoke(
    ex: impl PgExecutor<'_>,
    id: Uuid,
    user_id: Uuid,
) -> sqlx::Result<Option<TokenRow>> {
    sqlx::query_as(
        "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 AND user_id = $2 \
         RETURNING id, user_id, name, prefix, server_ids, created_at, expires_at, last_used_at, revoked_at",
    )
    .bind(id)
    .bind(user_id)
    .fetch_optional(ex)
    .await
}

/// Records when tokens were last used, in one statement for a batch.
/// Records use of personal tokens and OAuth grants (`ids` mixes both; the ids never collide).
pub async fn touch(ex: impl PgExecutor<'_>, ids: &[Uuid], at: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query(
        "WITH personal AS (UPDATE api_tokens SET last_used_at = $2 \
             WHERE id = ANY($1) AND (last_used_at IS NULL OR last_used_at < $2)) \
         UPDATE oauth_grants SET last_used_at = $2 \
         WHERE id = ANY($1) AND (last_used_at IS NULL OR last_used_at < $2)",
    )
    .bind(ids)
    .bind(at)
    .execute(ex)
    .await
    .map(|_| ())
}
