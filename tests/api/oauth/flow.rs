//! The token lifecycle: discovery, codes, rotation, audience, expiry, revocation everywhere,
//! housekeeping and the admin API.

use super::*;

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
