//! The attacks each rule exists to stop: PKCE, redirect URIs, cross-site consent, revocation
//! paths and metadata documents that point where they should not.

use super::*;

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
async fn metadata_host() -> String {
    use axum::{Router, response::IntoResponse, routing::get};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
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
    let base = metadata_host().await;
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
