use gatehouse::accounts::Role;
use reqwest::{StatusCode, header};

use crate::helpers::{PASSWORD, location, spawn_app};

#[tokio::test]
async fn a_signed_out_visitor_is_sent_to_sign_in_and_back() {
    let app = spawn_app().await;
    let response = app.get_page("/profile").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), "/login?next=%2Fprofile");
}

#[tokio::test]
async fn an_admin_signs_in_and_sees_the_dashboard_shell() {
    let app = spawn_app().await;
    app.create_user("ada@example.com", Role::Admin).await;

    let response = app.sign_in("ada@example.com", PASSWORD).await;
    let (location, page) = app.follow(response).await;

    assert_eq!(location, "/");
    assert!(page.contains("Welcome, ada"), "greets the person: {page}");
    assert!(page.contains(r#"href="/profile""#), "navigation is shown");
    assert!(page.contains("Sign out"));
    assert!(page.contains("Admin"));
}

#[tokio::test]
async fn sign_in_goes_to_the_page_that_was_asked_for() {
    let app = spawn_app().await;
    app.create_user("ada@example.com", Role::Member).await;
    let response = app
        .submit_form(
            "sign_in",
            "/login?next=%2Fprofile",
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("next", "/profile"),
            ],
        )
        .await;
    assert_eq!(location(&response), "/profile");
}

#[tokio::test]
async fn sign_in_never_sends_people_to_another_site() {
    let app = spawn_app().await;
    app.create_user("ada@example.com", Role::Member).await;
    let response = app
        .submit_form(
            "sign_in",
            "/login",
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(location(&response), "/");
}

#[tokio::test]
async fn a_wrong_password_shows_an_error_on_the_sign_in_page() {
    let app = spawn_app().await;
    app.create_user("ada@example.com", Role::Admin).await;

    let response = app.sign_in("ada@example.com", "not the password").await;
    let (location, page) = app.follow(response).await;

    assert!(
        location.starts_with("/login"),
        "back on the sign-in page, got {location}"
    );
    assert!(page.contains("That email and password do not match."));
    assert!(
        app.get_page("/").await.status().is_redirection(),
        "still signed out"
    );
}

#[tokio::test]
async fn an_unknown_email_gets_the_same_answer_as_a_wrong_password() {
    let app = spawn_app().await;
    let response = app.sign_in("nobody@example.com", PASSWORD).await;
    let (_, page) = app.follow(response).await;
    assert!(page.contains("That email and password do not match."));
}

#[tokio::test]
async fn repeated_failures_lock_the_account_for_a_while() {
    let app = spawn_app().await;
    app.create_user("ada@example.com", Role::Admin).await;
    for _ in 0..5 {
        app.sign_in("ada@example.com", "guess").await;
    }

    // Even the right password is refused now, with a message that says what to do.
    let response = app.sign_in("ada@example.com", PASSWORD).await;
    let (_, page) = app.follow(response).await;
    assert!(
        page.contains("Too many failed sign-in attempts. Try again in 15 minutes."),
        "{page}"
    );
    assert!(
        app.get_page("/").await.status().is_redirection(),
        "still signed out"
    );
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_same_site() {
    let app = spawn_app().await;
    app.create_user("ada@example.com", Role::Member).await;
    let response = app.sign_in("ada@example.com", PASSWORD).await;
    let cookie = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("gatehouse_session="))
        .expect("a session cookie is set");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http in tests: {cookie}");
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let app = spawn_app().await;
    app.create_user("ada@example.com", Role::Member).await;
    app.sign_in("ada@example.com", PASSWORD).await;
    assert_eq!(app.get_page("/").await.status(), StatusCode::OK);

    let response = app.submit_form("sign_out", "/", &[]).await;
    assert_eq!(location(&response), "/login");
    assert_eq!(app.get_page("/").await.status(), StatusCode::FOUND);
}

#[tokio::test]
async fn a_form_posted_from_another_site_is_refused() {
    let app = spawn_app().await;
    app.create_user("ada@example.com", Role::Member).await;
    app.sign_in("ada@example.com", PASSWORD).await;

    let response = app
        .client
        .post(app.url("/_fn/sign_out"))
        .header(header::ORIGIN, "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .form(&[("x", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.get_page("/").await.status(),
        StatusCode::OK,
        "still signed in"
    );
}

#[tokio::test]
async fn a_member_changes_their_password() {
    let app = spawn_app().await;
    app.create_user("mo@example.com", Role::Member).await;
    app.sign_in("mo@example.com", PASSWORD).await;

    let response = app
        .submit_form(
            "change_password",
            "/profile",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a much longer secret"),
                ("confirm_password", "a much longer secret"),
            ],
        )
        .await;
    let (_, page) = app.follow(response).await;
    assert!(page.contains("Your password was changed."));

    let fresh = crate::helpers::browser();
    let old = fresh
        .post(app.url("/_fn/sign_in"))
        .header(header::ACCEPT, "text/html")
        .header(header::REFERER, app.url("/login"))
        .form(&[("email", "mo@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(
        location(&old).starts_with("/login?"),
        "the old password no longer works"
    );
    let new = app.sign_in("mo@example.com", "a much longer secret").await;
    assert_eq!(location(&new), "/");
}

#[tokio::test]
async fn a_too_short_new_password_is_refused_with_the_rule() {
    let app = spawn_app().await;
    app.create_user("mo@example.com", Role::Member).await;
    app.sign_in("mo@example.com", PASSWORD).await;
    let response = app
        .submit_form(
            "change_password",
            "/profile",
            &[
                ("current_password", PASSWORD),
                ("new_password", "short"),
                ("confirm_password", "short"),
            ],
        )
        .await;
    let (_, page) = app.follow(response).await;
    assert!(page.contains("Use at least 10 characters."));
}

#[tokio::test]
async fn an_unknown_page_is_a_404_with_a_way_back() {
    let app = spawn_app().await;
    let response = app.get_page("/no/such/page").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.text().await.unwrap().contains("Page not found"));
}

#[tokio::test]
async fn a_script_calling_sign_in_gets_a_422_with_the_reason() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/_fn/sign_in"))
        .form(&[("email", "ada@example.com"), ("password", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["Invalid"]["message"],
        "That email and password do not match."
    );
}
