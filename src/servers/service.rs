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

pub(super) fn env_context(server_id: Uuid, name: &str) -> Vec<u8> {
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
    state.changes.settle().await;
    refresh_tools_later(state, id);
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
    state.changes.settle().await;
    if status == ServerStatus::Active {
        refresh_tools_later(state, id);
    }
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

/// Renames or re-describes a server. `seen` is when the editor loaded it: if someone changed it
/// since, nothing is saved and the editor is told to reload.
pub async fn update_details(
    state: &AppState,
    admin: &Admin,
    id: Uuid,
    name: &str,
    description: &str,
    seen: chrono::DateTime<chrono::Utc>,
) -> Result<ServerRow, AppError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::invalid("name", "Give the server a name."));
    }
    if name.chars().count() > 80 {
        return Err(AppError::invalid(
            "name",
            "A name is at most 80 characters.",
        ));
    }
    let description = description.trim();
    if description.chars().count() > 2000 {
        return Err(AppError::invalid(
            "description",
            "A description is at most 2,000 characters.",
        ));
    }
    let mut tx = state.pool.begin().await?;
    let before = db::find_by_id(&mut *tx, id)
        .await?
        .filter(|s| s.status != ServerStatus::Deleted)
        .ok_or_else(|| AppError::NotFound("That server".into()))?;
    if !db::update_details(&mut *tx, id, name, description, seen).await? {
        return Err(AppError::Conflict(
            "Someone changed this server since you opened the page; reload to see their changes, then edit again."
                .to_owned(),
        ));
    }
    audit::record(
        &mut *tx,
        &admin.user().actor(),
        "server.updated",
        &before.slug,
        Some(json!({ "name": before.name, "description": before.description })),
        Some(json!({ "name": name, "description": description })),
    )
    .await?;
    let row = db::find_by_id(&mut *tx, id)
        .await?
        .ok_or(AppError::Internal)?;
    tx.commit().await?;
    state.changes.publish(Change::Server(id));
    state.changes.settle().await;
    Ok(row)
}

/// Makes a new deployment of the server's current source and environment live. The summary
/// says what changed since the previous one.
pub async fn redeploy(state: &AppState, admin: &Admin, id: Uuid) -> Result<ServerRow, AppError> {
    let mut tx = state.pool.begin().await?;
    let server = db::find_by_id(&mut *tx, id)
        .await?
        .filter(|s| s.status != ServerStatus::Deleted)
        .ok_or_else(|| AppError::NotFound("That server".into()))?;
    let mut env = BTreeMap::new();
    for (name, sealed) in db::env_vars(&mut *tx, id).await? {
        let value = state
            .secrets
            .open(&sealed, &env_context(id, &name))
            .map_err(|e| AppError::internal("opening an environment variable", e))?;
        let name = EnvVarName::parse(&name)?;
        env.insert(name, String::from_utf8_lossy(&value).into_owned());
    }
    let previous = match server.live_deployment_id {
        Some(live) => db::find_deployment(&mut *tx, live).await?,
        None => None,
    };
    let before = match &previous {
        Some(d) => open_env_snapshot(&state.secrets, id, d.env.as_deref())
            .map_err(|e| AppError::internal("opening a deployment's environment", e))?,
        None => BTreeMap::new(),
    };
    let summary = env_summary(&before, &env);
    let snapshot = seal_env_snapshot(&state.secrets, id, &env);
    let user = admin.user();
    db::insert_live_deployment(
        &mut tx,
        id,
        &server.source.0,
        &snapshot,
        &summary,
        Some(user.id),
    )
    .await?;
    audit::record(
        &mut *tx,
        &user.actor(),
        "server.redeployed",
        &server.slug,
        None,
        Some(json!({ "summary": summary })),
    )
    .await?;
    let row = db::find_by_id(&mut *tx, id)
        .await?
        .ok_or(AppError::Internal)?;
    tx.commit().await?;
    state.changes.publish(Change::Server(id));
    state.changes.settle().await;
    refresh_tools_later(state, id);
    Ok(row)
}

/// "Redeployed; API_KEY changed, REGION added" — what a deployment changes in the environment.
fn env_summary(before: &BTreeMap<String, String>, after: &BTreeMap<EnvVarName, String>) -> String {
    let mut changes = Vec::new();
    for (name, value) in after {
        match before.get(name.as_str()) {
            None => changes.push(format!("{name} added")),
            Some(old) if old != value => changes.push(format!("{name} changed")),
            Some(_) => {}
        }
    }
    for name in before.keys() {
        if !after.keys().any(|n| n.as_str() == name) {
            changes.push(format!("{name} removed"));
        }
    }
    if changes.is_empty() {
        "Redeployed with no changes".to_owned()
    } else {
        format!("Redeployed: {}", changes.join(", "))
    }
}

/// Asks the live upstream for its tools and stores the answer (or why there was none) for the
/// Tools tab. Never fails the caller: an unreachable upstream is a state to show.
pub async fn refresh_tools(state: &AppState, id: Uuid) -> Result<(), AppError> {
    let server = db::find_by_id(&state.pool, id)
        .await?
        .ok_or_else(|| AppError::NotFound("That server".into()))?;
    let outcome = state.gateway.fetch_tools(&server.slug).await;
    match outcome {
        Ok(tools) => {
            let json = serde_json::to_value(&tools)
                .map_err(|e| AppError::internal("serialising tools", e))?;
            db::save_tools(&state.pool, id, server.live_deployment_id, Ok(&json)).await?;
        }
        Err(error) => {
            db::save_tools(&state.pool, id, server.live_deployment_id, Err(&error)).await?
        }
    }
    Ok(())
}

/// Refreshes the tool list in the background after a change, so the request that made the
/// change does not wait on the upstream.
pub fn refresh_tools_later(state: &AppState, id: Uuid) {
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(err) = refresh_tools(&state, id).await {
            tracing::warn!(error = %err, "refreshing a server's tools failed");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_summaries_name_what_changed() {
        let before: BTreeMap<String, String> =
            [("A".into(), "1".into()), ("B".into(), "2".into())].into();
        let after: BTreeMap<EnvVarName, String> = [
            (EnvVarName::parse("A").unwrap(), "1".into()),
            (EnvVarName::parse("B").unwrap(), "3".into()),
            (EnvVarName::parse("C").unwrap(), "4".into()),
        ]
        .into();
        assert_eq!(
            env_summary(&before, &after),
            "Redeployed: B changed, C added"
        );
        assert_eq!(
            env_summary(&before, &BTreeMap::new()),
            "Redeployed: A removed, B removed"
        );
        let same: BTreeMap<EnvVarName, String> = [
            (EnvVarName::parse("A").unwrap(), "1".into()),
            (EnvVarName::parse("B").unwrap(), "2".into()),
        ]
        .into();
        assert_eq!(env_summary(&before, &same), "Redeployed with no changes");
    }
}
