//! The groups part of the admin JSON API (`/api/v1/groups…`, SPEC S11): the same operations
//! as the dashboard's server functions.

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::StatusCode,
    routing::{delete, get},
};
use serde::Deserialize;
use uuid::Uuid;

use super::{GroupDetail, GroupSummary, MemberPage, ServerAccess, read, service};
use crate::{accounts::session::ApiAdmin, api::Body, error::AppError, startup::AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/groups", get(list).post(create))
        .route(
            "/api/v1/groups/{id}",
            get(show).patch(update).delete(remove),
        )
        .route("/api/v1/groups/{id}/members", get(members).post(add_member))
        .route(
            "/api/v1/groups/{id}/members/{user_id}",
            delete(remove_member),
        )
        .route(
            "/api/v1/groups/{id}/restrictions",
            get(restrictions).put(set_restrictions),
        )
}

/// List permission groups.
#[utoipa::path(get, path = "/api/v1/groups", tag = "groups",
    responses((status = 200, body = Vec<GroupSummary>), (status = 401), (status = 403)))]
pub async fn list(
    ApiAdmin(_admin): ApiAdmin,
    State(state): State<AppState>,
) -> Result<Json<Vec<GroupSummary>>, AppError> {
    Ok(Json(read::list(&state.pool).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateGroup {
    name: String,
}

/// Create a group.
#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", request_body = CreateGroup,
    responses((status = 201, body = GroupDetail), (status = 422, description = "Invalid or duplicate name")))]
pub async fn create(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Body(body): Body<CreateGroup>,
) -> Result<(StatusCode, Json<GroupDetail>), AppError> {
    let id = service::create(&state, &admin, &body.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(read::detail(&state.pool, id).await?),
    ))
}

/// Read a group.
#[utoipa::path(get, path = "/api/v1/groups/{id}", tag = "groups",
    responses((status = 200, body = GroupDetail), (status = 404)))]
pub async fn show(
    ApiAdmin(_admin): ApiAdmin,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Json<GroupDetail>, AppError> {
    Ok(Json(read::detail(&state.pool, id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct UpdateGroup {
    name: Option<String>,
    /// `true` makes this the default group (there is always exactly one).
    #[serde(default)]
    make_default: bool,
}

/// Rename a group, or make it the default.
#[utoipa::path(patch, path = "/api/v1/groups/{id}", tag = "groups", request_body = UpdateGroup,
    responses((status = 200, body = GroupDetail), (status = 404), (status = 422)))]
pub async fn update(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Body(body): Body<UpdateGroup>,
) -> Result<Json<GroupDetail>, AppError> {
    read::detail(&state.pool, id).await?;
    if let Some(name) = &body.name {
        service::rename(&state, &admin, id, name).await?;
    }
    if body.make_default {
        service::make_default(&state, &admin, id).await?;
    }
    Ok(Json(read::detail(&state.pool, id).await?))
}

/// Delete a group. The default group, and a group with members, cannot be deleted.
#[utoipa::path(delete, path = "/api/v1/groups/{id}", tag = "groups",
    responses((status = 204), (status = 404), (status = 422, description = "The default group, or a group with members")))]
pub async fn remove(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, AppError> {
    service::delete(&state, &admin, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct MembersQuery {
    /// Part of a name or email.
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<u32>,
}

/// A page of a group's members (15 per page).
#[utoipa::path(get, path = "/api/v1/groups/{id}/members", tag = "groups", params(MembersQuery),
    responses((status = 200, body = MemberPage), (status = 404)))]
pub async fn members(
    ApiAdmin(_admin): ApiAdmin,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Query(query): Query<MembersQuery>,
) -> Result<Json<MemberPage>, AppError> {
    read::detail(&state.pool, id).await?;
    Ok(Json(
        read::members(&state.pool, id, &query.q, query.page.unwrap_or(1)).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct AddMember {
    user_id: Uuid,
}

/// Add a person to a group, moving them out of the group they are in.
#[utoipa::path(post, path = "/api/v1/groups/{id}/members", tag = "groups", request_body = AddMember,
    responses((status = 204), (status = 404)))]
pub async fn add_member(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Body(body): Body<AddMember>,
) -> Result<StatusCode, AppError> {
    service::move_member(&state, &admin, id, body.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Take a person out of a group: they return to the default group.
#[utoipa::path(delete, path = "/api/v1/groups/{id}/members/{user_id}", tag = "groups",
    responses((status = 204), (status = 404), (status = 422, description = "The default group")))]
pub async fn remove_member(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Path((id, user_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, AppError> {
    service::remove_member(&state, &admin, id, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every server's tools and which of them the group may not call.
#[utoipa::path(get, path = "/api/v1/groups/{id}/restrictions", tag = "groups",
    responses((status = 200, body = Vec<ServerAccess>), (status = 404)))]
pub async fn restrictions(
    ApiAdmin(_admin): ApiAdmin,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Json<Vec<ServerAccess>>, AppError> {
    read::detail(&state.pool, id).await?;
    Ok(Json(read::access(&state.pool, id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SetRestrictions {
    server_id: Uuid,
    /// Exactly the tools of that server the group may not call; `[]` lifts every restriction.
    tools: Vec<String>,
}

/// Set which tools of one server the group may not call.
#[utoipa::path(put, path = "/api/v1/groups/{id}/restrictions", tag = "groups", request_body = SetRestrictions,
    responses((status = 200, body = Vec<ServerAccess>), (status = 404), (status = 422)))]
pub async fn set_restrictions(
    ApiAdmin(admin): ApiAdmin,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Body(body): Body<SetRestrictions>,
) -> Result<Json<Vec<ServerAccess>>, AppError> {
    service::set_restrictions(&state, &admin, id, body.server_id, &body.tools).await?;
    Ok(Json(read::access(&state.pool, id).await?))
}
