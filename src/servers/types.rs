//! What a server is, shared by the dashboard, the API and the gateway, with the newtypes that
//! parse names, slugs, URLs and environment variables at the edge.

use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The name a server has in its URL, `/mcp/{slug}`: lowercase letters, digits and dashes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

impl Slug {
    pub const MAX_LEN: usize = 63;

    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let s = raw.trim();
        let valid = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if valid {
            Ok(Slug(s.to_owned()))
        } else {
            Err(AppError::invalid(
                "slug",
                "A URL name uses lowercase letters, digits and dashes (not at either end), up to 63 characters.",
            ))
        }
    }

    /// Derives a slug from a display name: "Linear Issues (beta)" becomes "linear-issues-beta".
    pub fn from_name(name: &str) -> Result<Self, AppError> {
        let mut slug = String::new();
        for c in name.trim().chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
        }
        let slug: String = slug
            .trim_end_matches('-')
            .chars()
            .take(Self::MAX_LEN)
            .collect();
        Slug::parse(slug.trim_end_matches('-')).map_err(|_| {
            AppError::invalid(
                "name",
                "The name needs at least one letter or digit to make a URL from.",
            )
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Slug {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Slug::parse(&value).map_err(|e| e.to_string())
    }
}

impl From<Slug> for String {
    fn from(value: Slug) -> Self {
        value.0
    }
}

impl std::fmt::Display for Slug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ssr", derive(sqlx::Type))]
#[cfg_attr(
    feature = "ssr",
    sqlx(type_name = "server_status", rename_all = "snake_case")
)]
#[serde(rename_all = "snake_case")]
pub enum ServerStatus {
    Active,
    Disabled,
    Deleted,
}

impl ServerStatus {
    pub fn label(self) -> &'static str {
        match self {
            ServerStatus::Active => "Active",
            ServerStatus::Disabled => "Disabled",
            ServerStatus::Deleted => "Deprecated",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ssr", derive(sqlx::Type))]
#[cfg_attr(
    feature = "ssr",
    sqlx(type_name = "server_auth_method", rename_all = "snake_case")
)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    None,
    Credentials,
    Oauth,
}

impl AuthMethod {
    pub fn label(self) -> &'static str {
        match self {
            AuthMethod::None => "No authentication",
            AuthMethod::Credentials => "API key / credentials",
            AuthMethod::Oauth => "OAuth 2.0",
        }
    }
}

/// How the gateway talks to a remote server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RemoteTransport {
    /// Streamable HTTP (MCP 2025-03-26 and later).
    StreamableHttp,
    /// The legacy HTTP+SSE transport (MCP 2024-11-05).
    Sse,
}

/// How the gateway talks to a process it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CommandTransport {
    /// JSON-RPC over the process's stdin and stdout.
    Stdio,
    /// Streamable HTTP on a port the gateway assigns (passed as `PORT`).
    Http,
}

/// Where a server comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServerSource {
    /// An MCP server already running somewhere, reached by URL.
    Remote {
        url: String,
        transport: RemoteTransport,
    },
    /// A command the gateway runs and supervises.
    Command {
        command: String,
        #[serde(default)]
        args: Vec<String>,
        transport: CommandTransport,
        /// For `http`: the path the process serves MCP on.
        #[serde(default = "default_mcp_path")]
        path: String,
    },
}

fn default_mcp_path() -> String {
    "/mcp".to_owned()
}

impl ServerSource {
    /// A one-line description for lists and deployment summaries.
    pub fn describe(&self) -> String {
        match self {
            ServerSource::Remote { url, transport } => match transport {
                RemoteTransport::StreamableHttp => format!("Remote: {url}"),
                RemoteTransport::Sse => format!("Remote (SSE): {url}"),
            },
            ServerSource::Command {
                command,
                args,
                transport,
                ..
            } => {
                let line = std::iter::once(command.as_str())
                    .chain(args.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join(" ");
                match transport {
                    CommandTransport::Stdio => format!("Command (stdio): {line}"),
                    CommandTransport::Http => format!("Command (HTTP): {line}"),
                }
            }
        }
    }

    /// Checks a remote URL: absolute http(s) with a host, no credentials in it.
    pub fn parse_remote_url(raw: &str) -> Result<String, AppError> {
        let url = raw.trim();
        let bad = |m: &str| Err(AppError::invalid("url", m));
        let Some((scheme, rest)) = url.split_once("://") else {
            return bad("Enter a full URL, like https://mcp.example.com/mcp.");
        };
        if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
            return bad("The URL must start with http:// or https://.");
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.is_empty() {
            return bad("The URL needs a host name.");
        }
        if authority.contains('@') {
            return bad("Put credentials in environment variables, not in the URL.");
        }
        if url.len() > 2048 || url.chars().any(char::is_whitespace) {
            return bad("That URL is not valid.");
        }
        Ok(url.to_owned())
    }
}

/// The name of an environment variable a server runs with.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EnvVarName(String);

/// Prefixes the platform keeps for itself (SPEC S3): the reference product's and ours.
pub const RESERVED_ENV_PREFIXES: [&str; 3] = ["GUMLOOP_", "GUMSTACK_", "GATEHOUSE_"];

impl EnvVarName {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let name = raw.trim();
        let bad = |m: String| Err(AppError::invalid("env_name", m));
        if name.is_empty() {
            return bad("Enter a variable name.".to_owned());
        }
        if name.len() > 128 {
            return bad("A variable name is at most 128 characters.".to_owned());
        }
        let mut bytes = name.bytes();
        let first_ok = bytes
            .next()
            .is_some_and(|b| b.is_ascii_uppercase() || b == b'_');
        if !first_ok || !bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') {
            return bad(format!(
                "{name} is not a valid name: use capital letters, digits and underscores, not starting with a digit."
            ));
        }
        if let Some(prefix) = RESERVED_ENV_PREFIXES.iter().find(|p| name.starts_with(*p)) {
            return bad(format!(
                "Names starting with {prefix} are reserved by the platform."
            ));
        }
        Ok(EnvVarName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EnvVarName {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        EnvVarName::parse(&value).map_err(|e| e.to_string())
    }
}

impl From<EnvVarName> for String {
    fn from(value: EnvVarName) -> Self {
        value.0
    }
}

impl std::fmt::Display for EnvVarName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_derived_from_names() {
        assert_eq!(
            Slug::from_name("Linear Issues (beta)").unwrap().as_str(),
            "linear-issues-beta"
        );
        assert_eq!(Slug::from_name("  GitHub ").unwrap().as_str(), "github");
        assert!(Slug::from_name("!!!").is_err());
        assert_eq!(
            Slug::from_name(&"a".repeat(100)).unwrap().as_str().len(),
            63
        );
    }

    #[test]
    fn slugs_refuse_what_a_url_cannot_hold() {
        for bad in ["", "-a", "a-", "A", "a_b", "a b", &"a".repeat(64)] {
            assert!(Slug::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Slug::parse("time-2").is_ok());
    }

    #[test]
    fn env_var_names_follow_the_shell_rules() {
        assert!(EnvVarName::parse("API_KEY").is_ok());
        assert!(EnvVarName::parse("_X1").is_ok());
        for bad in ["", "1ABC", "api_key", "A-B", "A B"] {
            assert!(EnvVarName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reserved_prefixes_are_refused_by_name() {
        let err = EnvVarName::parse("GUMSTACK_TOKEN").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Names starting with GUMSTACK_ are reserved by the platform."
        );
        assert!(EnvVarName::parse("GATEHOUSE_SECRET").is_err());
        assert!(EnvVarName::parse("GUMLOOP_X").is_err());
    }

    #[test]
    fn remote_urls_must_be_http_with_a_host_and_no_credentials() {
        assert!(ServerSource::parse_remote_url("https://mcp.example.com/mcp").is_ok());
        for bad in [
            "mcp.example.com",
            "ftp://x",
            "https://",
            "https://u:p@host/mcp",
            "https://a b",
        ] {
            assert!(ServerSource::parse_remote_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sources_serialise_with_a_kind_tag() {
        let source = ServerSource::Command {
            command: "npx".into(),
            args: vec!["-y".into(), "server".into()],
            transport: CommandTransport::Stdio,
            path: "/mcp".into(),
        };
        let json = serde_json::to_value(&source).unwrap();
        assert_eq!(json["kind"], "command");
        assert_eq!(json["transport"], "stdio");
        assert_eq!(
            serde_json::from_value::<ServerSource>(json).unwrap(),
            source
        );
    }
}
