//! What runs beside the app under test: a second replica, and a proxy for clients that
//! cannot authenticate themselves.

use super::*;

/// A forwarder in front of Gatehouse that adds `Authorization: Bearer <token>` to every
/// request that has none, and passes everything else through byte for byte (Host and Origin
/// included). It stands in for a client that authenticates, for test tools that cannot.
pub async fn authenticating_proxy(target: &str, token: &str) -> String {
    use axum::{body::Body, extract::Request, response::Response};
    tls();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let target = target.trim_end_matches('/').to_owned();
    let token = token.to_owned();
    let handler = move |request: Request| {
        let (client, target, token) = (client.clone(), target.clone(), token.clone());
        async move {
            let (parts, body) = request.into_parts();
            let url = format!(
                "{target}{}",
                parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/")
            );
            let body = axum::body::to_bytes(body, 64 * 1024 * 1024)
                .await
                .unwrap_or_default();
            let mut headers = parts.headers.clone();
            for hop in [
                "connection",
                "keep-alive",
                "transfer-encoding",
                "content-length",
            ] {
                headers.remove(hop);
            }
            if !headers.contains_key("authorization") {
                headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
            }
            let upstream = client
                .request(parts.method, url)
                .headers(headers)
                .body(body)
                .send()
                .await;
            let Ok(upstream) = upstream else {
                return Response::builder().status(502).body(Body::empty()).unwrap();
            };
            let mut response = Response::builder().status(upstream.status());
            for (name, value) in upstream.headers() {
                if !matches!(
                    name.as_str(),
                    "connection" | "transfer-encoding" | "content-length"
                ) {
                    response = response.header(name, value);
                }
            }
            response
                .body(Body::from_stream(upstream.bytes_stream()))
                .unwrap()
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, axum::Router::new().fallback(handler))
            .await
            .unwrap();
    });
    address
}

/// Another Gatehouse replica: the real binary serving on `database_url` with the keys in
/// `data_dir`, on a port it picks itself (read back from its "ready" log line, so no other
/// test's server can be mistaken for it). Stopped when dropped.
pub struct Replica {
    _child: tokio::process::Child,
    pub address: String,
}

pub async fn spawn_replica(database_url: &str, data_dir: &std::path::Path) -> Replica {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--database-url",
            database_url,
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .env("GATEHOUSE_LOG_FORMAT", "json")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the replica starts");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let address = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let Ok(log) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if log["fields"]["message"] == "Gatehouse is ready" {
                return format!("http://{}", log["fields"]["addr"].as_str().unwrap());
            }
        }
        panic!("the replica exited before it was ready");
    })
    .await
    .expect("the replica is ready within a minute");
    // Keep reading its output so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Replica {
        _child: child,
        address,
    }
}
