//! The gateway with real MCP clients and real upstream servers.

use gatehouse::accounts::Role;
use reqwest::StatusCode;

use crate::helpers::{everything_stdio, python_probe, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_lists_and_calls_tools_of_a_stdio_server_in_every_mode() {
    let app = spawn_app().await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    let member = app.create_user("member@example.com", Role::Member).await;
    let server = app
        .create_server(&app.admin(&admin), "Everything", everything_stdio())
        .await;
    let token = app.mint_token(&member).await;
    let url = app.mcp_url(&server.slug);

    for mode in ["legacy", "auto", "2026-07-28"] {
        let out = python_probe(&[
            "--url",
            &url,
            "--token",
            &token,
            "--mode",
            mode,
            "--call",
            r#"echo={"message":"hi"}"#,
        ])
        .await;
        assert!(out.get("error").is_none(), "{mode}: {out}");
        let tools = out["tools"].as_array().unwrap();
        assert!(tools.iter().any(|t| t == "echo"), "{mode}: {out}");
        let text = out["calls"][0]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        assert!(text.contains("hi"), "{mode}: {out}");
    }
}

#[tokio::test]
async fn a_request_without_a_token_is_refused_with_a_challenge() {
    let app = spawn_app().await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    let server = app
        .create_server(&app.admin(&admin), "Everything", everything_stdio())
        .await;
    let response = app
        .client
        .post(app.mcp_url(&server.slug))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
}

#[tokio::test]
async fn an_unknown_server_is_a_404() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.mcp_url("no-such-server"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restricted_tool_is_hidden_denied_and_the_denial_is_logged() {
    let app = spawn_app().await;
    let admin_row = app.create_user("admin@example.com", Role::Admin).await;
    let admin = app.admin(&admin_row);
    let member = app.create_user("member@example.com", Role::Member).await;
    let server = app
        .create_server(&admin, "Everything", everything_stdio())
        .await;
    let token = app.mint_token(&member).await;
    let url = app.mcp_url(&server.slug);
    gatehouse::groups::service::restrict_tool(
        &app.state,
        &admin,
        member.group_id,
        server.id,
        "get-sum",
    )
    .await
    .unwrap();

    let out = python_probe(&[
        "--url",
        &url,
        "--token",
        &token,
        "--call",
        r#"get-sum={"a":1,"b":2}"#,
        "--call",
        r#"echo={"message":"still works"}"#,
    ])
    .await;

    let tools = out["tools"].as_array().unwrap();
    assert!(
        !tools.iter().any(|t| t == "get-sum"),
        "hidden from tools/list: {out}"
    );
    assert!(tools.iter().any(|t| t == "echo"), "{out}");
    let denied = &out["calls"][0];
    assert_eq!(denied["isError"], true, "{out}");
    assert_eq!(
        denied["content"][0]["text"],
        "The tool get-sum is restricted by your admin."
    );
    assert_eq!(
        denied["_meta"][gatehouse::gateway::META_KEY]["status"],
        "permission_denied"
    );
    assert!(
        out["calls"][1]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("still works")
    );

    app.state.gateway.flush_activity().await;
    let rows: Vec<(String, String, Option<String>, Option<i32>)> = sqlx::query_as(
        "SELECT tool_name, status::text, error, latency_ms FROM tool_calls WHERE user_id = $1 ORDER BY started_at",
    )
    .bind(member.id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str()),
        ("get-sum", "permission_denied")
    );
    assert_eq!(
        rows[0].2.as_deref(),
        Some("The tool get-sum is restricted by your admin.")
    );
    assert_eq!(
        (rows[1].0.as_str(), rows[1].1.as_str()),
        ("echo", "success")
    );
    assert!(rows[1].3.is_some(), "latency is recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_clients_of_both_generations_use_the_gateway() {
    let app = spawn_app().await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    let member = app.create_user("member@example.com", Role::Member).await;
    let server = app
        .create_server(&app.admin(&admin), "Everything", everything_stdio())
        .await;
    let token = app.mint_token(&member).await;
    let url = app.mcp_url(&server.slug);
    let sse = format!("{url}/sse");

    for (script, args) in [
        (
            "probe-sdk1.mjs",
            vec!["--url", url.as_str(), "--transport", "http"],
        ),
        (
            "probe-sdk1.mjs",
            vec!["--url", sse.as_str(), "--transport", "sse"],
        ),
        (
            "probe-sdk2.mjs",
            vec!["--url", url.as_str(), "--mode", "auto"],
        ),
    ] {
        let mut args = args.clone();
        args.extend([
            "--token",
            token.as_str(),
            "--call",
            r#"echo={"message":"from node"}"#,
        ]);
        let out = crate::helpers::node_probe(script, &args).await;
        assert!(out.get("error").is_none(), "{script} {args:?}: {out}");
        assert!(
            out["tools"].as_array().unwrap().iter().any(|t| t == "echo"),
            "{out}"
        );
        assert!(
            out["calls"][0]["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("from node"),
            "{out}"
        );
    }
}
