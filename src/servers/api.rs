//! Server functions of the servers room: what the pages call. Each checks that the caller is
//! an admin, then calls the same operations the JSON API uses.

// Server functions take one argument per form field (the wizard posts without JavaScript
// too), and the client stubs the macro generates do not carry an `allow` on the function.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::{DeploymentView, EnvVarView, ServerDetail, ServerFilter, ServerList, ToolsView};
use crate::{
    activity::{ActivitySummary, CallPage},
    error::AppError,
};

/// What the creation wizard has collected so far (kept in the session between steps).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WizardDraft {
    pub name: String,
    pub slug: String,
    pub description: String,
    /// `remote` or `command`.
    pub source_kind: String,
    pub url: String,
    /// `streamable_http` or `sse`.
    pub remote_transport: String,
    pub command_line: String,
    /// `stdio` or `http`.
    pub command_transport: String,
    pub path: String,
    /// `NAME=value` lines.
    pub env: String,
    /// Whether step 1 and step 2 were completed.
    pub basics_done: bool,
    pub access_done: bool,
}

#[cfg(feature = "ssr")]
mod draft {
    //! The draft lives in the session, sealed: it holds environment values.
    use super::WizardDraft;
    use crate::{accounts::session::current_session, error::AppError, startup::AppState};

    const KEY: &str = "server_draft";

    pub async fn load(state: &AppState) -> Result<WizardDraft, AppError> {
        let session = current_session()?;
        let sealed: Option<Vec<u8>> = session
            .get(KEY)
            .await
            .map_err(|e| AppError::internal("reading the draft", e))?;
        let Some(sealed) = sealed else {
            return Ok(WizardDraft::default());
        };
        let plain = state
            .secrets
            .open(&sealed, KEY.as_bytes())
            .map_err(|e| AppError::internal("opening the draft", e))?;
        Ok(serde_json::from_slice(&plain).unwrap_or_default())
    }

    pub async fn save(state: &AppState, draft: &WizardDraft) -> Result<(), AppError> {
        let plain =
            serde_json::to_vec(draft).map_err(|e| AppError::internal("writing the draft", e))?;
        let sealed = state.secrets.seal(&plain, KEY.as_bytes());
        current_session()?
            .insert(KEY, sealed)
            .await
            .map_err(|e| AppError::internal("writing the draft", e))
    }

    pub async fn clear() -> Result<(), AppError> {
        current_session()?
            .remove::<Vec<u8>>(KEY)
            .await
            .map(|_| ())
            .map_err(|e| AppError::internal("clearing the draft", e))
    }
}

#[cfg(feature = "ssr")]
fn context() -> Result<(crate::startup::AppState, crate::accounts::session::Admin), AppError> {
    let admin = crate::accounts::session::require_admin()?;
    Ok((crate::startup::AppState::from_context()?, admin))
}

#[server(prefix = "/_fn", endpoint = "servers/list")]
pub async fn list_servers(filter: ServerFilter) -> Result<ServerList, AppError> {
    let (state, admin) = context()?;
    Ok(ServerList {
        servers: super::read::list(&state, &admin, &filter).await?,
        now: chrono::Utc::now(),
    })
}

#[server(prefix = "/_fn", endpoint = "servers/detail")]
pub async fn get_server(slug: String) -> Result<ServerDetail, AppError> {
    let (state, admin) = context()?;
    super::read::detail(&state, &admin, &slug).await
}

/// The Overview tab: the last seven days' numbers and the ten latest calls.
#[server(prefix = "/_fn", endpoint = "servers/overview")]
pub async fn server_overview(slug: String) -> Result<(ActivitySummary, CallPage), AppError> {
    use crate::activity::db;
    let (state, _admin) = context()?;
    let row = super::read::find(&state, &slug).await?;
    let now = chrono::Utc::now();
    let mut scope = db::Scope::range(now - chrono::Duration::days(7), now);
    scope.server_id = Some(row.id);
    let (summary, recent) = tokio::try_join!(
        db::summary(&state.pool, &scope),
        db::recent(&state.pool, row.id, 10),
    )?;
    Ok((
        summary,
        CallPage {
            total: recent.len() as i64,
            calls: recent,
            page: 1,
            per_page: 10,
            now,
        },
    ))
}

#[server(prefix = "/_fn", endpoint = "servers/deployments")]
pub async fn server_deployments(slug: String) -> Result<Vec<DeploymentView>, AppError> {
    let (state, admin) = context()?;
    super::read::deployments(&state, &admin, &slug).await
}

#[server(prefix = "/_fn", endpoint = "servers/tools")]
pub async fn server_tools(slug: String) -> Result<ToolsView, AppError> {
    let (state, admin) = context()?;
    super::read::tools(&state, &admin, &slug).await
}

#[server(prefix = "/_fn", endpoint = "servers/refresh_tools")]
pub async fn refresh_tools(slug: String) -> Result<(), AppError> {
    let (state, _admin) = context()?;
    let row = super::read::active_row(&state, &slug).await?;
    super::service::refresh_tools(&state, row.id).await?;
    leptos_axum::redirect(&format!("/servers/{slug}/tools"));
    Ok(())
}

#[server(prefix = "/_fn", endpoint = "servers/env")]
pub async fn server_env(slug: String) -> Result<Vec<EnvVarView>, AppError> {
    let (state, admin) = context()?;
    let row = super::read::active_row(&state, &slug).await?;
    super::env::list(&state, &admin, row.id).await
}

#[server(prefix = "/_fn", endpoint = "servers/env/reveal")]
pub async fn reveal_env_var(slug: String, name: String) -> Result<String, AppError> {
    let (state, admin) = context()?;
    let row = super::read::active_row(&state, &slug).await?;
    super::env::reveal(&state, &admin, row.id, &name).await
}

#[server(prefix = "/_fn", endpoint = "servers/env/set")]
pub async fn set_env_var(
    slug: String,
    env_name: String,
    env_value: String,
) -> Result<(), AppError> {
    let (state, admin) = context()?;
    let row = super::read::active_row(&state, &slug).await?;
    super::env::set(&state, &admin, row.id, &env_name, &env_value).await?;
    leptos_axum::redirect(&format!("/servers/{slug}/settings?saved=env#environment"));
    Ok(())
}

#[server(prefix = "/_fn", endpoint = "servers/env/remove")]
pub async fn remove_env_var(slug: String, env_name: String) -> Result<(), AppError> {
    let (state, admin) = context()?;
    let row = super::read::active_row(&state, &slug).await?;
    super::env::remove(&state, &admin, row.id, &env_name).await?;
    leptos_axum::redirect(&format!("/servers/{slug}/settings?saved=env#environment"));
    Ok(())
}

#[server(prefix = "/_fn", endpoint = "servers/update")]
pub async fn update_server(
    slug: String,
    name: String,
    description: String,
    seen: chrono::DateTime<chrono::Utc>,
) -> Result<(), AppError> {
    let (state, admin) = context()?;
    let row = super::read::active_row(&state, &slug).await?;
    super::service::update_details(&state, &admin, row.id, &name, &description, seen).await?;
    leptos_axum::redirect(&format!("/servers/{slug}/settings?saved=details"));
    Ok(())
}

#[server(prefix = "/_fn", endpoint = "servers/redeploy")]
pub async fn redeploy_server(slug: String) -> Result<(), AppError> {
    let (state, admin) = context()?;
    let row = super::read::active_row(&state, &slug).await?;
    super::service::redeploy(&state, &admin, row.id).await?;
    leptos_axum::redirect(&format!("/servers/{slug}/deployments?deployed=1"));
    Ok(())
}

/// Disables (`active` false) or re-enables a server.
#[server(prefix = "/_fn", endpoint = "servers/status")]
pub async fn set_server_active(slug: String, active: bool) -> Result<(), AppError> {
    use super::ServerStatus;
    let (state, admin) = context()?;
    let row = super::read::active_row(&state, &slug).await?;
    let status = if active {
        ServerStatus::Active
    } else {
        ServerStatus::Disabled
    };
    super::service::set_status(&state, &admin, row.id, status).await?;
    leptos_axum::redirect(&format!("/servers/{slug}/settings?saved=status"));
    Ok(())
}

/// Deletes a server; `confirm` must repeat its name.
#[server(prefix = "/_fn", endpoint = "servers/delete")]
pub async fn delete_server(slug: String, confirm: String) -> Result<(), AppError> {
    use super::ServerStatus;
    let (state, admin) = context()?;
    let row = super::read::active_row(&state, &slug).await?;
    if confirm.trim() != row.name {
        return Err(AppError::invalid(
            "confirm",
            format!("Type the server's name, {}, to confirm.", row.name),
        ));
    }
    super::service::set_status(&state, &admin, row.id, ServerStatus::Deleted).await?;
    leptos_axum::redirect(&format!(
        "/servers?deleted={}",
        percent_encoding::utf8_percent_encode(&row.name, percent_encoding::NON_ALPHANUMERIC)
    ));
    Ok(())
}

#[server(prefix = "/_fn", endpoint = "servers/wizard/draft")]
pub async fn get_wizard_draft() -> Result<WizardDraft, AppError> {
    let (state, _admin) = context()?;
    draft::load(&state).await
}

/// Step 1: name, description and where the server comes from.
#[server(prefix = "/_fn", endpoint = "servers/wizard/basics")]
pub async fn wizard_basics(
    name: String,
    slug: Option<String>,
    description: String,
    source_kind: String,
    url: Option<String>,
    remote_transport: Option<String>,
    command_line: Option<String>,
    command_transport: Option<String>,
    path: Option<String>,
) -> Result<(), AppError> {
    let (state, _admin) = context()?;
    let mut draft = draft::load(&state).await?;
    draft.name = name.trim().to_owned();
    draft.slug = slug.unwrap_or_default().trim().to_owned();
    draft.description = description.trim().to_owned();
    draft.source_kind = source_kind;
    draft.url = url.unwrap_or_default().trim().to_owned();
    draft.remote_transport = remote_transport.unwrap_or_else(|| "streamable_http".to_owned());
    draft.command_line = command_line.unwrap_or_default().trim().to_owned();
    draft.command_transport = command_transport.unwrap_or_else(|| "stdio".to_owned());
    draft.path = path
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "/mcp".to_owned());
    // Checked now so mistakes are fixed on the step that made them; checked again on create.
    let checked = super::wizard::check_basics(&draft);
    draft.basics_done = checked.is_ok();
    draft::save(&state, &draft).await?;
    let slug = checked?;
    if super::db::find_by_slug(&state.pool, slug.as_str())
        .await?
        .is_some()
    {
        return Err(AppError::invalid(
            if draft.slug.is_empty() {
                "name"
            } else {
                "slug"
            },
            format!("The URL name {slug} is taken by another server; choose another name."),
        ));
    }
    leptos_axum::redirect("/servers/new?step=2");
    Ok(())
}

/// Step 2: authentication method and environment variables.
#[server(prefix = "/_fn", endpoint = "servers/wizard/access")]
pub async fn wizard_access(env: String) -> Result<(), AppError> {
    let (state, _admin) = context()?;
    let mut draft = draft::load(&state).await?;
    draft.env = env;
    let checked = super::wizard::parse_env(&draft.env);
    draft.access_done = checked.is_ok();
    draft::save(&state, &draft).await?;
    checked?;
    leptos_axum::redirect("/servers/new?step=3");
    Ok(())
}

/// Step 3: creates the server from the reviewed draft.
#[server(prefix = "/_fn", endpoint = "servers/wizard/create")]
pub async fn wizard_create() -> Result<(), AppError> {
    let (state, admin) = context()?;
    let draft = draft::load(&state).await?;
    let input = super::wizard::to_new_server(&draft)?;
    let row = super::service::create(&state, &admin, input).await?;
    draft::clear().await?;
    leptos_axum::redirect(&format!("/servers/{}/overview?created=1", row.slug));
    Ok(())
}

/// Throws the draft away.
#[server(prefix = "/_fn", endpoint = "servers/wizard/reset")]
pub async fn wizard_reset() -> Result<(), AppError> {
    let _ = context()?;
    draft::clear().await?;
    leptos_axum::redirect("/servers");
    Ok(())
}
