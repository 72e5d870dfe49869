//! Gateway benchmark: `tools/call` latency (one connection) and throughput (16 connections),
//! directly against an upstream MCP server and through Gatehouse — with authentication,
//! permission checks and activity logging on — in the same run, on the same machine.
//!
//! Run: `cargo bench --bench gateway` (release build). Results are printed and written to
//! `target/bench/gateway.md`; docs/PERFORMANCE.md explains the method.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use gatehouse::{
    accounts::{
        self, Role,
        session::{Admin, CurrentUser},
        users::CreateUser,
    },
    audit::Actor,
    config::Config,
    db::{self, Durability, EmbeddedPostgres},
    servers::{RemoteTransport, ServerSource, service::NewServer},
    startup::Application,
};
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
        PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    },
    service::RequestContext,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

/// The allocator `gatehouse serve` runs with (src/main.rs), so the gateway is measured as it
/// runs; the upstream and the load generator share it, so the direct baseline does too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const LATENCY_REQUESTS: usize = 20_000;
const WARMUP: usize = 2_000;
const THROUGHPUT_SECONDS: u64 = 10;
const CONNECTIONS: usize = 16;

/// The upstream: a minimal Rust MCP server with one `echo` tool, as fast as rmcp allows, so the
/// difference between the two runs is the gateway.
#[derive(Clone)]
struct Echo;

impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = json!({ "type": "object", "properties": { "message": { "type": "string" } } });
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "echo",
            "Echoes the message",
            Arc::new(schema.as_object().unwrap().clone()),
        )]))
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let message = params
            .arguments
            .and_then(|a| a.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_default();
        Ok(CallToolResult::success(vec![ContentBlock::text(message)]).into())
    }
}

fn runtime(name: &str, threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()
        .unwrap()
}

struct Target {
    label: &'static str,
    url: String,
    token: Option<String>,
}

fn request(client: &reqwest::Client, target: &Target, i: usize) -> reqwest::RequestBuilder {
    let body = json!({
        "jsonrpc": "2.0", "id": i, "method": "tools/call",
        "params": {
            "name": "echo",
            "arguments": { "message": "hello" },
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": { "name": "bench", "version": "1" },
            },
        },
    });
    let mut builder = client
        .post(&target.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo")
        .body(body.to_string());
    if let Some(token) = &target.token {
        builder = builder.bearer_auth(token);
    }
    builder
}

async fn one_call(client: &reqwest::Client, target: &Target, i: usize) {
    let response = request(client, target, i)
        .send()
        .await
        .expect("request sent");
    assert!(
        response.status().is_success(),
        "{}: {}",
        target.label,
        response.status()
    );
    let text = response.text().await.unwrap();
    assert!(text.contains("hello"), "{}: {text}", target.label);
}

struct Latency {
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
}

async fn latency(target: &Target) -> Latency {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .build()
        .unwrap();
    for i in 0..WARMUP {
        one_call(&client, target, i).await;
    }
    let mut samples = Vec::with_capacity(LATENCY_REQUESTS);
    for i in 0..LATENCY_REQUESTS {
        let start = Instant::now();
        one_call(&client, target, i).await;
        samples.push(start.elapsed());
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    Latency {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: *samples.last().unwrap(),
    }
}

async fn throughput(target: Arc<Target>) -> (f64, usize) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(THROUGHPUT_SECONDS);
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..CONNECTIONS {
        let (client, target) = (client.clone(), target.clone());
        workers.push(tokio::spawn(async move {
            let mut done = 0usize;
            while Instant::now() < deadline {
                one_call(&client, &target, w * 1_000_000 + done).await;
                done += 1;
            }
            done
        }));
    }
    let mut total = 0;
    for worker in workers {
        total += worker.await.unwrap();
    }
    (total as f64 / started.elapsed().as_secs_f64(), total)
}

/// The same call from a session-based client (the rmcp client, 2025-11-25 `initialize`),
/// which takes rmcp's session path through the gateway rather than the stateless fast path.
async fn session_latency(target: &Target) -> Latency {
    use rmcp::{
        ServiceExt,
        transport::{
            StreamableHttpClientTransport,
            streamable_http_client::StreamableHttpClientTransportConfig,
        },
    };
    let mut config = StreamableHttpClientTransportConfig::with_uri(target.url.clone());
    if let Some(token) = &target.token {
        config = config.auth_header(token.clone());
    }
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let client =
        ().serve(StreamableHttpClientTransport::with_client(http, config))
            .await
            .expect("session opens");
    let arguments = json!({ "message": "hello" }).as_object().unwrap().clone();
    let call =
        || client.call_tool(CallToolRequestParams::new("echo").with_arguments(arguments.clone()));
    for _ in 0..WARMUP / 2 {
        call().await.unwrap();
    }
    let mut samples = Vec::with_capacity(LATENCY_REQUESTS / 4);
    for _ in 0..LATENCY_REQUESTS / 4 {
        let start = Instant::now();
        call().await.unwrap();
        samples.push(start.elapsed());
    }
    client.cancel().await.ok();
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    Latency {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: *samples.last().unwrap(),
    }
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn main() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    let setup = runtime("bench-setup", 1);

    // Postgres, for the gateway's users, tokens, servers and activity.
    let pg_dir = dir.join("postgres");
    let _ = std::fs::remove_dir_all(&pg_dir);
    let cluster = setup
        .block_on(EmbeddedPostgres::start(
            &pg_dir,
            "gatehouse",
            Durability::Full,
        ))
        .expect("postgres");
    let pool = setup.block_on(async {
        let pool = db::pool_options(10)
            .connect_with(cluster.connect_options("gatehouse"))
            .await
            .unwrap();
        db::migrate(&pool).await.unwrap();
        pool
    });

    // The upstream, on its own runtime.
    let upstream_rt = runtime("upstream", 1);
    let upstream_port = upstream_rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let service = StreamableHttpService::new(
            || Ok(Echo),
            Arc::new(LocalSessionManager::default()),
            StreamableHttpServerConfig::default().with_json_response(true),
        );
        let router = axum::Router::new().nest_service("/mcp", service);
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        port
    });

    // Gatehouse, on its own runtime.
    let gateway_rt = runtime("gatehouse", 2);
    let (gateway_url, token, state) = gateway_rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Application::with_listener(
            listener,
            Config::local(addr, dir.join("data")),
            pool.clone(),
        )
        .await
        .unwrap();
        let state = app.state().clone();
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        let new_user = |email: &str, role| CreateUser {
            email: email.into(),
            name: None,
            role,
            password: SecretString::from("bench password 123"),
        };
        let admin = accounts::users::create(
            &pool,
            &Actor::Cli,
            new_user("admin@bench.test", Role::Admin),
        )
        .await
        .unwrap();
        let member = accounts::users::create(
            &pool,
            &Actor::Cli,
            new_user("member@bench.test", Role::Member),
        )
        .await
        .unwrap();
        let admin = Admin::verify(CurrentUser::from(&admin)).unwrap();
        let server = gatehouse::servers::service::create(
            &state,
            &admin,
            NewServer {
                name: "Echo".into(),
                source: Some(ServerSource::Remote {
                    url: format!("http://127.0.0.1:{upstream_port}/mcp"),
                    transport: RemoteTransport::StreamableHttp,
                }),
                ..NewServer::default()
            },
        )
        .await
        .unwrap();
        // A restriction on another tool, so the permission check has something to look at.
        gatehouse::groups::service::restrict_tool(
            &state,
            &admin,
            member.group_id,
            server.id,
            "not-echo",
        )
        .await
        .unwrap();
        let (_, token) =
            gatehouse::tokens::service::mint(&state, &CurrentUser::from(&member), "bench", None)
                .await
                .unwrap();
        (
            format!("http://{addr}/mcp/{}", server.slug),
            token.expose_secret().to_owned(),
            state,
        )
    });

    let direct = Arc::new(Target {
        label: "direct",
        url: format!("http://127.0.0.1:{upstream_port}/mcp"),
        token: None,
    });
    let gateway = Arc::new(Target {
        label: "gateway",
        url: gateway_url,
        token: Some(token),
    });

    let load = runtime("load", 1);
    let gateway_session = load.block_on(session_latency(&gateway));
    let direct_session = load.block_on(session_latency(&direct));
    let direct_latency = load.block_on(latency(&direct));
    let gateway_latency = load.block_on(latency(&gateway));
    let (direct_rps, _) = load.block_on(throughput(direct.clone()));
    let (gateway_rps, gateway_calls) = load.block_on(throughput(gateway.clone()));

    // Every call through the gateway has its activity row.
    let expected =
        (WARMUP + LATENCY_REQUESTS + gateway_calls + WARMUP / 2 + LATENCY_REQUESTS / 4) as i64;
    let started = Instant::now();
    let rows = gateway_rt.block_on(async {
        state.gateway.flush_activity().await;
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM tool_calls WHERE status = 'success'")
            .fetch_one(&pool)
            .await
            .unwrap()
    });
    let drain = started.elapsed();

    let added =
        |f: fn(&Latency) -> Duration| f(&gateway_latency).saturating_sub(f(&direct_latency));
    let report = format!(
        "| measure | direct | through Gatehouse | added |\n|---|---|---|---|\n\
         | tools/call p50 (1 connection) | {} | {} | {} |\n\
         | tools/call p90 | {} | {} | {} |\n\
         | tools/call p99 | {} | {} | {} |\n\
         | tools/call max | {} | {} | |\n\
         | throughput, {CONNECTIONS} connections | {:.0} calls/s | {:.0} calls/s | |\n\
         | session client (2025-11-25) p50 | {} | {} | {} |\n\
         | session client (2025-11-25) p99 | {} | {} | {} |\n\n\
         Activity rows written: {rows} of {expected} gateway calls (drained {:.0} ms after the run).\n\n\
         Machine: {}.\n",
        us(direct_latency.p50),
        us(gateway_latency.p50),
        us(added(|l| l.p50)),
        us(direct_latency.p90),
        us(gateway_latency.p90),
        us(added(|l| l.p90)),
        us(direct_latency.p99),
        us(gateway_latency.p99),
        us(added(|l| l.p99)),
        us(direct_latency.max),
        us(gateway_latency.max),
        direct_rps,
        gateway_rps,
        us(direct_session.p50),
        us(gateway_session.p50),
        us(gateway_session.p50.saturating_sub(direct_session.p50)),
        us(direct_session.p99),
        us(gateway_session.p99),
        us(gateway_session.p99.saturating_sub(direct_session.p99)),
        drain.as_secs_f64() * 1e3,
        machine(),
    );
    println!("{report}");
    std::fs::write(dir.join("gateway.md"), &report).unwrap();

    setup.block_on(async { cluster.stop().await.ok() });
    assert_eq!(
        rows, expected,
        "activity kept up: every gateway call was logged"
    );
}

/// What the run's latencies depend on besides the code: the CPUs, and how an idle CPU waits.
/// On a KVM guest, a CPU that halts must be woken through the hypervisor, which costs tens of
/// microseconds a hop; guest halt polling (`haltpoll`) spins briefly first. Without it, that
/// wake-up cost dominates every percentile here (docs/PERFORMANCE.md).
fn machine() -> String {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_owned())
    };
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut parts = vec![format!("{cpus} CPUs")];
    if let Some(driver) = read("/sys/devices/system/cpu/cpuidle/current_driver") {
        parts.push(format!("cpuidle driver {driver}"));
    }
    match read("/sys/module/haltpoll/parameters/guest_halt_poll_ns") {
        Some(ns) if ns == "0" => parts.push("guest halt polling off".to_owned()),
        Some(ns) => parts.push(format!("guest halt polling up to {ns} ns")),
        None => {}
    }
    parts.join(", ")
}
