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
    Background, TestApp, background, python_probe, repo, session::sse_messages, spawn_app,
    stateless_call, venv_bin,
};

mod sessions;

struct Setup {
    app: TestApp,
    url: String,
    token: String,
    member_id: uuid::Uuid,
    upstream: Background,
    admin: gatehouse::accounts::session::Admin,
    server_id: uuid::Uuid,
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
        upstream,
        admin,
        server_id: server.id,
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
    let response = call_adjusted(
        &setup,
        json!("p-1"),
        "count_up",
        json!({ "steps": 3 }),
        |b| b,
    )
    .await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    let messages = sse_messages(&text);
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

/// A stateless `tools/call` as `stateless_call` sends it, with the headers changed by `adjust`.
async fn call_adjusted(
    setup: &Setup,
    id: Value,
    tool: &str,
    arguments: Value,
    adjust: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> reqwest::Response {
    let request = json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {
            "name": tool, "arguments": arguments,
            "_meta": {
                "progressToken": "tok-1",
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    });
    let builder = setup
        .app
        .client
        .post(&setup.url)
        .bearer_auth(&setup.token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .json(&request);
    adjust(builder).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_origin_a_narrow_accept_or_a_repeated_header_is_refused_as_on_every_path() {
    let setup = modern_upstream(&["--json"], None).await;
    let args = json!({ "a": 1, "b": 2 });
    let foreign = call_adjusted(&setup, json!(1), "add", args.clone(), |b| {
        b.header("origin", "https://evil.example")
    })
    .await;
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    let narrow = call_adjusted(&setup, json!(2), "add", args.clone(), |b| {
        let mut accept = reqwest::header::HeaderMap::new();
        accept.insert("accept", "application/json".parse().unwrap());
        b.headers(accept)
    })
    .await;
    assert_eq!(narrow.status(), StatusCode::NOT_ACCEPTABLE);
    let repeated = call_adjusted(&setup, json!(3), "add", args.clone(), |b| {
        b.header("mcp-method", "tools/list")
    })
    .await;
    assert_eq!(repeated.status(), StatusCode::BAD_REQUEST);
    assert!(
        rows(&setup).await.is_empty(),
        "refused requests are not calls"
    );
    // The same call with the headers in order goes through.
    let fine = call_adjusted(&setup, json!(4), "add", args, |b| b).await;
    assert_eq!(fine.status(), StatusCode::OK);
    assert_eq!(rows(&setup).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_mid_call_leaves_a_finished_row() {
    let setup = modern_upstream(&["--json"], None).await;
    let hung_up = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        call_adjusted(&setup, json!(1), "sleep", json!({ "seconds": 3 }), |b| b),
    )
    .await;
    assert!(hung_up.is_err(), "the call was still running");
    let mut logged = rows(&setup).await;
    for _ in 0..50 {
        if logged.first().is_some_and(|r| r.1 != "in_progress") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        logged = rows(&setup).await;
    }
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].1, "error");
    assert!(
        logged[0]
            .2
            .as_deref()
            .unwrap()
            .contains("the client went away"),
        "{logged:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_page_instead_of_an_answer_is_reported_as_an_unavailable_upstream() {
    let setup = modern_upstream(&["--json"], None).await;
    let response = call_adjusted(&setup, json!(7), "proxied", json!({}), |b| b).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the upstream's 502 is not the gateway's"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], 7);
    assert_eq!(body["result"]["isError"], true);
    assert_eq!(
        body["result"]["_meta"]["dev.gatehouse/call"]["status"],
        "upstream_unavailable"
    );
    let text = body["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("502"), "{text}");
    let logged = rows(&setup).await;
    assert_eq!(logged[0].1, "error");
    assert!(logged[0].2.as_deref().unwrap().contains("502"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_the_upstream_breaks_off_still_ends_with_an_answer() {
    let setup = modern_upstream(&[], None).await;
    let response = call_adjusted(&setup, json!("p-1"), "die_midway", json!({}), |b| b).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let messages = sse_messages(&response.text().await.unwrap());
    assert_eq!(messages[0]["method"], "notifications/progress");
    let last = messages.last().unwrap();
    assert_eq!(last["id"], "p-1");
    assert_eq!(last["result"]["isError"], true);
    assert_eq!(
        last["result"]["_meta"]["dev.gatehouse/call"]["status"],
        "upstream_unavailable"
    );
    assert_eq!(rows(&setup).await[0].1, "error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_postgres_cannot_store_as_it_is_is_stored_readably_and_holds_up_nothing() {
    let setup = modern_upstream(&["--json"], None).await;
    let (_, failed) = stateless_call(
        &setup.app.client,
        &setup.url,
        &setup.token,
        "fail",
        json!({ "message": "bad\u{0}byte" }),
    )
    .await;
    assert_eq!(failed["result"]["isError"], true, "{failed}");
    let (_, added) = stateless_call(
        &setup.app.client,
        &setup.url,
        &setup.token,
        "add",
        json!({ "a": 2, "b": 3 }),
    )
    .await;
    assert!(added["result"].is_object(), "{added}");
    let logged = rows(&setup).await;
    let summary: Vec<(&str, &str)> = logged
        .iter()
        .map(|r| (r.0.as_str(), r.1.as_str()))
        .collect();
    assert_eq!(summary, [("fail", "error"), ("add", "success")]);
    assert_eq!(
        logged[0].2.as_deref(),
        Some("Error executing tool fail: bad\u{fffd}byte")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_tool_times_out_whether_the_upstream_answers_in_json_or_a_stream() {
    for extra in [&["--json"][..], &[][..]] {
        let setup = modern_upstream(extra, None).await;
        sqlx::query("UPDATE servers SET call_timeout_ms = 500")
            .execute(&setup.app.pool)
            .await
            .unwrap();
        setup.app.state.changes.settle().await;
        let (status, body) = stateless_call(
            &setup.app.client,
            &setup.url,
            &setup.token,
            "sleep",
            json!({ "seconds": 5 }),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{extra:?}: {body}");
        assert_eq!(
            body["result"]["content"][0]["text"],
            "The tool sleep did not answer within 0.5 s and was cancelled.",
            "{extra:?}: {body}"
        );
        let logged = rows(&setup).await;
        assert_eq!(logged[0].1, "timeout", "{extra:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_went_away_is_reported_unavailable_and_logged() {
    let mut setup = modern_upstream(&["--json"], None).await;
    setup.upstream.kill().await;
    let (status, body) = stateless_call(
        &setup.app.client,
        &setup.url,
        &setup.token,
        "add",
        json!({ "a": 1, "b": 1 }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["isError"], true);
    assert_eq!(
        body["result"]["_meta"]["dev.gatehouse/call"]["status"],
        "upstream_unavailable"
    );
    let logged = rows(&setup).await;
    assert_eq!(logged[0].1, "error");
    assert!(
        logged[0]
            .2
            .as_deref()
            .unwrap()
            .contains("could not be reached"),
        "{logged:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restricted_tool_never_runs_upstream_whichever_revision_asks() {
    let setup = modern_upstream(&["--json"], Some("shout")).await;
    let ask = |tool: &'static str, arguments: Value| {
        let setup = &setup;
        async move {
            stateless_call(&setup.app.client, &setup.url, &setup.token, tool, arguments)
                .await
                .1
        }
    };
    let denied = ask("shout", json!({ "text": "hey" })).await;
    assert_eq!(denied["result"]["isError"], true, "{denied}");
    // The session revision takes the rmcp path, not the fast one.
    let out = python_probe(&[
        "--url",
        &setup.url,
        "--token",
        &setup.token,
        "--mode",
        "legacy",
        "--call",
        r#"shout={"text":"hey"}"#,
    ])
    .await;
    assert_eq!(out["calls"][0]["isError"], true, "{out}");
    let allowed = ask("add", json!({ "a": 1, "b": 1 })).await;
    assert!(allowed["result"].is_object(), "{allowed}");

    let runs = |tool: &'static str| {
        let ask = &ask;
        async move {
            let answer = ask("times_run", json!({ "tool": tool })).await;
            answer["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    assert_eq!(runs("shout").await, "0", "the denied calls never arrived");
    assert_eq!(runs("add").await, "1", "the allowed call did");
}
