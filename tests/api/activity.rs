//! Activity: the numbers on a known set of calls (through days, hours and raw minutes of a
//! range), rollups kept by the recorder equal to a rebuild from the raw rows, the pages and
//! their filters (bad input is a message, SQL-looking input is only data), who sees what, and
//! the CSV export.

use chrono::{DateTime, TimeDelta, Utc};
use gatehouse::{
    accounts::Role,
    activity::{
        CallStatus,
        db::{self, Scope},
        histogram,
    },
    servers::{RemoteTransport, ServerSource},
};
use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, everything_stdio, spawn_app, stateless_call};

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn remote(name: &str) -> ServerSource {
    ServerSource::Remote {
        url: format!("https://{name}.invalid/mcp"),
        transport: RemoteTransport::StreamableHttp,
    }
}

#[allow(clippy::too_many_arguments)]
async fn insert_calls(
    app: &TestApp,
    count: i32,
    server: Uuid,
    user: Uuid,
    tool: &str,
    status: &str,
    latency: impl Fn(i32) -> Option<i32>,
    start: DateTime<Utc>,
) {
    for i in 0..count {
        let started = start + TimeDelta::seconds(i as i64);
        sqlx::query(
            "INSERT INTO tool_calls (id, server_id, user_id, tool_name, status, latency_ms, started_at, input, error)
             VALUES ($1, $2, $3, $4, $5::call_status, $6, $7, '{\"q\": 1}', CASE WHEN $5 = 'error' THEN 'boom' END)",
        )
        .bind(Uuid::new_v4())
        .bind(server)
        .bind(user)
        .bind(tool)
        .bind(status)
        .bind(latency(i))
        .bind(started)
        .execute(&app.pool)
        .await
        .unwrap();
    }
}

struct Known {
    a: Uuid,
    b: Uuid,
    u1: Uuid,
}

/// 123 calls in 2026-11-01T09:30 – 2026-11-09T14:45, and 7 just outside it.
async fn known_calls(app: &TestApp) -> Known {
    let admin = app.create_user("owner@example.com", Role::Admin).await;
    let admin = app.admin(&admin);
    let u1 = app.create_user("one@example.com", Role::Member).await.id;
    let u2 = app.create_user("two@example.com", Role::Member).await.id;
    let u3 = app.create_user("three@example.com", Role::Member).await.id;
    let a = app.create_server(&admin, "Alpha", remote("alpha")).await.id;
    let b = app.create_server(&admin, "Beta", remote("beta")).await.id;
    // Whole days: 100 successes of 1..=100 ms.
    insert_calls(
        app,
        100,
        a,
        u1,
        "search",
        "success",
        |i| Some(i + 1),
        at("2026-11-03T12:00:00Z"),
    )
    .await;
    // The raw minutes at the start: 10 errors of 500 ms.
    insert_calls(
        app,
        10,
        a,
        u2,
        "fetch",
        "error",
        |_| Some(500),
        at("2026-11-01T09:40:00Z"),
    )
    .await;
    // The whole hours at the start: 5 denials.
    insert_calls(
        app,
        5,
        b,
        u1,
        "delete",
        "permission_denied",
        |_| Some(0),
        at("2026-11-01T11:00:00Z"),
    )
    .await;
    // The raw minutes at the end: 5 timeouts.
    insert_calls(
        app,
        5,
        b,
        u3,
        "slow",
        "timeout",
        |_| Some(60_000),
        at("2026-11-09T14:10:00Z"),
    )
    .await;
    // Still running.
    insert_calls(
        app,
        3,
        a,
        u3,
        "search",
        "in_progress",
        |_| None,
        at("2026-11-05T08:00:00Z"),
    )
    .await;
    // Outside the range.
    insert_calls(
        app,
        4,
        a,
        u2,
        "search",
        "success",
        |_| Some(5),
        at("2026-11-01T09:00:00Z"),
    )
    .await;
    insert_calls(
        app,
        3,
        b,
        u2,
        "search",
        "error",
        |_| Some(5),
        at("2026-11-09T14:45:00Z"),
    )
    .await;
    gatehouse::activity::rollup::rebuild(&app.pool)
        .await
        .unwrap();
    Known { a, b, u1 }
}

fn range() -> Scope {
    Scope::range(at("2026-11-01T09:30:00Z"), at("2026-11-09T14:45:00Z"))
}

fn close(actual: Option<f64>, expected: f64, tolerance: f64) -> bool {
    actual.is_some_and(|a| (a - expected).abs() <= expected * tolerance)
}

#[tokio::test]
async fn stat_cards_and_percentiles_match_a_known_set_of_calls() {
    let app = spawn_app().await;
    let known = known_calls(&app).await;

    let all = db::summary(&app.pool, &range()).await.unwrap();
    assert_eq!(all.total_calls, 123);
    assert_eq!(all.count(CallStatus::Success), 100);
    assert_eq!(all.count(CallStatus::Error), 10);
    assert_eq!(all.count(CallStatus::PermissionDenied), 5);
    assert_eq!(all.count(CallStatus::Timeout), 5);
    assert_eq!(all.count(CallStatus::InProgress), 3);
    assert_eq!(all.unique_users, 3);
    // Errors and timeouts over the 120 finished calls.
    assert!(
        (all.error_rate - 15.0 / 120.0).abs() < 1e-9,
        "{}",
        all.error_rate
    );
    // (5050 + 10 × 500 + 5 × 60000 + 5 × 0) / 120.
    assert!(
        close(all.avg_latency_ms, 310_050.0 / 120.0, 1e-9),
        "{:?}",
        all.avg_latency_ms
    );
    // The 60th of 120 sorted latencies is 55 ms; the 114th is 500 ms; the 119th 60 s.
    assert!(close(all.p50_ms, 55.0, 0.07), "p50 {:?}", all.p50_ms);
    assert!(close(all.p95_ms, 500.0, 0.07), "p95 {:?}", all.p95_ms);
    assert!(close(all.p99_ms, 60_000.0, 0.07), "p99 {:?}", all.p99_ms);

    let mut alpha = range();
    alpha.server_id = Some(known.a);
    let alpha = db::summary(&app.pool, &alpha).await.unwrap();
    assert_eq!((alpha.total_calls, alpha.unique_users), (113, 3));

    let mut failures = range();
    failures.statuses = vec![CallStatus::Error, CallStatus::Timeout];
    let failures = db::summary(&app.pool, &failures).await.unwrap();
    assert_eq!((failures.total_calls, failures.unique_users), (15, 2));

    // A person's calls are read from the raw rows; the answer is the same kind.
    let mut one = range();
    one.user_id = Some(known.u1);
    let one = db::summary(&app.pool, &one).await.unwrap();
    assert_eq!((one.total_calls, one.unique_users), (105, 1));

    let mut tool = range();
    tool.server_id = Some(known.b);
    tool.tool = Some("slow".into());
    let tool = db::summary(&app.pool, &tool).await.unwrap();
    assert_eq!((tool.total_calls, tool.error_rate), (5, 1.0));

    // The first page is the newest calls, and the total is the whole range.
    let page = db::calls(&app.pool, &range(), 1, 10, all.total_calls)
        .await
        .unwrap();
    assert_eq!(page.calls.len(), 10);
    assert_eq!(page.calls[0].tool, "slow");
    assert_eq!(page.pages(), 13);
    let last = db::calls(&app.pool, &range(), 13, 10, all.total_calls)
        .await
        .unwrap();
    assert_eq!(last.calls.len(), 3);
    assert_eq!(last.calls[2].tool, "fetch");

    // The volume over the range adds up to the total, bar by bar, by status.
    let volume = db::volume(&app.pool, &range()).await.unwrap();
    assert_eq!(volume.bucket_seconds, 86_400);
    let per_status: Vec<i64> = (0..5)
        .map(|s| volume.buckets.iter().map(|b| b.counts[s]).sum())
        .collect();
    assert_eq!(per_status, [100, 10, 5, 5, 3]);
}

#[tokio::test]
async fn the_latency_buckets_of_postgres_and_rust_agree() {
    let app = spawn_app().await;
    let values: Vec<i32> = (-3..2_000)
        .chain((0..200).map(|i| (1.13f64.powi(i)) as i32))
        .chain([i32::MAX, 1 << 26, (1 << 26) - 1])
        .collect();
    let from_sql: Vec<i32> =
        sqlx::query_scalar("SELECT gatehouse_latency_bucket(v) FROM unnest($1::int[]) WITH ORDINALITY t(v, n) ORDER BY n")
            .bind(&values)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    for (value, sql) in values.iter().zip(from_sql) {
        assert_eq!(
            sql as usize,
            histogram::bucket(*value),
            "latency {value} ms"
        );
    }
}

/// A row of `activity_hourly`: bucket, status, calls, latency sum, histogram.
type HourlyRow = (DateTime<Utc>, String, i64, i64, Vec<i32>);

#[tokio::test]
async fn rollups_kept_by_the_recorder_equal_a_rebuild_from_the_calls() {
    let app = spawn_app().await;
    let admin_row = app.create_user("admin@example.com", Role::Admin).await;
    let admin = app.admin(&admin_row);
    let member = app.create_user("member@example.com", Role::Member).await;
    let server = app
        .create_server(&admin, "Everything", everything_stdio())
        .await;
    gatehouse::groups::service::restrict_tool(
        &app.state,
        &admin,
        member.group_id,
        server.id,
        "get-sum",
    )
    .await
    .unwrap();
    let token = app.mint_token(&member).await;
    let client = reqwest::Client::new();
    let url = app.mcp_url(&server.slug);
    for i in 0..6 {
        let (status, _) = stateless_call(
            &client,
            &url,
            &token,
            "echo",
            serde_json::json!({ "message": format!("m{i}") }),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    for _ in 0..2 {
        stateless_call(
            &client,
            &url,
            &token,
            "get-sum",
            serde_json::json!({ "a": 1, "b": 2 }),
        )
        .await;
    }
    app.state.gateway.flush_activity().await;

    // Ordered by every column: the calls may straddle an hour or a day.
    let snapshot = |pool: sqlx::PgPool| async move {
        let totals: Vec<HourlyRow> = sqlx::query_as(
            "SELECT bucket, status::text, calls, latency_sum, latency_hist FROM activity_hourly ORDER BY 1, 2",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let daily: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status::text, sum(calls)::int8 FROM activity_daily GROUP BY 1 ORDER BY 1",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let users: Vec<(String, DateTime<Utc>, Uuid, i32)> = sqlx::query_as(
            "SELECT 'server', bucket, user_id, statuses FROM activity_hourly_users \
             UNION ALL SELECT 'everywhere', bucket, user_id, statuses FROM activity_daily_people ORDER BY 1, 2, 3",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        (totals, daily, users)
    };
    let incremental = snapshot(app.pool.clone()).await;
    assert_eq!(
        incremental.1,
        [
            ("permission_denied".to_owned(), 2),
            ("success".to_owned(), 6)
        ],
        "the recorder rolled up every finished call once"
    );
    gatehouse::activity::rollup::rebuild(&app.pool)
        .await
        .unwrap();
    assert_eq!(snapshot(app.pool.clone()).await, incremental);

    let now = Utc::now();
    let mut scope = Scope::range(now - TimeDelta::hours(2), now + TimeDelta::minutes(1));
    scope.server_id = Some(server.id);
    let summary = db::summary(&app.pool, &scope).await.unwrap();
    assert_eq!((summary.total_calls, summary.unique_users), (8, 1));
}

/// Signs in as `email` (created with `role`) in the test app's browser.
async fn signed_in(app: &TestApp, email: &str, role: Role) -> gatehouse::accounts::db::UserRow {
    let user = app.create_user(email, role).await;
    assert!(app.sign_in(email, PASSWORD).await.status().is_redirection());
    user
}

async fn page(app: &TestApp, path: &str) -> (StatusCode, String) {
    let response = app.get_page(path).await;
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn the_activity_page_filters_and_explains_bad_filters_without_failing() {
    let app = spawn_app().await;
    signed_in(&app, "admin@example.com", Role::Admin).await;
    known_calls(&app).await;
    let custom = "range=custom&from=2026-11-01T09:30&to=2026-11-09T14:45";

    let (status, html) = page(&app, &format!("/activity?{custom}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Page 1 of 13 · 123 in all"), "{html}");
    assert!(html.contains("12.5 %"), "error rate");
    assert!(
        html.contains("<svg"),
        "the volume chart is drawn on the server"
    );
    assert!(html.contains("Export CSV"));

    let (_, html) = page(
        &app,
        &format!("/activity?{custom}&status=timeout&server=beta"),
    )
    .await;
    assert!(html.contains("Page 1 of 1 · 5 in all"), "{html}");
    assert!(html.contains("2 filters active"));

    let (_, html) = page(&app, &format!("/activity?{custom}&user=ONE@example.com")).await;
    assert!(
        html.contains("105 in all"),
        "emails match whatever their case"
    );

    let (status, html) = page(&app, &format!("/servers/beta/activity?{custom}&tool=slow")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("5 in all") && html.contains("Latency distribution"),
        "{html}"
    );

    // Bad filters: a message that says what is wrong, a 4xx, and the way back.
    for (query, message) in [
        ("range=custom&from=yesterday", "is not a date and time like"),
        (
            "range=custom&from=2026-11-09T00:00&to=2026-11-01T00:00",
            "must be after its start",
        ),
        ("status=sucess", "Unknown status"),
        ("range=fortnight", "Unknown range"),
        ("server=nope", "No server has the URL name"),
        ("user=nobody@example.com", "Nobody has the email"),
    ] {
        let (status, html) = page(&app, &format!("/activity?{query}")).await;
        assert!(status.is_client_error(), "{query}: {status}");
        assert!(html.contains(message), "{query}: {html}");
        assert!(html.contains("Reset the filters"));
    }

    // Filters are data: SQL in any of them finds nothing or is refused, and changes nothing.
    let sql = "x' OR '1'='1'; DROP TABLE tool_calls; --";
    let encoded = serde_urlencoded::to_string([("v", sql)]).unwrap();
    let encoded = encoded.trim_start_matches("v=");
    for key in ["status", "server", "user", "range", "from", "to"] {
        let (status, _) = page(&app, &format!("/activity?{key}={encoded}")).await;
        assert!(status.is_client_error(), "{key}: {status}");
    }
    let (status, html) = page(
        &app,
        &format!("/servers/alpha/activity?{custom}&tool={encoded}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("No calls yet") || html.contains("0 in all"),
        "{html}"
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM tool_calls")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows, 130);
}

#[tokio::test]
async fn a_member_sees_only_their_own_calls() {
    let app = spawn_app().await;
    let known = known_calls(&app).await;
    // one@example.com made 105 of the calls in the range.
    assert!(
        app.sign_in("one@example.com", PASSWORD)
            .await
            .status()
            .is_redirection()
    );
    let custom = "range=custom&from=2026-11-01T09:30&to=2026-11-09T14:45";
    let (status, html) = page(&app, &format!("/activity?{custom}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("My activity"), "{html}");
    assert!(html.contains("105 in all"), "{html}");
    assert!(!html.contains("two@example.com"));

    // Another view, asked for directly, is refused.
    for target in ["all", "server:alpha", &format!("user:{}", known.a)] {
        let response = app
            .client
            .post(app.url("/_fn/activity/view"))
            .header(reqwest::header::ACCEPT, "application/json")
            .header(reqwest::header::ORIGIN, &app.address)
            .form(&[("target", target), ("query[range]", "24h")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{target}");
        let export = app
            .get_page(&format!("/activity/export.csv?target={target}"))
            .await;
        assert_eq!(export.status(), StatusCode::FORBIDDEN, "export of {target}");
    }
}

#[tokio::test]
async fn the_export_is_the_current_view_as_csv() {
    let app = spawn_app().await;
    signed_in(&app, "admin@example.com", Role::Admin).await;
    let known = known_calls(&app).await;
    let custom = "range=custom&from=2026-11-01T09:30&to=2026-11-09T14:45";

    let response = app
        .get_page(&format!("/activity/export.csv?target=all&{custom}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let today = Utc::now().format("%Y-%m-%d");
    assert_eq!(
        response.headers()["content-disposition"].to_str().unwrap(),
        format!("attachment; filename=\"activity-{today}.csv\"")
    );
    let body = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "status",
            "time",
            "server",
            "tool",
            "user",
            "latency_ms",
            "latency_percentile",
            "error"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 123);
    assert_eq!(&rows[0][0], "timeout");
    assert_eq!(&rows[0][1], "2026-11-09T14:10:04.000Z");
    assert_eq!(&rows[0][2], "Beta");
    assert_eq!(&rows[0][4], "three@example.com");
    assert_eq!(&rows[0][5], "60000");
    // Beta's calls in the range: 5 denials at 0 ms and these 5 timeouts; half of a call's own
    // bucket counts below it, so (5 + 5/2) / 10.
    assert_eq!(&rows[0][6], "75");
    let last = rows.last().unwrap();
    assert_eq!((&last[0], &last[7]), ("error", "boom"));

    // A person's export carries their name.
    let response = app
        .get_page(&format!(
            "/activity/export.csv?target=user:{}&{custom}&status=success",
            known.u1
        ))
        .await;
    assert_eq!(
        response.headers()["content-disposition"].to_str().unwrap(),
        format!("attachment; filename=\"one-activity-{today}.csv\"")
    );
    assert_eq!(response.text().await.unwrap().lines().count(), 101);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_input_is_kept_whole_a_large_output_is_capped_and_both_download() {
    let app = spawn_app().await;
    let admin_row = signed_in(&app, "admin@example.com", Role::Admin).await;
    let admin = app.admin(&admin_row);
    let caller = app.create_user("caller@example.com", Role::Member).await;
    app.create_user("other@example.com", Role::Member).await;
    let server = app
        .create_server(&admin, "Everything", everything_stdio())
        .await;
    let token = app.mint_token(&caller).await;
    // Larger than the 256 KiB output cap: the echo's output is capped, its input is not.
    let message = "x".repeat(300 * 1024);
    let (status, reply) = stateless_call(
        &reqwest::Client::new(),
        &app.mcp_url(&server.slug),
        &token,
        "echo",
        serde_json::json!({ "message": message }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        reply["result"]["content"][0]["text"]
            .as_str()
            .is_some_and(|text| text.ends_with(&message)),
        "the caller gets the whole answer, whatever is logged"
    );
    app.state.gateway.flush_activity().await;
    let (id, input, output, truncated): (Uuid, serde_json::Value, serde_json::Value, bool) =
        sqlx::query_as("SELECT id, input::jsonb, output::jsonb, output_truncated FROM tool_calls")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(input["message"], message.as_str(), "the input is whole");
    assert!(truncated);
    assert_eq!(output["truncated"], true);
    assert!(output["size"].as_u64().unwrap() > 300 * 1024);
    assert!(
        output.to_string().len() <= 256 * 1024,
        "the output is capped"
    );

    // The page offers both for download rather than carrying them.
    let (status, html) = page(&app, "/activity").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("The input is 300.0 KiB, too large to show here."),
        "{html}"
    );
    assert!(
        html.contains("The output is 2"),
        "the capped output is over 64 KiB too"
    );
    assert!(html.contains(&format!("href=\"/activity/calls/{id}/input.json\"")));
    assert!(
        html.len() < 100 * 1024,
        "a page of calls stays small: {} bytes",
        html.len()
    );

    let download = app
        .get_page(&format!("/activity/calls/{id}/input.json"))
        .await;
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.headers()["content-type"], "application/json");
    assert_eq!(
        download.headers()["content-disposition"],
        format!("attachment; filename=\"call-{id}-input.json\"").as_str()
    );
    let body: serde_json::Value = download.json().await.unwrap();
    assert_eq!(body["message"], message.as_str());
    let download = app
        .get_page(&format!("/activity/calls/{id}/output.json"))
        .await;
    assert_eq!(download.status(), StatusCode::OK);
    let body: serde_json::Value = download.json().await.unwrap();
    assert_eq!(body["truncated"], true);

    // Bad links are a plain 404, not an error page or a 500.
    for path in [
        format!("/activity/calls/{id}/secrets.json"),
        "/activity/calls/not-a-call/input.json".to_owned(),
        format!("/activity/calls/{}/input.json", Uuid::new_v4()),
    ] {
        let response = app.get_page(&path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(response.text().await.unwrap(), "The call was not found.");
    }

    // Whoever made the call may download it; another member cannot tell it exists.
    assert!(
        app.sign_in("caller@example.com", PASSWORD)
            .await
            .status()
            .is_redirection()
    );
    let own = app
        .get_page(&format!("/activity/calls/{id}/input.json"))
        .await;
    assert_eq!(own.status(), StatusCode::OK);
    assert!(
        app.sign_in("other@example.com", PASSWORD)
            .await
            .status()
            .is_redirection()
    );
    let theirs = app
        .get_page(&format!("/activity/calls/{id}/input.json"))
        .await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_call_whose_input_is_too_deep_to_pretty_print_is_shown_as_stored() {
    let app = spawn_app().await;
    let admin_row = signed_in(&app, "admin@example.com", Role::Admin).await;
    let server = app
        .create_server(&app.admin(&admin_row), "Deep", remote("deep"))
        .await;
    // Deeper than serde_json parses (128 levels), and still valid JSON for Postgres.
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    sqlx::query(
        "INSERT INTO tool_calls (id, server_id, user_id, tool_name, status, latency_ms, started_at, input)
         VALUES ($1, $2, $3, 'nest', 'success', 3, now(), $4::json)",
    )
    .bind(Uuid::new_v4())
    .bind(server.id)
    .bind(admin_row.id)
    .bind(&deep)
    .execute(&app.pool)
    .await
    .unwrap();

    let (status, html) = page(&app, "/activity").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(&deep), "the input is shown as it was stored");
}
