//! The people part of the admin JSON API (`/api/v1/users…`, SPEC S11).

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    routing::get,
};
use serde::Deserialize;
use uuid::Uuid;

use super::{Role, UserFilter, UserList, UserView, directory};
use crate::{accounts::session::ApiAdmin, api::Body, error::AppError, startup::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users", get(list))
        .route("/api/v1/users/{id}", get(show).patch(update))
}

/// List people (10 per page), filtered by name or email, role and group.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(UserFilter),
    responses((status = 200, body = UserList), (status = 401), (status = 403), (status = 422)))]
pub async fn list(
    ApiAdmin(_admin): ApiAdmin,
    State(state): State<AppState>,
    Query(filter): Query<UserFilter>,
) -> Result<Json<UserList>, AppError> {
    Ok(Json(directory::read_list(&state.pool, &filter).await?))
}

/// Read a person.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    responses((status = 200, body = UserView), (status = 404)))]
pub async fn show(
    ApiAdmin(_admin): ApiAdmin,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Json<UserView>, AppError> {
    Ok(Json(directory::read_one(&state.pool, id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct UpdateUser {
    /// `admin`, `platform_admin`, `manager` or `member`.
    role: Option<String>,
    /// The group to move them to.
    group_id: Option<Uuid>,
}

/// Change a person's role or group. The last admin cannot be demoted.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UpdateUser,
    responses((status = 200, body = UserView), (status = 404), (status = 422, description = "Unknown role or group, or the last admin")))]
pub async fn update(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Body(body): Body<UpdateUser>,
) -> Result<Json<UserView>, AppError> {
    let role = body
        .role
        .map(|r| r.parse::<Role>())
        .transpose()
        .map_err(|_| {
            AppError::invalid(
                "role",
                "Unknown role: use admin, platform_admin, manager or member.",
            )
        })?;
    directory::update(&state, &admin, id, role, body.group_id).await?;
    Ok(Json(directory::read_one(&state.pool, id).await?))
}
