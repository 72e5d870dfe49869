//! Dashboard sessions: the cookie, the middleware that turns it into a [`CurrentUser`], and the
//! guards server functions call. A guard returns the only handle that can do the guarded thing,
//! so forgetting a check does not compile.

use axum::{extract::Request, middleware::Next, response::Response};
use http::request::Parts;
use leptos::prelude::use_context;
use sqlx::PgPool;
use tower_sessions::{Expiry, Session, SessionManagerLayer, cookie::SameSite};
use tower_sessions_sqlx_store::PostgresStore;
use uuid::Uuid;

use super::{Role, db};
use crate::error::AppError;

const USER_ID_KEY: &str = "user_id";
pub const COOKIE_NAME: &str = "gatehouse_session";

/// Sessions live in Postgres so every replica sees them, expire after a week without use, and
/// travel in an HttpOnly, SameSite=Lax cookie (Secure when Gatehouse is served over HTTPS).
/// Lax rather than Strict so that an OAuth client sending someone to the consent page finds them
/// signed in.
pub fn layer(pool: PgPool, secure: bool) -> SessionManagerLayer<PostgresStore> {
    let store = PostgresStore::new(pool)
        .with_schema_name("public")
        .and_then(|s| s.with_table_name("sessions"))
        .expect("static session table name is valid");
    SessionManagerLayer::new(store)
        .with_name(COOKIE_NAME)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(secure)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::days(7)))
}

/// The person behind the current request, loaded once per request by [`load_current_user`].
#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub group_id: Uuid,
    pub group_name: String,
}

impl From<&super::db::UserRow> for CurrentUser {
    fn from(row: &super::db::UserRow) -> Self {
        CurrentUser {
            id: row.id,
            email: row.email.clone(),
            name: row.name.clone(),
            role: row.role,
            group_id: row.group_id,
            group_name: row.group_name.clone(),
        }
    }
}

impl CurrentUser {
    pub fn actor(&self) -> crate::audit::Actor {
        crate::audit::Actor::User {
            id: self.id,
            email: self.email.clone(),
        }
    }
}

/// Proof that the current user is an admin or platform admin. Only [`require_admin`] makes one.
#[derive(Clone, Debug)]
pub struct Admin(CurrentUser);

impl Admin {
    /// The proof for `user`, if their role reaches the admin dashboard.
    pub fn verify(user: CurrentUser) -> Option<Admin> {
        user.role.is_admin().then_some(Admin(user))
    }

    pub fn user(&self) -> &CurrentUser {
        &self.0
    }
}

/// Middleware: reads the session and attaches the signed-in [`CurrentUser`], if any, to the
/// request. A session whose user was deleted is treated as signed out.
pub async fn load_current_user(
    axum::extract::State(pool): axum::extract::State<PgPool>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(session) = req.extensions().get::<Session>().cloned() {
        match session.get::<Uuid>(USER_ID_KEY).await {
            Ok(Some(user_id)) => match db::find_by_id(&pool, user_id).await {
                Ok(Some(row)) => {
                    req.extensions_mut().insert(CurrentUser::from(&row));
                }
                Ok(None) => {
                    let _ = session.flush().await;
                }
                Err(err) => tracing::error!(error = %err, "loading the session user failed"),
            },
            Ok(None) => {}
            Err(err) => tracing::warn!(error = %err, "unreadable session"),
        }
    }
    next.run(req).await
}

/// Starts a signed-in session for `user_id`, with a fresh session id so that an id planted
/// before sign-in (session fixation) is worthless.
pub async fn start(session: &Session, user_id: Uuid) -> Result<(), AppError> {
    session
        .cycle_id()
        .await
        .map_err(|e| AppError::internal("cycling the session id", e))?;
    session
        .insert(USER_ID_KEY, user_id)
        .await
        .map_err(|e| AppError::internal("writing the session", e))
}

/// Ends the session: the row is deleted and the cookie cleared.
pub async fn end(session: &Session) -> Result<(), AppError> {
    session
        .flush()
        .await
        .map_err(|e| AppError::internal("deleting the session", e))
}

/// The request parts of the server function or page being run.
fn parts() -> Result<Parts, AppError> {
    use_context::<Parts>().ok_or_else(|| AppError::internal("request context", "no request parts"))
}

/// The session of the current request.
pub fn current_session() -> Result<Session, AppError> {
    parts()?
        .extensions
        .get::<Session>()
        .cloned()
        .ok_or_else(|| AppError::internal("request context", "no session layer"))
}

/// The signed-in person, if any.
pub fn current_user() -> Option<CurrentUser> {
    parts().ok()?.extensions.get::<CurrentUser>().cloned()
}

/// The signed-in person, or `Unauthenticated`.
pub fn require_user() -> Result<CurrentUser, AppError> {
    current_user().ok_or(AppError::Unauthenticated)
}

/// The signed-in admin, or `Unauthenticated` / `Forbidden`.
pub fn require_admin() -> Result<Admin, AppError> {
    Admin::verify(require_user()?).ok_or(AppError::Forbidden)
}

/// The address the request came from, as seen by this process.
pub fn client_ip() -> Option<std::net::IpAddr> {
    parts()
        .ok()?
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip())
}

/// An admin behind a JSON API request: a personal access token of an admin user
/// (`Authorization: Bearer …`), or the signed-in dashboard session.
pub struct ApiAdmin(pub Admin);

impl axum::extract::FromRequestParts<crate::startup::AppState> for ApiAdmin {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &crate::startup::AppState,
    ) -> Result<Self, Self::Rejection> {
        let bearer = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_owned());
        let user = match bearer {
            Some(token) => {
                let owner = crate::tokens::service::owner_for_api(state, &token)
                    .await?
                    .ok_or(AppError::Unauthenticated)?;
                let row = db::find_by_id(&state.pool, owner)
                    .await?
                    .ok_or(AppError::Unauthenticated)?;
                CurrentUser::from(&row)
            }
            None => parts
                .extensions
                .get::<CurrentUser>()
                .cloned()
                .ok_or(AppError::Unauthenticated)?,
        };
        Admin::verify(user).map(ApiAdmin).ok_or(AppError::Forbidden)
    }
}
