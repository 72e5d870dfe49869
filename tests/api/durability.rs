//! Activity survives Postgres going away: rows wait in memory, then on disk, and are all
//! written once Postgres is back.

use std::{sync::Arc, time::Duration};

use gatehouse::{
    accounts::Role,
    activity::{
        CallStatus,
        recorder::{ActivityRecorder, CallRecord, RecorderSettings},
    },
};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{everything_stdio, spawn_app, spawn_app_on_own_cluster, stateless_call};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_activity_row_is_lost_when_postgres_stops_and_restarts_mid_run() {
    // A tiny memory buffer, so the outage also exercises the spill file.
    let (app, cluster, dir) =
        spawn_app_on_own_cluster(|config| config.activity_buffer_rows = 10).await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    let member = app.create_user("member@example.com", Role::Member).await;
    let server = app
        .create_server(&app.admin(&admin), "Everything", everything_stdio())
        .await;
    let token = app.mint_token(&member).await;
    let url = app.mcp_url(&server.slug);

    let total = 90;
    let spill = dir.join("data/activity-spill.jsonl");
    let mut spilled = false;
    for i in 0..total {
        if i == 30 {
            cluster.stop().await.expect("Postgres stops");
        }
        if i == 60 {
            // The writer notices the outage on its next attempt; give it that long.
            for _ in 0..150 {
                if spill.exists() {
                    spilled = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            cluster
                .restart(gatehouse::db::Durability::Throwaway)
                .await
                .expect("Postgres restarts");
        }
        let (status, body) = stateless_call(
            &app.client,
            &url,
            &token,
            "echo",
            json!({ "message": format!("call {i}") }),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "call {i}: {body}");
        assert!(
            body["result"]["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .contains(&format!("call {i}")),
            "call {i}: {body}"
        );
    }
    assert!(
        spilled,
        "rows beyond the memory buffer went to the spill file during the outage"
    );

    // Everything reaches the table once Postgres is back, and the spill file is emptied.
    let replaying = RecorderSettings::new(&dir.join("data")).replay_path();
    let mut written = 0;
    for _ in 0..100 {
        app.state.gateway.flush_activity().await;
        written = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM tool_calls WHERE status = 'success'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap_or(0);
        if written == total && !spill.exists() && !replaying.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(written, total, "every call has its row");
    assert!(
        !spill.exists() && !replaying.exists(),
        "the spill file was replayed and removed"
    );
    let distinct: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT input->>'message') FROM tool_calls")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(distinct, total, "each call's own row, none twice");

    cluster.stop().await.ok();
    std::fs::remove_dir_all(dir).ok();
}

/// A recorder with a bound of 10 rows whose writer is stuck inside a write to a Postgres
/// that never answers; returns it with the spill file's path and the directory to remove.
async fn stuck_writer() -> (
    SilentPostgres,
    ActivityRecorder,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let postgres = SilentPostgres::start().await;
    let (settings, dir) = tiny_buffer();
    let spill = settings.spill_path.clone();
    let recorder = ActivityRecorder::start(postgres.pool.clone(), settings);
    recorder.record(call(0));
    postgres.wait_for_the_writer().await;
    (postgres, recorder, spill, dir)
}

#[tokio::test]
async fn rows_past_the_memory_bound_go_to_disk_while_a_write_hangs() {
    // Once the writer is inside its (hanging) write, keep the rows coming.
    let (_postgres, recorder, spill, dir) = stuck_writer().await;

    // Well before the write gives up, what does not fit in memory is on disk.
    let spilled = record_a_hundred_and_count_spilled(&recorder, &spill).await;
    assert!(
        spilled >= 90,
        "at most 10 rows stay in memory; {spilled} of 100 were spilled"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn large_rows_count_against_the_memory_bound_by_their_size() {
    let (_postgres, recorder, spill, dir) = stuck_writer().await;

    // Five rows, far fewer than the bound of 10, but each holds 64 KiB of output: together
    // they weigh as much as 80 small ones.
    for i in 1..=5 {
        recorder.record(CallRecord {
            output: Some(format!("\"{}\"", "x".repeat(64 * 1024))),
            ..call(i)
        });
    }
    let spilled = lines_soon(&spill, 4).await;
    assert!(
        spilled >= 4,
        "at most one 64 KiB row fits a bound of 10 small ones; {spilled} of 5 were spilled"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn rows_past_the_memory_bound_go_to_disk_while_spilled_rows_are_replayed() {
    let postgres = SilentPostgres::start().await;
    let (settings, dir) = tiny_buffer();
    let spill = settings.spill_path.clone();
    let replaying = settings.replay_path();
    // A previous run left rows on disk; replaying them hangs on the silent Postgres.
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&spill, as_spilled((0..5).map(call))).unwrap();
    let recorder = ActivityRecorder::start(postgres.pool.clone(), settings);
    postgres.wait_for_the_writer().await;

    let spilled = record_a_hundred_and_count_spilled(&recorder, &spill).await;
    assert!(
        spilled >= 90,
        "at most 10 rows stay in memory during a replay; {spilled} of 100 were spilled"
    );
    assert_eq!(
        lines_soon(&replaying, 5).await,
        5,
        "the rows being replayed stay on disk, set aside, until they are written"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// A "Postgres" that accepts connections and never answers: a write hangs until the pool
/// gives up (10 s), like a database behind a dead network path.
struct SilentPostgres {
    pool: sqlx::PgPool,
    connected: Arc<tokio::sync::Notify>,
    held: tokio::task::JoinHandle<()>,
}

impl SilentPostgres {
    async fn start() -> Self {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = silent.local_addr().unwrap().port();
        let connected = Arc::new(tokio::sync::Notify::new());
        let knock = connected.clone();
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = silent.accept().await {
                open.push(socket);
                knock.notify_one();
            }
        });
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy(&format!("postgres://gatehouse@127.0.0.1:{port}/gatehouse"))
            .unwrap();
        SilentPostgres {
            pool,
            connected,
            held,
        }
    }

    /// Returns once the recorder's writer has connected (and so is inside a write).
    async fn wait_for_the_writer(&self) {
        tokio::time::timeout(Duration::from_secs(10), self.connected.notified())
            .await
            .expect("the writer tries to write");
    }
}

impl Drop for SilentPostgres {
    fn drop(&mut self) {
        self.held.abort();
    }
}

/// The app with one server for replayed rows to belong to.
async fn app_with_a_server() -> (crate::helpers::TestApp, gatehouse::servers::db::ServerRow) {
    let app = spawn_app().await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    let server = app
        .create_server(&app.admin(&admin), "Everything", everything_stdio())
        .await;
    (app, server)
}

/// Recorder settings that keep at most 10 rows in memory, in a fresh data directory.
fn tiny_buffer() -> (RecorderSettings, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("gatehouse-bound-{}", uuid::Uuid::new_v4()));
    let mut settings = RecorderSettings::new(&dir);
    settings.memory_rows = 10;
    (settings, dir)
}

fn call(i: usize) -> CallRecord {
    CallRecord {
        id: uuid::Uuid::new_v4(),
        server_id: uuid::Uuid::new_v4(),
        deployment_id: None,
        user_id: None,
        client_name: None,
        client_version: None,
        tool_name: format!("tool-{i}"),
        input: None,
        output: None,
        output_truncated: false,
        status: CallStatus::Success,
        error: None,
        latency_ms: Some(1),
        started_at: chrono::Utc::now(),
        ended_at: Some(chrono::Utc::now()),
    }
}

/// Rows as the spill file holds them: one JSON document per line.
fn as_spilled(rows: impl Iterator<Item = CallRecord>) -> String {
    rows.map(|row| serde_json::to_string(&row).unwrap() + "\n")
        .collect()
}

/// Records 100 rows while the writer is stuck; returns how many are on disk soon after.
async fn record_a_hundred_and_count_spilled(
    recorder: &ActivityRecorder,
    spill: &std::path::Path,
) -> usize {
    for i in 1..=100 {
        recorder.record(call(i));
    }
    lines_soon(spill, 90).await
}

/// The number of lines in `path` once it has `at_least`, or after 2 s.
async fn lines_soon(path: &std::path::Path, at_least: usize) -> usize {
    let mut lines = 0;
    for _ in 0..20 {
        lines = std::fs::read_to_string(path)
            .map(|text| text.lines().count())
            .unwrap_or(0);
        if lines >= at_least {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    lines
}

#[tokio::test]
async fn rows_left_on_disk_by_an_earlier_run_are_written_at_start_even_mid_replay() {
    let (app, server) = app_with_a_server().await;
    let (settings, dir) = tiny_buffer();
    // The earlier run stopped half-way through a replay (rows set aside) after spilling more.
    let lines = |range: std::ops::Range<usize>| {
        as_spilled(range.map(|i| CallRecord {
            server_id: server.id,
            ..call(i)
        }))
    };
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(settings.replay_path(), lines(0..7)).unwrap();
    std::fs::write(&settings.spill_path, lines(7..12)).unwrap();
    let (spill, replaying) = (settings.spill_path.clone(), settings.replay_path());

    let recorder = ActivityRecorder::start(app.pool.clone(), settings);
    recorder.flush().await;

    let written: i64 = sqlx::query_scalar("SELECT count(*) FROM tool_calls WHERE server_id = $1")
        .bind(server.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(written, 12, "every row from disk is in the table");
    assert!(
        !spill.exists() && !replaying.exists(),
        "both files are gone once written"
    );
    recorder.shutdown().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn spilled_rows_with_large_inputs_are_replayed_in_batches_bounded_by_size() {
    let (app, server) = app_with_a_server().await;
    let (settings, dir) = tiny_buffer();
    // Twenty calls with 256 KiB inputs: each weighs 65 small rows, so a batch of at most 500
    // holds seven of them. Counted by rows, all twenty would go in one batch; with inputs of
    // up to 4 MiB, 500 of them would be gigabytes in memory and in one message to Postgres.
    let input = format!("{{\"text\": \"{}\"}}", "x".repeat(256 * 1024));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        &settings.spill_path,
        as_spilled((0..20).map(|i| CallRecord {
            server_id: server.id,
            input: Some(input.as_str().into()),
            ..call(i)
        })),
    )
    .unwrap();

    let recorder = ActivityRecorder::start(app.pool.clone(), settings);
    recorder.flush().await;

    // Each batch is one transaction: its rows share the transaction id that wrote them.
    let (rows, batches, whole): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT xmin::text), count(*) FILTER (WHERE input::text = $2) \
         FROM tool_calls WHERE server_id = $1",
    )
    .bind(server.id)
    .bind(&input)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(rows, 20, "every spilled row is written");
    assert_eq!(whole, 20, "with its whole input");
    assert_eq!(batches, 3, "in batches of 7, 7 and 6");
    recorder.shutdown().await;
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_call_s_input_sent_with_its_start_survives_its_end_in_the_same_batch_another_or_first() {
    let (app, server) = app_with_a_server().await;
    let dir = std::env::temp_dir().join(format!("gatehouse-order-{}", uuid::Uuid::new_v4()));
    let recorder = ActivityRecorder::start(app.pool.clone(), RecorderSettings::new(&dir));
    // The gateway sends a call's input with its start only; its end record leaves it out.
    let start = |i: usize| CallRecord {
        server_id: server.id,
        input: Some(format!("{{\"call\": {i}}}").into()),
        status: CallStatus::InProgress,
        latency_ms: None,
        ended_at: None,
        ..call(i)
    };
    let end = |start: &CallRecord| CallRecord {
        input: None,
        status: CallStatus::Success,
        latency_ms: Some(5),
        ended_at: Some(chrono::Utc::now()),
        ..start.clone()
    };
    let (in_order, end_first) = (start(1), start(2));
    let (one_batch, one_batch_end_first) = (start(3), start(4));
    // Most calls: start and end in one batch, in either order.
    recorder.record(one_batch.clone());
    recorder.record(end(&one_batch));
    recorder.record(end(&one_batch_end_first));
    recorder.record(one_batch_end_first.clone());
    recorder.flush().await;
    // A long call: its start and its end are written in batches of their own.
    recorder.record(in_order.clone());
    recorder.flush().await;
    recorder.record(end(&in_order));
    recorder.flush().await;
    // A start spilled while Postgres was away reaches the table after its end.
    recorder.record(end(&end_first));
    recorder.flush().await;
    recorder.record(end_first.clone());
    recorder.flush().await;

    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT tool_name, status::text, input::text FROM tool_calls WHERE server_id = $1 \
         ORDER BY tool_name",
    )
    .bind(server.id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let finished = |tool: &str, input: &str| {
        (
            tool.to_owned(),
            "success".to_owned(),
            Some(input.to_owned()),
        )
    };
    assert_eq!(
        rows,
        [
            finished("tool-1", "{\"call\": 1}"),
            finished("tool-2", "{\"call\": 2}"),
            finished("tool-3", "{\"call\": 3}"),
            finished("tool-4", "{\"call\": 4}"),
        ]
    );
    let counted: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(calls), 0)::int8 FROM activity_hourly WHERE server_id = $1",
    )
    .bind(server.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(counted, 4, "each call counted once in the rollups");
    recorder.shutdown().await;
    std::fs::remove_dir_all(dir).ok();
}
