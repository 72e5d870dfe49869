//! A server's environment variables: set, reveal and remove, one transaction each. Values are
//! sealed at rest; changes reach the running server at its next deployment.

use serde_json::json;
use uuid::Uuid;

use super::{EnvVarName, EnvVarView, db, service::env_context};
use crate::{accounts::session::Admin, audit, error::AppError, startup::AppState};

/// The longest value accepted (a certificate or a key file fits).
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

pub async fn list(
    state: &AppState,
    _admin: &Admin,
    server_id: Uuid,
) -> Result<Vec<EnvVarView>, AppError> {
    Ok(db::env_var_names(&state.pool, server_id)
        .await?
        .into_iter()
        .map(|(name, updated_at)| EnvVarView { name, updated_at })
        .collect())
}

/// Adds a variable or changes its value.
pub async fn set(
    state: &AppState,
    admin: &Admin,
    server_id: Uuid,
    name: &str,
    value: &str,
) -> Result<(), AppError> {
    let name = EnvVarName::parse(name)?;
    if value.len() > MAX_VALUE_BYTES {
        return Err(AppError::invalid("env_value", "A value is at most 64 KiB."));
    }
    let mut tx = state.pool.begin().await?;
    let server = db::find_by_id(&mut *tx, server_id)
        .await?
        .filter(|s| s.status != super::ServerStatus::Deleted)
        .ok_or_else(|| AppError::NotFound("That server".into()))?;
    let existed = db::env_var_names(&mut *tx, server_id)
        .await?
        .iter()
        .any(|(n, _)| n == name.as_str());
    let sealed = state
        .secrets
        .seal(value.as_bytes(), &env_context(server_id, name.as_str()));
    db::upsert_env_var(&mut *tx, server_id, name.as_str(), &sealed).await?;
    db::mark_env_changed(&mut *tx, server_id).await?;
    audit::record(
        &mut *tx,
        &admin.user().actor(),
        if existed { "env.changed" } else { "env.added" },
        &format!("{}/{}", server.slug, name),
        None,
        Some(json!({ "name": name.as_str() })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn remove(
    state: &AppState,
    admin: &Admin,
    server_id: Uuid,
    name: &str,
) -> Result<(), AppError> {
    let mut tx = state.pool.begin().await?;
    let server = db::find_by_id(&mut *tx, server_id)
        .await?
        .ok_or_else(|| AppError::NotFound("That server".into()))?;
    if !db::delete_env_var(&mut *tx, server_id, name).await? {
        return Err(AppError::NotFound(format!("The variable {name}")));
    }
    db::mark_env_changed(&mut *tx, server_id).await?;
    audit::record(
        &mut *tx,
        &admin.user().actor(),
        "env.removed",
        &format!("{}/{name}", server.slug),
        Some(json!({ "name": name })),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The value of one variable, for an admin who asked to see it. Each reveal is audited.
pub async fn reveal(
    state: &AppState,
    admin: &Admin,
    server_id: Uuid,
    name: &str,
) -> Result<String, AppError> {
    let sealed = db::env_vars(&state.pool, server_id)
        .await?
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .ok_or_else(|| AppError::NotFound(format!("The variable {name}")))?;
    let value = state
        .secrets
        .open(&sealed, &env_context(server_id, name))
        .map_err(|e| AppError::internal("opening an environment variable", e))?;
    audit::record(
        &state.pool,
        &admin.user().actor(),
        "env.revealed",
        name,
        None,
        None,
    )
    .await?;
    String::from_utf8(value).map_err(|e| AppError::internal("environment variable is not UTF-8", e))
}
