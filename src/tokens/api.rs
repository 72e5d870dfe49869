//! Server functions of the tokens page. A new token is kept in the session only until the
//! page has shown it once, so it never travels in a URL and works without JavaScript.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TokenInfo;
use crate::error::AppError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
    /// A token created a moment ago, shown this once.
    pub minted: Option<String>,
    pub now: chrono::DateTime<chrono::Utc>,
}

#[cfg(feature = "ssr")]
const MINTED_KEY: &str = "minted_token";

#[server(prefix = "/_fn", endpoint = "tokens/list")]
pub async fn list_tokens() -> Result<TokenList, AppError> {
    use crate::accounts::session::{current_session, require_user};
    let user = require_user()?;
    let state = crate::startup::AppState::from_context()?;
    let session = current_session()?;
    let sealed: Option<Vec<u8>> = session
        .remove(MINTED_KEY)
        .await
        .map_err(|e| AppError::internal("reading the session", e))?;
    let minted = sealed
        .and_then(|sealed| state.secrets.open(&sealed, MINTED_KEY.as_bytes()).ok())
        .and_then(|plain| String::from_utf8(plain).ok());
    Ok(TokenList {
        tokens: super::service::list(&state, &user).await?,
        minted,
        now: chrono::Utc::now(),
    })
}

/// Creates a token; `lifetime_days` empty or `never` means it does not expire.
#[server(prefix = "/_fn", endpoint = "tokens/create")]
pub async fn create_token(name: String, lifetime_days: String) -> Result<(), AppError> {
    use crate::accounts::session::{current_session, require_user};
    use secrecy::ExposeSecret;
    let user = require_user()?;
    let state = crate::startup::AppState::from_context()?;
    let lifetime =
        match lifetime_days.trim() {
            "" | "never" => None,
            days => Some(days.parse::<i64>().map_err(|_| {
                AppError::invalid("lifetime_days", "Choose how long the token lives.")
            })?),
        };
    let (_, secret) = super::service::mint(&state, &user, &name, lifetime).await?;
    let sealed = state
        .secrets
        .seal(secret.expose_secret().as_bytes(), MINTED_KEY.as_bytes());
    current_session()?
        .insert(MINTED_KEY, sealed)
        .await
        .map_err(|e| AppError::internal("writing the session", e))?;
    leptos_axum::redirect("/tokens?created=1");
    Ok(())
}

#[server(prefix = "/_fn", endpoint = "tokens/revoke")]
pub async fn revoke_token(id: Uuid) -> Result<(), AppError> {
    use crate::accounts::session::require_user;
    let user = require_user()?;
    let state = crate::startup::AppState::from_context()?;
    super::service::revoke(&state, &user, id).await?;
    leptos_axum::redirect("/tokens?revoked=1");
    Ok(())
}
