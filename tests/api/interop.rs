//! Interoperability: every kind of upstream behind the gateway, every client generation in
//! front of it. For each: tools are listed, a tool is called, a restricted tool is hidden and
//! denied, and the activity rows say what happened.

use gatehouse::{
    accounts::Role,
    servers::{CommandTransport, RemoteTransport, ServerSource},
};

use crate::helpers::{
    TestApp, background, everything_bin, everything_stdio, node_probe, python_probe, repo,
    spawn_app, venv_bin,
};

struct Setup {
    app: TestApp,
    url: String,
    token: String,
    member_id: uuid::Uuid,
}

/// A member with a token, and `source` registered as a server with `restricted` denied to them.
async fn setup(source: ServerSource, restricted: &str) -> Setup {
    let app = spawn_app().await;
    let admin_row = app.create_user("admin@example.com", Role::Admin).await;
    let admin = app.admin(&admin_row);
    let member = app.create_user("member@example.com", Role::Member).await;
    let server = app.create_server(&admin, "Upstream", source).await;
    gatehouse::groups::service::restrict_tool(
        &app.state,
        &admin,
        member.group_id,
        server.id,
        restricted,
    )
    .await
    .unwrap();
    let token = app.mint_token(&member).await;
    Setup {
        url: app.mcp_url(&server.slug),
        token,
        member_id: member.id,
        app,
    }
}

/// Lists, calls `tool`, tries `restricted`, and checks what the client saw and what was logged.
async fn exercise(setup: &Setup, tool: &str, arguments: &str, expect_text: &str, restricted: &str) {
    let call = format!("{tool}={arguments}");
    let denied = format!("{restricted}={{}}");
    let out = python_probe(&[
        "--url",
        &setup.url,
        "--token",
        &setup.token,
        "--call",
        &call,
        "--call",
        &denied,
    ])
    .await;
    assert!(out.get("error").is_none(), "{out}");
    let tools = out["tools"].as_array().unwrap();
    assert!(tools.iter().any(|t| t == tool), "{tool} is listed: {out}");
    assert!(
        !tools.iter().any(|t| t == restricted),
        "{restricted} is hidden: {out}"
    );
    let text = serde_json::to_string(&out["calls"][0]).unwrap();
    assert!(
        text.contains(expect_text),
        "{tool} answered {expect_text:?}: {out}"
    );
    assert_eq!(out["calls"][1]["isError"], true, "{out}");

    setup.app.state.gateway.flush_activity().await;
    let rows: Vec<(String, String, Option<i32>)> = sqlx::query_as(
        "SELECT tool_name, status::text, latency_ms FROM tool_calls WHERE user_id = $1 ORDER BY started_at",
    )
    .bind(setup.member_id)
    .fetch_all(&setup.app.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!((rows[0].0.as_str(), rows[0].1.as_str()), (tool, "success"));
    assert!(rows[0].2.is_some_and(|ms| ms >= 0));
    assert_eq!(
        (rows[1].0.as_str(), rows[1].1.as_str()),
        (restricted, "permission_denied")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_everything_over_streamable_http() {
    let upstream = background(&everything_bin(), &["streamableHttp"]).await;
    let source = ServerSource::Remote {
        url: format!("http://127.0.0.1:{}/mcp", upstream.port),
        transport: RemoteTransport::StreamableHttp,
    };
    let setup = setup(source, "get-sum").await;
    exercise(
        &setup,
        "echo",
        r#"{"message":"over http"}"#,
        "over http",
        "get-sum",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_everything_over_legacy_sse() {
    let upstream = background(&everything_bin(), &["sse"]).await;
    let source = ServerSource::Remote {
        url: format!("http://127.0.0.1:{}/sse", upstream.port),
        transport: RemoteTransport::Sse,
    };
    let setup = setup(source, "get-sum").await;
    exercise(
        &setup,
        "echo",
        r#"{"message":"over sse"}"#,
        "over sse",
        "get-sum",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_everything_over_stdio() {
    let setup = setup(everything_stdio(), "get-sum").await;
    exercise(
        &setup,
        "echo",
        r#"{"message":"over stdio"}"#,
        "over stdio",
        "get-sum",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_everything_as_an_http_process_the_gateway_starts() {
    let source = ServerSource::Command {
        command: everything_bin().to_string_lossy().into_owned(),
        args: vec!["streamableHttp".into()],
        transport: CommandTransport::Http,
        path: "/mcp".into(),
    };
    let setup = setup(source, "get-sum").await;
    exercise(
        &setup,
        "echo",
        r#"{"message":"own process"}"#,
        "own process",
        "get-sum",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_mcpserver_over_http() {
    let script = repo().join("tests/clients/py/server.py");
    let upstream = background(
        &venv_bin("python"),
        &[script.to_str().unwrap(), "--port", "{port}"],
    )
    .await;
    let source = ServerSource::Remote {
        url: format!("http://127.0.0.1:{}/mcp", upstream.port),
        transport: RemoteTransport::StreamableHttp,
    };
    let setup = setup(source, "shout").await;
    exercise(&setup, "add", r#"{"a":2,"b":40}"#, "42", "shout").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_server_time_over_stdio() {
    let source = ServerSource::Command {
        command: venv_bin("mcp-server-time").to_string_lossy().into_owned(),
        args: vec!["--local-timezone".into(), "UTC".into()],
        transport: CommandTransport::Stdio,
        path: "/mcp".into(),
    };
    let setup = setup(source, "convert_time").await;
    exercise(
        &setup,
        "get_current_time",
        r#"{"timezone":"Europe/Paris"}"#,
        "Europe/Paris",
        "convert_time",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_generation_and_transport_sees_the_same_policy() {
    let setup = setup(everything_stdio(), "get-sum").await;
    let sse = format!("{}/sse", setup.url);
    let token = setup.token.as_str();
    let mut outcomes = Vec::new();
    for mode in ["legacy", "auto", "2026-07-28"] {
        outcomes.push((
            format!("python {mode}"),
            python_probe(&[
                "--url",
                &setup.url,
                "--token",
                token,
                "--mode",
                mode,
                "--call",
                "get-sum={}",
            ])
            .await,
        ));
    }
    outcomes.push((
        "python sse".into(),
        python_probe(&[
            "--url",
            &sse,
            "--token",
            token,
            "--transport",
            "sse",
            "--mode",
            "legacy",
            "--call",
            "get-sum={}",
        ])
        .await,
    ));
    outcomes.push((
        "ts sdk 1 http".into(),
        node_probe(
            "probe-sdk1.mjs",
            &[
                "--url",
                &setup.url,
                "--token",
                token,
                "--call",
                "get-sum={}",
            ],
        )
        .await,
    ));
    outcomes.push((
        "ts sdk 1 sse".into(),
        node_probe(
            "probe-sdk1.mjs",
            &[
                "--url",
                &sse,
                "--transport",
                "sse",
                "--token",
                token,
                "--call",
                "get-sum={}",
            ],
        )
        .await,
    ));
    outcomes.push((
        "ts sdk 2 auto".into(),
        node_probe(
            "probe-sdk2.mjs",
            &[
                "--url",
                &setup.url,
                "--token",
                token,
                "--call",
                "get-sum={}",
            ],
        )
        .await,
    ));
    for (client, out) in &outcomes {
        assert!(out.get("error").is_none(), "{client}: {out}");
        let tools = out["tools"].as_array().unwrap();
        assert!(
            tools.iter().any(|t| t == "echo") && !tools.iter().any(|t| t == "get-sum"),
            "{client}: {out}"
        );
        assert_eq!(out["calls"][0]["isError"], true, "{client}: {out}");
        assert!(
            out["calls"][0]["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("restricted by your admin"),
            "{client}: {out}"
        );
    }
    setup.app.state.gateway.flush_activity().await;
    let denied: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM tool_calls WHERE status = 'permission_denied' AND user_id = $1",
    )
    .bind(setup.member_id)
    .fetch_one(&setup.app.pool)
    .await
    .unwrap();
    assert_eq!(denied, outcomes.len() as i64);
}

/// The MCP Inspector's command-line mode, over Streamable HTTP and over SSE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mcp_inspector_cli_lists_and_calls_tools() {
    let setup = setup(everything_stdio(), "get-sum").await;
    // The CLI proper; its `mcp-inspector-cli` launcher only re-spawns this file.
    let inspector = repo()
        .join("tests/clients/node_modules/@modelcontextprotocol/inspector/cli/build/index.js");
    let auth = format!("Authorization: Bearer {}", setup.token);
    let sse = format!("{}/sse", setup.url);
    for (transport, url) in [("http", setup.url.as_str()), ("sse", sse.as_str())] {
        let run = |method_args: Vec<&str>| {
            let mut command = tokio::process::Command::new("node");
            command
                .arg(&inspector)
                .args([url, "--transport", transport, "--header", &auth])
                .args(method_args);
            command
        };
        let listed = crate::helpers::run_probe(&mut run(vec!["--method", "tools/list"])).await;
        let names: Vec<&str> = listed["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"echo") && !names.contains(&"get-sum"),
            "{transport}: {names:?}"
        );
        let called = crate::helpers::run_probe(&mut run(vec![
            "--method",
            "tools/call",
            "--tool-name",
            "echo",
            "--tool-arg",
            "message=inspected",
        ]))
        .await;
        assert!(
            called["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("inspected"),
            "{transport}: {called}"
        );
        let denied = crate::helpers::run_probe(&mut run(vec![
            "--method",
            "tools/call",
            "--tool-name",
            "get-sum",
            "--tool-arg",
            "a=1",
            "--tool-arg",
            "b=2",
        ]))
        .await;
        assert_eq!(denied["isError"], true, "{transport}: {denied}");
    }
}
