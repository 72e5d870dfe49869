//! What the dashboard and the admin API do with clients and connections: one implementation
//! behind both, each write in one transaction with its audit event.

use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

use super::{ClientKind, ClientView, ConnectionView, clients, db};
use crate::{
    accounts::session::{Admin, CurrentUser},
    audit,
    changes::Change,
    error::AppError,
    startup::AppState,
};

/// Connections that can still reach Gatehouse: `owner` limits them to one person's.
pub async fn connections(
    state: &AppState,
    owner: Option<Uuid>,
) -> Result<Vec<ConnectionView>, AppError> {
    Ok(sqlx::query_as(
        "SELECT g.id AS grant_id, c.id AS client_id, c.name AS client_name, c.kind AS client_kind, \
                u.id AS user_id, u.name AS user_name, u.email AS user_email, g.resource, \
                g.created_at, g.last_used_at \
         FROM oauth_grants g \
         JOIN oauth_clients c ON c.id = g.client_id \
         JOIN users u ON u.id = g.user_id \
         WHERE g.revoked_at IS NULL AND ($1::uuid IS NULL OR g.user_id = $1) \
           AND EXISTS (SELECT 1 FROM oauth_tokens t WHERE t.grant_id = g.id \
                       AND t.expires_at > now() AND t.used_at IS NULL) \
         ORDER BY coalesce(g.last_used_at, g.created_at) DESC \
         LIMIT 500",
    )
    .bind(owner)
    .fetch_all(&state.pool)
    .await?)
}

/// Ends a connection (the person's own, or anyone's for an admin): its tokens stop working on
/// the next request, on every replica.
pub async fn revoke_connection(
    state: &AppState,
    user: &CurrentUser,
    grant_id: Uuid,
) -> Result<(), AppError> {
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
    db::revoke_grant(&mut *tx, grant_id, "revoked in the dashboard").await?;
    audit::record(
        &mut *tx,
        &user.actor(),
        "connection.revoked",
        &client_name,
        Some(json!({ "grant_id": grant_id, "user_id": owner })),
        None,
    )
    .await?;
    tx.commit().await?;
    state.changes.publish(Change::Token(grant_id));
    state.changes.settle().await;
    Ok(())
}

pub async fn clients(state: &AppState) -> Result<Vec<ClientView>, AppError> {
    Ok(sqlx::query_as(
        "SELECT c.id, c.name, c.kind, c.redirect_uris, (c.secret_hash IS NOT NULL) AS confidential, \
                c.created_at, \
                (SELECT count(*) FROM oauth_grants g WHERE g.client_id = c.id AND g.revoked_at IS NULL) AS connections \
         FROM oauth_clients c ORDER BY c.created_at DESC LIMIT 500",
    )
    .fetch_all(&state.pool)
    .await?)
}

/// Registers a client by hand; a confidential one gets a secret, returned this once.
pub async fn register_client(
    state: &AppState,
    admin: &Admin,
    name: &str,
    redirect_uris: Vec<String>,
    confidential: bool,
) -> Result<(ClientView, Option<SecretString>), AppError> {
    if name.trim().is_empty() {
        return Err(AppError::invalid(
            "name",
            "Name the app, as people will see it on the consent page.",
        ));
    }
    let registered = clients::create(
        state,
        ClientKind::Manual,
        clients::Registration {
            name: Some(name.trim().to_owned()),
            redirect_uris,
            client_uri: None,
            logo_uri: None,
            token_endpoint_auth_method: if confidential {
                "client_secret_basic"
            } else {
                "none"
            }
            .to_owned(),
        },
        &json!({}),
        Some(admin.user().id),
    )
    .await
    .map_err(|err| match err.code {
        "invalid_redirect_uri" => AppError::invalid("redirect_uris", err.description),
        "server_error" => AppError::Internal,
        _ => AppError::invalid("name", err.description),
    })?;
    let client = registered.client;
    audit::record(
        &state.pool,
        &admin.user().actor(),
        "client.registered",
        &client.name,
        None,
        Some(json!({ "client_id": client.id, "redirect_uris": client.redirect_uris })),
    )
    .await?;
    let view = ClientView {
        id: client.id,
        name: client.name,
        kind: client.kind,
        redirect_uris: client.redirect_uris,
        confidential: client.secret_hash.is_some(),
        created_at: client.created_at,
        connections: 0,
    };
    Ok((view, registered.secret))
}

/// Deletes a client: every connection it had ends on the next request, on every replica.
pub async fn delete_client(state: &AppState, admin: &Admin, id: &str) -> Result<(), AppError> {
    let mut tx = state.pool.begin().await?;
    let grants: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM oauth_grants WHERE client_id = $1")
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
    let name: Option<String> =
        sqlx::query_scalar("DELETE FROM oauth_clients WHERE id = $1 RETURNING name")
            .bind(id)
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
        Some(json!({ "client_id": id, "connections": grants.len() })),
        None,
    )
    .await?;
    tx.commit().await?;
    for grant in grants {
        state.changes.publish(Change::Token(grant));
    }
    state.changes.settle().await;
    Ok(())
}
