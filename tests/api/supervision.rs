//! Processes the gateway starts: shared by every session, restarted after a crash, stopped when
//! their server is disabled, and never leaked.

use std::time::Duration;

use gatehouse::{
    accounts::{Role, db::UserRow},
    servers::{CommandTransport, ServerSource, ServerStatus},
};
use rmcp::{
    ServiceExt,
    model::CallToolRequestParams,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::json;

use crate::helpers::{TestApp, everything_bin, everything_stdio, spawn_app};

/// Processes started for this test: the server's environment carries `mark`, and every
/// process the gateway starts for it (and their children) inherit it. Tests run side by side
/// in one process, so the parent pid alone would count other tests' servers.
fn processes_marked(mark: &str) -> Vec<u32> {
    let needle = format!("LEAK_MARK={mark}");
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // Zombies have exited; they only wait to be reaped.
            let zombie = state.rsplit_once(')')?.1.split_whitespace().next()? == "Z";
            let marked = environ
                .split(|b| *b == 0)
                .any(|var| var == needle.as_bytes());
            (marked && !zombie).then_some(pid)
        })
        .collect();
    pids.sort();
    pids
}

/// server-everything over stdio, marked so its processes can be found.
fn marked_everything(mark: &str) -> (gatehouse::servers::ServerSource, Vec<(String, String)>) {
    (
        everything_stdio(),
        vec![("LEAK_MARK".to_owned(), mark.to_owned())],
    )
}

/// An app running one server whose processes (and theirs) carry a fresh `LEAK_MARK`, with
/// an admin and a member's token for it.
struct Marked {
    app: TestApp,
    admin: UserRow,
    server_id: uuid::Uuid,
    url: String,
    token: String,
    mark: String,
}

async fn marked_server(source: ServerSource) -> Marked {
    let app = spawn_app().await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    let member = app.create_user("member@example.com", Role::Member).await;
    let mark = uuid::Uuid::new_v4().to_string();
    let env = vec![("LEAK_MARK".to_owned(), mark.clone())];
    let server = app
        .create_server_with_env(&app.admin(&admin), "Everything", source, env)
        .await;
    let token = app.mint_token(&member).await;
    Marked {
        url: app.mcp_url(&server.slug),
        server_id: server.id,
        app,
        admin,
        token,
        mark,
    }
}

impl Marked {
    /// A stateless `echo` that must succeed.
    async fn echo(&self, message: &str) -> serde_json::Value {
        let (status, body) = crate::helpers::stateless_call(
            &self.app.client,
            &self.url,
            &self.token,
            "echo",
            json!({ "message": message }),
        )
        .await;
        assert!(status.is_success(), "{body}");
        body
    }

    async fn disable(&self) {
        gatehouse::servers::service::set_status(
            &self.app.state,
            &self.app.admin(&self.admin),
            self.server_id,
            ServerStatus::Disabled,
        )
        .await
        .unwrap();
    }
}

async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..100 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_sessions_share_one_process_and_leave_none_behind() {
    let app = spawn_app().await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    let admin = app.admin(&admin);
    let member = app.create_user("member@example.com", Role::Member).await;
    let mark = uuid::Uuid::new_v4().to_string();
    let (source, env) = marked_everything(&mark);
    let server = app
        .create_server_with_env(&admin, "Everything", source, env)
        .await;
    let token = app.mint_token(&member).await;
    let url = app.mcp_url(&server.slug);

    for i in 0..200 {
        let config =
            StreamableHttpClientTransportConfig::with_uri(url.clone()).auth_header(token.clone());
        let client =
            ().serve(StreamableHttpClientTransport::from_config(config))
                .await
                .expect("session opens");
        let arguments = json!({ "message": format!("session {i}") })
            .as_object()
            .unwrap()
            .clone();
        let result = client
            .call_tool(CallToolRequestParams::new("echo").with_arguments(arguments))
            .await
            .unwrap();
        assert_ne!(result.is_error, Some(true));
        client.cancel().await.unwrap();
    }
    let pid = app
        .state
        .gateway
        .upstream_pid(server.id)
        .expect("the server process runs");
    assert_eq!(
        processes_marked(&mark),
        vec![pid],
        "one process served all 200 sessions"
    );

    gatehouse::servers::service::set_status(&app.state, &admin, server.id, ServerStatus::Disabled)
        .await
        .unwrap();
    wait_until("the process is stopped", || {
        processes_marked(&mark).is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_of_the_server_that_ignores_sigterm_is_stopped_with_it() {
    let ServerSource::Command { command, args, .. } = everything_stdio() else {
        unreachable!("server-everything runs as a command")
    };
    // A wrapper script that leaves a stubborn helper process behind, as some servers do.
    let mut wrapped = vec![
        "-c".to_owned(),
        r#"(trap "" TERM; exec sleep 600) & exec "$0" "$@""#.to_owned(),
        command,
    ];
    wrapped.extend(args);
    let marked = marked_server(ServerSource::Command {
        command: "sh".to_owned(),
        args: wrapped,
        transport: CommandTransport::Stdio,
        path: "/mcp".to_owned(),
    })
    .await;
    marked.echo("hello").await;
    let running = processes_marked(&marked.mark);
    assert!(
        running.len() >= 2,
        "the server and its helper run (one of each per protocol era in use): {running:?}"
    );

    marked.disable().await;
    wait_until("the server and its helper are stopped", || {
        processes_marked(&marked.mark).is_empty()
    })
    .await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_process_is_restarted_by_itself() {
    let app = spawn_app().await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    let member = app.create_user("member@example.com", Role::Member).await;
    let mark = uuid::Uuid::new_v4().to_string();
    let (source, env) = marked_everything(&mark);
    let server = app
        .create_server_with_env(&app.admin(&admin), "Everything", source, env)
        .await;
    let token = app.mint_token(&member).await;
    let url = app.mcp_url(&server.slug);
    let call = |message: &'static str| {
        let (url, token) = (url.clone(), token.clone());
        async move {
            let config = StreamableHttpClientTransportConfig::with_uri(url).auth_header(token);
            let client =
                ().serve(StreamableHttpClientTransport::from_config(config))
                    .await
                    .expect("session opens");
            let arguments = json!({ "message": message }).as_object().unwrap().clone();
            let result = client
                .call_tool(CallToolRequestParams::new("echo").with_arguments(arguments))
                .await
                .unwrap();
            client.cancel().await.unwrap();
            result
        }
    };
    call("first").await;
    let first = app.state.gateway.upstream_pid(server.id).unwrap();

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let gateway = app.state.gateway.clone();
    wait_until("a new process runs", || {
        gateway
            .upstream_pid(server.id)
            .is_some_and(|pid| pid != first)
    })
    .await;

    let result = call("after the crash").await;
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let now = app.state.gateway.upstream_pid(server.id).unwrap();
    wait_until("only the new process runs", || {
        processes_marked(&mark) == vec![now]
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_http_process_is_restarted_by_itself() {
    let marked = marked_server(ServerSource::Command {
        command: everything_bin().to_string_lossy().into_owned(),
        args: vec!["streamableHttp".into()],
        transport: CommandTransport::Http,
        path: "/mcp".into(),
    })
    .await;
    marked.echo("first").await;
    let gateway = marked.app.state.gateway.clone();
    let first = gateway.upstream_pid(marked.server_id).unwrap();

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_until("a new process runs", || {
        gateway
            .upstream_pid(marked.server_id)
            .is_some_and(|pid| pid != first)
    })
    .await;
    let body = marked.echo("after the crash").await;
    assert_ne!(body["result"]["isError"], true, "{body}");
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_keeps_crashing_is_restarted_each_time_without_any_calls() {
    let marked = marked_server(everything_stdio()).await;
    marked.echo("start").await;
    // Each crash comes soon after the last, so the restarts back off (1 s, 2 s, …); they
    // must still happen, with no call asking for them. (The server may run one process per
    // protocol era; every one of them crashes each time.)
    for crash in 1..=2 {
        let before = processes_marked(&marked.mark);
        assert!(!before.is_empty(), "a process runs before crash {crash}");
        for pid in &before {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            )
            .unwrap();
        }
        wait_until(&format!("a new process runs after crash {crash}"), || {
            let now = processes_marked(&marked.mark);
            !now.is_empty() && now.iter().all(|pid| !before.contains(pid))
        })
        .await;
    }
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_stops_the_processes_and_writes_the_last_activity() {
    let mut marked = marked_server(everything_stdio()).await;
    marked.echo("last").await;
    assert!(!processes_marked(&marked.mark).is_empty());

    marked.app.shut_down().await;

    let left = processes_marked(&marked.mark);
    let states: Vec<String> = left
        .iter()
        .map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default())
        .collect();
    assert!(left.is_empty(), "no process outlives Gatehouse: {states:?}");
    assert_eq!(
        successful_rows(&marked.app).await,
        1,
        "the buffered row was written before exit"
    );
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_does_not_wait_for_ever_on_an_open_event_stream() {
    let mut marked = marked_server(everything_stdio()).await;
    marked.echo("before the stream").await;
    // A legacy SSE connection stays open until the client leaves; this one never does.
    let stream = marked
        .app
        .client
        .get(format!("{}/sse", marked.url))
        .bearer_auth(&marked.token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), reqwest::StatusCode::OK);

    tokio::time::timeout(std::time::Duration::from_secs(30), marked.app.shut_down())
        .await
        .expect("the shutdown finishes although a stream is still open");
    assert!(
        processes_marked(&marked.mark).is_empty(),
        "the processes were stopped"
    );
    assert_eq!(
        successful_rows(&marked.app).await,
        1,
        "the buffered row was written"
    );
    drop(stream);
}

async fn successful_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM tool_calls WHERE status = 'success'")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}
