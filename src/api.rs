//! The admin JSON API (SPEC S11): everything the dashboard does, for scripts. Each room owns
//! its routes; this module puts them under `/api/v1` and serves the OpenAPI document.

use axum::{
    Json, Router,
    extract::{FromRequest, Request, rejection::JsonRejection},
    routing::get,
};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::{error::AppError, servers, startup::AppState};

#[derive(OpenApi)]
#[openapi(
    info(title = "Gatehouse admin API", description = "Manage servers, groups, people and OAuth clients. Authenticate with an admin's personal access token (`Authorization: Bearer gh_pat_…`) or an admin dashboard session."),
    paths(
        servers::routes::list, servers::routes::create, servers::routes::show, servers::routes::update,
        servers::routes::remove, servers::routes::disable, servers::routes::enable, servers::routes::env_list,
        servers::routes::env_set, servers::routes::env_remove, servers::routes::tools, servers::routes::tools_refresh,
        servers::routes::deployments, servers::routes::deploy,
        crate::groups::routes::list, crate::groups::routes::create, crate::groups::routes::show,
        crate::groups::routes::update, crate::groups::routes::remove, crate::groups::routes::members,
        crate::groups::routes::add_member, crate::groups::routes::remove_member,
        crate::groups::routes::restrictions, crate::groups::routes::set_restrictions,
        crate::accounts::routes::list, crate::accounts::routes::show, crate::accounts::routes::update,
        crate::oauth::routes::clients, crate::oauth::routes::register, crate::oauth::routes::delete_client,
        crate::oauth::routes::connections, crate::oauth::routes::revoke,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "servers", description = "Internal MCP servers"),
        (name = "groups", description = "Permission groups, their members and tool restrictions"),
        (name = "users", description = "People, their roles and groups"),
        (name = "oauth", description = "OAuth clients and the connections people made with them"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `axum::Json` whose rejection (malformed JSON, a missing or mistyped field, the wrong
/// content type) is answered in the API's error format, as a 422 that says what is wrong.
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(AppError::Invalid {
                field: None,
                message: rejection.body_text(),
            }),
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/openapi.json",
            get(|| async { Json(ApiDoc::openapi()) }),
        )
        .merge(servers::routes::router())
        .merge(crate::groups::routes::router())
        .merge(crate::accounts::routes::router())
        .merge(crate::oauth::routes::router())
        .route(
            "/api/v1/{*rest}",
            axum::routing::any(|| async { AppError::NotFound("This API route".into()) }),
        )
}
