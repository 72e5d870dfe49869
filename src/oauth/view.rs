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
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
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
    let connections: Vec<ConnectionView> = sqlx::query_as(
        "SELECT g.id AS grant_id, c.id AS client_id, c.name AS client_name, c.kind AS client_kind, \
                u.id AS user_id, u.name AS user_name, u.email AS user_email, g.resource, \
                g.created_at, g.last_used_at \
         FROM oauth_grants g \
         JOIN oauth_clients c ON c.id = g.client_id \
         JOIN users u ON u.id = g.user_id \
         WHERE g.revoked_at IS NULL AND ($1 OR g.user_id = $2) \
           AND EXISTS (SELECT 1 FROM oauth_tokens t WHERE t.grant_id = g.id \
                       AND t.expires_at > now() AND t.used_at IS NULL) \
         ORDER BY coalesce(g.last_used_at, g.created_at) DESC \
         LIMIT 500",
    )
    .bind(everyone)
    .bind(user.id)
    .fetch_all(&state.pool)
    .await?;
    Ok(ConnectionList {
        connections,
        everyone,
        now: chrono::Utc::now(),
    })
}

/// Ends a connection: its tokens stop working on the next request, on every replica.
#[server(prefix = "/_fn", endpoint = "oauth/revoke_connection")]
pub async fn revoke_connection(grant_id: Uuid, everyone: Option<String>) -> Result<(), AppError> {
    use crate::{accounts::session::require_user, audit, changes::Change};
    let user = require_user()?;
    let state = crate::startup::AppState::from_context()?;
    let mut tx = state.pool.begin().await?;
    let found: Option<(Uuid, String)> = sqlx::query_as(
        "SELECT g.user_id, c.name FROM oauth_grants g JOIN oauth_clients c ON c.id = g.client_id \
         WHERE g.id = $1 AND g.revoked_at IS NULL FOR UPDATE OF g",
    )
    .bind(grant_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((owner, client_name)) =
        found.filter(|(owner, _)| *owner == user.id || user.role.is_admin())
    else {
        return Err(AppError::NotFound("That connection".into()));
    };
    super::db::revoke_grant(&mut *tx, grant_id, "revoked in the dashboard").await?;
    audit::record(
        &mut *tx,
        &user.actor(),
        "connection.revoked",
        &client_name,
        Some(serde_json::json!({ "grant_id": grant_id, "user_id": owner })),
        None,
    )
    .await?;
    tx.commit().await?;
    state.changes.publish(Change::Token(grant_id));
    state.changes.settle().await;
    let everyone = everyone.is_some_and(|e| e == "true");
    leptos_axum::redirect(if everyone {
        "/connections?everyone=true&revoked=1"
    } else {
        "/connections?revoked=1"
    });
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
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
    let clients: Vec<ClientView> = sqlx::query_as(
        "SELECT c.id, c.name, c.kind, c.redirect_uris, (c.secret_hash IS NOT NULL) AS confidential, \
                c.created_at, \
                (SELECT count(*) FROM oauth_grants g WHERE g.client_id = c.id AND g.revoked_at IS NULL) AS connections \
         FROM oauth_clients c ORDER BY c.created_at DESC LIMIT 500",
    )
    .fetch_all(&state.pool)
    .await?;
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
    use crate::{
        accounts::session::{current_session, require_admin},
        audit,
    };
    use secrecy::ExposeSecret;
    let admin = require_admin()?;
    let state = crate::startup::AppState::from_context()?;
    if name.trim().is_empty() {
        return Err(AppError::invalid(
            "name",
            "Name the app, as people will see it on the consent page.",
        ));
    }
    let uris: Vec<String> = redirect_uris
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let confidential = confidential.is_some_and(|c| c == "on" || c == "true");
    let registered = super::clients::create(
        &state,
        ClientKind::Manual,
        super::clients::Registration {
            name: Some(name.trim().to_owned()),
            redirect_uris: uris,
            client_uri: None,
            logo_uri: None,
            token_endpoint_auth_method: if confidential {
                "client_secret_basic"
            } else {
                "none"
            }
            .to_owned(),
        },
        &serde_json::json!({}),
        Some(admin.user().id),
    )
    .await
    .map_err(|err| match err.code {
        "invalid_redirect_uri" => AppError::invalid("redirect_uris", err.description),
        "server_error" => AppError::Internal,
        _ => AppError::invalid("name", err.description),
    })?;
    audit::record(
        &state.pool,
        &admin.user().actor(),
        "client.registered",
        &registered.client.name,
        None,
        Some(serde_json::json!({ "client_id": registered.client.id, "redirect_uris": registered.client.redirect_uris })),
    )
    .await?;
    let shown = (
        registered.client.id.clone(),
        registered
            .secret
            .as_ref()
            .map(|s| s.expose_secret().to_owned()),
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
    use crate::{accounts::session::require_admin, audit, changes::Change};
    let admin = require_admin()?;
    let state = crate::startup::AppState::from_context()?;
    let mut tx = state.pool.begin().await?;
    let grants: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM oauth_grants WHERE client_id = $1")
        .bind(&id)
        .fetch_all(&mut *tx)
        .await?;
    let name: Option<String> =
        sqlx::query_scalar("DELETE FROM oauth_clients WHERE id = $1 RETURNING name")
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(name) = name else {
        return Err(AppError::NotFound("That client".into()));
    };
    audit::record(
        &mut *tx,
        &admin.user().actor(),
        "client.deleted",
        &name,
        Some(serde_json::json!({ "client_id": id, "connections": grants.len() })),
        None,
    )
    .await?;
    tx.commit().await?;
    for grant in grants {
        state.changes.publish(Change::Token(grant));
    }
    state.changes.settle().await;
    leptos_axum::redirect("/oauth-clients?deleted=1");
    Ok(())
}
