//! The official MCP conformance suite's server scenarios, run through the gateway against our
//! fixture server, for both protocol revisions.

use std::path::Path;

use gatehouse::{
    accounts::Role,
    servers::{RemoteTransport, ServerSource},
};
use serde_json::Value;

use crate::helpers::{background, repo, spawn_app, venv_bin};

/// Every check of every scenario in a results directory, as (scenario, check id, status).
fn checks(dir: &Path) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for entry in walk(dir) {
        if entry.file_name().is_some_and(|n| n == "checks.json") {
            let scenario = entry
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let parsed: Value =
                serde_json::from_str(&std::fs::read_to_string(&entry).unwrap()).unwrap();
            for check in parsed.as_array().cloned().unwrap_or_default() {
                let detail = check["errorMessage"]
                    .as_str()
                    .or_else(|| check["message"].as_str())
                    .unwrap_or_default();
                found.push((
                    scenario.clone(),
                    format!(
                        "{} — {}",
                        check["id"].as_str().unwrap_or_default(),
                        detail.chars().take(300).collect::<String>()
                    ),
                    check["status"].as_str().unwrap_or_default().to_owned(),
                ));
            }
        }
    }
    found
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

async fn run_suite(requirements: &str) -> Vec<(String, String, String)> {
    let fixture = repo().join("tests/clients/py/conformance_server.py");
    let upstream = background(
        &venv_bin("python"),
        &[fixture.to_str().unwrap(), "--port", "{port}"],
    )
    .await;
    let app = spawn_app().await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    let member = app.create_user("member@example.com", Role::Member).await;
    let source = ServerSource::Remote {
        url: format!("http://127.0.0.1:{}/mcp", upstream.port),
        transport: RemoteTransport::StreamableHttp,
    };
    let server = app
        .create_server(&app.admin(&admin), "Conformance", source)
        .await;
    let token = app.mint_token(&member).await;
    let proxy = crate::helpers::authenticating_proxy(&app.address, &token).await;
    let url = format!("{proxy}/mcp/{}", server.slug);

    let results = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("conformance-{}", uuid::Uuid::new_v4().simple()));
    let suite =
        repo().join("tests/clients/node_modules/@modelcontextprotocol/conformance/dist/index.js");
    let output = tokio::process::Command::new("node")
        .arg(&suite)
        .args([
            "server",
            "--url",
            &url,
            "--requirements",
            requirements,
            "-o",
        ])
        .arg(&results)
        .output()
        .await
        .expect("the conformance suite runs");
    let found = checks(&results);
    assert!(
        !found.is_empty(),
        "no results:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::remove_dir_all(&results).ok();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_2025_11_25_through_the_gateway() {
    let found = run_suite("2025-11-25").await;
    let failed: Vec<_> = found
        .iter()
        .filter(|(_, _, status)| status == "FAILURE")
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} checks failed:\n{}",
        failed.len(),
        found.len(),
        listing(&failed)
    );
}

fn listing(failed: &[&(String, String, String)]) -> String {
    failed
        .iter()
        .map(|(s, c, _)| format!("  {s}: {c}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_2026_07_28_through_the_gateway() {
    let found = run_suite("2026-07-28").await;
    let failed: Vec<_> = found
        .iter()
        .filter(|(scenario, _, status)| {
            status == "FAILURE" && !scenario.starts_with("server-tasks-")
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} checks failed:\n{}",
        failed.len(),
        found.len(),
        listing(&failed)
    );
}
