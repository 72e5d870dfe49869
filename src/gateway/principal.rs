//! Who is calling: the bearer token on every gateway request becomes a [`Principal`], looked up
//! in memory. No token, a wrong one, an expired or revoked one: `401` with `WWW-Authenticate`,
//! before anything reaches a server.

use axum::{
    Json,
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use super::cache::{GatewayCache, LoadError, TokenKind};
use crate::accounts::Role;

/// The person behind a request, with the group that decides what they may call.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub group_id: Uuid,
    pub token_id: Uuid,
}

#[derive(Debug)]
pub enum AuthFailure {
    Missing,
    Invalid(&'static str),
    InQuery,
    NotForThisServer,
    Unavailable(LoadError),
}

/// A refusal, with where the client learns how to get a token (RFC 9728 §5.1).
#[derive(Debug)]
pub struct Refused {
    pub failure: AuthFailure,
    pub resource_metadata: String,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let (status, error, description) = match &self.failure {
            AuthFailure::Missing => (
                StatusCode::UNAUTHORIZED,
                None,
                "Sign in: send an access token as `Authorization: Bearer <token>`.",
            ),
            AuthFailure::Invalid(why) => (StatusCode::UNAUTHORIZED, Some("invalid_token"), *why),
            AuthFailure::InQuery => (
                StatusCode::BAD_REQUEST,
                Some("invalid_request"),
                "Access tokens are not accepted in the URL; send them in the Authorization header.",
            ),
            AuthFailure::NotForThisServer => (
                StatusCode::FORBIDDEN,
                Some("insufficient_scope"),
                "This token may not be used for this server.",
            ),
            AuthFailure::Unavailable(err) => {
                tracing::error!(error = %err, "authentication could not load its data");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, HeaderValue::from_static("5"))],
                    Json(json!({ "error": "temporarily_unavailable", "error_description": "Gatehouse cannot check credentials right now; try again shortly." })),
                )
                    .into_response();
            }
        };
        let mut challenge = format!(
            "Bearer realm=\"Gatehouse\", resource_metadata=\"{}\", scope=\"mcp\"",
            self.resource_metadata
        );
        if let Some(error) = error {
            challenge.push_str(&format!(
                ", error=\"{error}\", error_description=\"{description}\""
            ));
        }
        let body =
            json!({ "error": error.unwrap_or("unauthorized"), "error_description": description });
        let mut response = (status, Json(body)).into_response();
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// Finds the bearer token in the request and resolves it to a person allowed to reach the
/// server `server_id`, whose protected-resource metadata is at `resource_metadata`.
pub async fn authenticate(
    cache: &GatewayCache,
    headers: &HeaderMap,
    uri: &Uri,
    server_id: Uuid,
    resource_metadata: impl FnOnce() -> String,
) -> Result<Principal, Refused> {
    check(cache, headers, uri, server_id)
        .await
        .map_err(|failure| Refused {
            failure,
            resource_metadata: resource_metadata(),
        })
}

async fn check(
    cache: &GatewayCache,
    headers: &HeaderMap,
    uri: &Uri,
    server_id: Uuid,
) -> Result<Principal, AuthFailure> {
    if uri
        .query()
        .is_some_and(|q| q.split('&').any(|pair| pair.starts_with("access_token=")))
    {
        return Err(AuthFailure::InQuery);
    }
    let token = bearer(headers).ok_or(AuthFailure::Missing)?;
    let entry = cache
        .token(token)
        .await
        .map_err(AuthFailure::Unavailable)?
        .ok_or(AuthFailure::Invalid("The access token is not valid."))?;
    if entry.revoked {
        return Err(AuthFailure::Invalid("The access token was revoked."));
    }
    if entry.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(AuthFailure::Invalid("The access token has expired."));
    }
    if let Some(servers) = &entry.server_ids
        && !servers.contains(&server_id)
    {
        return Err(match entry.kind {
            TokenKind::Personal => AuthFailure::NotForThisServer,
            TokenKind::OAuth => {
                AuthFailure::Invalid("The access token was issued for another resource.")
            }
        });
    }
    let user = cache
        .user(entry.user_id)
        .await
        .map_err(AuthFailure::Unavailable)?
        .ok_or(AuthFailure::Invalid(
            "The access token's owner no longer exists.",
        ))?;
    Ok(Principal {
        user_id: user.id,
        email: user.email.clone(),
        name: user.name.clone(),
        role: user.role,
        group_id: user.group_id,
        token_id: entry.id,
    })
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_needs_a_token() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "bearer abc".parse().unwrap());
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }
}
