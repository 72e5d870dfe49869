//! Server functions of the OAuth pages: the consent page, a person's connected clients (admins
//! see everyone's), and the clients admins register by hand.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ClientKind;
use crate::error::AppError;

/// What the consent page shows about a pending request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsentView {
    pub request_id: Uuid,
    pub client_name: String,
    pub client_id: String,
    pub client_kind: ClientKind,
    pub client_uri: Option<String>,
    /// Where the person goes back to (host, or the scheme for a native app).
    pub redirect_to: String,
    pub resource_label: String,
    pub resource_uri: String,
    pub person: String,
}

#[server(prefix = "/_fn", endpoint = "oauth/consent")]
pub async fn consent_request(request: String) -> Result<ConsentView, AppError> {
    use crate::accounts::session::require_user;
    let user = require_user()?;
    let state = crate::startup::AppState::from_context()?;
    let gone = || {
        AppError::NotFound(
            "This sign-in request (it may have expired or been answered already)".into(),
        )
    };
    let id = Uuid::parse_str(&request).map_err(|_| gone())?;
    let request = super::db::find_open_request(&state.pool, id, user.id)
        .await?
        .ok_or_else(gone)?;
    let client = super::db::find_client(&state.pool, &request.client_id)
        .await?
        .ok_or_else(gone)?;
    let redirect_to = url::Url::parse(&request.redirect_uri)
        .ok()
        .map(|u| match u.host_str() {
            Some(host) => host.to_owned(),
            None => format!("{}:", u.scheme()),
        })
        .unwrap_or_default();
    let resource_label = match request.server_id {
        Some(id) => {
            let name: Option<String> = sqlx::query_scalar("SELECT name FROM servers WHERE id = $1")
                .bind(id)
                .fetch_optional(&state.pool)
                .await?;
            format!("The {} MCP server", name.unwrap_or_default())
        }
        None => "Every MCP server you may use through Gatehouse".to_owned(),
    };
    Ok(ConsentView {
        request_id: request.id,
        client_name: client.name,
        client_id: client.id,
        client_kind: client.kind,
        client_uri: client.client_uri,
        redirect_to,
        resource_label,
        resource_uri: request.resource,
        person: user.email,
    })
}

/// A client a person allowed in, still able to reach Gatehouse.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow, utoipa::ToSchema))]
pub struct ConnectionView {
    pub grant_id: Uuid,
    pub client_id: String,
    pub client_name: String,
    pub client_kind: ClientKind,
    pub user_id: Uuid,
    pub user_name: String,
    pub user_email: String,
    pub resource: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectionList {
    pub connections: Vec<ConnectionView>,
    pub everyone: bool,
    pub now: chrono::DateTime<chrono::Utc>,
}

/// The signed-in person's connected clients; with `everyone`, an admin sees all of them.
#[server(prefix = "/_fn", endpoint = "oauth/connections")]
pub async fn list_connections(everyone: bool) -> Result<ConnectionList, AppError> {
    use crate::accounts::session::{require_admin, require_user};
    let user = require_user()?;
    if everyone {
        require_admin()?;
    }
    let state = crate::startup::AppState::from_context()?;
    let connections = super::service::connections(&state, (!everyone).then_some(user.id)).await?;
    Ok(ConnectionList {
        connections,
        everyone,
        now: chrono::Utc::now(),
    })
}

/// Ends a connection: its tokens stop working on the next request, on every replica.
#[server(prefix = "/_fn", endpoint = "oauth/revoke_connection")]
pub async fn revoke_connection(grant_id: Uuid, everyone: Option<String>) -> Result<(), AppError> {
    use crate::accounts::session::require_user;
    let user = require_user()?;
    let state = crate::startup::AppState::from_context()?;
    super::service::revoke_connection(&state, &user, grant_id).await?;
    let everyone = everyone.is_some_and(|e| e == "true");
    leptos_axum::redirect(if everyone {
        "/connections?everyone=true&revoked=1"
    } else {
        "/connections?revoked=1"
    });
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow, utoipa::ToSchema))]
pub struct ClientView {
    pub id: String,
    pub name: String,
    pub kind: ClientKind,
    pub redirect_uris: Vec<String>,
    pub confidential: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub connections: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientList {
    pub clients: Vec<ClientView>,
    /// A client registered a moment ago, with its secret shown this once.
    pub registered: Option<(String, Option<String>)>,
    pub now: chrono::DateTime<chrono::Utc>,
}

#[cfg(feature = "ssr")]
const REGISTERED_KEY: &str = "registered_client";

/// Every OAuth client Gatehouse knows (admins).
#[server(prefix = "/_fn", endpoint = "oauth/clients")]
pub async fn list_clients() -> Result<ClientList, AppError> {
    use crate::accounts::session::{current_session, require_admin};
    require_admin()?;
    let state = crate::startup::AppState::from_context()?;
    let clients = super::service::clients(&state).await?;
    let session = current_session()?;
    let sealed: Option<Vec<u8>> = session
        .remove(REGISTERED_KEY)
        .await
        .map_err(|e| AppError::internal("reading the session", e))?;
    let registered = sealed
        .and_then(|sealed| state.secrets.open(&sealed, REGISTERED_KEY.as_bytes()).ok())
        .and_then(|plain| serde_json::from_slice(&plain).ok());
    Ok(ClientList {
        clients,
        registered,
        now: chrono::Utc::now(),
    })
}

/// Registers a client by hand: one redirect URI per line; a confidential client gets a secret,
/// shown once.
#[server(prefix = "/_fn", endpoint = "oauth/register_client")]
pub async fn register_client(
    name: String,
    redirect_uris: String,
    confidential: Option<String>,
) -> Result<(), AppError> {
    use crate::accounts::session::{current_session, require_admin};
    use secrecy::ExposeSecret;
    let admin = require_admin()?;
    let state = crate::startup::AppState::from_context()?;
    let uris: Vec<String> = redirect_uris
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let confidential = confidential.is_some_and(|c| c == "on" || c == "true");
    let (client, secret) =
        super::service::register_client(&state, &admin, &name, uris, confidential).await?;
    let shown = (
        client.id,
        secret.as_ref().map(|s| s.expose_secret().to_owned()),
    );
    let sealed = state.secrets.seal(
        &serde_json::to_vec(&shown).unwrap_or_default(),
        REGISTERED_KEY.as_bytes(),
    );
    current_session()?
        .insert(REGISTERED_KEY, sealed)
        .await
        .map_err(|e| AppError::internal("writing the session", e))?;
    leptos_axum::redirect("/oauth-clients?registered=1");
    Ok(())
}

/// Deletes a client: every connection it had ends on the next request, on every replica.
#[server(prefix = "/_fn", endpoint = "oauth/delete_client")]
pub async fn delete_client(id: String) -> Result<(), AppError> {
    use crate::accounts::session::require_admin;
    let admin = require_admin()?;
    let state = crate::startup::AppState::from_context()?;
    super::service::delete_client(&state, &admin, &id).await?;
    leptos_axum::redirect("/oauth-clients?deleted=1");
    Ok(())
}
