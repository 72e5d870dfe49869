//! Discovery: RFC 8414 authorization-server metadata and RFC 9728 protected-resource metadata
//! for the gateway root and every server.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{SCOPES, resource};
use crate::startup::AppState;

pub fn authorization_server_document(base: &str) -> Value {
    json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "token_endpoint": format!("{base}/oauth/token"),
        "registration_endpoint": format!("{base}/oauth/register"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "scopes_supported": SCOPES,
        "client_id_metadata_document_supported": true,
        "authorization_response_iss_parameter_supported": true,
        "service_documentation": format!("{base}/"),
    })
}

pub async fn authorization_server(State(state): State<AppState>) -> Json<Value> {
    Json(authorization_server_document(state.config.base_url()))
}

fn protected_resource_document(base: &str, resource: &str, name: &str) -> Value {
    json!({
        "resource": resource,
        "authorization_servers": [base],
        "scopes_supported": ["mcp"],
        "bearer_methods_supported": ["header"],
        "resource_name": name,
    })
}

/// `/.well-known/oauth-protected-resource`: the metadata of the origin itself, which reaches
/// what the gateway root does.
pub async fn protected_resource_root(State(state): State<AppState>) -> Json<Value> {
    let base = state.config.base_url();
    Json(protected_resource_document(base, base, "Gatehouse"))
}

/// `/.well-known/oauth-protected-resource/mcp[/{slug}]`.
pub async fn protected_resource(
    State(state): State<AppState>,
    Path(path): Path<String>,
) -> Response {
    let base = state.config.base_url();
    let not_found = || {
        (
            StatusCode::NOT_FOUND,
            Json(
                json!({ "error": "not_found", "error_description": "No protected resource here." }),
            ),
        )
            .into_response()
    };
    let path = path.trim_end_matches('/');
    if path == "mcp" {
        return Json(protected_resource_document(
            base,
            &resource::root_uri(base),
            "Gatehouse MCP gateway",
        ))
        .into_response();
    }
    let Some(slug) = path.strip_prefix("mcp/").filter(|s| !s.contains('/')) else {
        return not_found();
    };
    match state.gateway.cache().server(slug).await {
        Ok(Some(server)) => Json(protected_resource_document(
            base,
            &resource::server_uri(base, slug),
            &server.name,
        ))
        .into_response(),
        Ok(None) => not_found(),
        Err(err) => {
            tracing::error!(error = %err, "protected-resource metadata could not load a server");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
