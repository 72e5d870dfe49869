//! Resources (RFC 8707): what a token may reach. Either one server's MCP URL, or the gateway
//! root, which reaches every server the person may use.

use url::Url;
use uuid::Uuid;

use super::error::OAuthError;
use crate::startup::AppState;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// The canonical URI: `{base}/mcp/{slug}` or `{base}/mcp`.
    pub uri: String,
    /// `None` for the gateway root.
    pub server_id: Option<Uuid>,
    /// What the consent page calls it.
    pub label: String,
}

/// The gateway root's canonical resource URI.
pub fn root_uri(base: &str) -> String {
    format!("{base}/mcp")
}

/// The canonical resource URI of the server at `slug`.
pub fn server_uri(base: &str, slug: &str) -> String {
    format!("{base}/mcp/{slug}")
}

/// Where the protected-resource metadata of `resource_uri` lives (RFC 9728 §3.1: the
/// well-known segment goes between the origin and the path).
pub fn metadata_url(base: &str, resource_uri: &str) -> String {
    let path = resource_uri.strip_prefix(base).unwrap_or("");
    let origin_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let origin_end = base[origin_end..]
        .find('/')
        .map(|i| origin_end + i)
        .unwrap_or(base.len());
    let (origin, base_path) = base.split_at(origin_end);
    format!("{origin}/.well-known/oauth-protected-resource{base_path}{path}")
}

/// Resolves a `resource` parameter. Absent means the gateway root (clients from before RFC
/// 8707 send none; the person's group still decides what they reach).
pub async fn resolve(state: &AppState, raw: Option<&str>) -> Result<Resource, OAuthError> {
    let base = state.config.base_url();
    let root = || Resource {
        uri: root_uri(base),
        server_id: None,
        label: "Every MCP server you may use through Gatehouse".to_owned(),
    };
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(root());
    };
    let unknown = || {
        OAuthError::invalid_target(format!(
            "{raw:?} is not a resource of this Gatehouse: use a server's MCP URL ({base}/mcp/<server>) or {base}/mcp."
        ))
    };
    let url = Url::parse(raw).map_err(|_| unknown())?;
    if url.fragment().is_some() || url.query().is_some() {
        return Err(unknown());
    }
    let text = url.as_str().trim_end_matches('/');
    let Some(path) = text.strip_prefix(base) else {
        return Err(unknown());
    };
    match path {
        "" | "/mcp" => Ok(root()),
        _ => {
            let slug = path.strip_prefix("/mcp/").ok_or_else(unknown)?;
            if slug.contains('/') {
                return Err(unknown());
            }
            let server: Option<(Uuid, String)> = sqlx::query_as(
                "SELECT id, name FROM servers WHERE slug = $1 AND status <> 'deleted'",
            )
            .bind(slug)
            .fetch_optional(&state.pool)
            .await?;
            let (id, name) = server.ok_or_else(unknown)?;
            Ok(Resource {
                uri: server_uri(base, slug),
                server_id: Some(id),
                label: format!("The {name} MCP server"),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_put_the_well_known_segment_after_the_origin() {
        assert_eq!(
            metadata_url(
                "https://gh.example.com",
                "https://gh.example.com/mcp/github"
            ),
            "https://gh.example.com/.well-known/oauth-protected-resource/mcp/github"
        );
        assert_eq!(
            metadata_url("https://ex.com/gatehouse", "https://ex.com/gatehouse/mcp"),
            "https://ex.com/.well-known/oauth-protected-resource/gatehouse/mcp"
        );
    }
}
