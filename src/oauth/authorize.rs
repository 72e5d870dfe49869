//! `/oauth/authorize` and the consent decision: the part of the flow a person sees. The client
//! sends the person here; a signed-out person signs in and comes back; the consent page
//! (`/oauth/consent`, a dashboard page) names the client and what it will reach; the answer
//! comes back to [`decide`], which sends the person to the client with a code (or a refusal).
//!
//! Until the client and its redirect URI are known to belong together, nothing is sent to the
//! redirect URI: errors are shown here instead, so Gatehouse never redirects a person to an
//! address an attacker picked (an open redirector).

use axum::{
    Extension, Form,
    extract::{Query, State, rejection::QueryRejection},
    http::{StatusCode, Uri, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use chrono::{Duration, Utc};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{CODE_PREFIX, CODE_SECONDS, REQUEST_SECONDS, SCOPES, clients, db, resource, rules};
use crate::{
    accounts::session::CurrentUser,
    audit,
    crypto::{new_token, token_digest},
    startup::AppState,
};

#[derive(Deserialize)]
pub struct AuthorizeParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    scope: Option<String>,
    resource: Option<String>,
    prompt: Option<String>,
}

/// Where errors go once the redirect URI is trusted (RFC 6749 §4.1.2.1), with RFC 9207 `iss`.
struct Reply {
    redirect_uri: String,
    state: Option<String>,
    issuer: String,
}

impl Reply {
    fn with(&self, pairs: &[(&str, &str)]) -> Response {
        let Ok(mut url) = url::Url::parse(&self.redirect_uri) else {
            return error_page(
                StatusCode::BAD_REQUEST,
                "The app's redirect address is not valid.",
            );
        };
        {
            let mut query = url.query_pairs_mut();
            for (key, value) in pairs {
                query.append_pair(key, value);
            }
            if let Some(state) = &self.state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", &self.issuer);
        }
        Redirect::to(url.as_str()).into_response()
    }

    fn error(&self, code: &str, description: &str) -> Response {
        self.with(&[("error", code), ("error_description", description)])
    }
}

pub async fn authorize(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
    uri: Uri,
    params: Result<Query<AuthorizeParams>, QueryRejection>,
) -> Response {
    let Ok(Query(params)) = params else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The sign-in request from the app is malformed (a parameter is repeated or unreadable).",
        );
    };
    let Some(client_id) = params.client_id.as_deref().filter(|c| !c.is_empty()) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The app did not say who it is (client_id is missing).",
        );
    };
    let client = match clients::resolve(&state, client_id).await {
        Ok(client) => client,
        Err(message) => return error_page(StatusCode::BAD_REQUEST, &message),
    };
    let redirect_uri = match params.redirect_uri.as_deref() {
        Some(requested) => {
            if !client
                .redirect_uris
                .iter()
                .any(|registered| rules::redirect_matches(registered, requested))
            {
                return error_page(
                    StatusCode::BAD_REQUEST,
                    "The app asked to return to an address it did not register (redirect_uri does not match).",
                );
            }
            requested.to_owned()
        }
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "The app did not say where to return (redirect_uri is missing).",
            );
        }
    };
    let reply = Reply {
        redirect_uri,
        state: params.state.clone(),
        issuer: state.config.base_url().to_owned(),
    };
    if params.response_type.as_deref() != Some("code") {
        return reply.error(
            "unsupported_response_type",
            "Only the authorization code flow (response_type=code) is supported.",
        );
    }
    let Some(challenge) = params.code_challenge.as_deref() else {
        return reply.error(
            "invalid_request",
            "PKCE is required: send a code_challenge.",
        );
    };
    if params.code_challenge_method.as_deref() != Some("S256") {
        return reply.error(
            "invalid_request",
            "PKCE must use code_challenge_method=S256; plain is not accepted.",
        );
    }
    if !rules::is_pkce_value(challenge) {
        return reply.error("invalid_request", "The code_challenge is malformed.");
    }
    let scope = match parse_scope(params.scope.as_deref()) {
        Ok(scope) => scope,
        Err(message) => return reply.error("invalid_scope", &message),
    };
    let target = match resource::resolve(&state, params.resource.as_deref()).await {
        Ok(target) => target,
        Err(err) => return reply.error(err.code, &err.description),
    };
    let Some(Extension(user)) = user else {
        if params.prompt.as_deref() == Some("none") {
            return reply.error(
                "login_required",
                "The person is not signed in to Gatehouse.",
            );
        }
        let back = uri
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/oauth/authorize");
        let next: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
        return Redirect::to(&format!("/login?next={next}")).into_response();
    };
    if params.prompt.as_deref() == Some("none") {
        return reply.error(
            "consent_required",
            "The person must approve this app first.",
        );
    }
    let created = sqlx::query_scalar::<_, Uuid>(
        "INSERT INTO oauth_requests (client_id, user_id, redirect_uri, state, code_challenge, \
             scope, resource, server_id, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(&client.id)
    .bind(user.id)
    .bind(&reply.redirect_uri)
    .bind(&reply.state)
    .bind(challenge)
    .bind(&scope)
    .bind(&target.uri)
    .bind(target.server_id)
    .bind(Utc::now() + Duration::seconds(REQUEST_SECONDS))
    .fetch_one(&state.pool)
    .await;
    match created {
        Ok(id) => Redirect::to(&format!("/oauth/consent?request={id}")).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "storing an authorization request failed");
            reply.error(
                "server_error",
                "Gatehouse could not store the request; try again.",
            )
        }
    }
}

/// The requested scopes, each known; none asked means `mcp`.
fn parse_scope(raw: Option<&str>) -> Result<String, String> {
    let mut scopes: Vec<&str> = raw.unwrap_or("").split_whitespace().collect();
    if let Some(unknown) = scopes.iter().find(|s| !SCOPES.contains(s)) {
        return Err(format!(
            "The scope {unknown:?} is not offered; Gatehouse offers {}.",
            SCOPES.join(", ")
        ));
    }
    if !scopes.contains(&"mcp") {
        scopes.insert(0, "mcp");
    }
    scopes.dedup();
    Ok(scopes.join(" "))
}

#[derive(Deserialize)]
pub struct Decision {
    request: String,
    decision: String,
}

/// `POST /oauth/decision`: the consent form's answer. The request id is unguessable and bound to
/// the person who saw the page, and it is answered once; the form is also covered by the
/// cross-origin check every cookie-authenticated write passes.
pub async fn decide(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
    form: Result<Form<Decision>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Some(Extension(user)) = user else {
        return error_page(
            StatusCode::UNAUTHORIZED,
            "Your Gatehouse session ended. Start signing in from your app again.",
        );
    };
    let Ok(Form(form)) = form else {
        return error_page(StatusCode::BAD_REQUEST, "The consent form was incomplete.");
    };
    let Ok(request_id) = Uuid::parse_str(&form.request) else {
        return error_page(StatusCode::BAD_REQUEST, "The consent form was incomplete.");
    };
    match decide_in_transaction(&state, &user, request_id, form.decision == "allow").await {
        Ok(response) => response,
        Err(err) => {
            tracing::error!(error = %err, "recording a consent decision failed");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side. It has been logged; please try again.",
            )
        }
    }
}

async fn decide_in_transaction(
    state: &AppState,
    user: &CurrentUser,
    request_id: Uuid,
    allow: bool,
) -> sqlx::Result<Response> {
    let mut tx = state.pool.begin().await?;
    let Some(request) = db::answer_request(&mut *tx, request_id, user.id).await? else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in request has expired or was already answered. Start again from your app.",
        ));
    };
    let reply = Reply {
        redirect_uri: request.redirect_uri.clone(),
        state: request.state.clone(),
        issuer: state.config.base_url().to_owned(),
    };
    if !allow {
        tx.commit().await?;
        return Ok(reply.error("access_denied", "The person declined the request."));
    }
    let grant_id: Uuid = sqlx::query_scalar(
        "INSERT INTO oauth_grants (client_id, user_id, scope, resource, server_id) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(&request.client_id)
    .bind(user.id)
    .bind(&request.scope)
    .bind(&request.resource)
    .bind(request.server_id)
    .fetch_one(&mut *tx)
    .await?;
    let code = new_token(CODE_PREFIX);
    sqlx::query(
        "INSERT INTO oauth_codes (code_hash, grant_id, redirect_uri, code_challenge, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_digest(code.expose_secret()).as_slice())
    .bind(grant_id)
    .bind(&request.redirect_uri)
    .bind(&request.code_challenge)
    .bind(Utc::now() + Duration::seconds(CODE_SECONDS))
    .execute(&mut *tx)
    .await?;
    let client_name: String = sqlx::query_scalar("SELECT name FROM oauth_clients WHERE id = $1")
        .bind(&request.client_id)
        .fetch_one(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        &user.actor(),
        "connection.granted",
        &client_name,
        None,
        Some(json!({ "client_id": request.client_id, "resource": request.resource, "scope": request.scope })),
    )
    .await?;
    tx.commit().await?;
    Ok(reply.with(&[("code", code.expose_secret())]))
}

/// A page for errors that must not go back to the client.
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let message = html_escape(message);
    let body = format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign-in problem · Gatehouse</title><link rel="stylesheet" href="/pkg/gatehouse.css"></head><body><main class="auth-page"><div class="auth-card"><div class="brand brand-large"><span class="brand-mark" aria-hidden="true"></span>Gatehouse</div><h1>This sign-in cannot go on</h1><p class="alert alert-error" role="alert">{message}</p><p class="muted">Return to the app and try again. If it keeps happening, tell your Gatehouse admin.</p><p><a href="/">Go to the Gatehouse dashboard</a></p></div></main></body></html>"#
    );
    (status, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_default_to_mcp_and_unknown_ones_are_refused() {
        assert_eq!(parse_scope(None).unwrap(), "mcp");
        assert_eq!(
            parse_scope(Some("offline_access")).unwrap(),
            "mcp offline_access"
        );
        assert_eq!(parse_scope(Some("mcp")).unwrap(), "mcp");
        assert!(parse_scope(Some("admin")).unwrap_err().contains("admin"));
    }
}
