//! The audit log page: changes appear with who made them, and the filters narrow them.

use gatehouse::accounts::Role;
use reqwest::StatusCode;

use crate::helpers::{PASSWORD, everything_stdio, spawn_app};

#[tokio::test]
async fn the_audit_log_lists_changes_and_filters_them_by_kind_actor_and_time() {
    let app = spawn_app().await;
    let admin_row = app.create_user("admin@example.com", Role::Admin).await;
    let admin = app.admin(&admin_row);
    app.create_server_with_env(
        &admin,
        "Audited",
        everything_stdio(),
        vec![("API_KEY".into(), "s3cret".into())],
    )
    .await;
    assert!(
        app.sign_in("admin@example.com", PASSWORD)
            .await
            .status()
            .is_redirection()
    );

    let page = |path: &'static str| {
        let app = &app;
        async move {
            let response = app.get_page(path).await;
            (response.status(), response.text().await.unwrap())
        }
    };
    let (status, html) = page("/audit").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("server.created") && html.contains("user.created"),
        "{html}"
    );
    assert!(html.contains("admin@example.com") && html.contains("command line"));
    assert!(
        !html.contains("s3cret"),
        "secret values never reach the log"
    );

    let (_, html) = page("/audit?kind=server").await;
    assert!(html.contains("server.created") && !html.contains("user.created"));
    assert!(html.contains("1 filter active"));

    let (_, html) = page("/audit?actor=COMMAND%20LINE").await;
    assert!(html.contains("user.created") && !html.contains("server.created"));

    let (_, html) = page("/audit?range=custom&from=2020-01-01T00:00&to=2020-01-02T00:00").await;
    assert!(html.contains("No changes in this range"));

    for (path, message) in [
        ("/audit?kind=server'%20OR%201=1--", "Unknown kind of change"),
        ("/audit?range=custom&from=someday", "is not a date and time"),
    ] {
        let (status, html) = page(path).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}");
        assert!(html.contains(message), "{path}: {html}");
    }
}
