//! Calls of session clients (2025-11-25) are relayed into the gateway's own session with the
//! upstream, which every client session of the server shares: each client gets its own
//! answers, progress and log messages under its own ids, its trace headers reach the upstream,
//! its cancellation and the server's time limit reach the upstream, a question the upstream
//! asks is refused for a client that declared it cannot answer (and relayed to one that can),
//! an upstream that closes the stream early is asked for the rest, and one that forgot the
//! session is reached in a new one.
//!
//! The Python upstream counts the runs that came with the client's `traceparent`, which only
//! the fast paths pass on: each test checks which path its calls took.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use super::{Setup, modern_upstream, rows};
use crate::helpers::{
    background_on, repo,
    session::{SessionClient, TRACE, sse_messages},
    venv_bin,
};

async fn open_session(setup: &Setup, capabilities: Value) -> SessionClient {
    SessionClient::initialize(&setup.app.client, &setup.url, &setup.token, capabilities).await
}

/// The answer among a call's messages.
fn answer(messages: &[Value]) -> &Value {
    messages
        .iter()
        .find(|m| m.get("result").is_some() || m.get("error").is_some())
        .unwrap_or_else(|| panic!("no answer among {messages:?}"))
}

fn text(answer: &Value) -> &str {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {answer}"))
}

fn progress(messages: &[Value]) -> Vec<(Value, Value)> {
    messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .map(|m| {
            (
                m["params"]["progressToken"].clone(),
                m["params"]["progress"].clone(),
            )
        })
        .collect()
}

/// One of the Python upstream's counters (`times_run`).
async fn times_run(client: &SessionClient, counter: &str) -> String {
    // A client never uses an id twice in a session.
    static ASKED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let id = ASKED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let messages = client
        .call(
            json!(format!("count-{id}")),
            "times_run",
            json!({ "tool": counter }),
        )
        .await;
    text(answer(&messages)).to_owned()
}

/// Asks `times_run` every 50 ms until it says `expected`, for at most `within`.
async fn wait_for_count(client: &SessionClient, counter: &str, expected: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let count = times_run(client, counter).await;
        if count == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{counter}: {count}, not {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts a call of the upstream's `sleep` (as request `id`), answered in the background.
fn start_sleep(
    client: &SessionClient,
    id: u32,
    seconds: f64,
) -> tokio::task::JoinHandle<Vec<Value>> {
    let client = client.clone();
    tokio::spawn(async move {
        client
            .call(json!(id), "sleep", json!({ "seconds": seconds }))
            .await
    })
}

/// The status and error of each `sleep` call, in the order they started.
async fn sleep_rows(setup: &Setup) -> Vec<(String, Option<String>)> {
    rows(setup)
        .await
        .into_iter()
        .filter(|row| row.0 == "sleep")
        .map(|row| (row.1, row.2))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_call_carries_the_callers_trace_headers_up_and_its_progress_back() {
    let setup = modern_upstream(&[], None).await;
    let client = open_session(&setup, json!({})).await;

    let messages = client.call(json!("h"), "headers", json!({})).await;
    let reply = answer(&messages);
    assert_eq!(reply["id"], "h", "the client's own id comes back");
    let seen: Value = serde_json::from_str(text(reply)).unwrap();
    assert_eq!(seen["traceparent"], TRACE);
    assert!(seen.get("authorization").is_none(), "{seen}");
    assert_ne!(
        seen["mcp-session-id"].as_str(),
        Some(client.id.as_str()),
        "the upstream sees the gateway's session, not the client's"
    );

    let (_, messages) = client
        .send(
            client.request(reqwest::Method::POST),
            json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/call",
                "params": { "name": "count_up", "arguments": { "steps": 3 },
                    "_meta": { "progressToken": "mine" } } }),
        )
        .await;
    assert_eq!(
        progress(&messages),
        [
            (json!("mine"), json!(1)),
            (json!("mine"), json!(2)),
            (json!("mine"), json!(3))
        ]
    );
    let reply = answer(&messages);
    assert_eq!(reply["id"], 7);
    assert_eq!(text(reply), "counted to 3");
    assert_eq!(
        messages.last(),
        Some(reply),
        "progress comes before the answer"
    );
    assert_eq!(times_run(&client, "count_up traced").await, "1");

    let logged = rows(&setup).await;
    let expected = |tool: &str| {
        (
            tool.to_owned(),
            "success".to_owned(),
            None,
            Some("edge-tests".to_owned()),
        )
    };
    assert_eq!(logged[..2], [expected("headers"), expected("count_up")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_using_the_same_ids_each_get_their_own_answers_progress_and_log_messages() {
    let setup = modern_upstream(&[], None).await;
    let (first, second) = tokio::join!(
        open_session(&setup, json!({})),
        open_session(&setup, json!({}))
    );
    let count = |client: SessionClient, steps: u32| async move {
        client
            .send(
                client.request(reqwest::Method::POST),
                json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": { "name": "count_up", "arguments": { "steps": steps },
                        "_meta": { "progressToken": 1 } } }),
            )
            .await
            .1
    };
    let (four, two) = tokio::join!(count(first.clone(), 4), count(second.clone(), 2));
    assert_eq!(text(answer(&four)), "counted to 4");
    assert_eq!(text(answer(&two)), "counted to 2");
    assert_eq!(progress(&four).len(), 4, "{four:?}");
    assert_eq!(progress(&two).len(), 2, "{two:?}");
    assert!(
        progress(&four)
            .iter()
            .chain(progress(&two).iter())
            .all(|(token, _)| *token == json!(1)),
        "each client sees its own token"
    );
    assert_eq!(times_run(&first, "count_up traced").await, "2");

    // A log message the upstream sends during a call goes to that call's caller.
    let (noted, quiet) = tokio::join!(
        first.call(json!(2), "note", json!({ "text": "for the first" })),
        second.call(json!(2), "shout", json!({ "text": "quiet" }))
    );
    let logs: Vec<&Value> = noted
        .iter()
        .filter(|m| m["method"] == "notifications/message")
        .collect();
    assert_eq!(logs.len(), 1, "{noted:?}");
    assert_eq!(logs[0]["params"]["data"], "for the first");
    assert_eq!(text(answer(&noted)), "noted");
    assert_eq!(quiet.len(), 1, "only the answer: {quiet:?}");
    assert_eq!(text(answer(&quiet)), "QUIET");
    assert_eq!(times_run(&first, "note traced").await, "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_on_another_request_or_the_time_limit_stops_the_call_upstream() {
    let setup = modern_upstream(&[], None).await;
    let client = open_session(&setup, json!({})).await;
    let running = start_sleep(&client, 5, 30.0);
    wait_for_count(&client, "sleep started", "1", Duration::from_secs(5)).await;
    let (status, _) = client
        .send(
            client.request(reqwest::Method::POST),
            json!({ "jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": { "requestId": 5, "reason": "enough" } }),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED);
    wait_for_count(&client, "sleep cancelled", "1", Duration::from_secs(4)).await;
    let messages = running.await.unwrap();
    assert!(
        messages.iter().all(|m| m.get("result").is_none()),
        "a cancelled call is not answered: {messages:?}"
    );

    sqlx::query("UPDATE servers SET call_timeout_ms = 1000")
        .execute(&setup.app.pool)
        .await
        .unwrap();
    setup.app.state.changes.settle().await;
    let timed_out = start_sleep(&client, 6, 30.0).await.unwrap();
    assert_eq!(
        text(answer(&timed_out)),
        "The tool sleep did not answer within 1 s and was cancelled."
    );
    wait_for_count(&client, "sleep cancelled", "2", Duration::from_secs(4)).await;
    assert_eq!(times_run(&client, "sleep started traced").await, "2");

    assert_eq!(
        sleep_rows(&setup).await,
        [
            (
                "error".to_owned(),
                Some("Cancelled by the client.".to_owned())
            ),
            (
                "timeout".to_owned(),
                Some("The tool sleep did not answer within 1 s and was cancelled.".to_owned())
            ),
        ]
    );
    let still = client
        .call(json!(7), "shout", json!({ "text": "still here" }))
        .await;
    assert_eq!(text(answer(&still)), "STILL HERE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_leaves_the_call_running_upstream_and_its_row_finished() {
    let setup = modern_upstream(&[], None).await;
    let client = open_session(&setup, json!({})).await;
    let running = start_sleep(&client, 1, 1.0);
    wait_for_count(&client, "sleep started", "1", Duration::from_secs(5)).await;
    running.abort();

    // A disconnection is not a cancellation in this revision: the tool runs to its end.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(times_run(&client, "sleep cancelled").await, "0");
    assert_eq!(
        sleep_rows(&setup).await,
        [(
            "error".to_owned(),
            Some("Abandoned before the upstream answered: the client went away.".to_owned())
        )]
    );
    assert_eq!(times_run(&client, "sleep started traced").await, "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_the_server_ends_a_call_running_on_it_at_once() {
    let setup = modern_upstream(&[], None).await;
    let client = open_session(&setup, json!({})).await;
    let running = start_sleep(&client, 1, 30.0);
    wait_for_count(&client, "sleep started", "1", Duration::from_secs(5)).await;
    assert_eq!(times_run(&client, "sleep started traced").await, "1");

    gatehouse::servers::service::set_status(
        &setup.app.state,
        &setup.admin,
        setup.server_id,
        gatehouse::servers::ServerStatus::Disabled,
    )
    .await
    .unwrap();
    let messages = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the call ends when its server is disabled")
        .unwrap();
    let expected = "Modern is unavailable: the gateway closed its connection to it (the server \
                    was disabled or deleted, or the gateway is stopping)";
    assert_eq!(text(answer(&messages)), expected);
    assert_eq!(
        sleep_rows(&setup).await,
        [("error".to_owned(), Some(expected.to_owned()))]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_from_the_upstream_is_refused_for_a_client_that_cannot_answer_and_relayed_to_one_that_can()
 {
    let setup = modern_upstream(&[], None).await;

    // A client that declared no elicitation: the gateway answers for it at once.
    let unable = open_session(&setup, json!({})).await;
    let started = Instant::now();
    let messages = unable.call(json!(1), "ask", json!({})).await;
    let said = text(answer(&messages));
    assert!(said.starts_with("could not ask:"), "{said}");
    assert!(
        messages.iter().all(|m| m.get("method").is_none()),
        "the question never reaches it: {messages:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // A client that declared it takes rmcp's path: the question comes on the call's stream,
    // and its answer goes back to the upstream.
    let able = open_session(&setup, json!({ "elicitation": {} })).await;
    let response = able
        .request(reqwest::Method::POST)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": { "name": "ask", "arguments": {} } }))
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    let mut answered = false;
    let reply = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = stream.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            for message in sse_messages(&seen) {
                if message["method"] == "elicitation/create" && !answered {
                    answered = true;
                    let status = able
                        .post(json!({ "jsonrpc": "2.0", "id": message["id"],
                            "result": { "action": "decline" } }))
                        .await;
                    assert_eq!(status, reqwest::StatusCode::ACCEPTED);
                }
                if message["id"] == 1 && message.get("result").is_some() {
                    return message;
                }
            }
        }
        panic!("the stream ended without an answer: {seen}");
    })
    .await
    .expect("the call was answered");
    assert!(answered, "the question reached the client");
    assert_eq!(text(&reply), "the client answered: decline");
    assert_eq!(
        times_run(&unable, "ask traced").await,
        "1",
        "only the call of the client that cannot be asked went around rmcp"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_answering_upstream_is_relayed_in_a_session_and_restrictions_still_apply() {
    let setup = modern_upstream(&["--json"], Some("add")).await;
    let client = open_session(&setup, json!({})).await;
    let response = client
        .request(reqwest::Method::POST)
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({ "jsonrpc": "2.0", "id": "j", "method": "tools/call",
            "params": { "name": "shout", "arguments": { "text": "json" } } }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    let reply: Value = response.json().await.unwrap();
    assert_eq!((reply["id"].clone(), text(&reply)), (json!("j"), "JSON"));

    let denied = client
        .call(json!("d"), "add", json!({ "a": 1, "b": 2 }))
        .await;
    let denied = answer(&denied);
    assert_eq!(denied["result"]["isError"], true);
    assert_eq!(
        denied["result"]["_meta"]["dev.gatehouse/call"]["status"],
        "permission_denied"
    );
    assert_eq!(
        times_run(&client, "add").await,
        "0",
        "it never ran upstream"
    );
    assert_eq!(times_run(&client, "shout traced").await, "1");
    let logged = rows(&setup).await;
    assert_eq!(
        (logged[0].1.as_str(), logged[1].1.as_str()),
        ("success", "permission_denied")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_closes_the_stream_before_answering_is_asked_for_the_rest() {
    let setup = modern_upstream(&["--resumable"], None).await;
    let client = open_session(&setup, json!({})).await;
    let (_, messages) = client
        .send(
            client.request(reqwest::Method::POST),
            json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": { "name": "pause", "arguments": { "seconds": 0.3 },
                    "_meta": { "progressToken": "p" } } }),
        )
        .await;
    assert_eq!(text(answer(&messages)), "paused 0.3");
    assert_eq!(
        progress(&messages),
        [(json!("p"), json!(1)), (json!("p"), json!(2))],
        "progress from before and after the stream was picked up again"
    );
    assert_eq!(times_run(&client, "pause traced").await, "1");

    assert!(
        rows(&setup).await.iter().all(|row| row.1 == "success"),
        "every call succeeded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_restarted_and_forgot_the_session_is_reached_in_a_new_one() {
    let mut setup = modern_upstream(&[], None).await;
    let client = open_session(&setup, json!({})).await;
    let before = client
        .call(json!(1), "shout", json!({ "text": "before" }))
        .await;
    assert_eq!(text(answer(&before)), "BEFORE");

    let port = setup.upstream.port;
    setup.upstream.kill().await;
    let script = repo().join("tests/clients/py/server.py");
    setup.upstream = background_on(
        port,
        &venv_bin("python"),
        &[script.to_str().unwrap(), "--port", "{port}"],
    )
    .await;

    let after = client
        .call(json!(2), "shout", json!({ "text": "after" }))
        .await;
    assert_eq!(text(answer(&after)), "AFTER");
    assert_eq!(
        times_run(&client, "shout traced").await,
        "1",
        "the restarted upstream got the call on the fast path"
    );
    let logged = rows(&setup).await;
    assert!(logged.iter().all(|row| row.1 == "success"), "{logged:?}");
}
