//! Configuration, from flags and the environment. Every setting has a default that makes
//! `gatehouse serve` work on a laptop with nothing else set.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::{Context, bail};
use secrecy::SecretString;
use url::Url;

/// Where the database is: `DATABASE_URL`, or the embedded cluster in the data directory.
#[derive(clap::Args, Clone, Debug)]
pub struct DatabaseArgs {
    /// Directory for the embedded Postgres cluster, keys and spill files.
    #[arg(long, env = "GATEHOUSE_DATA_DIR", default_value = ".gatehouse")]
    pub data_dir: PathBuf,
    /// Use this Postgres server instead of the embedded one (postgres://user:pass@host/db).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

impl DatabaseArgs {
    pub fn database_url(&self) -> Option<SecretString> {
        self.database_url
            .as_deref()
            .filter(|url| !url.trim().is_empty())
            .map(|url| SecretString::from(url.to_owned()))
    }
}

#[derive(clap::Args, Clone, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address to listen on.
    #[arg(long, env = "GATEHOUSE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// The external base URL people and MCP clients reach Gatehouse at; used in MCP server URLs
    /// and OAuth metadata. Defaults to http://<addr>.
    #[arg(long, env = "GATEHOUSE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Directory holding the built browser bundle (`pkg/`) and public assets.
    #[arg(long, env = "GATEHOUSE_SITE_ROOT")]
    pub site_root: Option<PathBuf>,
    /// Create a demo admin on first start and print how to sign in.
    #[arg(long, env = "GATEHOUSE_DEMO")]
    pub demo: bool,
    /// Key that seals secrets at rest (base64 of 32 bytes). Replicas sharing a database must
    /// share it; without it a key is created in the data directory.
    #[arg(long, env = "GATEHOUSE_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Activity rows kept in memory while Postgres is unreachable; beyond that they go to a
    /// spill file in the data directory.
    #[arg(long, env = "GATEHOUSE_ACTIVITY_BUFFER_ROWS", default_value_t = 50_000)]
    pub activity_buffer_rows: usize,
    /// Largest tool output, in KiB, an activity row keeps; a larger output is logged as a
    /// marker with its size and a preview. Inputs are always kept whole (a request body is at
    /// most 4 MiB).
    #[arg(long, env = "GATEHOUSE_ACTIVITY_OUTPUT_KIB", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub activity_output_kib: u32,
    /// Development only: let OAuth clients name a Client ID Metadata Document on a private,
    /// loopback or link-local address, or over plain http. Off, such documents are refused
    /// without being fetched (they are how a server is tricked into reaching its own network).
    #[arg(long, env = "GATEHOUSE_OAUTH_ALLOW_PRIVATE_METADATA")]
    pub oauth_allow_private_metadata: bool,
}

/// Settings the running application needs, resolved and checked.
#[derive(Clone, Debug)]
pub struct Config {
    pub addr: SocketAddr,
    pub public_url: Url,
    pub data_dir: PathBuf,
    pub site_root: PathBuf,
    pub secret_key: Option<SecretString>,
    pub activity_buffer_rows: usize,
    /// Largest logged tool output, in bytes.
    pub activity_output_bytes: usize,
    /// See [`ServeArgs::oauth_allow_private_metadata`].
    pub oauth_allow_private_metadata: bool,
}

impl Config {
    pub fn from_args(args: &ServeArgs) -> anyhow::Result<Self> {
        let public_url = match &args.public_url {
            Some(raw) => parse_public_url(raw)?,
            None => {
                let host = if args.addr.ip().is_unspecified() {
                    format!("127.0.0.1:{}", args.addr.port())
                } else {
                    args.addr.to_string()
                };
                parse_public_url(&format!("http://{host}"))?
            }
        };
        Ok(Config {
            addr: args.addr,
            public_url,
            data_dir: args.database.data_dir.clone(),
            site_root: args.site_root.clone().unwrap_or_else(default_site_root),
            secret_key: args
                .secret_key
                .as_deref()
                .filter(|k| !k.trim().is_empty())
                .map(|k| SecretString::from(k.to_owned())),
            activity_buffer_rows: args.activity_buffer_rows,
            activity_output_bytes: args.activity_output_kib as usize * 1024,
            oauth_allow_private_metadata: args.oauth_allow_private_metadata,
        })
    }

    /// A configuration for a server reached directly at `addr`, as tests run it.
    pub fn local(addr: SocketAddr, data_dir: PathBuf) -> Self {
        Config {
            addr,
            public_url: parse_public_url(&format!("http://{addr}"))
                .expect("a socket address makes a valid URL"),
            data_dir,
            site_root: default_site_root(),
            secret_key: None,
            activity_buffer_rows: 50_000,
            activity_output_bytes: 256 * 1024,
            oauth_allow_private_metadata: false,
        }
    }

    /// Whether cookies must be `Secure`: Gatehouse is reached over HTTPS.
    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// An absolute URL for `path` (which starts with `/`) under the public base URL.
    pub fn url_for(&self, path: &str) -> String {
        format!("{}{path}", self.public_url.as_str().trim_end_matches('/'))
    }

    /// The public base URL without a trailing slash: the OAuth issuer.
    pub fn base_url(&self) -> &str {
        self.public_url.as_str().trim_end_matches('/')
    }

    /// The public origin, `scheme://host[:port]`, without a trailing slash.
    pub fn public_origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }
}

/// Parses the public base URL: http(s), no query or fragment, stored without a trailing slash.
pub fn parse_public_url(raw: &str) -> anyhow::Result<Url> {
    let url = Url::parse(raw.trim())
        .with_context(|| format!("GATEHOUSE_PUBLIC_URL {raw:?} is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("GATEHOUSE_PUBLIC_URL must start with http:// or https://");
    }
    if url.query().is_some() || url.fragment().is_some() || url.host().is_none() {
        bail!("GATEHOUSE_PUBLIC_URL must be a plain base URL like https://gatehouse.example.com");
    }
    let trimmed = url.as_str().trim_end_matches('/').to_owned();
    Ok(Url::parse(&trimmed)?)
}

/// `site/` next to the executable (an installed layout), else `target/site` (a checkout).
fn default_site_root() -> PathBuf {
    let beside_exe = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("site")));
    match beside_exe {
        Some(dir) if dir.join("pkg").is_dir() => dir,
        _ => PathBuf::from("target/site"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_lose_their_trailing_slash() {
        assert_eq!(
            parse_public_url("https://gh.example.com/")
                .unwrap()
                .as_str(),
            "https://gh.example.com/"
        );
        assert_eq!(
            parse_public_url("https://example.com/gatehouse/")
                .unwrap()
                .as_str(),
            "https://example.com/gatehouse"
        );
    }

    #[test]
    fn public_urls_must_be_http() {
        assert!(parse_public_url("ftp://example.com").is_err());
        assert!(parse_public_url("https://example.com/?a=1").is_err());
        assert!(parse_public_url("not a url").is_err());
    }

    #[derive(clap::Parser)]
    struct Serve {
        #[command(flatten)]
        args: ServeArgs,
    }

    #[test]
    fn the_output_cap_is_set_in_kib_and_must_be_sensible() {
        use clap::Parser;
        let parse =
            |extra: &[&str]| Serve::try_parse_from(["serve"].iter().chain(extra)).map(|s| s.args);
        if std::env::var_os("GATEHOUSE_ACTIVITY_OUTPUT_KIB").is_none() {
            let default = Config::from_args(&parse(&[]).unwrap()).unwrap();
            assert_eq!(default.activity_output_bytes, 256 * 1024);
        }
        let set = Config::from_args(&parse(&["--activity-output-kib", "64"]).unwrap()).unwrap();
        assert_eq!(set.activity_output_bytes, 64 * 1024);
        for bad in ["0", "4097", "lots"] {
            let error = parse(&["--activity-output-kib", bad])
                .err()
                .unwrap()
                .to_string();
            assert!(error.contains("--activity-output-kib"), "{bad}: {error}");
        }
    }
}
