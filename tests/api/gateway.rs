//! The gateway with real MCP clients and real upstream servers.

use gatehouse::accounts::Role;
use reqwest::StatusCode;

use crate::helpers::{everything_stdio, python_probe, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_lists_and_calls_tools_of_a_stdio_server_in_every_mode() {
    let app = spawn_app().await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    let member = app.create_user("member@example.com", Role::Member).await;
    let server = app.create_server(&app.admin(&admin), "Everything", everything_stdio()).await;
    let token = app.mint_token(&member).await;
    let url = app.mcp_url(&server.slug);

    for mode in ["legacy", "auto", "2026-07-28"] {
        let out = python_probe(&["--url", &url, "--token", &token, "--mode", mode, "--call", r#"echo={"message":"hi"}"#]).await;
        assert!(out.get("error").is_none(), "{mode}: {out}");
        let tools = out["tools"].as_array().unwrap();
        assert!(tools.iter().any(|t| t == "echo"), "{mode}: {out}");
        let text = out["calls"][0]["content"][0]["text"].as_str().unwrap_or_default();
        assert!(text.contains("hi"), "{mode}: {out}");
    }
}

#[tokio::test]
async fn a_request_without_a_token_is_refused_with_a_challenge() {
    let app = spawn_app().await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    let server = app.create_server(&app.admin(&admin), "Everything", everything_stdio()).await;
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
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
}

#[tokio::test]
async fn an_unknown_server_is_a_404() {
    let app = spawn_app().await;
    let response = app.client.post(app.mcp_url("no-such-server")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
