//! The servers part of the admin JSON API (`/api/v1/servers…`, SPEC S11). Handlers call the
//! same operations as the dashboard's server functions; errors are `AppError` as JSON.

use std::collections::BTreeMap;

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::StatusCode,
    routing::{get, post, put},
};
use serde::Deserialize;

use super::{
    DeploymentView, EnvVarView, ServerDetail, ServerFilter, ServerSource, ServerStatus,
    ServerSummary, ToolsView, read, service, service::NewServer,
};
use crate::{accounts::session::ApiAdmin, api::Body, error::AppError, startup::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/servers", get(list).post(create))
        .route(
            "/api/v1/servers/{slug}",
            get(show).patch(update).delete(remove),
        )
        .route("/api/v1/servers/{slug}/disable", post(disable))
        .route("/api/v1/servers/{slug}/enable", post(enable))
        .route("/api/v1/servers/{slug}/env", get(env_list))
        .route(
            "/api/v1/servers/{slug}/env/{name}",
            put(env_set).delete(env_remove),
        )
        .route("/api/v1/servers/{slug}/tools", get(tools))
        .route("/api/v1/servers/{slug}/tools/refresh", post(tools_refresh))
        .route(
            "/api/v1/servers/{slug}/deployments",
            get(deployments).post(deploy),
        )
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Part of the name to look for.
    #[serde(default)]
    q: String,
    /// Include disabled and deleted servers.
    #[serde(default)]
    deactivated: bool,
    /// Only servers you created.
    #[serde(default)]
    mine: bool,
}

/// List servers.
#[utoipa::path(get, path = "/api/v1/servers", tag = "servers", params(ListQuery),
    responses((status = 200, body = Vec<ServerSummary>), (status = 401), (status = 403)))]
pub async fn list(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<ServerSummary>>, AppError> {
    let filter = ServerFilter {
        q: query.q,
        deactivated: query.deactivated,
        mine: query.mine,
    };
    Ok(Json(read::list(&state, &admin, &filter).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateServer {
    name: String,
    /// The URL name; derived from the name when left out.
    slug: Option<String>,
    #[serde(default)]
    description: String,
    source: ServerSource,
    /// Environment variables, NAME → value.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// How long a tool call may take, in milliseconds (default 60000).
    call_timeout_ms: Option<u32>,
}

/// Create a server.
#[utoipa::path(post, path = "/api/v1/servers", tag = "servers", request_body = CreateServer,
    responses((status = 201, body = ServerDetail), (status = 422, description = "Invalid input; the body names the field")))]
pub async fn create(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Body(body): Body<CreateServer>,
) -> Result<(StatusCode, Json<ServerDetail>), AppError> {
    let row = service::create(
        &state,
        &admin,
        NewServer {
            name: body.name,
            slug: body.slug,
            description: body.description,
            source: Some(body.source),
            auth_method: None,
            env: body.env.into_iter().collect(),
            call_timeout_ms: body.call_timeout_ms,
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(read::detail(&state, &admin, &row.slug).await?),
    ))
}

/// Read a server.
#[utoipa::path(get, path = "/api/v1/servers/{slug}", tag = "servers",
    responses((status = 200, body = ServerDetail), (status = 404)))]
pub async fn show(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Json<ServerDetail>, AppError> {
    Ok(Json(read::detail(&state, &admin, &slug).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct UpdateServer {
    name: Option<String>,
    description: Option<String>,
}

/// Rename or re-describe a server.
#[utoipa::path(patch, path = "/api/v1/servers/{slug}", tag = "servers", request_body = UpdateServer,
    responses((status = 200, body = ServerDetail), (status = 404), (status = 409), (status = 422)))]
pub async fn update(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Body(body): Body<UpdateServer>,
) -> Result<Json<ServerDetail>, AppError> {
    let row = read::active_row(&state, &slug).await?;
    let name = body.name.unwrap_or(row.name);
    let description = body.description.unwrap_or(row.description);
    service::update_details(&state, &admin, row.id, &name, &description, row.updated_at).await?;
    Ok(Json(read::detail(&state, &admin, &slug).await?))
}

async fn set_status(
    state: &AppState,
    admin: &crate::accounts::session::Admin,
    slug: &str,
    status: ServerStatus,
) -> Result<(), AppError> {
    let row = read::active_row(state, slug).await?;
    service::set_status(state, admin, row.id, status)
        .await
        .map(|_| ())
}

/// Disable a server: every call fails until it is enabled again.
#[utoipa::path(post, path = "/api/v1/servers/{slug}/disable", tag = "servers", responses((status = 204), (status = 404)))]
pub async fn disable(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<StatusCode, AppError> {
    set_status(&state, &admin, &slug, ServerStatus::Disabled).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Enable a disabled server.
#[utoipa::path(post, path = "/api/v1/servers/{slug}/enable", tag = "servers", responses((status = 204), (status = 404)))]
pub async fn enable(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<StatusCode, AppError> {
    set_status(&state, &admin, &slug, ServerStatus::Active).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete a server (its configuration goes; its activity history stays).
#[utoipa::path(delete, path = "/api/v1/servers/{slug}", tag = "servers", responses((status = 204), (status = 404)))]
pub async fn remove(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<StatusCode, AppError> {
    set_status(&state, &admin, &slug, ServerStatus::Deleted).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List a server's environment variables (names only).
#[utoipa::path(get, path = "/api/v1/servers/{slug}/env", tag = "servers", responses((status = 200, body = Vec<EnvVarView>)))]
pub async fn env_list(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Json<Vec<EnvVarView>>, AppError> {
    let row = read::active_row(&state, &slug).await?;
    Ok(Json(super::env::list(&state, &admin, row.id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct EnvValue {
    value: String,
}

/// Add or change an environment variable (applies at the next deployment).
#[utoipa::path(put, path = "/api/v1/servers/{slug}/env/{name}", tag = "servers", request_body = EnvValue,
    responses((status = 204), (status = 422, description = "Invalid or reserved name")))]
pub async fn env_set(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Path((slug, name)): Path<(String, String)>,
    Body(body): Body<EnvValue>,
) -> Result<StatusCode, AppError> {
    let row = read::active_row(&state, &slug).await?;
    super::env::set(&state, &admin, row.id, &name, &body.value).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove an environment variable.
#[utoipa::path(delete, path = "/api/v1/servers/{slug}/env/{name}", tag = "servers", responses((status = 204), (status = 404)))]
pub async fn env_remove(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Path((slug, name)): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    let row = read::active_row(&state, &slug).await?;
    super::env::remove(&state, &admin, row.id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tools the live deployment exposes, and which groups may call each.
#[utoipa::path(get, path = "/api/v1/servers/{slug}/tools", tag = "servers", responses((status = 200, body = ToolsView)))]
pub async fn tools(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Json<ToolsView>, AppError> {
    Ok(Json(read::tools(&state, &admin, &slug).await?))
}

/// Ask the live deployment for its tools again.
#[utoipa::path(post, path = "/api/v1/servers/{slug}/tools/refresh", tag = "servers", responses((status = 200, body = ToolsView)))]
pub async fn tools_refresh(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Json<ToolsView>, AppError> {
    let row = read::active_row(&state, &slug).await?;
    service::refresh_tools(&state, row.id).await?;
    Ok(Json(read::tools(&state, &admin, &slug).await?))
}

/// The deployment history, newest first.
#[utoipa::path(get, path = "/api/v1/servers/{slug}/deployments", tag = "servers", responses((status = 200, body = Vec<DeploymentView>)))]
pub async fn deployments(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Json<Vec<DeploymentView>>, AppError> {
    Ok(Json(read::deployments(&state, &admin, &slug).await?))
}

/// Deploy the current configuration and environment.
#[utoipa::path(post, path = "/api/v1/servers/{slug}/deployments", tag = "servers", responses((status = 201, body = ServerDetail)))]
pub async fn deploy(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<(StatusCode, Json<ServerDetail>), AppError> {
    let row = read::active_row(&state, &slug).await?;
    service::redeploy(&state, &admin, row.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(read::detail(&state, &admin, &slug).await?),
    ))
}
