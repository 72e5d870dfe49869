use crate::helpers::{fresh_database, spawn_app, spawn_app_on, test_cluster};
use reqwest::StatusCode;
use sqlx::Connection;

#[tokio::test]
async fn healthz_answers_while_the_process_is_up() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["status"],
        "ok"
    );
}

#[tokio::test]
async fn readyz_is_ready_on_a_migrated_database() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn readyz_is_not_ready_while_migrations_are_pending() {
    let (name, pool) = fresh_database().await;
    sqlx::query("DELETE FROM _sqlx_migrations")
        .execute(&pool)
        .await
        .unwrap();
    let app = spawn_app_on(pool, &name).await;
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["reason"], "database migrations are pending");
}

#[tokio::test]
async fn readyz_is_not_ready_when_the_database_is_gone() {
    let (name, pool) = fresh_database().await;
    let app = spawn_app_on(pool.clone(), &name).await;
    // Take the database away under the running app.
    pool.close().await;
    let mut admin =
        sqlx::PgConnection::connect_with(&test_cluster().await.connect_options("postgres"))
            .await
            .unwrap();
    sqlx::query(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}
