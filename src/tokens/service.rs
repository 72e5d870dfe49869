//! Minting and revoking personal access tokens.

use chrono::{Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use uuid::Uuid;

use super::{TOKEN_PREFIX, TokenInfo, db};
use crate::{
    accounts::session::CurrentUser,
    audit,
    changes::Change,
    crypto::{new_token, token_digest},
    error::AppError,
    startup::AppState,
};

/// The longest a token may live; "never expires" is allowed but must be chosen.
pub const MAX_LIFETIME_DAYS: i64 = 366;

/// Mints a token for `user`; the returned secret is shown once and never stored.
pub async fn mint(
    state: &AppState,
    user: &CurrentUser,
    name: &str,
    lifetime_days: Option<i64>,
) -> Result<(TokenInfo, SecretString), AppError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::invalid(
            "name",
            "Name the token after what will use it, like \"Cursor on my laptop\".",
        ));
    }
    if name.chars().count() > 80 {
        return Err(AppError::invalid(
            "name",
            "A token name is at most 80 characters.",
        ));
    }
    let expires_at = match lifetime_days {
        None => None,
        Some(days) if (1..=MAX_LIFETIME_DAYS).contains(&days) => {
            Some(Utc::now() + Duration::days(days))
        }
        Some(_) => {
            return Err(AppError::invalid(
                "lifetime_days",
                format!("A token lives between 1 and {MAX_LIFETIME_DAYS} days."),
            ));
        }
    };
    let secret = new_token(TOKEN_PREFIX);
    let digest = token_digest(secret.expose_secret());
    let prefix: String = secret
        .expose_secret()
        .chars()
        .take(TOKEN_PREFIX.len() + 6)
        .collect();

    let mut tx = state.pool.begin().await?;
    let row = db::insert(
        &mut *tx,
        db::NewToken {
            user_id: user.id,
            name,
            digest: &digest,
            prefix: &prefix,
            server_ids: None,
            expires_at,
        },
    )
    .await?;
    audit::record(
        &mut *tx,
        &user.actor(),
        "token.created",
        name,
        None,
        Some(json!({ "prefix": prefix, "expires_at": expires_at })),
    )
    .await?;
    tx.commit().await?;
    Ok((row.into(), secret))
}

/// Revokes one of `user`'s tokens; it stops working on the next request on every replica.
pub async fn revoke(state: &AppState, user: &CurrentUser, id: Uuid) -> Result<TokenInfo, AppError> {
    let mut tx = state.pool.begin().await?;
    let row = db::revoke(&mut *tx, id, user.id)
        .await?
        .ok_or_else(|| AppError::NotFound("That token".into()))?;
    audit::record(
        &mut *tx,
        &user.actor(),
        "token.revoked",
        &row.name,
        None,
        Some(json!({ "prefix": row.prefix })),
    )
    .await?;
    tx.commit().await?;
    state.changes.publish(Change::Token(id));
    state.changes.settle().await;
    Ok(row.into())
}

pub async fn list(state: &AppState, user: &CurrentUser) -> Result<Vec<TokenInfo>, AppError> {
    Ok(db::list_for_user(&state.pool, user.id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// The owner of `secret` when it is a usable token that reaches the whole product (a token
/// limited to some servers opens only those servers' MCP URLs, never the admin API).
pub async fn owner_for_api(state: &AppState, secret: &str) -> Result<Option<Uuid>, AppError> {
    let row = db::find_by_digest(&state.pool, &token_digest(secret)).await?;
    Ok(row
        .filter(|t| t.server_ids.is_none())
        .filter(|t| TokenInfo::from(t.clone()).is_usable(Utc::now()))
        .map(|t| t.user_id))
}
