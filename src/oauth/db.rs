//! Queries on OAuth clients, requests, grants, codes and tokens.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, types::Json};
use uuid::Uuid;

use super::ClientKind;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ClientRow {
    pub id: String,
    pub kind: ClientKind,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub token_endpoint_auth_method: String,
    pub secret_hash: Option<Vec<u8>>,
    pub created_at: DateTime<Utc>,
    pub fetched_at: Option<DateTime<Utc>>,
}

const CLIENT_COLUMNS: &str = "id, kind, name, redirect_uris, client_uri, logo_uri, \
    token_endpoint_auth_method, secret_hash, created_at, fetched_at";

pub async fn find_client(ex: impl PgExecutor<'_>, id: &str) -> sqlx::Result<Option<ClientRow>> {
    sqlx::query_as(&format!(
        "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(ex)
    .await
}

pub struct NewClient<'a> {
    pub id: &'a str,
    pub kind: ClientKind,
    pub name: &'a str,
    pub redirect_uris: &'a [String],
    pub client_uri: Option<&'a str>,
    pub logo_uri: Option<&'a str>,
    pub token_endpoint_auth_method: &'a str,
    pub secret_hash: Option<&'a [u8]>,
    pub metadata: &'a serde_json::Value,
    pub created_by: Option<Uuid>,
}

/// Inserts a client, or refreshes a metadata-document client fetched again.
pub async fn upsert_client(ex: impl PgExecutor<'_>, new: NewClient<'_>) -> sqlx::Result<ClientRow> {
    sqlx::query_as(&format!(
        "INSERT INTO oauth_clients (id, kind, name, redirect_uris, client_uri, logo_uri, \
             token_endpoint_auth_method, secret_hash, metadata, created_by, fetched_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             CASE WHEN $2 = 'metadata_document'::oauth_client_kind THEN now() END) \
         ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, redirect_uris = EXCLUDED.redirect_uris, \
             client_uri = EXCLUDED.client_uri, logo_uri = EXCLUDED.logo_uri, \
             metadata = EXCLUDED.metadata, fetched_at = EXCLUDED.fetched_at \
         WHERE oauth_clients.kind = 'metadata_document' \
         RETURNING {CLIENT_COLUMNS}"
    ))
    .bind(new.id)
    .bind(new.kind)
    .bind(new.name)
    .bind(new.redirect_uris)
    .bind(new.client_uri)
    .bind(new.logo_uri)
    .bind(new.token_endpoint_auth_method)
    .bind(new.secret_hash)
    .bind(Json(new.metadata))
    .bind(new.created_by)
    .fetch_one(ex)
    .await
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RequestRow {
    pub id: Uuid,
    pub client_id: String,
    pub user_id: Uuid,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub code_challenge: String,
    pub scope: String,
    pub resource: String,
    pub server_id: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
}

const REQUEST_COLUMNS: &str = "id, client_id, user_id, redirect_uri, state, code_challenge, \
    scope, resource, server_id, expires_at";

pub async fn find_open_request(
    ex: impl PgExecutor<'_>,
    id: Uuid,
    user_id: Uuid,
) -> sqlx::Result<Option<RequestRow>> {
    sqlx::query_as(&format!(
        "SELECT {REQUEST_COLUMNS} FROM oauth_requests \
         WHERE id = $1 AND user_id = $2 AND answered_at IS NULL AND expires_at > now()"
    ))
    .bind(id)
    .bind(user_id)
    .fetch_optional(ex)
    .await
}

/// Marks the request answered; `None` when it was already answered, expired, or is not this
/// person's — so one consent form can be submitted once.
pub async fn answer_request(
    ex: impl PgExecutor<'_>,
    id: Uuid,
    user_id: Uuid,
) -> sqlx::Result<Option<RequestRow>> {
    sqlx::query_as(&format!(
        "UPDATE oauth_requests SET answered_at = now() \
         WHERE id = $1 AND user_id = $2 AND answered_at IS NULL AND expires_at > now() \
         RETURNING {REQUEST_COLUMNS}"
    ))
    .bind(id)
    .bind(user_id)
    .fetch_optional(ex)
    .await
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct GrantRow {
    pub id: Uuid,
    pub client_id: String,
    pub user_id: Uuid,
    pub scope: String,
    pub resource: String,
    pub server_id: Option<Uuid>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const GRANT_COLUMNS: &str =
    "g.id, g.client_id, g.user_id, g.scope, g.resource, g.server_id, g.revoked_at";

/// Revokes a grant and so every token of its family. Returns whether it was live.
pub async fn revoke_grant(ex: impl PgExecutor<'_>, id: Uuid, reason: &str) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE oauth_grants SET revoked_at = now(), revoked_reason = $2 \
         WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(reason)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, sqlx::FromRow)]
pub struct CodeRow {
    #[sqlx(flatten)]
    pub grant: GrantRow,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// The code and its grant, locked for the exchange.
pub async fn lock_code(ex: impl PgExecutor<'_>, hash: &[u8]) -> sqlx::Result<Option<CodeRow>> {
    sqlx::query_as(&format!(
        "SELECT {GRANT_COLUMNS}, c.redirect_uri, c.code_challenge, c.expires_at, c.used_at \
         FROM oauth_codes c JOIN oauth_grants g ON g.id = c.grant_id \
         WHERE c.code_hash = $1 FOR UPDATE OF c, g"
    ))
    .bind(hash)
    .fetch_optional(ex)
    .await
}

#[derive(Debug, sqlx::FromRow)]
pub struct TokenRow {
    #[sqlx(flatten)]
    pub grant: GrantRow,
    pub kind: TokenKind,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "oauth_token_kind", rename_all = "snake_case")]
pub enum TokenKind {
    Access,
    Refresh,
}

/// A token and its grant, locked (a refresh token is exchanged at most once).
pub async fn lock_token(ex: impl PgExecutor<'_>, hash: &[u8]) -> sqlx::Result<Option<TokenRow>> {
    sqlx::query_as(&format!(
        "SELECT {GRANT_COLUMNS}, t.kind, t.expires_at, t.used_at \
         FROM oauth_tokens t JOIN oauth_grants g ON g.id = t.grant_id \
         WHERE t.token_hash = $1 FOR UPDATE OF t, g"
    ))
    .bind(hash)
    .fetch_optional(ex)
    .await
}

/// What the gateway needs to accept an access token.
#[derive(Debug, sqlx::FromRow)]
pub struct AccessRow {
    pub grant_id: Uuid,
    pub user_id: Uuid,
    pub server_id: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

pub async fn find_access(ex: impl PgExecutor<'_>, hash: &[u8]) -> sqlx::Result<Option<AccessRow>> {
    sqlx::query_as(
        "SELECT g.id AS grant_id, g.user_id, g.server_id, t.expires_at, \
                (g.revoked_at IS NOT NULL) AS revoked \
         FROM oauth_tokens t JOIN oauth_grants g ON g.id = t.grant_id \
         WHERE t.token_hash = $1 AND t.kind = 'access'",
    )
    .bind(hash)
    .fetch_optional(ex)
    .await
}

pub async fn insert_token(
    ex: impl PgExecutor<'_>,
    hash: &[u8],
    grant_id: Uuid,
    kind: TokenKind,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO oauth_tokens (token_hash, grant_id, kind, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(hash)
    .bind(grant_id)
    .bind(kind)
    .bind(expires_at)
    .execute(ex)
    .await?;
    Ok(())
}

/// Removes what can no longer be used: expired codes, tokens and unanswered requests.
pub async fn prune(ex: impl PgExecutor<'_> + Copy) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM oauth_requests WHERE expires_at < now() - interval '1 day'")
        .execute(ex)
        .await?;
    sqlx::query("DELETE FROM oauth_codes WHERE expires_at < now() - interval '1 day'")
        .execute(ex)
        .await?;
    // Used refresh tokens are kept until they expire: replaying one must still be recognised.
    sqlx::query("DELETE FROM oauth_tokens WHERE expires_at < now() - interval '1 day'")
        .execute(ex)
        .await?;
    // Anyone may register a client; one that never got a person's approval in a month is
    // forgotten (registering again is free).
    sqlx::query(
        "DELETE FROM oauth_clients c WHERE c.kind = 'dynamic' \
           AND c.created_at < now() - interval '30 days' \
           AND NOT EXISTS (SELECT 1 FROM oauth_grants g WHERE g.client_id = c.id)",
    )
    .execute(ex)
    .await?;
    Ok(())
}
