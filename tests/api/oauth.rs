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

#[tokio::test]
async fn discovery_starts_from_the_gateways_401_and_names_everything_a_client_needs() {
    let World { app, slug } = world().await;
    let response = script().post(app.mcp_url(&slug)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned();
    let prm_url = format!(
        "{}/.well-known/oauth-protected-resource/mcp/{slug}",
        app.address
    );
    assert!(
        challenge.contains(&format!("resource_metadata=\"{prm_url}\"")),
        "{challenge}"
    );

    let prm: Value = script()
        .get(&prm_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["resource"], app.mcp_url(&slug));
    assert_eq!(prm["authorization_servers"][0], app.address.as_str());
    let root: Value = script()
        .get(app.url("/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(root["resource"], app.url("/mcp"));
    let missing = script()
        .get(app.url("/.well-known/oauth-protected-resource/mcp/no-such-server"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    let server: Value = script()
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(server["issuer"], app.address.as_str());
    assert_eq!(server["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(server["client_id_metadata_document_supported"], true);
    assert_eq!(
        server["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(server["token_endpoint"], app.url("/oauth/token"));
}

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

#[tokio::test]
async fn refresh_tokens_rotate_and_a_replayed_one_revokes_the_whole_family() {
    let World { app, slug } = world().await;
    let (client_id, first) = tokens(&app, None).await;
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(call_status(&app, &slug, access).await, StatusCode::OK);

    let old_refresh = first["refresh_token"].as_str().unwrap();
    let (status, second) = refresh(&app, &client_id, old_refresh).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let new_refresh = second["refresh_token"].as_str().unwrap();
    assert_ne!(new_refresh, old_refresh, "refresh tokens rotate");
    let new_access = second["access_token"].as_str().unwrap();
    assert_eq!(call_status(&app, &slug, new_access).await, StatusCode::OK);

    // Someone replays the old refresh token: refused, and everything of this sign-in dies.
    let (status, replay) = refresh(&app, &client_id, old_refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(replay["error"], "invalid_grant");
    let (status, after) = refresh(&app, &client_id, new_refresh).await;
    assert_eq!(
        (status, after["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(
        call_status(&app, &slug, new_access).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call_status(&app, &slug, access).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_reused_code_is_refused_and_revokes_what_it_gave() {
    let World { app, slug } = world().await;
    let client_id = public_client(&app).await;
    let (verifier, challenge) = pkce();
    let code = code_for(&app, &client_id, &challenge, None).await;
    let (status, first) = exchange(&app, &client_id, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK);
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(call_status(&app, &slug, access).await, StatusCode::OK);

    let (status, again) = exchange(&app, &client_id, &code, &verifier).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(
        call_status(&app, &slug, access).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn codes_need_the_right_verifier_redirect_and_client_and_expire() {
    let World { app, .. } = world().await;
    let client_id = public_client(&app).await;
    let other_client = public_client(&app).await;
    let (verifier, challenge) = pkce();

    let code = code_for(&app, &client_id, &challenge, None).await;
    let (wrong_verifier, _) = pkce();
    let (status, body) = exchange(&app, &client_id, &code, &wrong_verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    let code = code_for(&app, &client_id, &challenge, None).await;
    let (status, body) = exchange(&app, &other_client, &code, &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    let code = code_for(&app, &client_id, &challenge, None).await;
    let (status, body) = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:43110/other"),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    let code = code_for(&app, &client_id, &challenge, None).await;
    sqlx::query("UPDATE oauth_codes SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let (status, body) = exchange(&app, &client_id, &code, &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    let (status, body) = exchange(&app, "gh_oci_unknown", "whatever", &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
}

#[tokio::test]
async fn pkce_is_required_and_only_s256_is_accepted() {
    let World { app, .. } = world().await;
    let client_id = public_client(&app).await;
    let (_, challenge) = pkce();
    let base = [
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("redirect_uri", REDIRECT),
        ("state", "s1"),
    ];
    for extra in [
        vec![],
        vec![("code_challenge", challenge.as_str())],
        vec![
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "plain"),
        ],
    ] {
        let params: Vec<_> = base.iter().copied().chain(extra).collect();
        let response = authorize(&app, &params).await;
        let back = redirected_to(&response);
        assert!(back.as_str().starts_with(REDIRECT), "{back}");
        assert_eq!(
            param(&back, "error").as_deref(),
            Some("invalid_request"),
            "{back}"
        );
        assert_eq!(param(&back, "state").as_deref(), Some("s1"));
    }
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM oauth_requests")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(pending, 0, "nothing was stored for a refused request");
}

#[tokio::test]
async fn redirect_uri_variants_are_refused_on_a_page_never_by_redirecting() {
    let World { app, .. } = world().await;
    let (status, body) = register(
        &app,
        json!({ "client_name": "Web app", "redirect_uris": ["https://app.example.com/callback"], "token_endpoint_auth_method": "none" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let client_id = body["client_id"].as_str().unwrap().to_owned();
    let (_, challenge) = pkce();
    for variant in [
        "https://app.example.com/callback/extra",
        "https://evil.example.com/callback",
        "https://app.example.com/callback#fragment",
        "http://app.example.com/callback",
        "https://app.example.com/callback?next=https://evil.example.com",
    ] {
        let response = authorize(
            &app,
            &[
                ("response_type", "code"),
                ("client_id", &client_id),
                ("redirect_uri", variant),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{variant}");
        assert!(
            response.headers().get(header::LOCATION).is_none(),
            "{variant}"
        );
        let page = response.text().await.unwrap();
        assert!(page.contains("did not register"), "{variant}: {page}");
    }

    for (bad, why) in [
        ("http://app.example.com/callback", "http on a host"),
        ("https://app.example.com/cb#x", "fragment"),
        ("javascript:alert(1)", "scheme"),
    ] {
        let (status, body) = register(
            &app,
            json!({ "redirect_uris": [bad], "token_endpoint_auth_method": "none" }),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["error"], "invalid_redirect_uri");
        assert!(
            body["error_description"].as_str().unwrap().contains(why),
            "{body}"
        );
    }
    let (status, body) = register(&app, json!({ "redirect_uris": "not a list" })).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_client_metadata"))
    );
    let huge = "x".repeat(20_000);
    let (status, body) = register(
        &app,
        json!({ "client_name": huge, "redirect_uris": [REDIRECT] }),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_client_metadata"))
    );

    let response = authorize(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", "gh_oci_nobody"),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("not registered"));
    let clients: i64 = sqlx::query_scalar("SELECT count(*) FROM oauth_clients")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(clients, 1, "refused registrations left nothing behind");
}

#[tokio::test]
async fn loopback_redirect_uris_may_use_any_port() {
    let World { app, .. } = world().await;
    let client_id = public_client(&app).await;
    let (_, challenge) = pkce();
    let response = authorize(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", "http://127.0.0.1:59999/callback"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let back = allow(&app, response).await;
    assert!(
        back.as_str()
            .starts_with("http://127.0.0.1:59999/callback?code="),
        "{back}"
    );
}

#[tokio::test]
async fn tokens_are_bound_to_their_resource() {
    let World { app, slug } = world().await;
    let admin = app.admin(
        &gatehouse::accounts::db::find_by_email(&app.pool, "admin@example.com")
            .await
            .unwrap()
            .unwrap(),
    );
    let other = app.create_server(&admin, "Other", everything_stdio()).await;

    let (_, bound) = tokens(&app, Some(&app.mcp_url(&slug))).await;
    let access = bound["access_token"].as_str().unwrap();
    assert_eq!(call_status(&app, &slug, access).await, StatusCode::OK);
    let response = script()
        .post(app.mcp_url(&other.slug))
        .bearer_auth(access)
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "another server's audience"
    );
    let challenge = response.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap();
    assert!(challenge.contains("invalid_token"), "{challenge}");

    let (_, root) = tokens(&app, Some(&app.url("/mcp"))).await;
    let access = root["access_token"].as_str().unwrap();
    assert_eq!(call_status(&app, &slug, access).await, StatusCode::OK);
    assert_eq!(call_status(&app, &other.slug, access).await, StatusCode::OK);

    // A resource that is not this Gatehouse is refused before consent.
    let client_id = public_client(&app).await;
    let (_, challenge) = pkce();
    let response = authorize(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("resource", "https://elsewhere.example.com/mcp"),
        ],
    )
    .await;
    let back = redirected_to(&response);
    assert_eq!(param(&back, "error").as_deref(), Some("invalid_target"));
}

#[tokio::test]
async fn expired_tokens_and_tokens_in_the_query_string_are_refused() {
    let World { app, slug } = world().await;
    let (_, body) = tokens(&app, None).await;
    let access = body["access_token"].as_str().unwrap();
    let in_query = script()
        .post(format!("{}?access_token={access}", app.mcp_url(&slug)))
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }))
        .send()
        .await
        .unwrap();
    assert_eq!(in_query.status(), StatusCode::BAD_REQUEST);

    sqlx::query(
        "UPDATE oauth_tokens SET expires_at = now() - interval '1 second' WHERE kind = 'access'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let response = script()
        .post(app.mcp_url(&slug))
        .bearer_auth(access)
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("expired")
    );
}

#[tokio::test]
async fn the_consent_form_refuses_cross_site_posts_and_answers_once() {
    let World { app, .. } = world().await;
    let client_id = public_client(&app).await;
    let (_, challenge) = pkce();
    let response = authorize(
        &app,
        &[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let consent = location(&response);
    let request = consent.split('=').nth(1).unwrap().to_owned();
    for (name, value) in [
        ("origin", "https://evil.example.com"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let forged = app
            .client
            .post(app.url("/oauth/decision"))
            .header(name, value)
            .form(&[("request", request.as_str()), ("decision", "allow")])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), StatusCode::FORBIDDEN, "{name}");
    }
    let codes: i64 = sqlx::query_scalar("SELECT count(*) FROM oauth_codes")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(codes, 0, "a forged form issues nothing");

    // Another person cannot answer it either (the request is bound to who saw it).
    app.create_user("other@example.com", Role::Member).await;
    let stranger = browser_of(&app, "other@example.com").await;
    let theirs = stranger
        .post(app.url("/oauth/decision"))
        .header(header::ORIGIN, &app.address)
        .form(&[("request", request.as_str()), ("decision", "allow")])
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), StatusCode::BAD_REQUEST);

    let answer = |decision: &'static str| {
        app.client
            .post(app.url("/oauth/decision"))
            .header(header::ORIGIN, &app.address)
            .form(&[
                ("request", request.clone()),
                ("decision", decision.to_owned()),
            ])
            .send()
    };
    let denied = answer("deny").await.unwrap();
    let back = redirected_to(&denied);
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    let again = answer("allow").await.unwrap();
    assert_eq!(
        again.status(),
        StatusCode::BAD_REQUEST,
        "a request is answered once"
    );
}

#[tokio::test]
async fn revocation_a_removed_person_and_a_deleted_client_end_tokens_at_once() {
    let World { app, slug } = world().await;

    // RFC 7009 revocation of the refresh token ends the access token too.
    let (client_id, body) = tokens(&app, None).await;
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(call_status(&app, &slug, access).await, StatusCode::OK);
    let revoked = script()
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("token", body["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(
        call_status(&app, &slug, access).await,
        StatusCode::UNAUTHORIZED
    );
    let unknown = script()
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("token", "gh_ort_not-a-token"),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        unknown.status(),
        StatusCode::OK,
        "unknown tokens are answered alike"
    );

    // The person disconnects the client on the Connections page.
    let (_, body) = tokens(&app, None).await;
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(call_status(&app, &slug, access).await, StatusCode::OK);
    let page = app.get_page("/connections").await.text().await.unwrap();
    assert!(page.contains("Test agent"), "{page}");
    let everyone = app
        .get_page("/connections?everyone=true")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        everyone.contains("You do not have access"),
        "members see only their own"
    );
    let admin_view = browser_of(&app, "admin@example.com")
        .await
        .get(app.url("/connections?everyone=true"))
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        admin_view.contains("Test agent") && admin_view.contains("member@example.com"),
        "admins see everyone's connections, with the person: {admin_view}"
    );
    let grant: uuid::Uuid = sqlx::query_scalar(
        "SELECT id FROM oauth_grants WHERE revoked_at IS NULL ORDER BY created_at DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let response = app
        .submit_form(
            "oauth/revoke_connection",
            "/connections",
            &[("grant_id", &grant.to_string())],
        )
        .await;
    assert!(response.status().is_redirection(), "{}", response.status());
    assert_eq!(
        call_status(&app, &slug, access).await,
        StatusCode::UNAUTHORIZED
    );

    // An admin deletes the client.
    let (client_id, body) = tokens(&app, None).await;
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(call_status(&app, &slug, access).await, StatusCode::OK);
    let admin = browser_of(&app, "admin@example.com").await;
    let deleted = admin
        .post(app.url("/_fn/oauth/delete_client"))
        .header(header::ACCEPT, "text/html")
        .header(header::ORIGIN, &app.address)
        .form(&[("id", client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_redirection(), "{}", deleted.status());
    assert_eq!(
        call_status(&app, &slug, access).await,
        StatusCode::UNAUTHORIZED
    );

    // The person is removed.
    let (_, body) = tokens(&app, None).await;
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(call_status(&app, &slug, access).await, StatusCode::OK);
    sqlx::query("DELETE FROM users WHERE email = 'member@example.com'")
        .execute(&app.pool)
        .await
        .unwrap();
    app.state.changes.settle().await;
    assert_eq!(
        call_status(&app, &slug, access).await,
        StatusCode::UNAUTHORIZED
    );
}

/// Serves client metadata documents on the loopback interface for the CIMD tests.
async fn metadata_host(client_id_base: &str) -> String {
    use axum::{Router, response::IntoResponse, routing::get};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let _ = client_id_base;
    let ok_id = format!("{base}/good.json");
    let good = json!({
        "client_id": ok_id,
        "client_name": "Documented agent",
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
    });
    let other = format!("{base}/other.json");
    let app = Router::new()
        .route("/good.json", get(move || async move { axum::Json(good) }))
        .route("/big.json", get(|| async { "x".repeat(100_000) }))
        .route("/broken.json", get(|| async { "{ not json" }))
        .route(
            "/other.json",
            get(move || async move {
                axum::Json(
                    json!({ "client_id": "https://someone.else/", "redirect_uris": [REDIRECT] }),
                )
            }),
        )
        .route(
            "/moved.json",
            get(move || async move { axum::response::Redirect::temporary(&other).into_response() }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test]
async fn client_metadata_documents_are_fetched_with_care() {
    // Without the development setting, a document on a private address is never fetched.
    let World { app, .. } = world().await;
    let base = metadata_host("").await;
    let (_, challenge) = pkce();
    let ask = |app: &TestApp, client_id: String| {
        let challenge = challenge.clone();
        let app_client = app.client.clone();
        let url = app.url("/oauth/authorize");
        async move {
            let params = [
                ("response_type", "code"),
                ("client_id", client_id.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ];
            app_client
                .get(url::Url::parse_with_params(&url, &params).unwrap())
                .send()
                .await
                .unwrap()
        }
    };
    for private in [
        format!("{base}/good.json"),
        "https://127.0.0.1/client.json".to_owned(),
        "https://169.254.169.254/latest/meta-data/client.json".to_owned(),
        "https://10.0.0.1/client.json".to_owned(),
    ] {
        let response = ask(&app, private.clone()).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{private}");
        let page = response.text().await.unwrap();
        assert!(
            page.contains("private, loopback or link-local") || page.contains("HTTPS"),
            "{private}: {page}"
        );
    }

    // With it (development), a good document works and bad ones are refused.
    let dev = spawn_app_with(|config| config.oauth_allow_private_metadata = true).await;
    dev.create_user("member@example.com", Role::Member).await;
    dev.sign_in("member@example.com", PASSWORD).await;
    for (path, why) in [
        ("big.json", "larger than"),
        ("broken.json", "not valid JSON"),
        ("other.json", "different client_id"),
        ("moved.json", "redirects"),
    ] {
        let response = ask(&dev, format!("{base}/{path}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let page = response.text().await.unwrap();
        assert!(page.contains(why), "{path}: {page}");
    }
    let response = ask(&dev, format!("{base}/good.json")).await;
    let consent = location(&response);
    let page = dev.get_page(&consent).await.text().await.unwrap();
    assert!(page.contains("Documented agent"), "{page}");
    let kind: String = sqlx::query_scalar("SELECT kind::text FROM oauth_clients")
        .fetch_one(&dev.pool)
        .await
        .unwrap();
    assert_eq!(kind, "metadata_document");
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

#[tokio::test]
async fn a_revocation_reaches_every_replica_at_the_next_request() {
    let World { app, slug } = world().await;
    let (client_id, body) = tokens(&app, None).await;
    let access = body["access_token"].as_str().unwrap().to_owned();

    // A second Gatehouse: the real binary, on the same database and keys.
    let port = app.address.rsplit(':').next().unwrap();
    let data_dir =
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("app-{port}"));
    let other = crate::helpers::spawn_replica(&app.database_url, &data_dir).await;
    let on_other = format!("{}/mcp/{slug}", other.address);
    let http = script();
    let call = || {
        stateless_call(
            &http,
            &on_other,
            &access,
            "echo",
            json!({ "message": "hi" }),
        )
    };
    assert_eq!(
        call().await.0,
        StatusCode::OK,
        "the replica accepts the token"
    );

    let revoked = script()
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("token", access.as_str()),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(
        call().await.0,
        StatusCode::UNAUTHORIZED,
        "the replica refuses the very next call"
    );
}

#[tokio::test]
async fn a_token_limited_to_other_servers_gets_403_insufficient_scope_with_the_metadata_url() {
    let World { app, slug } = world().await;
    let member = gatehouse::accounts::db::find_by_email(&app.pool, "member@example.com")
        .await
        .unwrap()
        .unwrap();
    let token = app.mint_token(&member).await;
    // Personal tokens may be limited to some servers (SPEC S10); this one to none of these.
    sqlx::query("UPDATE api_tokens SET server_ids = ARRAY[gen_random_uuid()]")
        .execute(&app.pool)
        .await
        .unwrap();
    app.state.changes.settle().await;
    let response = script()
        .post(app.mcp_url(&slug))
        .bearer_auth(&token)
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/list" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenge = response.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!("/.well-known/oauth-protected-resource/mcp/{slug}")),
        "{challenge}"
    );
}

#[tokio::test]
async fn admins_manage_clients_and_connections_through_the_json_api() {
    let World { app, .. } = world().await;
    let admin = gatehouse::accounts::db::find_by_email(&app.pool, "admin@example.com")
        .await
        .unwrap()
        .unwrap();
    let member = gatehouse::accounts::db::find_by_email(&app.pool, "member@example.com")
        .await
        .unwrap()
        .unwrap();
    let admin_token = app.mint_token(&admin).await;
    let member_token = app.mint_token(&member).await;
    let api = |method: reqwest::Method, path: &str, token: &str| {
        script().request(method, app.url(path)).bearer_auth(token)
    };

    let bad = api(reqwest::Method::POST, "/api/v1/oauth/clients", &admin_token)
        .json(&json!({ "name": "Agent", "redirect_uris": ["http://agent.example.com/cb"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad: Value = bad.json().await.unwrap();
    assert_eq!(bad["error"]["field"], "redirect_uris", "{bad}");

    let created = api(reqwest::Method::POST, "/api/v1/oauth/clients", &admin_token)
        .json(&json!({ "name": "Agent", "redirect_uris": [REDIRECT], "confidential": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let client_id = created["client"]["id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("gh_ocs_"));

    // The confidential client must prove itself at the token endpoint.
    let (verifier, challenge) = pkce();
    let code = code_for(&app, &client_id, &challenge, None).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let without = script()
        .post(app.url("/oauth/token"))
        .form(&[&form[..], &[("client_id", client_id.as_str())]].concat())
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), StatusCode::UNAUTHORIZED);
    let with = script()
        .post(app.url("/oauth/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        with.status(),
        StatusCode::OK,
        "{}",
        with.text().await.unwrap()
    );

    let connections: Value = api(
        reqwest::Method::GET,
        "/api/v1/oauth/connections",
        &admin_token,
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(connections[0]["client_name"], "Agent", "{connections}");
    assert_eq!(connections[0]["user_email"], "member@example.com");

    let refused = api(reqwest::Method::GET, "/api/v1/oauth/clients", &member_token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let deleted = api(
        reqwest::Method::DELETE,
        &format!("/api/v1/oauth/clients/{client_id}"),
        &admin_token,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let clients: Value = api(reqwest::Method::GET, "/api/v1/oauth/clients", &admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(clients, json!([]));
    let kinds: Vec<String> = sqlx::query_scalar(
        "SELECT kind FROM audit_events WHERE kind LIKE 'client.%' ORDER BY occurred_at",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(kinds, ["client.registered", "client.deleted"]);
}

#[tokio::test]
async fn housekeeping_forgets_expired_codes_and_tokens_and_clients_nobody_approved() {
    let World { app, .. } = world().await;
    let (_, body) = tokens(&app, None).await;
    let idle = public_client(&app).await;
    sqlx::query("UPDATE oauth_clients SET created_at = now() - interval '31 days'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE oauth_tokens SET expires_at = now() - interval '2 days' WHERE kind = 'access'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    gatehouse::oauth::db::prune(&app.pool).await.unwrap();

    let clients: Vec<String> = sqlx::query_scalar("SELECT id FROM oauth_clients")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(clients.len(), 1, "the approved client stays");
    assert!(!clients.contains(&idle), "the idle one is gone");
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind::text FROM oauth_tokens")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(kinds, ["refresh"], "the expired access token is gone");
    let (status, _) = refresh(&app, &clients[0], body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "the live refresh token still works");
}
