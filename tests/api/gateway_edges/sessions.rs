//! Ending a call, or the session it runs in, reaches the upstream: a call the client gives
//! up, a session it deletes or an event stream it closes cancels the tool upstream, and the
//! row says how the call ended. A session answers only to the person who opened it.

use std::time::Duration;

use gatehouse::accounts::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Gateway, call, open_legacy_stream, python_gateway, set_call_timeout};
use crate::helpers::{
    python_probe,
    session::{SessionClient, sse_messages},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_given_up_by_its_client_or_timed_out_is_cancelled_upstream_too() {
    let (_upstream, gw) = python_gateway().await;
    let sleep = r#"sleep={"seconds": 30}"#;
    // The session revision cancels with `notifications/cancelled`, the stateless one by
    // closing the response stream; the SDK does either when its caller stops waiting.
    for mode in ["legacy", "2026-07-28"] {
        let out = python_probe(&[
            "--url",
            &gw.url,
            "--token",
            &gw.token,
            "--mode",
            mode,
            "--cancel-after",
            "1",
            "--call",
            sleep,
        ])
        .await;
        assert_eq!(out["calls"][0]["cancelled"], true, "{mode}: {out}");
    }
    set_call_timeout(&gw, 1000).await;
    let body = call(&gw, "sleep", json!({ "seconds": 30 })).await;
    assert_eq!(
        body["result"]["content"][0]["text"],
        "The tool sleep did not answer within 1 s and was cancelled."
    );

    // The upstream stopped all three sleeps, rather than running them to the end.
    assert_eq!(
        count_reaches(&gw, "sleep cancelled", "3", Duration::from_secs(10)).await,
        "3",
        "sleeps the upstream saw cancelled"
    );

    gw.app.state.gateway.flush_activity().await;
    let rows: Vec<(String, Option<String>, i32)> = sqlx::query_as(
        "SELECT status::text, error, latency_ms FROM tool_calls WHERE tool_name = 'sleep' ORDER BY started_at",
    )
    .fetch_all(&gw.app.pool)
    .await
    .unwrap();
    let statuses: Vec<(&str, Option<&str>)> = rows
        .iter()
        .map(|r| (r.0.as_str(), r.1.as_deref()))
        .collect();
    // The session client sends its cancel and, without waiting for it, deletes its session;
    // whichever arrives first ends the call.
    let session_call = [
        ("error", Some("Cancelled by the client.")),
        ("error", Some("The session ended before the tool answered.")),
    ];
    assert!(session_call.contains(&statuses[0]), "{statuses:?}");
    assert_eq!(
        statuses[1..],
        [
            (
                "error",
                Some("Abandoned before the upstream answered: the client went away.")
            ),
            (
                "timeout",
                Some("The tool sleep did not answer within 1 s and was cancelled.")
            ),
        ]
    );
    assert!(
        rows.iter().all(|r| r.2 < 5_000),
        "each ended when it was given up: {rows:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_session_cancels_its_running_calls_upstream_at_once_and_the_row_says_so() {
    let (_upstream, gw) = python_gateway().await;
    let session = SessionClient::initialize(&gw.app.client, &gw.url, &gw.token, json!({})).await;
    let running = {
        let session = session.clone();
        tokio::spawn(async move {
            session
                .post(json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call",
                    "params": { "name": "sleep", "arguments": { "seconds": 30 } } }))
                .await
        })
    };
    wait_until_sleeping(&gw).await;

    let deleted = session.delete().await.status();
    assert!(deleted.is_success(), "the session is deleted: {deleted}");
    assert_the_sleep_ended_with_its_session(&gw).await;
    running.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_answers_only_to_the_person_who_opened_it() {
    let (_upstream, gw) = python_gateway().await;
    let session = SessionClient::initialize(&gw.app.client, &gw.url, &gw.token, json!({})).await;
    let someone = gw
        .app
        .create_user("someone@example.com", Role::Member)
        .await;
    let intruder = SessionClient {
        token: gw.app.mint_token(&someone).await,
        ..session.clone()
    };
    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" });

    assert_eq!(intruder.post(list.clone()).await, StatusCode::FORBIDDEN);
    let listen = intruder
        .request(reqwest::Method::GET)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(listen.status(), StatusCode::FORBIDDEN);
    let refused = intruder.delete().await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body["error_description"],
        "This session belongs to someone else."
    );

    assert_eq!(
        session.post(list).await,
        StatusCode::OK,
        "the session is still its owner's"
    );
    assert!(session.delete().await.status().is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_message_the_upstream_sends_during_a_call_reaches_only_the_callers_session() {
    let (_upstream, gw) = python_gateway().await;
    // Clients that can be asked mid-call take rmcp's path, where everyone's calls share one
    // upstream session and a log message names no request.
    let able = json!({ "elicitation": {} });
    let caller = SessionClient::initialize(&gw.app.client, &gw.url, &gw.token, able.clone()).await;
    let someone = gw
        .app
        .create_user("someone@example.com", Role::Member)
        .await;
    let token = gw.app.mint_token(&someone).await;
    let bystander = SessionClient::initialize(&gw.app.client, &gw.url, &token, able).await;
    let listen = |session: &SessionClient| {
        session
            .request(reqwest::Method::GET)
            .header("accept", "text/event-stream")
            .send()
    };
    let (heard_by_caller, heard_by_bystander) = (
        listen(&caller).await.unwrap(),
        listen(&bystander).await.unwrap(),
    );

    let messages = caller
        .call(json!(2), "note", json!({ "text": "for the caller only" }))
        .await;
    assert_eq!(
        messages.last().unwrap()["result"]["content"][0]["text"],
        "noted"
    );
    let (heard_by_caller, heard_by_bystander) = tokio::join!(
        read_for(heard_by_caller, Duration::from_secs(1)),
        read_for(heard_by_bystander, Duration::from_secs(1))
    );
    let logged = |heard: &str| {
        sse_messages(heard).iter().any(|m| {
            m["method"] == "notifications/message" && m["params"]["data"] == "for the caller only"
        })
    };
    assert!(
        logged(&heard_by_caller),
        "the caller heard it: {heard_by_caller}"
    );
    assert!(
        !logged(&heard_by_bystander),
        "no one else did: {heard_by_bystander}"
    );
}

/// What an event stream carried within `within`.
async fn read_for(response: reqwest::Response, within: Duration) -> String {
    use futures::StreamExt;
    let mut stream = response.bytes_stream();
    let mut heard = String::new();
    let _ = tokio::time::timeout(within, async {
        while let Some(Ok(chunk)) = stream.next().await {
            heard.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    heard
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_legacy_event_stream_cancels_its_running_calls_and_the_row_says_the_session_ended()
 {
    let (_upstream, gw) = python_gateway().await;
    let (stream, message_url) = open_legacy_stream(&gw).await;
    let post = |message: Value| {
        gw.app
            .client
            .post(&message_url)
            .bearer_auth(&gw.token)
            .json(&message)
            .send()
    };
    for message in [
        json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2024-11-05",
            "capabilities": {},
            "clientInfo": { "name": "edge-tests", "version": "1.0" },
        } }),
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
        json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": { "name": "sleep", "arguments": { "seconds": 30 } } }),
    ] {
        let accepted = post(message).await.unwrap();
        assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    }
    wait_until_sleeping(&gw).await;

    drop(stream);
    // Going away is how a legacy client ends its session.
    assert_the_sleep_ended_with_its_session(&gw).await;
}

/// Waits (up to 5 s) until the Python upstream has started its `sleep`.
async fn wait_until_sleeping(gw: &Gateway) {
    assert_eq!(
        count_reaches(gw, "sleep started", "1", Duration::from_secs(5)).await,
        "1",
        "the upstream is sleeping"
    );
}

/// One of the Python upstream's counters (`times_run`), asked every 100 ms until it says
/// `expected` or `within` has passed; its last answer.
async fn count_reaches(gw: &Gateway, counter: &str, expected: &str, within: Duration) -> Value {
    let deadline = std::time::Instant::now() + within;
    loop {
        let body = call(gw, "times_run", json!({ "tool": counter })).await;
        let count = body["result"]["content"][0]["text"].clone();
        if count == expected || std::time::Instant::now() >= deadline {
            return count;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The status and error of the one `sleep` call.
async fn sleep_row(gw: &Gateway) -> (String, Option<String>) {
    gw.app.state.gateway.flush_activity().await;
    sqlx::query_as("SELECT status::text, error FROM tool_calls WHERE tool_name = 'sleep'")
        .fetch_one(&gw.app.pool)
        .await
        .unwrap()
}

/// The running `sleep` was cancelled upstream within 4 s of its session ending (rmcp alone
/// would take 5 s after a `DELETE`), and its row says why it ended.
async fn assert_the_sleep_ended_with_its_session(gw: &Gateway) {
    assert_eq!(
        count_reaches(gw, "sleep cancelled", "1", Duration::from_secs(4)).await,
        "1",
        "the upstream was told within 4 s"
    );
    assert_eq!(
        sleep_row(gw).await,
        (
            "error".to_owned(),
            Some("The session ended before the tool answered.".to_owned())
        )
    );
}
