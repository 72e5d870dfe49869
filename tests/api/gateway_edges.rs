//! The gateway under bad input, failing upstreams and admin changes: every case gets a clear,
//! spec-shaped answer and, for tool calls, an activity row.

use gatehouse::{
    accounts::Role,
    servers::{CommandTransport, RemoteTransport, ServerSource, ServerStatus},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, background, everything_stdio, free_port, repo, spawn_app, venv_bin};

mod sessions;

struct Gateway {
    app: TestApp,
    url: String,
    token: String,
    server_id: uuid::Uuid,
    member_id: uuid::Uuid,
    admin: gatehouse::accounts::session::Admin,
}

async fn gateway_for(source: ServerSource) -> Gateway {
    let app = spawn_app().await;
    let admin_row = app.create_user("admin@example.com", Role::Admin).await;
    let admin = app.admin(&admin_row);
    let member = app.create_user("member@example.com", Role::Member).await;
    let server = app.create_server(&admin, "Edge", source).await;
    let token = app.mint_token(&member).await;
    Gateway {
        url: app.mcp_url(&server.slug),
        token,
        server_id: server.id,
        member_id: member.id,
        admin,
        app,
    }
}

/// The Python test server (tests/clients/py/server.py) over Streamable HTTP, behind the
/// gateway. The upstream stops when the returned handle is dropped.
async fn python_gateway() -> (crate::helpers::Background, Gateway) {
    let script = repo().join("tests/clients/py/server.py");
    let upstream = background(
        &venv_bin("python"),
        &[script.to_str().unwrap(), "--port", "{port}"],
    )
    .await;
    let gw = gateway_for(ServerSource::Remote {
        url: format!("http://127.0.0.1:{}/mcp", upstream.port),
        transport: RemoteTransport::StreamableHttp,
    })
    .await;
    (upstream, gw)
}

/// Sets the server's call timeout, as an admin would, and waits until the change has reached
/// this replica's caches (the trigger tells every replica).
async fn set_call_timeout(gw: &Gateway, ms: i32) {
    sqlx::query("UPDATE servers SET call_timeout_ms = $2 WHERE id = $1")
        .bind(gw.server_id)
        .bind(ms)
        .execute(&gw.app.pool)
        .await
        .unwrap();
    gw.app.state.changes.settle().await;
}

/// One stateless (2026-07-28) request, with the headers that revision requires.
async fn modern(
    gw: &Gateway,
    method: &str,
    name: Option<&str>,
    params: Value,
) -> (StatusCode, Value) {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { "name": "edge-tests", "version": "1.0" },
    });
    let mut request = gw
        .app
        .client
        .post(&gw.url)
        .bearer_auth(&gw.token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = name {
        request = request.header("mcp-name", name);
    }
    let response = request
        .json(&json!({ "jsonrpc": "2.0", "id": 7, "method": method, "params": params }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    // A JSON body, or an SSE stream whose data lines carry the answer.
    let body = serde_json::from_str(&text).unwrap_or_else(|_| {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|m| m.get("id").is_some())
            .unwrap_or(Value::Null)
    });
    (status, body)
}

async fn call(gw: &Gateway, tool: &str, arguments: Value) -> Value {
    let (status, body) = modern(
        gw,
        "tools/call",
        Some(tool),
        json!({ "name": tool, "arguments": arguments }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn last_row(gw: &Gateway) -> (String, String, Option<String>) {
    gw.app.state.gateway.flush_activity().await;
    sqlx::query_as("SELECT tool_name, status::text, error FROM tool_calls WHERE user_id = $1 ORDER BY started_at DESC LIMIT 1")
        .bind(gw.member_id)
        .fetch_one(&gw.app.pool)
        .await
        .expect("an activity row")
}

fn raw_post(gw: &Gateway) -> reqwest::RequestBuilder {
    gw.app
        .client
        .post(&gw.url)
        .bearer_auth(&gw.token)
        .header("accept", "application/json, text/event-stream")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_client_calls_a_tool_and_gets_result_type() {
    let gw = gateway_for(everything_stdio()).await;
    let body = call(&gw, "echo", json!({ "message": "modern" })).await;
    assert!(
        body["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("modern"),
        "{body}"
    );
    assert_eq!(
        body["result"]["resultType"], "complete",
        "the new revision requires resultType: {body}"
    );
    let row = last_row(&gw).await;
    assert_eq!((row.0.as_str(), row.1.as_str()), ("echo", "success"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_client_gets_result_type_on_completions_from_an_older_upstream() {
    let gw = gateway_for(everything_stdio()).await;
    let (status, body) = modern(
        &gw,
        "completion/complete",
        None,
        json!({
            "ref": { "type": "ref/prompt", "name": "completable-prompt" },
            "argument": { "name": "department", "value": "Eng" },
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["completion"]["values"][0], "Engineering");
    assert_eq!(
        body["result"]["resultType"], "complete",
        "the new revision requires resultType: {body}"
    );
}

#[tokio::test]
async fn malformed_json_is_a_parse_error() {
    let gw = gateway_for(everything_stdio()).await;
    let response = raw_post(&gw)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32700, "{body}");
}

#[tokio::test]
async fn a_wrong_accept_header_is_406_and_a_wrong_content_type_415() {
    let gw = gateway_for(everything_stdio()).await;
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let wrong_accept = gw
        .app
        .client
        .post(&gw.url)
        .bearer_auth(&gw.token)
        .header("accept", "text/html")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_accept.status(), StatusCode::NOT_ACCEPTABLE);
    let wrong_type = raw_post(&gw)
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let gw = gateway_for(everything_stdio()).await;
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"message":"{}"}}}}}}"#,
        "x".repeat(5 * 1024 * 1024)
    );
    let response = raw_post(&gw)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_foreign_origin_is_403() {
    let gw = gateway_for(everything_stdio()).await;
    let response = raw_post(&gw)
        .header("content-type", "application/json")
        .header("origin", "https://evil.example")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn invalid_revoked_and_url_tokens_are_refused() {
    let gw = gateway_for(everything_stdio()).await;
    let post = |token: &str| {
        gw.app
            .client
            .post(&gw.url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
    };
    let wrong = post("gh_pat_not-a-real-token").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(
        wrong.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );

    let in_url = gw
        .app
        .client
        .post(format!("{}?access_token={}", gw.url, gw.token))
        .send()
        .await
        .unwrap();
    assert_eq!(in_url.status(), StatusCode::BAD_REQUEST);

    // Revoking takes effect on the very next request.
    let member = gatehouse::accounts::db::find_by_id(&gw.app.pool, gw.member_id)
        .await
        .unwrap()
        .unwrap();
    let user = gatehouse::accounts::session::CurrentUser::from(&member);
    let tokens = gatehouse::tokens::service::list(&gw.app.state, &user)
        .await
        .unwrap();
    gatehouse::tokens::service::revoke(&gw.app.state, &user, tokens[0].id)
        .await
        .unwrap();
    let revoked = post(&gw.token).send().await.unwrap();
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
    assert!(revoked.text().await.unwrap().contains("revoked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_tool_times_out_with_a_clear_message_and_a_timeout_row() {
    let (_upstream, gw) = python_gateway().await;
    set_call_timeout(&gw, 500).await;

    let body = call(&gw, "sleep", json!({ "seconds": 5 })).await;
    assert_eq!(body["result"]["isError"], true, "{body}");
    assert_eq!(
        body["result"]["content"][0]["text"],
        "The tool sleep did not answer within 0.5 s and was cancelled."
    );
    let row = last_row(&gw).await;
    assert_eq!((row.0.as_str(), row.1.as_str()), ("sleep", "timeout"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_error_is_passed_on_and_logged_as_error() {
    let (_upstream, gw) = python_gateway().await;
    let body = call(&gw, "fail", json!({ "message": "the database is on fire" })).await;
    assert_eq!(body["result"]["isError"], true, "{body}");
    let row = last_row(&gw).await;
    assert_eq!((row.0.as_str(), row.1.as_str()), ("fail", "error"));
    let error = row.2.unwrap_or_default();
    assert!(
        error.contains("the database is on fire"),
        "logged {error:?} for {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_is_explained_and_the_call_logged() {
    let port = free_port();
    let gw = gateway_for(ServerSource::Remote {
        url: format!("http://127.0.0.1:{port}/mcp"),
        transport: RemoteTransport::StreamableHttp,
    })
    .await;
    let body = call(&gw, "echo", json!({ "message": "anyone?" })).await;
    assert_eq!(body["result"]["isError"], true, "{body}");
    let text = body["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("Edge is unavailable"), "{text}");
    let row = last_row(&gw).await;
    assert_eq!((row.0.as_str(), row.1.as_str()), ("echo", "error"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_command_reports_what_it_printed() {
    let gw = gateway_for(ServerSource::Command {
        command: "sh".into(),
        args: vec!["-c".into(), "echo 'missing API_KEY' >&2; exit 3".into()],
        transport: CommandTransport::Stdio,
        path: "/mcp".into(),
    })
    .await;
    let body = call(&gw, "anything", json!({})).await;
    let text = body["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(text.contains("missing API_KEY"), "{body}");
    let row = last_row(&gw).await;
    assert_eq!(row.1, "error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_refuses_calls_and_new_clients_and_enabling_restores_the_same_session() {
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    use rmcp::{
        ServiceExt, model::CallToolRequestParams, transport::StreamableHttpClientTransport,
    };

    let gw = gateway_for(everything_stdio()).await;
    let config =
        StreamableHttpClientTransportConfig::with_uri(gw.url.clone()).auth_header(gw.token.clone());
    let client =
        ().serve(StreamableHttpClientTransport::from_config(config))
            .await
            .expect("connects");
    let echo = |message: &str| {
        CallToolRequestParams::new("echo")
            .with_arguments(json!({ "message": message }).as_object().unwrap().clone())
    };
    let before = client.call_tool(echo("before")).await.unwrap();
    assert_eq!(
        before.is_error,
        Some(false).filter(|_| false).or(before.is_error)
    );

    gatehouse::servers::service::set_status(
        &gw.app.state,
        &gw.admin,
        gw.server_id,
        ServerStatus::Disabled,
    )
    .await
    .unwrap();
    let during = client.call_tool(echo("during")).await.unwrap();
    assert_eq!(during.is_error, Some(true));
    let text = serde_json::to_value(&during).unwrap()["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        text,
        "Edge is disabled by your admin. Calls fail until it is enabled again."
    );
    let row = last_row(&gw).await;
    assert_eq!(
        (row.1.as_str(), row.2.as_deref()),
        ("error", Some(text.as_str()))
    );

    let config =
        StreamableHttpClientTransportConfig::with_uri(gw.url.clone()).auth_header(gw.token.clone());
    let newcomer = ().serve(StreamableHttpClientTransport::from_config(config)).await;
    assert!(
        newcomer.is_err(),
        "a disabled server cannot be added to new clients"
    );

    gatehouse::servers::service::set_status(
        &gw.app.state,
        &gw.admin,
        gw.server_id,
        ServerStatus::Active,
    )
    .await
    .unwrap();
    let after = client.call_tool(echo("after")).await.unwrap();
    assert_ne!(
        after.is_error,
        Some(true),
        "the same session works again: {after:?}"
    );

    gatehouse::servers::service::set_status(
        &gw.app.state,
        &gw.admin,
        gw.server_id,
        ServerStatus::Deleted,
    )
    .await
    .unwrap();
    let gone = gw
        .app
        .client
        .post(&gw.url)
        .bearer_auth(&gw.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        gone.status(),
        StatusCode::NOT_FOUND,
        "a deleted server is unusable"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_call_is_visible_as_in_progress() {
    let (_upstream, gw) = python_gateway().await;
    let (client, url, token) = (gw.app.client.clone(), gw.url.clone(), gw.token.clone());
    let slow = tokio::spawn(async move {
        crate::helpers::stateless_call(&client, &url, &token, "sleep", json!({ "seconds": 1.5 }))
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let running = last_row(&gw).await;
    assert_eq!(
        (running.0.as_str(), running.1.as_str()),
        ("sleep", "in_progress")
    );
    let (status, body) = slow.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let done = last_row(&gw).await;
    assert_eq!(done.1, "success");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_name_header_that_contradicts_the_body_is_a_header_mismatch() {
    let gw = gateway_for(everything_stdio()).await;
    let response = raw_post(&gw)
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "get-sum")
        .json(&json!({
            "jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {
                "name": "echo", "arguments": { "message": "x" },
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                },
            },
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32020, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_message_endpoint_answers_bad_bodies_with_json_rpc_errors() {
    let gw = gateway_for(everything_stdio()).await;
    let (stream, message_url) = open_legacy_stream(&gw).await;
    let post = |body: &'static str| {
        gw.app
            .client
            .post(&message_url)
            .bearer_auth(&gw.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let unreadable = post("{not json").await.unwrap();
    assert_eq!(unreadable.status(), StatusCode::BAD_REQUEST);
    let body: Value = unreadable.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32700, "{body}");
    let not_a_message = post(r#"{"hello":"world"}"#).await.unwrap();
    assert_eq!(not_a_message.status(), StatusCode::BAD_REQUEST);
    let body: Value = not_a_message.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32600, "{body}");
    drop(stream);
}

/// Opens a legacy (2024-11-05) event stream; its first event names the endpoint this
/// connection's messages go to.
async fn open_legacy_stream(gw: &Gateway) -> (reqwest::Response, String) {
    let mut stream = gw
        .app
        .client
        .get(format!("{}/sse", gw.url))
        .bearer_auth(&gw.token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let mut seen = String::new();
    let endpoint = loop {
        let chunk = stream.chunk().await.unwrap().expect("the endpoint event");
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(data) = seen
            .split("\n\n")
            .find(|event| event.contains("event: endpoint"))
            .and_then(|event| event.lines().find_map(|l| l.strip_prefix("data:")))
        {
            break data.trim().to_owned();
        }
    };
    let message_url = if endpoint.starts_with("http") {
        endpoint
    } else {
        gw.app.url(&endpoint)
    };
    (stream, message_url)
}
