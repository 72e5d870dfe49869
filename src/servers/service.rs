//! Operations on servers shared by the dashboard, the JSON API and the tests. Each runs in one
//! transaction, checks its input first, and leaves an audit event.

use std::collections::BTreeMap;

use serde_json::json;
use uuid::Uuid;

use super::{AuthMethod, EnvVarName, ServerSource, ServerStatus, Slug, db, db::ServerRow};
use crate::{
    accounts::session::Admin, audit, changes::Change, crypto::SecretBox, error::AppError,
    startup::AppState,
};

/// What creating a server takes; the dashboard wizard and the API both fill it in.
#[derive(Clone, Debug, Default)]
pub struct NewServer {
    pub name: String,
    /// Derived from the name when empty.
    pub slug: Option<String>,
    pub description: String,
    pub source: Option<ServerSource>,
    pub auth_method: Option<AuthMethod>,
    pub env: Vec<(String, String)>,
    pub call_timeout_ms: Option<u32>,
}

pub const DEFAULT_CALL_TIMEOUT_MS: u32 = 60_000;

fn env_context(server_id: Uuid, name: &str) -> Vec<u8> {
    format!("env:{server_id}:{name}").into_bytes()
}

fn deployment_env_context(server_id: Uuid) -> Vec<u8> {
    format!("deployment-env:{server_id}").into_bytes()
}

/// Checks the parts of a source a person typed.
fn check_source(source: ServerSource) -> Result<ServerSource, AppError> {
    Ok(match source {
        ServerSource::Remote { url, transport } => ServerSource::Remote {
            url: ServerSource::parse_remote_url(&url)?,
            transport,
        },
        ServerSource::Command {
            command,
            args,
            transport,
            path,
        } => {
            let command = command.trim().to_owned();
            if command.is_empty() {
                return Err(AppError::invalid(
                    "command",
                    "Enter the command that starts the server.",
                ));
            }
            if !path.starts_with('/') {
                return Err(AppError::invalid(
                    "path",
                    "The MCP path starts with a slash, like /mcp.",
                ));
            }
            ServerSource::Command {
                command,
                args,
                transport,
                path,
            }
        }
    })
}

pub async fn create(
    state: &AppState,
    admin: &Admin,
    input: NewServer,
) -> Result<ServerRow, AppError> {
    let name = input.name.trim().to_owned();
    if name.is_empty() {
        return Err(AppError::invalid("name", "Give the server a name."));
    }
    if name.chars().count() > 80 {
        return Err(AppError::invalid(
            "name",
            "A name is at most 80 characters.",
        ));
    }
    let description = input.description.trim().to_owned();
    if description.chars().count() > 2000 {
        return Err(AppError::invalid(
            "description",
            "A description is at most 2,000 characters.",
        ));
    }
    let slug = match input.slug.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => Slug::parse(s)?,
        _ => Slug::from_name(&name)?,
    };
    let source = check_source(
        input
            .source
            .ok_or_else(|| AppError::invalid("source", "Choose where the server comes from."))?,
    )?;
    let auth_method = input.auth_method.unwrap_or(AuthMethod::None);
    let timeout = input.call_timeout_ms.unwrap_or(DEFAULT_CALL_TIMEOUT_MS);
    if !(100..=3_600_000).contains(&timeout) {
        return Err(AppError::invalid(
            "call_timeout_ms",
            "The call timeout is between 0.1 s and one hour.",
        ));
    }
    let mut env = BTreeMap::new();
    for (raw_name, value) in input.env {
        let name = EnvVarName::parse(&raw_name)?;
        if env.insert(name.clone(), value).is_some() {
            return Err(AppError::invalid(
                "env_name",
                format!("{name} is listed twice."),
            ));
        }
    }

    let user = admin.user();
    let mut tx = state.pool.begin().await?;
    let id = db::insert(
        &mut tx,
        db::NewServerRow {
            slug: &slug,
            name: &name,
            description: &description,
            source: &source,
            auth_method,
            auth_config: &json!({}),
            call_timeout_ms: timeout as i32,
            created_by: Some(user.id),
        },
    )
    .await?;
    for (name, value) in &env {
        let sealed = state
            .secrets
            .seal(value.as_bytes(), &env_context(id, name.as_str()));
        db::upsert_env_var(&mut *tx, id, name.as_str(), &sealed).await?;
    }
    let snapshot = seal_env_snapshot(&state.secrets, id, &env);
    db::insert_live_deployment(
        &mut tx,
        id,
        &source,
        &snapshot,
        "Server created",
        Some(user.id),
    )
    .await?;
    audit::record(
        &mut *tx,
        &user.actor(),
        "server.created",
        slug.as_str(),
        None,
        Some(json!({
            "name": name,
            "source": source,
            "auth_method": auth_method,
            "env": env.keys().map(EnvVarName::as_str).collect::<Vec<_>>(),
        })),
    )
    .await?;
    let row = db::find_by_id(&mut *tx, id)
        .await?
        .ok_or(AppError::Internal)?;
    tx.commit().await?;
    state.changes.publish(Change::Server(id));
    Ok(row)
}

/// Disables, re-enables or deletes a server. The gateway sees the change on its next request.
pub async fn set_status(
    state: &AppState,
    admin: &Admin,
    id: Uuid,
    status: ServerStatus,
) -> Result<ServerRow, AppError> {
    let mut tx = state.pool.begin().await?;
    let server = db::find_by_id(&mut *tx, id)
        .await?
        .filter(|s| s.status != ServerStatus::Deleted)
        .ok_or_else(|| AppError::NotFound("That server".into()))?;
    if server.status == status {
        return Ok(server);
    }
    db::set_status(&mut *tx, id, status).await?;
    if status == ServerStatus::Deleted {
        // Configuration goes with the server (SPEC S2); its activity history stays.
        sqlx::query("DELETE FROM server_env_vars WHERE server_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM tool_restrictions WHERE server_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    let kind = match status {
        ServerStatus::Active => "server.enabled",
        ServerStatus::Disabled => "server.disabled",
        ServerStatus::Deleted => "server.deleted",
    };
    audit::record(
        &mut *tx,
        &admin.user().actor(),
        kind,
        &server.slug,
        Some(json!({ "status": server.status })),
        Some(json!({ "status": status })),
    )
    .await?;
    let row = db::find_by_id(&mut *tx, id)
        .await?
        .ok_or(AppError::Internal)?;
    tx.commit().await?;
    state.changes.publish(Change::Server(id));
    Ok(row)
}

/// Seals the whole environment a deployment runs with as one JSON object.
fn seal_env_snapshot(
    secrets: &SecretBox,
    server_id: Uuid,
    env: &BTreeMap<EnvVarName, String>,
) -> Vec<u8> {
    let map: BTreeMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let plain = serde_json::to_vec(&map).expect("a string map serialises");
    secrets.seal(&plain, &deployment_env_context(server_id))
}

/// Opens a deployment's environment snapshot.
pub fn open_env_snapshot(
    secrets: &SecretBox,
    server_id: Uuid,
    sealed: Option<&[u8]>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let Some(sealed) = sealed else {
        return Ok(BTreeMap::new());
    };
    let plain = secrets.open(sealed, &deployment_env_context(server_id))?;
    Ok(serde_json::from_slice(&plain)?)
}
