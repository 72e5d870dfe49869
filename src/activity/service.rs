//! Turns a page's target and URL filters into a [`Scope`] (checking who may see what and that
//! every named server and person exists), then reads everything the page shows at once.

use chrono::Utc;
use uuid::Uuid;

use super::{
    ActivityData, ActivityQuery, ActivityTarget, FilterChoices, Filters, Preset, charts,
    db::{self, Scope},
};
use crate::{accounts::session::CurrentUser, error::AppError, startup::AppState};

pub const PER_PAGE: u32 = 10;

/// A target and its filters, checked.
pub struct Resolved {
    pub scope: Scope,
    pub filters: Filters,
    pub base: String,
    /// The server of a server's tab.
    pub server: Option<Uuid>,
    pub show_server: bool,
    pub show_tool: bool,
    pub show_user: bool,
    /// The export's file name, without the date and extension.
    pub export_stem: String,
}

fn require_admin(user: &CurrentUser) -> Result<(), AppError> {
    if user.role.is_admin() {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// A server by its URL name; a deleted one still has its history.
async fn server_by_slug(state: &AppState, slug: &str) -> Result<Option<Uuid>, AppError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM servers WHERE slug = $1 ORDER BY deleted_at IS NOT NULL, deleted_at DESC LIMIT 1",
    )
    .bind(slug)
    .fetch_optional(&state.pool)
    .await?)
}

async fn user_by_email(state: &AppState, email: &str) -> Result<Option<Uuid>, AppError> {
    Ok(
        sqlx::query_scalar("SELECT id FROM users WHERE lower(email) = lower($1)")
            .bind(email)
            .fetch_optional(&state.pool)
            .await?,
    )
}

/// `Ada Lovelace` → `ada-lovelace`, for file names.
fn file_stem(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let stem = stem
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if stem.is_empty() {
        "user".to_owned()
    } else {
        stem
    }
}

pub async fn resolve(
    state: &AppState,
    user: &CurrentUser,
    target: &ActivityTarget,
    query: &ActivityQuery,
) -> Result<Resolved, AppError> {
    let target = match target {
        ActivityTarget::Home if user.role.is_admin() => &ActivityTarget::All,
        ActivityTarget::Home => &ActivityTarget::Mine,
        other => other,
    };
    let filters = query.parse(Utc::now(), Preset::Last24Hours)?;
    let mut scope = Scope::range(filters.from, filters.to);
    scope.statuses = filters.statuses.clone();
    let mut resolved = Resolved {
        scope,
        filters,
        base: "/activity".to_owned(),
        server: None,
        show_server: true,
        show_tool: false,
        show_user: true,
        export_stem: "activity".to_owned(),
    };
    match target {
        ActivityTarget::All | ActivityTarget::Home => require_admin(user)?,
        ActivityTarget::Mine => {
            resolved.scope.user_id = Some(user.id);
            resolved.show_user = false;
            resolved.export_stem = format!("{}-activity", file_stem(&user.name));
        }
        ActivityTarget::Server(slug) => {
            require_admin(user)?;
            let id = server_by_slug(state, slug)
                .await?
                .ok_or_else(|| AppError::NotFound(format!("The server {slug}")))?;
            resolved.scope.server_id = Some(id);
            resolved.server = Some(id);
            resolved.base = format!("/servers/{slug}/activity");
            resolved.show_server = false;
            resolved.show_tool = true;
            resolved.export_stem = format!("{slug}-activity");
        }
        ActivityTarget::User(id) => {
            require_admin(user)?;
            let person = crate::accounts::db::find_by_id(&state.pool, *id)
                .await?
                .ok_or_else(|| AppError::NotFound("The user".to_owned()))?;
            resolved.scope.user_id = Some(person.id);
            resolved.base = format!("/users/{}", person.id);
            resolved.show_user = false;
            resolved.export_stem = format!("{}-activity", file_stem(&person.name));
        }
    }
    if resolved.show_server
        && let Some(slug) = &resolved.filters.server
    {
        let id = server_by_slug(state, slug).await?.ok_or_else(|| {
            AppError::invalid(
                "server",
                format!("No server has the URL name \u{201c}{slug}\u{201d}."),
            )
        })?;
        resolved.scope.server_id = Some(id);
    }
    if resolved.show_tool {
        resolved.scope.tool = resolved.filters.tool.clone();
    }
    if resolved.show_user
        && let Some(email) = &resolved.filters.user
    {
        let id = user_by_email(state, email).await?.ok_or_else(|| {
            AppError::invalid(
                "user",
                format!("Nobody has the email \u{201c}{email}\u{201d}."),
            )
        })?;
        resolved.scope.user_id = Some(id);
    }
    Ok(resolved)
}

async fn choices(
    state: &AppState,
    user: &CurrentUser,
    resolved: &Resolved,
) -> Result<FilterChoices, AppError> {
    let mut choices = FilterChoices::default();
    if resolved.show_server {
        // Admins choose among every server; anyone else among the servers they have called.
        let rows: Vec<(String, String, bool)> = sqlx::query_as(
            "SELECT slug, name, deleted_at IS NOT NULL FROM servers s
             WHERE $1::uuid IS NULL OR EXISTS (SELECT 1 FROM tool_calls c WHERE c.user_id = $1 AND c.server_id = s.id)
             ORDER BY deleted_at IS NOT NULL, lower(name), deleted_at DESC",
        )
        .bind((!user.role.is_admin()).then_some(user.id))
        .fetch_all(&state.pool)
        .await?;
        let mut seen = std::collections::HashSet::new();
        choices.servers = rows
            .into_iter()
            .filter(|(slug, ..)| seen.insert(slug.clone()))
            .map(|(slug, name, deleted)| {
                let label = if deleted {
                    format!("{name} (deleted)")
                } else {
                    name
                };
                (slug, label)
            })
            .collect();
    }
    if let Some(server) = resolved.server.filter(|_| resolved.show_tool) {
        let tools: Option<Vec<String>> = sqlx::query_scalar(
            "SELECT array(SELECT t->>'name' FROM jsonb_array_elements(tools) t ORDER BY 1) FROM server_tools WHERE server_id = $1",
        )
        .bind(server)
        .fetch_optional(&state.pool)
        .await?;
        choices.tools = tools.unwrap_or_default();
        if let Some(tool) = &resolved.filters.tool
            && !choices.tools.contains(tool)
        {
            choices.tools.push(tool.clone());
        }
    }
    if resolved.show_user {
        choices.users =
            sqlx::query_scalar("SELECT email FROM users ORDER BY lower(email) LIMIT 500")
                .fetch_all(&state.pool)
                .await?;
    }
    Ok(choices)
}

/// Everything an activity page shows, read concurrently.
pub async fn page(
    state: &AppState,
    user: &CurrentUser,
    target: &ActivityTarget,
    query: &ActivityQuery,
) -> Result<ActivityData, AppError> {
    let resolved = resolve(state, user, target, query).await?;
    let pool = &state.pool;
    let scope = &resolved.scope;
    let latency = async {
        match resolved.server {
            Some(_) => db::latency_histogram(pool, scope).await.map(Some),
            None => Ok(None),
        }
    };
    let (summary, volume, latency, choices) = tokio::try_join!(
        async { Ok::<_, AppError>(db::summary(pool, scope).await?) },
        async { Ok(db::volume(pool, scope).await?) },
        async { Ok(latency.await?) },
        choices(state, user, &resolved),
    )?;
    let calls = db::calls(
        pool,
        scope,
        resolved.filters.page,
        PER_PAGE,
        summary.total_calls,
    )
    .await?;
    let daily = volume.bucket_seconds >= 86_400;
    let volume_title = if daily {
        "Calls per day".to_owned()
    } else {
        format!(
            "Calls per {} by status",
            charts::duration_label(volume.bucket_seconds)
        )
    };
    Ok(ActivityData {
        export_href: format!(
            "/activity/export.csv?target={}&{}",
            urlencode(&target.key()),
            resolved.filters.to_query(1)
        ),
        base: resolved.base.clone(),
        volume_svg: charts::volume(&volume),
        volume_title,
        latency_svg: latency.map(|h| charts::latency(&h)),
        filters: resolved.filters,
        choices,
        summary,
        calls,
        show_server: resolved.show_server,
        show_tool: resolved.show_tool,
        show_user: resolved.show_user,
    })
}

fn urlencode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::file_stem;

    #[test]
    fn file_names_keep_letters_and_digits() {
        assert_eq!(file_stem("Ada Lovelace"), "ada-lovelace");
        assert_eq!(file_stem("  Zoë O'Neil 2 "), "zo-o-neil-2");
        assert_eq!(file_stem("////"), "user");
    }
}
