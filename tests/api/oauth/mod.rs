//! The OAuth authorization server: discovery, registration, the sign-in and consent flow, token
//! rotation and revocation, audience binding — with real clients and the attacks each rule
//! exists to stop.

use base64::Engine;
use gatehouse::accounts::Role;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{
    PASSWORD, TestApp, everything_stdio, location, repo, run_probe, spawn_app, spawn_app_with,
    stateless_call,
};

const REDIRECT: &str = "http://127.0.0.1:43110/callback";

/// A client that is not a browser: no cookies, no redirects followed.
fn script() -> reqwest::Client {
    crate::helpers::tls();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn pkce() -> (String, String) {
    let verifier = format!("v{}", uuid::Uuid::new_v4().simple()).repeat(2);
    let challenge =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&verifier));
    (verifier, challenge)
}

async fn register(app: &TestApp, body: Value) -> (StatusCode, Value) {
    let response = script()
        .post(app.url("/oauth/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

/// Registers a public client (PKCE only) that returns to [`REDIRECT`].
async fn public_client(app: &TestApp) -> String {
    let (status, body) = register(
        app,
        json!({ "client_name": "Test agent", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["client_id"].as_str().unwrap().to_owned()
}

/// The signed-in browser asks to authorize with these parameters.
async fn authorize(app: &TestApp, params: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .get(url::Url::parse_with_params(&app.url("/oauth/authorize"), params).unwrap())
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap()
}

/// Follows the authorize answer to the consent page and allows; returns where the person is
/// sent back to.
async fn allow(app: &TestApp, response: reqwest::Response) -> url::Url {
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "authorize did not go to consent"
    );
    let consent = location(&response);
    assert!(consent.starts_with("/oauth/consent?request="), "{consent}");
    let page = app.get_page(&consent).await.text().await.unwrap();
    assert!(
        page.contains("Allow"),
        "the consent page shows its question: {page}"
    );
    let request = consent.split('=').nth(1).unwrap().to_owned();
    let answer = app
        .client
        .post(app.url("/oauth/decision"))
        .header(header::ORIGIN, &app.address)
        .form(&[("request", request.as_str()), ("decision", "allow")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    redirected_to(&answer)
}

/// The absolute address a redirect sends the browser to (the client's redirect URI).
fn redirected_to(response: &reqwest::Response) -> url::Url {
    let raw = response.headers()[header::LOCATION].to_str().unwrap();
    url::Url::parse(raw).unwrap_or_else(|_| panic!("not an absolute redirect: {raw}"))
}

/// Plays the person at an authorization URL a client printed: opens it in the signed-in
/// browser, allows, and follows the redirect to the client's own callback.
async fn approve_in_browser(app: &TestApp, authorize_url: &str) -> url::Url {
    let response = app
        .client
        .get(authorize_url)
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    let back = allow(app, response).await;
    let delivered = script().get(back.as_str()).send().await.unwrap();
    assert!(
        delivered.status().is_success(),
        "the client's callback answered {}",
        delivered.status()
    );
    back
}

/// Another browser, signed in as `email`.
async fn browser_of(app: &TestApp, email: &str) -> reqwest::Client {
    let browser = crate::helpers::browser();
    let response = browser
        .post(app.url("/_fn/sign_in"))
        .header(header::ACCEPT, "text/html")
        .header(header::ORIGIN, &app.address)
        .form(&[("email", email), ("password", PASSWORD), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{email} signs in");
    browser
}

fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A code for `client_id`, bound to `resource` (None: the gateway root).
async fn code_for(
    app: &TestApp,
    client_id: &str,
    challenge: &str,
    resource: Option<&str>,
) -> String {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("state", "xyz"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    if let Some(resource) = resource {
        params.push(("resource", resource));
    }
    let back = allow(app, authorize(app, &params).await).await;
    assert_eq!(param(&back, "state").as_deref(), Some("xyz"));
    assert_eq!(param(&back, "iss").as_deref(), Some(app.address.as_str()));
    param(&back, "code").expect("a code")
}

async fn token_request(app: &TestApp, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = script()
        .post(app.url("/oauth/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status == StatusCode::OK {
        assert_eq!(
            response.headers().get(header::CACHE_CONTROL).unwrap(),
            "no-store"
        );
    }
    (status, response.json().await.unwrap())
}

async fn exchange(
    app: &TestApp,
    client_id: &str,
    code: &str,
    verifier: &str,
) -> (StatusCode, Value) {
    token_request(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn refresh(app: &TestApp, client_id: &str, refresh_token: &str) -> (StatusCode, Value) {
    token_request(
        app,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

/// Signs `email` in, registers a client and returns fresh tokens for `resource`.
async fn tokens(app: &TestApp, resource: Option<&str>) -> (String, Value) {
    let client_id = public_client(app).await;
    let (verifier, challenge) = pkce();
    let code = code_for(app, &client_id, &challenge, resource).await;
    let (status, body) = exchange(app, &client_id, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (client_id, body)
}

/// Whether the gateway accepts `token` for a tool call on `slug`.
async fn call_status(app: &TestApp, slug: &str, token: &str) -> StatusCode {
    stateless_call(
        &script(),
        &app.mcp_url(slug),
        token,
        "echo",
        json!({ "message": "hi" }),
    )
    .await
    .0
}

struct World {
    app: TestApp,
    slug: String,
}

/// An app with a member signed in in the browser and one server.
async fn world() -> World {
    let app = spawn_app().await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    app.create_user("member@example.com", Role::Member).await;
    let server = app
        .create_server(&app.admin(&admin), "Everything", everything_stdio())
        .await;
    app.sign_in("member@example.com", PASSWORD).await;
    World {
        slug: server.slug,
        app,
    }
}

mod attacks;
mod clients;
mod flow;
