//! Queries on people. Each takes an executor so the caller decides the transaction.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::{Email, Me, Role};
use crate::error::AppError;

/// A user row joined with the name of their group.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub group_id: Uuid,
    pub group_name: String,
    pub password_hash: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl UserRow {
    pub fn to_me(&self) -> Me {
        Me {
            id: self.id,
            email: self.email.clone(),
            name: self.name.clone(),
            role: self.role,
            group_name: self.group_name.clone(),
        }
    }
}

const SELECT_USER: &str = "SELECT u.id, u.email, u.name, u.role, u.group_id, g.name AS group_name, \
     u.password_hash, u.created_at \
     FROM users u JOIN permission_groups g ON g.id = u.group_id";

pub async fn find_by_email(ex: impl PgExecutor<'_>, email: &str) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(&format!("{SELECT_USER} WHERE lower(u.email) = lower($1)"))
        .bind(email.trim())
        .fetch_optional(ex)
        .await
}

pub async fn find_by_id(ex: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(&format!("{SELECT_USER} WHERE u.id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await
}

pub async fn count(ex: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(ex)
        .await
}

pub struct NewUser<'a> {
    pub email: &'a Email,
    pub name: &'a str,
    pub role: Role,
    pub password_hash: Option<&'a str>,
}

/// Inserts a user into the default group. A taken email is a conflict the caller can show.
pub async fn insert(conn: &mut PgConnection, user: NewUser<'_>) -> Result<Uuid, AppError> {
    let result = sqlx::query_scalar(
        "INSERT INTO users (email, name, role, password_hash, group_id) \
         SELECT $1, $2, $3, $4, id FROM permission_groups WHERE is_default \
         RETURNING id",
    )
    .bind(user.email.as_str())
    .bind(user.name)
    .bind(user.role)
    .bind(user.password_hash)
    .fetch_one(&mut *conn)
    .await;
    match result {
        Ok(id) => Ok(id),
        Err(sqlx::Error::Database(db)) if db.constraint() == Some("users_email_key") => {
            Err(AppError::invalid(
                "email",
                format!("A user with the email {} already exists.", user.email),
            ))
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn set_password_hash(ex: impl PgExecutor<'_>, id: Uuid, hash: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(hash)
        .execute(ex)
        .await
        .map(|_| ())
}
