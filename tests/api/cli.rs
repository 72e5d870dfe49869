//! The `gatehouse` binary itself: user creation from the command line, and `serve` with the
//! embedded Postgres, the way the README's run command starts it.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::StatusCode;

use crate::helpers::{fresh_database, spawn_app_on};

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

#[tokio::test]
async fn user_create_makes_an_admin_who_can_sign_in() {
    let (name, pool) = fresh_database().await;
    let app = spawn_app_on(pool, &name).await;

    let mut child = Command::new(BIN)
        .args([
            "user",
            "create",
            "--email",
            "root@example.com",
            "--role",
            "admin",
            "--password-stdin",
        ])
        .env("DATABASE_URL", &app.database_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long enough password\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains("Created root (root@example.com) as Admin.")
    );

    let response = app
        .sign_in("root@example.com", "a long enough password")
        .await;
    assert_eq!(crate::helpers::location(&response), "/");
}

#[tokio::test]
async fn user_create_refuses_a_duplicate_email_and_a_short_password() {
    let (name, pool) = fresh_database().await;
    let app = spawn_app_on(pool, &name).await;
    let create = |email: &str, password: &str| {
        let mut child = Command::new(BIN)
            .args(["user", "create", "--email", email, "--password-stdin"])
            .env("DATABASE_URL", &app.database_url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    assert!(
        create("dup@example.com", "a long enough password")
            .status
            .success()
    );
    let again = create("DUP@example.com", "a long enough password");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let short = create("new@example.com", "short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("Use at least 10 characters."));
}

/// Reads the child's stdout until the demo admin's password line appears, then keeps reading
/// it on a thread of its own: a child writing to a full pipe nobody reads blocks (and then
/// cannot even shut down).
fn demo_password(child: &mut std::process::Child) -> String {
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "serve exited before printing the demo admin"
        );
        if let Some(password) = line.trim().strip_prefix("password") {
            std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
            return password.trim().to_owned();
        }
    }
}

async fn wait_ready(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = crate::helpers::browser().get(url).send().await
            && r.status() == StatusCode::OK
        {
            return;
        }
        assert!(Instant::now() < deadline, "{url} never became ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn serve_starts_an_embedded_postgres_prints_a_demo_admin_and_stops_it_on_sigterm() {
    let data_dir = tempdir();
    let start = || {
        let port = free_port();
        let child = Command::new(BIN)
            .args(["serve", "--demo", "--addr", &format!("127.0.0.1:{port}")])
            .env("GATEHOUSE_DATA_DIR", &data_dir)
            .env_remove("DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        (child, port)
    };

    let (mut child, port) = start();
    let password = demo_password(&mut child);
    wait_ready(&format!("http://127.0.0.1:{port}/readyz")).await;
    assert!(
        data_dir.join("postgres/PG_VERSION").exists(),
        "the cluster lives in the data directory"
    );

    stop(&mut child);
    assert!(
        !data_dir.join("postgres/postmaster.pid").exists(),
        "Postgres was stopped with Gatehouse"
    );

    // A second start reuses the cluster and its data: the same demo admin.
    let (mut child, port) = start();
    let again = demo_password(&mut child);
    assert_eq!(again, password);
    wait_ready(&format!("http://127.0.0.1:{port}/readyz")).await;
    stop(&mut child);
    std::fs::remove_dir_all(&data_dir).ok();
}

fn stop(child: &mut std::process::Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    // A hang is a failure that says so, not a test stopped by the harness without a word.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve did not stop within 60 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("serve-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn seed_activity_writes_realistic_calls_and_leaves_the_indexes_and_rollups_in_place() {
    let (name, pool) = fresh_database().await;
    let app = spawn_app_on(pool, &name).await;
    let indexes = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'tool_calls' ORDER BY indexname",
        )
        .fetch_all(&app.pool)
        .await
        .unwrap()
    };
    let before = indexes().await;
    // "The last 7 days" as of when the seeding began: a call may be placed at its very start.
    let seeded_from = chrono::Utc::now() - chrono::TimeDelta::days(7);
    let output = Command::new(BIN)
        .args(["dev", "seed-activity", "--calls", "5000", "--servers", "4"])
        .args(["--users", "20", "--days", "7", "--bulk"])
        .env("DATABASE_URL", &app.database_url)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("Added 5000 calls over 4 servers"));
    assert_eq!(indexes().await, before, "every index is back as it was");

    let (calls, servers, people, oldest): (i64, i64, i64, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as(
            "SELECT count(*), count(DISTINCT server_id), count(DISTINCT user_id), min(started_at) FROM tool_calls",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!((calls, servers), (5000, 4));
    assert!(people > 10 && people <= 20);
    assert!(oldest >= seeded_from, "{oldest} is within the last 7 days");
    let by_status: Vec<(String, i64)> =
        sqlx::query_as("SELECT status::text, count(*) FROM tool_calls GROUP BY 1 ORDER BY 2 DESC")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(by_status[0].0, "success");
    assert!(by_status[0].1 > 4500, "a few percent fail: {by_status:?}");
    assert!(
        by_status.len() >= 3,
        "errors, denials and timeouts too: {by_status:?}"
    );
    let rolled: i64 = sqlx::query_scalar("SELECT sum(calls)::int8 FROM activity_daily")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(rolled, 5000, "the rollups were rebuilt");
}
