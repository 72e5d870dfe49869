//! Server functions of the accounts room: who am I, sign in, sign out, change password.

use leptos::prelude::*;

use super::Me;
use crate::error::AppError;

/// The signed-in person, or `None` when signed out.
#[server(prefix = "/_fn", endpoint = "me")]
pub async fn get_me() -> Result<Option<Me>, AppError> {
    use super::session::current_user;
    Ok(current_user().map(|u| Me {
        id: u.id,
        email: u.email,
        name: u.name,
        role: u.role,
        group_name: u.group_name,
    }))
}

/// Signs in with email and password, then goes to `next` (a path inside Gatehouse).
#[server(prefix = "/_fn", endpoint = "sign_in")]
pub async fn sign_in(
    email: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    use super::{db, password, session, throttle};
    use secrecy::SecretString;

    let state = crate::startup::AppState::from_context()?;
    let email = email.trim().to_owned();
    if email.is_empty() {
        return Err(AppError::invalid("email", "Enter your email address."));
    }
    if password.is_empty() {
        return Err(AppError::invalid("password", "Enter your password."));
    }
    let ip = session::client_ip();
    throttle::check(&state.pool, &email, ip).await?;

    let user = db::find_by_email(&state.pool, &email).await?;
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let ok = password::verify(SecretString::from(password), stored)
        .await
        .map_err(|e| AppError::internal("verifying a password", e))?;
    throttle::record(&state.pool, &email, ip, ok).await?;
    let Some(user) = user.filter(|_| ok) else {
        tracing::info!(%email, "failed sign-in");
        return Err(AppError::invalid(
            "password",
            "That email and password do not match.",
        ));
    };

    session::start(&session::current_session()?, user.id).await?;
    tracing::info!(user = %user.email, "signed in");
    leptos_axum::redirect(&super::safe_next(next.as_deref()));
    Ok(())
}

/// Signs out and returns to the sign-in page.
#[server(prefix = "/_fn", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    use super::session;
    session::end(&session::current_session()?).await?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// Changes the signed-in person's password after checking the current one.
#[server(prefix = "/_fn", endpoint = "change_password")]
pub async fn change_password(
    current_password: String,
    new_password: String,
    confirm_password: String,
) -> Result<(), AppError> {
    use super::{check_new_password, db, password, session};
    use secrecy::SecretString;

    let user = session::require_user()?;
    let state = crate::startup::AppState::from_context()?;
    if current_password.is_empty() {
        return Err(AppError::invalid(
            "current_password",
            "Enter your current password.",
        ));
    }
    check_new_password("new_password", &new_password)?;
    if new_password != confirm_password {
        return Err(AppError::invalid(
            "confirm_password",
            "The two new passwords differ.",
        ));
    }
    let stored = db::find_by_id(&state.pool, user.id)
        .await?
        .and_then(|row| row.password_hash);
    let ok = password::verify(SecretString::from(current_password), stored)
        .await
        .map_err(|e| AppError::internal("verifying a password", e))?;
    if !ok {
        return Err(AppError::invalid(
            "current_password",
            "Your current password is not right.",
        ));
    }
    let hash = password::hash(SecretString::from(new_password))
        .await
        .map_err(|e| AppError::internal("hashing a new password", e))?;

    let mut tx = state.pool.begin().await?;
    db::set_password_hash(&mut *tx, user.id, &hash).await?;
    crate::audit::record(
        &mut *tx,
        &user.actor(),
        "user.password_changed",
        &user.email,
        None,
        None,
    )
    .await?;
    tx.commit().await?;
    leptos_axum::redirect("/profile?password=changed");
    Ok(())
}
