//! Stateless calls to an upstream of the same revision are relayed as they came: the caller's
//! metadata reaches the server, the gateway's token never does, progress streams through, and
//! policy and logging are the same as on every other path.

use gatehouse::{
    accounts::Role,
    servers::{RemoteTransport, ServerSource},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Background, TestApp, background, python_probe, repo, spawn_app, stateless_call, venv_bin,
};

struct Setup {
    app: TestApp,
    url: String,
    token: String,
    member_id: uuid::Uuid,
    _upstream: Background,
}

async fn modern_upstream(extra: &[&str], restricted: Option<&str>) -> Setup {
    let script = repo().join("tests/clients/py/server.py");
    let mut args = vec![script.to_str().unwrap(), "--port", "{port}"];
    args.extend_from_slice(extra);
    let upstream = background(&venv_bin("python"), &args).await;
    let app = spawn_app().await;
    let admin_row = app.create_user("admin@example.com", Role::Admin).await;
    let admin = app.admin(&admin_row);
    let member = app.create_user("member@example.com", Role::Member).await;
    let source = ServerSource::Remote {
        url: format!("http://127.0.0.1:{}/mcp", upstream.port),
        transport: RemoteTransport::StreamableHttp,
    };
    let server = app.create_server(&admin, "Modern", source).await;
    if let Some(tool) = restricted {
        gatehouse::groups::service::restrict_tool(
            &app.state,
            &admin,
            member.group_id,
            server.id,
            tool,
        )
        .await
        .unwrap();
    }
    let token = app.mint_token(&member).await;
    let url = app.mcp_url(&server.slug);
    // One discovery through the gateway connects it to the upstream.
    let out = python_probe(&["--url", &url, "--token", &token, "--mode", "2026-07-28"]).await;
    assert!(out.get("error").is_none(), "{out}");
    Setup {
        url,
        token,
        member_id: member.id,
        app,
        _upstream: upstream,
    }
}

async fn rows(setup: &Setup) -> Vec<(String, String, Option<String>, Option<String>)> {
    setup.app.state.gateway.flush_activity().await;
    sqlx::query_as("SELECT tool_name, status::text, error, client_name FROM tool_calls WHERE user_id = $1 ORDER BY started_at")
        .bind(setup.member_id)
        .fetch_all(&setup.app.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_headers_reach_the_upstream_but_never_its_token() {
    let setup = modern_upstream(&[], None).await;
    let (status, body) = stateless_call(
        &setup.app.client,
        &setup.url,
        &setup.token,
        "headers",
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let text = body["result"]["content"][0]["text"].as_str().unwrap();
    let seen: Value = serde_json::from_str(text).unwrap();
    assert_eq!(seen["mcp-name"], "headers");
    assert_eq!(seen["mcp-method"], "tools/call");
    assert_eq!(seen["mcp-protocol-version"], "2026-07-28");
    assert!(
        seen.get("authorization").is_none(),
        "the gateway's token must not reach upstreams: {seen}"
    );
    let logged = rows(&setup).await;
    assert_eq!(logged[0].1, "success");
    assert_eq!(
        logged[0].3.as_deref(),
        Some("gatehouse-tests"),
        "the caller's own client name is logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_streams_through_before_the_answer() {
    let setup = modern_upstream(&[], None).await;
    let request = json!({
        "jsonrpc": "2.0", "id": "p-1", "method": "tools/call",
        "params": {
            "name": "count_up", "arguments": { "steps": 3 },
            "_meta": {
                "progressToken": "tok-1",
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    });
    let response = setup
        .app
        .client
        .post(&setup.url)
        .bearer_auth(&setup.token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "count_up")
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    let messages: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str(d.trim()).ok())
        .collect();
    let progress: Vec<&Value> = messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 3, "{text}");
    assert_eq!(progress[0]["params"]["progressToken"], "tok-1");
    let last = messages.last().unwrap();
    assert_eq!(last["id"], "p-1");
    assert_eq!(last["result"]["content"][0]["text"], "counted to 3");
    assert_eq!(rows(&setup).await[0].1, "success");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_answering_upstream_is_relayed_and_restrictions_still_apply() {
    let setup = modern_upstream(&["--json"], Some("shout")).await;
    let (status, body) = stateless_call(
        &setup.app.client,
        &setup.url,
        &setup.token,
        "add",
        json!({ "a": 20, "b": 22 }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("42"),
        "{body}"
    );
    let (_, denied) = stateless_call(
        &setup.app.client,
        &setup.url,
        &setup.token,
        "shout",
        json!({ "text": "hey" }),
    )
    .await;
    assert_eq!(denied["result"]["isError"], true);
    assert_eq!(
        denied["result"]["content"][0]["text"],
        "The tool shout is restricted by your admin."
    );
    let logged = rows(&setup).await;
    let statuses: Vec<&str> = logged.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(statuses, ["success", "permission_denied"]);
}
