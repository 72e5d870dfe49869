//! The people directory admins manage (SPEC S9): the Users page and a person's role and group.
//! Types, server functions, reads and the one write (role and group, never leaving Gatehouse
//! without an admin), shared by the pages and `/api/v1/users`.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Role;
use crate::error::AppError;

pub const USERS_PER_PAGE: u32 = 10;

/// The Users page's filters, as the URL holds them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
pub struct UserFilter {
    /// Part of a name or email.
    #[serde(default)]
    pub q: String,
    /// `admin`, `platform_admin`, `manager` or `member`.
    #[serde(default)]
    pub role: String,
    /// A group id.
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub page: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserView {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    #[cfg_attr(feature = "ssr", schema(value_type = String))]
    pub role: Role,
    pub group_id: Uuid,
    pub group_name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserList {
    pub users: Vec<UserView>,
    pub total: i64,
    pub page: u32,
    /// `(id, name)` of every group, for the filter and the group picker.
    #[cfg_attr(feature = "ssr", schema(value_type = Vec<Vec<String>>))]
    pub groups: Vec<(Uuid, String)>,
}

impl UserList {
    pub fn pages(&self) -> u32 {
        ((self.total.max(0) as u64).div_ceil(USERS_PER_PAGE as u64)).max(1) as u32
    }
}

#[cfg(feature = "ssr")]
fn context() -> Result<(crate::startup::AppState, super::session::Admin), AppError> {
    let admin = super::session::require_admin()?;
    Ok((crate::startup::AppState::from_context()?, admin))
}

#[server(prefix = "/_fn", endpoint = "users/list")]
pub async fn list_users(filter: UserFilter) -> Result<UserList, AppError> {
    let (state, _admin) = context()?;
    read_list(&state.pool, &filter).await
}

#[server(prefix = "/_fn", endpoint = "users/detail")]
pub async fn get_user(id: Uuid) -> Result<(UserView, Vec<(Uuid, String)>), AppError> {
    let (state, _admin) = context()?;
    let (user, groups) = tokio::try_join!(read_one(&state.pool, id), groups(&state.pool))?;
    Ok((user, groups))
}

#[server(prefix = "/_fn", endpoint = "users/update")]
pub async fn update_user(id: Uuid, role: String, group_id: Uuid) -> Result<(), AppError> {
    let (state, admin) = context()?;
    let role: Role = role
        .parse()
        .map_err(|_| AppError::invalid("role", "Choose a role from the list."))?;
    update(&state, &admin, id, Some(role), Some(group_id)).await?;
    leptos_axum::redirect(&format!("/users/{id}?saved=1"));
    Ok(())
}

#[cfg(feature = "ssr")]
pub async fn groups(pool: &sqlx::PgPool) -> Result<Vec<(Uuid, String)>, AppError> {
    Ok(sqlx::query_as(
        "SELECT id, name FROM permission_groups ORDER BY is_default DESC, lower(name)",
    )
    .fetch_all(pool)
    .await?)
}

#[cfg(feature = "ssr")]
const USER_COLUMNS: &str = "SELECT u.id, u.name, u.email, u.role, g.id, g.name, u.created_at \
     FROM users u JOIN permission_groups g ON g.id = u.group_id";

#[cfg(feature = "ssr")]
type UserRow = (Uuid, String, String, Role, Uuid, String, DateTime<Utc>);

#[cfg(feature = "ssr")]
fn view((id, name, email, role, group_id, group_name, created_at): UserRow) -> UserView {
    UserView {
        id,
        name,
        email,
        role,
        group_id,
        group_name,
        created_at,
    }
}

#[cfg(feature = "ssr")]
pub async fn read_one(pool: &sqlx::PgPool, id: Uuid) -> Result<UserView, AppError> {
    let row: Option<UserRow> = sqlx::query_as(&format!("{USER_COLUMNS} WHERE u.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.map(view)
        .ok_or_else(|| AppError::NotFound("That person".into()))
}

#[cfg(feature = "ssr")]
pub async fn read_list(pool: &sqlx::PgPool, filter: &UserFilter) -> Result<UserList, AppError> {
    let role =
        match filter.role.trim() {
            "" => None,
            role => Some(role.parse::<Role>().map_err(|_| {
                AppError::invalid("role", "Unknown role: choose one from the list.")
            })?),
        };
    let group =
        match filter.group.trim() {
            "" => None,
            group => Some(group.parse::<Uuid>().map_err(|_| {
                AppError::invalid("group", "Unknown group: choose one from the list.")
            })?),
        };
    let page = filter.page.unwrap_or(1).max(1);
    let pattern = crate::groups::read::like_pattern(&filter.q);
    let push_filters = |qb: &mut sqlx::QueryBuilder<'_, sqlx::Postgres>| {
        qb.push(" WHERE (u.name ILIKE ")
            .push_bind(pattern.clone())
            .push(" OR u.email ILIKE ")
            .push_bind(pattern.clone())
            .push(")");
        if let Some(role) = role {
            qb.push(" AND u.role = ").push_bind(role);
        }
        if let Some(group) = group {
            qb.push(" AND u.group_id = ").push_bind(group);
        }
    };
    let mut count = sqlx::QueryBuilder::new(
        "SELECT count(*) FROM users u JOIN permission_groups g ON g.id = u.group_id",
    );
    push_filters(&mut count);
    let mut rows = sqlx::QueryBuilder::new(USER_COLUMNS);
    push_filters(&mut rows);
    rows.push(" ORDER BY u.created_at DESC, u.id LIMIT ")
        .push_bind(USERS_PER_PAGE as i64)
        .push(" OFFSET ")
        .push_bind((page as i64 - 1) * USERS_PER_PAGE as i64);
    let (total, rows, groups) = tokio::try_join!(
        async { Ok::<_, AppError>(count.build_query_scalar::<i64>().fetch_one(pool).await?) },
        async { Ok(rows.build_query_as::<UserRow>().fetch_all(pool).await?) },
        groups(pool),
    )?;
    if let Some(group) = group
        && !groups.iter().any(|(id, _)| *id == group)
    {
        return Err(AppError::invalid(
            "group",
            "Unknown group: choose one from the list.",
        ));
    }
    Ok(UserList {
        users: rows.into_iter().map(view).collect(),
        total,
        page,
        groups,
    })
}

/// Changes a person's role and/or group in one transaction. The last admin cannot stop being
/// one: Gatehouse always keeps someone who can manage it.
#[cfg(feature = "ssr")]
pub async fn update(
    state: &crate::startup::AppState,
    admin: &super::session::Admin,
    id: Uuid,
    role: Option<Role>,
    group_id: Option<Uuid>,
) -> Result<(), AppError> {
    use serde_json::json;
    let mut tx = state.pool.begin().await?;
    // Every admin row is locked, so two demotions cannot each see the other as the remaining one.
    let admins: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM users WHERE role IN ('admin', 'platform_admin') ORDER BY id FOR UPDATE",
    )
    .fetch_all(&mut *tx)
    .await?;
    let current: Option<(String, Role, Uuid, String)> = sqlx::query_as(
        "SELECT u.email, u.role, g.id, g.name FROM users u JOIN permission_groups g ON g.id = u.group_id
         WHERE u.id = $1 FOR UPDATE OF u",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let (email, old_role, old_group, old_group_name) =
        current.ok_or_else(|| AppError::NotFound("That person".into()))?;
    let new_role = role.unwrap_or(old_role);
    if old_role.is_admin() && !new_role.is_admin() && admins.len() <= 1 {
        return Err(AppError::invalid(
            "role",
            format!("{email} is the last admin. Make someone else an admin first."),
        ));
    }
    let new_group = group_id.unwrap_or(old_group);
    let new_group_name: String =
        sqlx::query_scalar("SELECT name FROM permission_groups WHERE id = $1")
            .bind(new_group)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| {
                AppError::invalid("group_id", "Unknown group: choose one from the list.")
            })?;
    if new_role == old_role && new_group == old_group {
        return Ok(());
    }
    sqlx::query("UPDATE users SET role = $2, group_id = $3, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(new_role)
        .bind(new_group)
        .execute(&mut *tx)
        .await?;
    crate::audit::record(
        &mut *tx,
        &admin.user().actor(),
        "user.updated",
        &email,
        Some(json!({ "role": old_role, "group": old_group_name })),
        Some(json!({ "role": new_role, "group": new_group_name })),
    )
    .await?;
    tx.commit().await?;
    state.changes.publish(crate::changes::Change::User(id));
    state.changes.settle().await;
    Ok(())
}
