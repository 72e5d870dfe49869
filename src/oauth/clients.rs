//! The clients that may ask for tokens: found by ID, fetched from their metadata document,
//! registered by themselves (RFC 7591) or by an admin, and authenticated at the token endpoint.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::Engine;
use chrono::{Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    CLIENT_SECRET_PREFIX, ClientKind, cimd,
    db::{self, ClientRow, NewClient},
    error::{OAuthError, no_store},
    rules,
};
use crate::{
    crypto::{new_token, token_digest},
    startup::AppState,
};

/// A metadata document is fetched again when the copy on file is older than this.
const DOCUMENT_FRESHNESS: Duration = Duration::hours(1);
/// Registration requests larger than this are refused.
const MAX_REGISTRATION_BYTES: usize = 16 * 1024;
const MAX_REDIRECT_URIS: usize = 20;

/// The client behind `client_id`, fetching its metadata document when it names one. The error
/// is a sentence for the error page (it is never sent to the redirect URI: the client is not
/// known to own it).
pub async fn resolve(state: &AppState, client_id: &str) -> Result<ClientRow, String> {
    let known = db::find_client(&state.pool, client_id)
        .await
        .map_err(|e| internal("loading an OAuth client", e))?;
    if !cimd::is_document_url(client_id) {
        return known.ok_or_else(|| {
            "This app is not registered with Gatehouse (unknown client_id).".to_owned()
        });
    }
    if let Some(row) = &known
        && row.kind != ClientKind::MetadataDocument
    {
        return Ok(row.clone());
    }
    if let Some(row) = &known
        && row
            .fetched_at
            .is_some_and(|at| Utc::now() - at < DOCUMENT_FRESHNESS)
    {
        return Ok(row.clone());
    }
    let (document, raw) = cimd::fetch(client_id, state.config.oauth_allow_private_metadata).await?;
    for uri in &document.redirect_uris {
        rules::check_redirect_uri(uri)?;
    }
    let host = url::Url::parse(client_id)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let name = clean_name(document.client_name.as_deref()).unwrap_or(host);
    db::upsert_client(
        &state.pool,
        NewClient {
            id: client_id,
            kind: ClientKind::MetadataDocument,
            name: &name,
            redirect_uris: &document.redirect_uris,
            client_uri: document.client_uri.as_deref().filter(|u| is_web_url(u)),
            logo_uri: document.logo_uri.as_deref().filter(|u| is_web_url(u)),
            token_endpoint_auth_method: "none",
            secret_hash: None,
            metadata: &raw,
            created_by: None,
        },
    )
    .await
    .map_err(|e| internal("saving a client metadata document", e))
}

fn internal(context: &str, err: impl std::fmt::Display) -> String {
    tracing::error!(error = %err, "{context}");
    "Something went wrong on our side. It has been logged; please try again.".to_owned()
}

fn clean_name(name: Option<&str>) -> Option<String> {
    let name: String = name?
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    (!name.is_empty()).then_some(name)
}

fn is_web_url(raw: &str) -> bool {
    url::Url::parse(raw).is_ok_and(|u| u.scheme() == "https" || u.scheme() == "http")
}

/// What a new client asks to be registered with.
pub struct Registration {
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub token_endpoint_auth_method: String,
}

/// A client just registered, with its secret (shown once) when it is confidential.
pub struct Registered {
    pub client: ClientRow,
    pub secret: Option<SecretString>,
}

/// Checks and stores a new client. Used by dynamic registration and by admins.
pub async fn create(
    state: &AppState,
    kind: ClientKind,
    registration: Registration,
    metadata: &Value,
    created_by: Option<uuid::Uuid>,
) -> Result<Registered, OAuthError> {
    if registration.redirect_uris.is_empty() {
        return Err(OAuthError::invalid_redirect_uri(
            "Register at least one redirect URI.",
        ));
    }
    if registration.redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(OAuthError::invalid_redirect_uri(format!(
            "Register at most {MAX_REDIRECT_URIS} redirect URIs."
        )));
    }
    for uri in &registration.redirect_uris {
        rules::check_redirect_uri(uri).map_err(OAuthError::invalid_redirect_uri)?;
    }
    let method = registration.token_endpoint_auth_method.as_str();
    if !matches!(
        method,
        "none" | "client_secret_basic" | "client_secret_post"
    ) {
        return Err(OAuthError::invalid_client_metadata(format!(
            "token_endpoint_auth_method {method:?} is not supported; use none, client_secret_basic or client_secret_post."
        )));
    }
    for uri in [&registration.client_uri, &registration.logo_uri]
        .into_iter()
        .flatten()
    {
        if !is_web_url(uri) {
            return Err(OAuthError::invalid_client_metadata(format!(
                "{uri:?} is not a web address."
            )));
        }
    }
    let name = clean_name(registration.name.as_deref()).unwrap_or_else(|| "Unnamed app".into());
    let secret = (method != "none").then(|| new_token(CLIENT_SECRET_PREFIX));
    let secret_hash = secret.as_ref().map(|s| token_digest(s.expose_secret()));
    let id = format!("gh_oci_{}", uuid::Uuid::new_v4().simple());
    let client = db::upsert_client(
        &state.pool,
        NewClient {
            id: &id,
            kind,
            name: &name,
            redirect_uris: &registration.redirect_uris,
            client_uri: registration.client_uri.as_deref(),
            logo_uri: registration.logo_uri.as_deref(),
            token_endpoint_auth_method: method,
            secret_hash: secret_hash.as_ref().map(|h| h.as_slice()),
            metadata,
            created_by,
        },
    )
    .await?;
    Ok(Registered { client, secret })
}

#[derive(Deserialize)]
struct RegistrationRequest {
    #[serde(default)]
    redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    client_uri: Option<String>,
    #[serde(default)]
    logo_uri: Option<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    response_types: Option<Vec<String>>,
}

/// `POST /oauth/register`: RFC 7591 dynamic client registration, kept for clients that predate
/// metadata documents.
pub async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    if body.len() > MAX_REGISTRATION_BYTES {
        return Err(OAuthError::invalid_client_metadata(format!(
            "The registration request is larger than {MAX_REGISTRATION_BYTES} bytes."
        )));
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(OAuthError::invalid_client_metadata(
            "Send the registration as application/json.",
        ));
    }
    let raw: Value = serde_json::from_slice(&body)
        .map_err(|_| OAuthError::invalid_client_metadata("The registration is not valid JSON."))?;
    let request: RegistrationRequest = serde_json::from_value(raw.clone()).map_err(|e| {
        OAuthError::invalid_client_metadata(format!("The registration is not valid: {e}."))
    })?;
    let grant_types = request
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".into()]);
    if let Some(other) = grant_types
        .iter()
        .find(|g| !matches!(g.as_str(), "authorization_code" | "refresh_token"))
    {
        return Err(OAuthError::invalid_client_metadata(format!(
            "Grant type {other:?} is not supported; Gatehouse issues authorization codes and refresh tokens."
        )));
    }
    let response_types = request
        .response_types
        .unwrap_or_else(|| vec!["code".into()]);
    if response_types.iter().any(|r| r != "code") {
        return Err(OAuthError::invalid_client_metadata(
            "Only the \"code\" response type is supported.",
        ));
    }
    let registered = create(
        &state,
        ClientKind::Dynamic,
        Registration {
            name: request.client_name,
            redirect_uris: request.redirect_uris.unwrap_or_default(),
            client_uri: request.client_uri,
            logo_uri: request.logo_uri,
            token_endpoint_auth_method: request
                .token_endpoint_auth_method
                .unwrap_or_else(|| "client_secret_basic".into()),
        },
        &raw,
        None,
    )
    .await?;
    let client = &registered.client;
    tracing::info!(client = %client.id, name = %client.name, "an OAuth client registered itself");
    let mut body = json!({
        "client_id": client.id,
        "client_id_issued_at": client.created_at.timestamp(),
        "client_name": client.name,
        "redirect_uris": client.redirect_uris,
        "grant_types": grant_types,
        "response_types": response_types,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
    });
    if let Some(secret) = &registered.secret {
        body["client_secret"] = json!(secret.expose_secret());
        body["client_secret_expires_at"] = json!(0);
    }
    if let Some(uri) = &client.client_uri {
        body["client_uri"] = json!(uri);
    }
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    no_store(&mut response);
    Ok(response)
}

/// The credentials a client presented at the token or revocation endpoint.
pub struct Presented {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

impl Presented {
    /// From HTTP Basic (RFC 6749 §2.3.1: form-encoded id and secret) or the form body.
    pub fn from(headers: &HeaderMap, form_id: Option<&str>, form_secret: Option<&str>) -> Self {
        let basic = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .and_then(|(_, b64)| {
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .ok()
            })
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|pair| {
                let (id, secret) = pair.split_once(':')?;
                let decode = |s: &str| {
                    percent_encoding::percent_decode_str(&s.replace('+', " "))
                        .decode_utf8()
                        .ok()
                        .map(|c| c.into_owned())
                };
                Some((decode(id)?, decode(secret)?))
            });
        match basic {
            Some((id, secret)) => Presented {
                client_id: Some(id),
                client_secret: Some(secret),
            },
            None => Presented {
                client_id: form_id.map(str::to_owned),
                client_secret: form_secret.map(str::to_owned),
            },
        }
    }
}

/// The client these credentials prove, or `invalid_client`.
pub async fn authenticate(state: &AppState, presented: Presented) -> Result<ClientRow, OAuthError> {
    let id = presented
        .client_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| OAuthError::invalid_client("Name the client (client_id)."))?;
    let client = db::find_client(&state.pool, &id)
        .await?
        .ok_or_else(|| OAuthError::invalid_client("This client is not registered."))?;
    match (&client.secret_hash, presented.client_secret) {
        (None, _) => Ok(client),
        (Some(hash), Some(secret)) if rules::constant_time_eq(hash, &token_digest(&secret)) => {
            Ok(client)
        }
        (Some(_), _) => Err(OAuthError::invalid_client(
            "The client secret is missing or wrong.",
        )),
    }
}
