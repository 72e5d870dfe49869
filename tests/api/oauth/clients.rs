//! Real clients sign in by themselves: the Python SDK, the conformance suite, mcp-remote and
//! the MCP Inspector's command line.

use super::*;

#[tokio::test]
async fn the_python_sdk_signs_in_by_itself_then_lists_and_calls_tools() {
    let World { app, slug } = world().await;
    let python = repo().join(".venv/bin/python");
    let out = run_probe(
        tokio::process::Command::new(python)
            .arg(repo().join("tests/clients/py/oauth_probe.py"))
            .args([
                "--url",
                &app.mcp_url(&slug),
                "--email",
                "member@example.com",
                "--password",
                PASSWORD,
                "--call",
                r#"echo={"message":"signed in by OAuth"}"#,
            ]),
    )
    .await;
    assert!(out.get("error").is_none(), "{out}");
    assert!(
        out["tools"].as_array().unwrap().iter().any(|t| t == "echo"),
        "{out}"
    );
    let text = out["calls"][0]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains("signed in by OAuth"), "{out}");
    assert_eq!(out["person"]["sent_to_sign_in"], true, "{out}");
    assert!(
        out["person"]["consent_heading"]
            .as_str()
            .unwrap()
            .contains("Python SDK probe"),
        "the consent page names the client: {out}"
    );
    assert!(out["access_token"].as_str().unwrap().starts_with("gh_oat_"));
    assert_eq!(out["expires_in"], 3600);

    // The call is in the activity log, as the person who signed in.
    let who: String = sqlx::query_scalar(
        "SELECT u.email FROM tool_calls c JOIN users u ON u.id = c.user_id WHERE c.tool_name = 'echo'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(who, "member@example.com");
    // Only digests are stored.
    let access = out["access_token"].as_str().unwrap();
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM oauth_tokens WHERE token_hash = $1 OR encode(token_hash, 'escape') LIKE '%gh_o%'",
    )
    .bind(Sha256::digest(access).as_slice())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        stored, 1,
        "the token is found by its digest, never in clear"
    );
}
/// The official conformance suite's authorization-server scenarios. The suite prints the
/// authorization URL for a person to open; the test is that person: it opens the URL in the
/// signed-in browser, allows, and follows the redirect to the suite's callback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conformance_suites_authorization_scenarios_pass() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let World { app, .. } = world().await;
    let port = crate::helpers::free_port();
    let callback = format!("http://127.0.0.1:{port}/callback");
    let (status, body) = register(
        &app,
        json!({ "client_name": "Conformance suite", "redirect_uris": [callback], "token_endpoint_auth_method": "none" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let client_id = body["client_id"].as_str().unwrap().to_owned();
    let results = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "conformance-auth-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let suite =
        repo().join("tests/clients/node_modules/@modelcontextprotocol/conformance/dist/index.js");
    let mut child = tokio::process::Command::new("node")
        .arg(&suite)
        .args([
            "authorization",
            "--url",
            &app.address,
            "--client-id",
            &client_id,
        ])
        .args(["--port", &port.to_string(), "-o"])
        .arg(&results)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the conformance suite starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let authorize_prefix = app.url("/oauth/authorize?");
    let authorize_url = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            printed.push(line.clone());
            if line.starts_with(&authorize_prefix) {
                return line;
            }
        }
        panic!(
            "the suite never printed an authorization URL:\n{}",
            printed.join("\n")
        );
    })
    .await
    .expect("the suite asks for sign-in within a minute");

    let back = approve_in_browser(&app, &authorize_url).await;
    assert!(back.as_str().starts_with(&callback), "{back}");

    let rest = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            printed.push(line);
        }
        child.wait().await.unwrap()
    })
    .await
    .expect("the suite finishes");
    let output = printed.join("\n");
    let mut statuses = Vec::new();
    for entry in walk(&results) {
        if entry.file_name().is_some_and(|n| n == "checks.json") {
            let checks: Vec<Value> =
                serde_json::from_str(&std::fs::read_to_string(&entry).unwrap()).unwrap();
            for check in checks {
                statuses.push((
                    check["id"].as_str().unwrap_or("?").to_owned(),
                    check["status"].as_str().unwrap_or("?").to_owned(),
                    check.get("errorMessage").cloned(),
                ));
            }
        }
    }
    std::fs::remove_dir_all(&results).ok();
    for scenario in ["authorization-server-metadata", "authorization-code-grant"] {
        assert!(
            statuses
                .iter()
                .any(|(id, status, _)| id.starts_with(scenario) && status == "SUCCESS"),
            "{scenario} did not pass: {statuses:?}\n{output}"
        );
    }
    let failures: Vec<_> = statuses.iter().filter(|(_, s, _)| s == "FAILURE").collect();
    assert!(failures.is_empty(), "{failures:?}\n{output}");
    assert!(rest.success(), "{output}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// Reads `lines` until one contains `prefix`; returns the line from there, keeping everything read in `seen`.
async fn wait_for_line(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
    prefix: &str,
    seen: &mut Vec<String>,
) -> String {
    let found = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push(line.clone());
            if let Some(at) = line.find(prefix) {
                return Some(line[at..].trim().to_owned());
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(line)) => line,
        _ => panic!("never saw a line with {prefix}:\n{}", seen.join("\n")),
    }
}

/// `mcp-remote`, the bridge Claude Desktop users run, signs in the way it does for them: it
/// prints the authorization URL (and would open a browser); the person allows; it lists tools.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_remote_signs_in_and_lists_tools() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let World { app, slug } = world().await;
    let config = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("mcp-remote-{}", uuid::Uuid::new_v4().simple()));
    let mut child = tokio::process::Command::new(
        repo().join("tests/clients/node_modules/.bin/mcp-remote-client"),
    )
    .arg(app.mcp_url(&slug))
    .arg(crate::helpers::free_port().to_string())
    .env("MCP_REMOTE_CONFIG_DIR", &config)
    .env("BROWSER", "true")
    // It shuts down when its input ends, as a bridge whose host went away should.
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .kill_on_drop(true)
    .spawn()
    .expect("mcp-remote starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let authorize_url = wait_for_line(&mut lines, &app.url("/oauth/authorize?"), &mut seen).await;
    let back = approve_in_browser(&app, &authorize_url).await;
    assert_eq!(back.host_str(), Some("localhost"), "{back}");

    wait_for_line(&mut lines, "Tools:", &mut seen).await;
    let rest = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push(line);
        }
        child.wait().await.unwrap()
    })
    .await
    .expect("mcp-remote finishes");
    let output = seen.join("\n");
    assert!(output.contains("\"echo\""), "{output}");
    assert!(rest.success(), "{output}");
    std::fs::remove_dir_all(&config).ok();
}

/// The MCP Inspector's command line (v2) signs in interactively: it prints the URL to open,
/// the person allows, and it prints the tool list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inspector_cli_signs_in_and_lists_tools() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

    let World { app, slug } = world().await;
    let home = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("inspector-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&home).unwrap();
    let callback = format!("http://127.0.0.1:{}/callback", crate::helpers::free_port());
    let mut child = tokio::process::Command::new("node")
        .arg(repo().join("tests/clients/node_modules/inspector-v2/clients/launcher/build/index.js"))
        .args([
            "--cli",
            "--server-url",
            &app.mcp_url(&slug),
            "--transport",
            "http",
            "--method",
            "tools/list",
        ])
        .args(["--callback-url", &callback, "--format", "json"])
        // A home of its own: it keeps tokens there (a file, with no keychain here).
        .env("HOME", &home)
        // Interactive sign-in without a terminal; its attempt to open a browser fails here, and
        // the test plays the person at the URL it prints.
        .env("MCP_AUTO_OPEN_ENABLED", "true")
        .env("BROWSER", "true")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the inspector starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let authorize_url = wait_for_line(&mut lines, &app.url("/oauth/authorize?"), &mut seen).await;
    let back = approve_in_browser(&app, &authorize_url).await;
    assert!(back.as_str().starts_with(&callback), "{back}");

    let mut stdout = String::new();
    let mut out = child.stdout.take().unwrap();
    let status = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        out.read_to_string(&mut stdout).await.unwrap();
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push(line);
        }
        child.wait().await.unwrap()
    })
    .await
    .expect("the inspector finishes");
    let errors = seen.join("\n");
    assert!(status.success(), "{stdout}\n{errors}");
    assert!(stdout.contains("\"echo\""), "{stdout}\n{errors}");
    std::fs::remove_dir_all(&home).ok();
}
