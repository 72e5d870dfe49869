//! Activity survives Postgres going away: rows wait in memory, then on disk, and are all
//! written once Postgres is back.

use std::{sync::Arc, time::Duration};

use gatehouse::accounts::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{everything_stdio, spawn_app_on_own_cluster, stateless_call};

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
    let mut written = 0;
    for _ in 0..100 {
        app.state.gateway.flush_activity().await;
        written = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM tool_calls WHERE status = 'success'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap_or(0);
        if written == total && !spill.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(written, total, "every call has its row");
    assert!(!spill.exists(), "the spill file was replayed and removed");
    let distinct: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT input->>'message') FROM tool_calls")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(distinct, total, "each call's own row, none twice");

    cluster.stop().await.ok();
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn rows_past_the_memory_bound_go_to_disk_while_a_write_hangs() {
    use gatehouse::activity::{
        CallStatus,
        recorder::{ActivityRecorder, CallRecord, RecorderSettings},
    };

    // A "Postgres" that accepts connections and never answers: the writer's first write hangs
    // until the pool gives up (10 s), like a database behind a dead network path.
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
    let dir = std::env::temp_dir().join(format!("gatehouse-bound-{}", uuid::Uuid::new_v4()));
    let mut settings = RecorderSettings::new(&dir);
    settings.memory_rows = 10;
    let spill = settings.spill_path.clone();
    let recorder = ActivityRecorder::start(pool, settings);

    let row = |i: usize| CallRecord {
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
    };
    recorder.record(row(0));
    // Once the writer is inside its (hanging) write, keep the rows coming.
    tokio::time::timeout(Duration::from_secs(10), connected.notified())
        .await
        .expect("the writer tries to write the first row");
    for i in 1..=100 {
        recorder.record(row(i));
    }

    // Well before the write gives up, what does not fit in memory is on disk.
    let mut spilled = 0;
    for _ in 0..20 {
        spilled = std::fs::read_to_string(&spill)
            .map(|text| text.lines().count())
            .unwrap_or(0);
        if spilled >= 90 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        spilled >= 90,
        "at most 10 rows stay in memory; {spilled} of 100 were spilled"
    );

    held.abort();
    std::fs::remove_dir_all(dir).ok();
}
