//! Server functions of the groups room: what the pages call. Each checks that the caller is an
//! admin, then calls the same operations as the JSON API.

use leptos::prelude::*;
use uuid::Uuid;

use super::{Candidate, GroupDetail, GroupSummary, MemberPage, ServerAccess};
use crate::error::AppError;

#[cfg(feature = "ssr")]
fn context() -> Result<(crate::startup::AppState, crate::accounts::session::Admin), AppError> {
    let admin = crate::accounts::session::require_admin()?;
    Ok((crate::startup::AppState::from_context()?, admin))
}

/// Sends a no-JavaScript form back to where it belongs after it succeeded.
#[cfg(feature = "ssr")]
fn redirect_to(path: &str) {
    leptos_axum::redirect(path);
}

#[server(prefix = "/_fn", endpoint = "groups/list")]
pub async fn list_groups() -> Result<Vec<GroupSummary>, AppError> {
    let (state, _admin) = context()?;
    super::read::list(&state.pool).await
}

#[server(prefix = "/_fn", endpoint = "groups/create")]
pub async fn create_group(name: String) -> Result<Uuid, AppError> {
    let (state, admin) = context()?;
    let id = super::service::create(&state, &admin, &name).await?;
    redirect_to(&format!("/groups/{id}/members"));
    Ok(id)
}

#[server(prefix = "/_fn", endpoint = "groups/detail")]
pub async fn get_group(id: Uuid) -> Result<GroupDetail, AppError> {
    let (state, _admin) = context()?;
    super::read::detail(&state.pool, id).await
}

#[server(prefix = "/_fn", endpoint = "groups/members")]
pub async fn group_members(id: Uuid, q: String, page: u32) -> Result<MemberPage, AppError> {
    let (state, _admin) = context()?;
    super::read::detail(&state.pool, id).await?;
    super::read::members(&state.pool, id, &q, page).await
}

/// Who an email belongs to and which group they would leave, for the move confirmation.
#[server(prefix = "/_fn", endpoint = "groups/candidate")]
pub async fn member_candidate(email: String) -> Result<Candidate, AppError> {
    let (state, _admin) = context()?;
    super::read::candidate(&state.pool, &email).await
}

#[server(prefix = "/_fn", endpoint = "groups/members/add")]
pub async fn add_member(group_id: Uuid, user_id: Uuid) -> Result<(), AppError> {
    let (state, admin) = context()?;
    super::service::move_member(&state, &admin, group_id, user_id).await?;
    redirect_to(&format!("/groups/{group_id}/members?added={user_id}"));
    Ok(())
}

#[server(prefix = "/_fn", endpoint = "groups/members/remove")]
pub async fn remove_member(group_id: Uuid, user_id: Uuid) -> Result<(), AppError> {
    let (state, admin) = context()?;
    super::service::remove_member(&state, &admin, group_id, user_id).await?;
    redirect_to(&format!("/groups/{group_id}/members"));
    Ok(())
}

#[server(prefix = "/_fn", endpoint = "groups/tools")]
pub async fn group_tools(id: Uuid) -> Result<Vec<ServerAccess>, AppError> {
    let (state, _admin) = context()?;
    super::read::detail(&state.pool, id).await?;
    super::read::access(&state.pool, id).await
}

/// The restricted tools of one server for one group, as the form's checkboxes send them.
#[server(prefix = "/_fn", endpoint = "groups/restrictions")]
pub async fn set_restrictions(
    group_id: Uuid,
    server_id: Uuid,
    #[server(default)] tools: Vec<String>,
) -> Result<(), AppError> {
    let (state, admin) = context()?;
    super::service::set_restrictions(&state, &admin, group_id, server_id, &tools).await?;
    redirect_to(&format!("/groups/{group_id}/tools?saved={server_id}"));
    Ok(())
}

#[server(prefix = "/_fn", endpoint = "groups/rename")]
pub async fn rename_group(id: Uuid, name: String) -> Result<(), AppError> {
    let (state, admin) = context()?;
    super::service::rename(&state, &admin, id, &name).await?;
    redirect_to(&format!("/groups/{id}/settings?saved=1"));
    Ok(())
}

#[server(prefix = "/_fn", endpoint = "groups/default")]
pub async fn make_default_group(id: Uuid) -> Result<(), AppError> {
    let (state, admin) = context()?;
    super::service::make_default(&state, &admin, id).await?;
    redirect_to(&format!("/groups/{id}/settings?saved=1"));
    Ok(())
}

#[server(prefix = "/_fn", endpoint = "groups/delete")]
pub async fn delete_group(id: Uuid) -> Result<(), AppError> {
    let (state, admin) = context()?;
    super::service::delete(&state, &admin, id).await?;
    redirect_to("/groups?deleted=1");
    Ok(())
}
