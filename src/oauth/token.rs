//! `/oauth/token` (codes and refresh tokens) and `/oauth/revoke` (RFC 7009).

use axum::{
    Form, Json,
    extract::{State, rejection::FormRejection},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use chrono::{Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{
    ACCESS_TOKEN_PREFIX, ACCESS_TOKEN_SECONDS, REFRESH_TOKEN_DAYS, REFRESH_TOKEN_PREFIX,
    clients::{self, Presented},
    db::{self, GrantRow, TokenKind},
    error::{OAuthError, no_store},
    resource, rules,
};
use crate::{
    changes::Change,
    crypto::{new_token, token_digest},
    startup::AppState,
};

#[derive(Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    resource: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<TokenRequest>, FormRejection>,
) -> Result<Response, OAuthError> {
    let Form(form) = form.map_err(|_| {
        OAuthError::invalid_request(
            "Send the request as application/x-www-form-urlencoded, each parameter once.",
        )
    })?;
    let presented = Presented::from(
        &headers,
        form.client_id.as_deref(),
        form.client_secret.as_deref(),
    );
    let client = clients::authenticate(&state, presented).await?;
    match form.grant_type.as_deref() {
        Some("authorization_code") => exchange_code(&state, &client.id, &form).await,
        Some("refresh_token") => refresh(&state, &client.id, &form).await,
        Some(other) => Err(OAuthError::unsupported_grant_type(format!(
            "The grant type {other:?} is not supported."
        ))),
        None => Err(OAuthError::invalid_request("grant_type is missing.")),
    }
}

async fn exchange_code(
    state: &AppState,
    client_id: &str,
    form: &TokenRequest,
) -> Result<Response, OAuthError> {
    let code = form
        .code
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("code is missing."))?;
    let verifier = form.code_verifier.as_deref().ok_or_else(|| {
        OAuthError::invalid_request("code_verifier is missing (PKCE is required).")
    })?;
    let mut tx = state.pool.begin().await?;
    let row = db::lock_code(&mut *tx, &token_digest(code))
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("The authorization code is not valid."))?;
    if row.grant.client_id != client_id {
        return Err(OAuthError::invalid_grant(
            "The authorization code was issued to another client.",
        ));
    }
    if row.used_at.is_some() {
        // A code seen twice was stolen or replayed: end whatever it already gave out.
        revoke_family(state, tx, row.grant.id, "authorization code reused").await?;
        return Err(OAuthError::invalid_grant(
            "The authorization code was already used; the tokens it gave were revoked.",
        ));
    }
    if row.expires_at <= Utc::now() {
        return Err(OAuthError::invalid_grant(
            "The authorization code has expired.",
        ));
    }
    if row.grant.revoked_at.is_some() {
        return Err(OAuthError::invalid_grant("This sign-in was revoked."));
    }
    if form.redirect_uri.as_deref() != Some(row.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri must be the one sent with the authorization request.",
        ));
    }
    if !rules::pkce_verifies(verifier, &row.code_challenge) {
        return Err(OAuthError::invalid_grant(
            "The code_verifier does not match the code_challenge.",
        ));
    }
    check_resource(state, form.resource.as_deref(), &row.grant).await?;
    let used = "UPDATE oauth_codes SET used_at = now() WHERE code_hash = $1";
    redeem(tx, used, &token_digest(code), &row.grant).await
}

async fn refresh(
    state: &AppState,
    client_id: &str,
    form: &TokenRequest,
) -> Result<Response, OAuthError> {
    let presented = form
        .refresh_token
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing."))?;
    let mut tx = state.pool.begin().await?;
    let row = db::lock_token(&mut *tx, &token_digest(presented))
        .await?
        .filter(|row| row.kind == TokenKind::Refresh)
        .ok_or_else(|| OAuthError::invalid_grant("The refresh token is not valid."))?;
    if row.grant.client_id != client_id {
        return Err(OAuthError::invalid_grant(
            "The refresh token was issued to another client.",
        ));
    }
    if row.grant.revoked_at.is_some() {
        return Err(OAuthError::invalid_grant(
            "This sign-in was revoked; sign in again.",
        ));
    }
    if row.used_at.is_some() {
        // Each refresh token is used once. A second use means two parties hold it: revoke the
        // family, so the thief's copy dies with the person's.
        revoke_family(state, tx, row.grant.id, "refresh token reused").await?;
        return Err(OAuthError::invalid_grant(
            "The refresh token was already used; this sign-in was revoked. Sign in again.",
        ));
    }
    if row.expires_at <= Utc::now() {
        return Err(OAuthError::invalid_grant(
            "The refresh token has expired; sign in again.",
        ));
    }
    check_resource(state, form.resource.as_deref(), &row.grant).await?;
    let used = "UPDATE oauth_tokens SET used_at = now() WHERE token_hash = $1";
    redeem(tx, used, &token_digest(presented), &row.grant).await
}

/// Revokes a grant and everything it issued, committing `tx`, and tells the caches.
async fn revoke_family(
    state: &AppState,
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    grant_id: Uuid,
    reason: &str,
) -> Result<(), OAuthError> {
    db::revoke_grant(&mut *tx, grant_id, reason).await?;
    tx.commit().await?;
    state.changes.publish(Change::Token(grant_id));
    Ok(())
}

/// A `resource` at the token endpoint may only repeat what the grant is for.
async fn check_resource(
    state: &AppState,
    raw: Option<&str>,
    grant: &GrantRow,
) -> Result<(), OAuthError> {
    if raw.is_none_or(|r| r.trim().is_empty()) {
        return Ok(());
    }
    let asked = resource::resolve(state, raw).await?;
    if asked.server_id != grant.server_id {
        return Err(OAuthError::invalid_target(
            "The resource differs from the one the person approved.",
        ));
    }
    Ok(())
}

/// Marks the presented code or refresh token used (`used` names it by its digest) and answers
/// with the next tokens, all in `tx`.
async fn redeem(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    used: &'static str,
    digest: &[u8; 32],
    grant: &GrantRow,
) -> Result<Response, OAuthError> {
    sqlx::query(used)
        .bind(digest.as_slice())
        .execute(&mut *tx)
        .await?;
    let issued = issue(&mut tx, grant).await?;
    tx.commit().await?;
    Ok(issued)
}

/// A new access token and refresh token for `grant`.
async fn issue(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    grant: &GrantRow,
) -> Result<Response, OAuthError> {
    let access = new_token(ACCESS_TOKEN_PREFIX);
    let refresh = new_token(REFRESH_TOKEN_PREFIX);
    let now = Utc::now();
    db::insert_token(
        &mut **tx,
        &token_digest(access.expose_secret()),
        grant.id,
        TokenKind::Access,
        now + Duration::seconds(ACCESS_TOKEN_SECONDS),
    )
    .await?;
    db::insert_token(
        &mut **tx,
        &token_digest(refresh.expose_secret()),
        grant.id,
        TokenKind::Refresh,
        now + Duration::days(REFRESH_TOKEN_DAYS),
    )
    .await?;
    Ok(token_response(&access, &refresh, grant))
}

fn token_response(access: &SecretString, refresh: &SecretString, grant: &GrantRow) -> Response {
    let mut response = Json(json!({
        "access_token": access.expose_secret(),
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_SECONDS,
        "refresh_token": refresh.expose_secret(),
        "scope": grant.scope,
    }))
    .into_response();
    no_store(&mut response);
    response
}

#[derive(Deserialize)]
pub struct RevokeRequest {
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// `POST /oauth/revoke`: ends the sign-in a token belongs to (access or refresh, the whole
/// family). Unknown tokens are answered like known ones, as RFC 7009 §2.2 asks.
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<RevokeRequest>, FormRejection>,
) -> Result<Response, OAuthError> {
    let Form(form) = form.map_err(|_| {
        OAuthError::invalid_request("Send the request as application/x-www-form-urlencoded.")
    })?;
    let presented = Presented::from(
        &headers,
        form.client_id.as_deref(),
        form.client_secret.as_deref(),
    );
    let client = clients::authenticate(&state, presented).await?;
    let token = form
        .token
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("token is missing."))?;
    let mut tx = state.pool.begin().await?;
    let grant: Option<Uuid> = db::lock_token(&mut *tx, &token_digest(token))
        .await?
        .filter(|row| row.grant.client_id == client.id)
        .map(|row| row.grant.id);
    if let Some(grant) = grant {
        db::revoke_grant(&mut *tx, grant, "revoked by the client").await?;
    }
    tx.commit().await?;
    if let Some(grant) = grant {
        state.changes.publish(Change::Token(grant));
        state.changes.settle().await;
    }
    let mut response = Json(json!({})).into_response();
    no_store(&mut response);
    Ok(response)
}
