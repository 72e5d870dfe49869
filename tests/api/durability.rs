//! Activity survives Postgres going away: rows wait in memory, then on disk, and are all
//! written once Postgres is back.

use std::time::Duration;

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
            spilled = spill.exists();
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
