//! Operations on people that the CLI, the dashboard and the API share. Each is one transaction
//! and leaves an audit event.

use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

use super::{Email, Role, check_new_password, db, db::UserRow, password};
use crate::{audit, error::AppError};

pub struct CreateUser {
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub password: SecretString,
}

/// Creates a user in the default group with a password.
pub async fn create(
    pool: &PgPool,
    actor: &audit::Actor,
    input: CreateUser,
) -> Result<UserRow, AppError> {
    let email = Email::parse(&input.email)?;
    let name = match input.name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => email.local_part().to_owned(),
    };
    if name.chars().count() > 120 {
        return Err(AppError::invalid(
            "name",
            "A name is at most 120 characters.",
        ));
    }
    check_new_password("password", input.password.expose_secret())?;
    let hash = password::hash(input.password)
        .await
        .map_err(|e| AppError::internal("hashing a new password", e))?;

    let mut tx = pool.begin().await?;
    let id = db::insert(
        &mut tx,
        db::NewUser {
            email: &email,
            name: &name,
            role: input.role,
            password_hash: Some(&hash),
        },
    )
    .await?;
    audit::record(
        &mut *tx,
        actor,
        "user.created",
        email.as_str(),
        None,
        Some(serde_json::json!({ "email": email.as_str(), "name": name, "role": input.role })),
    )
    .await?;
    let user = db::find_by_id(&mut *tx, id)
        .await?
        .ok_or(AppError::Internal)?;
    tx.commit().await?;
    Ok(user)
}
