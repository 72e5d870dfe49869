//! `spawn_app`: a fresh database in the shared test cluster and the app on port 0.

use std::{path::PathBuf, sync::OnceLock};

use gatehouse::{
    accounts::{
        self, Role,
        session::{Admin, CurrentUser},
        users::CreateUser,
    },
    audit::Actor,
    config::Config,
    db::{self, Durability, EmbeddedPostgres},
    servers::{self, ServerSource, db::ServerRow, service::NewServer},
    startup::{AppState, Application},
    tokens,
};
use reqwest::{StatusCode, header};
use secrecy::SecretString;
use sqlx::{Connection, PgPool};
use uuid::Uuid;

/// The private Postgres every test shares, each test in a database of its own. It stays up
/// between runs (starting it is the slow part); `scripts/test` stops it at the end.
pub async fn test_cluster() -> &'static EmbeddedPostgres {
    static CLUSTER: OnceLock<EmbeddedPostgres> = OnceLock::new();
    if let Some(cluster) = CLUSTER.get() {
        return cluster;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("test-pg");
    let cluster = EmbeddedPostgres::start(&dir, "postgres", Durability::Throwaway)
        .await
        .expect("the test Postgres cluster starts");
    let _ = CLUSTER.set(cluster);
    CLUSTER.get().expect("just set")
}

/// A new, migrated database; returns its name and a pool on it.
pub async fn fresh_database() -> (String, PgPool) {
    let cluster = test_cluster().await;
    let name = format!("test_{}", Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect_with(&cluster.connect_options("postgres"))
        .await
        .expect("connect to the test cluster");
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    admin.close().await.ok();
    let pool = db::pool_options(5)
        .connect_with(cluster.connect_options(&name))
        .await
        .expect("connect to the test database");
    db::migrate(&pool).await.expect("migrations apply");
    (name, pool)
}

pub struct TestApp {
    pub address: String,
    pub state: AppState,
    /// Stops the app gracefully, as SIGTERM does (see [`TestApp::shut_down`]).
    stop: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    )>,
    pub pool: PgPool,
    pub database_url: String,
    /// A browser-like client: keeps cookies, does not follow redirects so tests can see them.
    pub client: reqwest::Client,
}

pub async fn spawn_app() -> TestApp {
    let (name, pool) = fresh_database().await;
    spawn_app_on(pool, &name).await
}

pub async fn spawn_app_on(pool: PgPool, database: &str) -> TestApp {
    spawn_app_configured(pool, database, |_| {}).await
}

/// The app on a fresh database, with `tweak` applied to its configuration.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let (name, pool) = fresh_database().await;
    spawn_app_configured(pool, &name, tweak).await
}

async fn spawn_app_configured(
    pool: PgPool,
    database: &str,
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let addr = listener.local_addr().unwrap();
    let data_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("app-{}", addr.port()));
    let mut config = Config::local(addr, data_dir);
    tweak(&mut config);
    let app = Application::with_listener(listener, config, pool.clone())
        .await
        .expect("app builds");
    let state = app.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    TestApp {
        address: format!("http://{addr}"),
        state,
        stop: Some((stop, running)),
        pool,
        database_url: test_cluster().await.url(database),
        client: browser(),
    }
}

/// HTTP clients in tests use rustls with ring, like the gateway; the provider is chosen once
/// per process.
pub fn tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn browser() -> reqwest::Client {
    tls();
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub const PASSWORD: &str = "correct horse battery";

impl TestApp {
    /// Stops the app the way SIGTERM does and waits until it has finished.
    pub async fn shut_down(&mut self) {
        let (stop, running) = self.stop.take().expect("the app is running");
        let _ = stop.send(());
        running
            .await
            .expect("the app task ends")
            .expect("the server stops cleanly");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Creates a person who signs in with [`PASSWORD`].
    pub async fn create_user(&self, email: &str, role: Role) -> accounts::db::UserRow {
        accounts::users::create(
            &self.pool,
            &Actor::Cli,
            CreateUser {
                email: email.to_owned(),
                name: None,
                role,
                password: SecretString::from(PASSWORD),
            },
        )
        .await
        .expect("user is created")
    }

    /// Loads a page as a browser would (asking for HTML).
    pub async fn get_page(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header(header::ACCEPT, "text/html")
            .send()
            .await
            .expect("request is sent")
    }

    /// Submits a form to a server function the way a browser without JavaScript does:
    /// an urlencoded POST from `page`, expecting a redirect back.
    pub async fn submit_form(
        &self,
        endpoint: &str,
        page: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/_fn/{endpoint}")))
            .header(header::ACCEPT, "text/html")
            .header(header::REFERER, self.url(page))
            .header(header::ORIGIN, &self.address)
            .form(fields)
            .send()
            .await
            .expect("form is submitted")
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> reqwest::Response {
        self.submit_form(
            "sign_in",
            "/login",
            &[("email", email), ("password", password), ("next", "/")],
        )
        .await
    }

    /// Follows a redirect response and returns the page it leads to.
    pub async fn follow(&self, response: reqwest::Response) -> (String, String) {
        assert!(
            response.status().is_redirection(),
            "expected a redirect, got {}",
            response.status()
        );
        let location = location(&response);
        let page = self.get_page(&location).await;
        assert_eq!(page.status(), StatusCode::OK, "{location} did not load");
        (location, page.text().await.unwrap())
    }
}

pub fn location(response: &reqwest::Response) -> String {
    let raw = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("response has a Location")
        .to_owned();
    match raw
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_owned()))
    {
        Some(path) => path,
        None => raw,
    }
}

impl TestApp {
    /// The proof of admin rights for `user`, as the dashboard would get it after sign-in.
    pub fn admin(&self, user: &accounts::db::UserRow) -> Admin {
        Admin::verify(CurrentUser::from(user)).expect("the user is an admin")
    }

    pub async fn create_server(
        &self,
        admin: &Admin,
        name: &str,
        source: ServerSource,
    ) -> ServerRow {
        servers::service::create(
            &self.state,
            admin,
            NewServer {
                name: name.to_owned(),
                source: Some(source),
                ..NewServer::default()
            },
        )
        .await
        .expect("server is created")
    }

    pub async fn create_server_with_env(
        &self,
        admin: &Admin,
        name: &str,
        source: ServerSource,
        env: Vec<(String, String)>,
    ) -> ServerRow {
        servers::service::create(
            &self.state,
            admin,
            NewServer {
                name: name.to_owned(),
                source: Some(source),
                env,
                ..NewServer::default()
            },
        )
        .await
        .expect("server is created")
    }

    /// A personal access token for `user`, as minted in the dashboard.
    pub async fn mint_token(&self, user: &accounts::db::UserRow) -> String {
        use secrecy::ExposeSecret;
        let (_, secret) =
            tokens::service::mint(&self.state, &CurrentUser::from(user), "tests", Some(30))
                .await
                .expect("token is minted");
        secret.expose_secret().to_owned()
    }

    pub fn mcp_url(&self, slug: &str) -> String {
        self.url(&format!("/mcp/{slug}"))
    }
}

/// The repository root, where the test clients are installed.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `@modelcontextprotocol/server-everything` over stdio, the reference test server.
pub fn everything_stdio() -> ServerSource {
    let bin = repo().join("tests/clients/node_modules/.bin/mcp-server-everything");
    assert!(
        bin.exists(),
        "test clients are missing: run scripts/test (it installs them)"
    );
    ServerSource::Command {
        command: bin.to_string_lossy().into_owned(),
        args: vec!["stdio".to_owned()],
        transport: servers::CommandTransport::Stdio,
        path: "/mcp".to_owned(),
    }
}

/// Runs the Python SDK probe (tests/clients/py/probe.py) and returns what it printed.
pub async fn python_probe(args: &[&str]) -> serde_json::Value {
    let python = repo().join(".venv/bin/python");
    assert!(
        python.exists(),
        "the Python test clients are missing: run scripts/test (it installs them)"
    );
    run_probe(
        tokio::process::Command::new(python)
            .arg(repo().join("tests/clients/py/probe.py"))
            .args(args),
    )
    .await
}

/// Runs a Node probe from tests/clients/node and returns what it printed.
pub async fn node_probe(script: &str, args: &[&str]) -> serde_json::Value {
    run_probe(
        tokio::process::Command::new("node")
            .arg(repo().join("tests/clients/node").join(script))
            .args(args),
    )
    .await
}

/// Runs a probe command and parses the one JSON document it prints.
pub async fn run_probe(command: &mut tokio::process::Command) -> serde_json::Value {
    let output = command.output().await.expect("the probe runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    // Either the whole output is one (pretty-printed) document, or its last line is.
    let whole = serde_json::from_str(stdout.trim());
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or_default();
    whole
        .or_else(|_| serde_json::from_str(last.trim()))
        .unwrap_or_else(|_| {
            panic!(
                "the probe printed no JSON.\nstdout: {stdout}\nstderr: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

/// A server process a test runs beside Gatehouse; killed when dropped.
pub struct Background {
    child: tokio::process::Child,
    pub port: u16,
}

impl Background {
    /// Kills the program, as a crash would.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("the program is killed");
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `program args` with `PORT` set to a free port and waits until it listens.
pub async fn background(program: &std::path::Path, args: &[&str]) -> Background {
    background_on(free_port(), program, args).await
}

/// Starts `program args` with `PORT` set to `port` (also put in place of `{port}` in `args`)
/// and waits until it listens.
pub async fn background_on(port: u16, program: &std::path::Path, args: &[&str]) -> Background {
    let child = tokio::process::Command::new(program)
        .args(args.iter().map(|a| a.replace("{port}", &port.to_string())))
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("background server starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{} never listened on {port}",
            program.display()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Background { child, port }
}

pub fn everything_bin() -> PathBuf {
    repo().join("tests/clients/node_modules/.bin/mcp-server-everything")
}

pub fn venv_bin(name: &str) -> PathBuf {
    repo().join(".venv/bin").join(name)
}

/// One tools/call in the stateless 2026-07-28 revision: a single POST with the headers and
/// `_meta` that revision requires. Returns the HTTP status and the JSON-RPC response.
pub async fn stateless_call(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    tool: &str,
    arguments: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": tool,
            "arguments": arguments,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": { "name": "gatehouse-tests", "version": "1.0" },
            },
        },
    });
    let response = client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .json(&body)
        .send()
        .await
        .expect("the request is sent");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let parsed = serde_json::from_str(&text).unwrap_or_else(|_| {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<serde_json::Value>(d.trim()).ok())
            .find(|m| m.get("id").is_some())
            .unwrap_or(serde_json::Value::Null)
    });
    (status, parsed)
}

/// The app on its own Postgres cluster (for tests that stop Postgres), with `tweak` applied
/// to the configuration.
pub async fn spawn_app_on_own_cluster(
    tweak: impl FnOnce(&mut Config),
) -> (TestApp, EmbeddedPostgres, PathBuf) {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("own-{}", Uuid::new_v4().simple()));
    let cluster = EmbeddedPostgres::start(&dir, "gatehouse", Durability::Throwaway)
        .await
        .expect("a private cluster starts");
    let pool = db::pool_options(5)
        .acquire_timeout(std::time::Duration::from_secs(2))
        .connect_with(cluster.connect_options("gatehouse"))
        .await
        .unwrap();
    db::migrate(&pool).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config::local(addr, dir.join("data"));
    tweak(&mut config);
    let app = Application::with_listener(listener, config, pool.clone())
        .await
        .expect("app builds");
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    let test_app = TestApp {
        address: format!("http://{addr}"),
        state,
        stop: None,
        pool,
        database_url: cluster.url("gatehouse"),
        client: browser(),
    };
    (test_app, cluster, dir)
}

mod beside;
pub mod session;
pub use beside::{authenticating_proxy, spawn_replica};
