//! The OAuth part of the admin JSON API (`/api/v1/oauth…`, SPEC S11): clients and
//! connections, the same operations as the dashboard's.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::{delete, get},
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ClientView, ConnectionView, service};
use crate::{accounts::session::ApiAdmin, api::Body, error::AppError, startup::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/oauth/clients", get(clients).post(register))
        // A metadata-document client's id is a URL, slashes and all.
        .route("/api/v1/oauth/clients/{*id}", delete(delete_client))
        .route("/api/v1/oauth/connections", get(connections))
        .route("/api/v1/oauth/connections/{id}", delete(revoke))
}

/// Every OAuth client Gatehouse knows.
#[utoipa::path(get, path = "/api/v1/oauth/clients", tag = "oauth",
    responses((status = 200, body = Vec<ClientView>), (status = 401), (status = 403)))]
pub async fn clients(
    ApiAdmin(_admin): ApiAdmin,
    State(state): State<AppState>,
) -> Result<Json<Vec<ClientView>>, AppError> {
    Ok(Json(service::clients(&state).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RegisterClient {
    /// What people see on the consent page.
    name: String,
    /// `https`, `http` on the loopback interface (any port), or an app scheme.
    redirect_uris: Vec<String>,
    /// A confidential client authenticates with a secret (client_secret_basic or _post).
    #[serde(default)]
    confidential: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RegisteredClient {
    client: ClientView,
    /// Shown this once; only a digest is kept.
    client_secret: Option<String>,
}

/// Register a client by hand.
#[utoipa::path(post, path = "/api/v1/oauth/clients", tag = "oauth", request_body = RegisterClient,
    responses((status = 201, body = RegisteredClient), (status = 422, description = "Invalid name or redirect URI")))]
pub async fn register(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Body(body): Body<RegisterClient>,
) -> Result<(StatusCode, Json<RegisteredClient>), AppError> {
    let (client, secret) = service::register_client(
        &state,
        &admin,
        &body.name,
        body.redirect_uris,
        body.confidential,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(RegisteredClient {
            client,
            client_secret: secret.map(|s| s.expose_secret().to_owned()),
        }),
    ))
}

/// Delete a client; its connections end at once.
#[utoipa::path(delete, path = "/api/v1/oauth/clients/{id}", tag = "oauth",
    responses((status = 204), (status = 404)))]
pub async fn delete_client(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    service::delete_client(&state, &admin, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Everyone's live connections.
#[utoipa::path(get, path = "/api/v1/oauth/connections", tag = "oauth",
    responses((status = 200, body = Vec<ConnectionView>), (status = 401), (status = 403)))]
pub async fn connections(
    ApiAdmin(_admin): ApiAdmin,
    State(state): State<AppState>,
) -> Result<Json<Vec<ConnectionView>>, AppError> {
    Ok(Json(service::connections(&state, None).await?))
}

/// End a connection; its tokens stop working at the next request.
#[utoipa::path(delete, path = "/api/v1/oauth/connections/{id}", tag = "oauth",
    responses((status = 204), (status = 404)))]
pub async fn revoke(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, AppError> {
    service::revoke_connection(&state, admin.user(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
