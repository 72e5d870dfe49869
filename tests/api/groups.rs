//! Permission groups and people: the rules admins set, refused mistakes that change nothing,
//! and changes that reach every replica on the very next call.

use gatehouse::{accounts::Role, groups};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, TestApp, everything_stdio, spawn_app, spawn_replica, stateless_call,
};

/// The admin JSON API, with an admin's token.
struct Api<'a> {
    app: &'a TestApp,
    token: String,
    client: reqwest::Client,
}

impl Api<'_> {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, self.app.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

async fn api(app: &TestApp) -> Api<'_> {
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    Api {
        app,
        token: app.mint_token(&admin).await,
        client: reqwest::Client::new(),
    }
}

#[tokio::test]
async fn groups_are_created_renamed_made_default_and_deleted_with_clear_refusals() {
    use reqwest::Method;
    let app = spawn_app().await;
    let api = api(&app).await;

    let (status, support) = api
        .send(
            Method::POST,
            "/api/v1/groups",
            Some(json!({ "name": "Support" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{support}");
    let id = support["id"].as_str().unwrap().to_owned();
    let (status, error) = api
        .send(
            Method::POST,
            "/api/v1/groups",
            Some(json!({ "name": " support " })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["field"], "name");
    assert_eq!(
        error["error"]["message"],
        "A group called \u{201c}support\u{201d} already exists."
    );
    let (status, _) = api
        .send(
            Method::POST,
            "/api/v1/groups",
            Some(json!({ "name": "  " })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The default group cannot be deleted.
    let (_, list) = api.send(Method::GET, "/api/v1/groups", None).await;
    let default = list
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["is_default"] == true)
        .unwrap()
        .clone();
    let (status, error) = api
        .send(
            Method::DELETE,
            &format!("/api/v1/groups/{}", default["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("default group cannot be deleted")
    );

    // Making Support the default: new people join it, and exactly one group is the default.
    let (status, updated) = api
        .send(
            Method::PATCH,
            &format!("/api/v1/groups/{id}"),
            Some(json!({ "name": "Support team", "make_default": true })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(
        (updated["name"].as_str(), updated["is_default"].as_bool()),
        (Some("Support team"), Some(true))
    );
    let newcomer = app.create_user("new@example.com", Role::Member).await;
    assert_eq!(newcomer.group_name, "Support team");
    let (_, list) = api.send(Method::GET, "/api/v1/groups", None).await;
    assert_eq!(
        list.as_array()
            .unwrap()
            .iter()
            .filter(|g| g["is_default"] == true)
            .count(),
        1
    );

    // A group with members cannot be deleted until they are moved.
    let old_default = default["id"].as_str().unwrap();
    let (status, _) = api
        .send(
            Method::POST,
            &format!("/api/v1/groups/{old_default}/members"),
            Some(json!({ "user_id": newcomer.id })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, error) = api
        .send(
            Method::DELETE,
            &format!("/api/v1/groups/{old_default}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("still has 2 members"),
        "{error}"
    );
    // Removing someone from a group returns them to the default group.
    let (status, _) = api
        .send(
            Method::DELETE,
            &format!("/api/v1/groups/{old_default}/members/{}", newcomer.id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, person) = api
        .send(Method::GET, &format!("/api/v1/users/{}", newcomer.id), None)
        .await;
    assert_eq!(person["group_name"], "Support team");

    // The audit log names every change.
    let kinds: Vec<String> =
        sqlx::query_scalar("SELECT kind FROM audit_events WHERE kind LIKE 'group.%' ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        kinds,
        [
            "group.created",
            "group.renamed",
            "group.made_default",
            "group.member_moved",
            "group.member_moved"
        ]
    );
}

#[tokio::test]
async fn the_last_admin_cannot_be_demoted_and_bad_roles_or_groups_change_nothing() {
    use reqwest::Method;
    let app = spawn_app().await;
    let api = api(&app).await;
    let (_, list) = api
        .send(Method::GET, "/api/v1/users?role=admin", None)
        .await;
    let admin_id = list["users"][0]["id"].as_str().unwrap().to_owned();

    let (status, error) = api
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{admin_id}"),
            Some(json!({ "role": "member" })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error["error"]["message"],
        "admin@example.com is the last admin. Make someone else an admin first."
    );
    for body in [
        json!({ "role": "overlord" }),
        json!({ "group_id": "00000000-0000-0000-0000-000000000000" }),
    ] {
        let (status, _) = api
            .send(
                Method::PATCH,
                &format!("/api/v1/users/{admin_id}"),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (_, me) = api
        .send(Method::GET, &format!("/api/v1/users/{admin_id}"), None)
        .await;
    assert_eq!(me["role"], "admin");

    // Filters are bound values: SQL-looking searches find nobody and break nothing.
    let (status, found) = api
        .send(Method::GET, "/api/v1/users?q=%27%20OR%201%3D1--", None)
        .await;
    assert_eq!((status, found["total"].as_i64()), (StatusCode::OK, Some(0)));
    let (status, _) = api.send(Method::GET, "/api/v1/users?role=root", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // With a second admin, the first may step down.
    let other = app.create_user("other@example.com", Role::Member).await;
    let (status, _) = api
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{}", other.id),
            Some(json!({ "role": "platform_admin" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, me) = api
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{admin_id}"),
            Some(json!({ "role": "manager" })),
        )
        .await;
    assert_eq!(
        (status, me["role"].as_str()),
        (StatusCode::OK, Some("manager"))
    );
}

#[tokio::test]
async fn a_restriction_on_a_tool_the_server_no_longer_lists_is_kept_and_marked_stale() {
    let app = spawn_app().await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    let admin = app.admin(&admin);
    let server = app
        .create_server(&admin, "Everything", everything_stdio())
        .await;
    gatehouse::servers::service::refresh_tools(&app.state, server.id)
        .await
        .unwrap();
    let group = groups::service::create(&app.state, &admin, "Contractors")
        .await
        .unwrap();
    groups::service::set_restrictions(
        &app.state,
        &admin,
        group,
        server.id,
        &["echo".into(), "retired-tool".into()],
    )
    .await
    .unwrap();
    let access = groups::read::access(&app.pool, group).await.unwrap();
    let tools = &access[0].tools;
    let echo = tools.iter().find(|t| t.name == "echo").unwrap();
    assert!(echo.restricted_at.is_some() && !echo.stale);
    let retired = tools.iter().find(|t| t.name == "retired-tool").unwrap();
    assert!(retired.restricted_at.is_some() && retired.stale);
    assert_eq!(access[0].restricted(), 2);
    assert!(!access[0].hidden());
}

#[tokio::test]
async fn a_change_made_on_one_replica_denies_the_next_call_on_another_process() {
    let app = spawn_app().await;
    let admin_row = app.create_user("admin@example.com", Role::Admin).await;
    let admin = app.admin(&admin_row);
    let member = app.create_user("member@example.com", Role::Member).await;
    let server = app
        .create_server(&admin, "Everything", everything_stdio())
        .await;
    gatehouse::servers::service::refresh_tools(&app.state, server.id)
        .await
        .unwrap();
    let token = app.mint_token(&member).await;

    // A second Gatehouse: the real binary, on the same database and keys.
    let port = app.address.rsplit(':').next().unwrap();
    let data_dir =
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("app-{port}"));
    let other = spawn_replica(&app.database_url, &data_dir).await;
    let on_other = format!("{}/mcp/{}", other.address, server.slug);
    let client = reqwest::Client::new();
    let echo = |message: &'static str| {
        let (client, url, token) = (client.clone(), on_other.clone(), token.clone());
        async move { stateless_call(&client, &url, &token, "echo", json!({ "message": message })).await }
    };
    let (status, answer) = echo("before").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(
        answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("before")
    );

    // Restricted through this replica: the other refuses the very next call.
    groups::service::set_restrictions(
        &app.state,
        &admin,
        member.group_id,
        server.id,
        &["echo".into()],
    )
    .await
    .unwrap();
    let (_, answer) = echo("after").await;
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    assert_eq!(
        answer["result"]["_meta"][gatehouse::gateway::META_KEY]["status"],
        "permission_denied"
    );

    // Every tool restricted: the server is not there for this group.
    let all: Vec<String> = groups::read::access(&app.pool, member.group_id)
        .await
        .unwrap()[0]
        .tools
        .iter()
        .map(|t| t.name.clone())
        .collect();
    groups::service::set_restrictions(&app.state, &admin, member.group_id, server.id, &all)
        .await
        .unwrap();
    let (status, _) = echo("hidden").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Moved to a group without restrictions: allowed again at once.
    let open = groups::service::create(&app.state, &admin, "Open")
        .await
        .unwrap();
    groups::service::move_member(&app.state, &admin, open, member.id)
        .await
        .unwrap();
    let (status, answer) = echo("moved").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        answer["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("moved"),
        "{answer}"
    );
}

#[tokio::test]
async fn the_group_pages_confirm_a_move_and_work_without_javascript() {
    let app = spawn_app().await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    let admin = app.admin(&admin);
    let person = app.create_user("pat@example.com", Role::Member).await;
    let support = groups::service::create(&app.state, &admin, "Support")
        .await
        .unwrap();
    assert!(
        app.sign_in("admin@example.com", PASSWORD)
            .await
            .status()
            .is_redirection()
    );

    let html = app.get_page("/groups").await.text().await.unwrap();
    assert!(
        html.contains("Support") && html.contains("Default"),
        "{html}"
    );

    // Adding someone names the group they leave before anything changes.
    let page = app
        .get_page(&format!("/groups/{support}/members?add=PAT@example.com"))
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Move pat (pat@example.com) from Default to Support?"),
        "{html}"
    );
    let still: String = sqlx::query_scalar(
        "SELECT g.name FROM users u JOIN permission_groups g ON g.id = u.group_id WHERE u.id = $1",
    )
    .bind(person.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(still, "Default");
    let moved = app
        .submit_form(
            "groups/members/add",
            &format!("/groups/{support}/members"),
            &[
                ("group_id", &support.to_string()),
                ("user_id", &person.id.to_string()),
            ],
        )
        .await;
    let (location, html) = app.follow(moved).await;
    assert!(location.starts_with(&format!("/groups/{support}/members?added=")));
    assert!(html.contains("pat@example.com"));

    let html = app
        .get_page(&format!("/groups/{support}/members?add=nobody@example.com"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Nobody has that email."));

    // The Users page filters by role and group; a person's page shows their activity.
    let html = app
        .get_page(&format!("/users?group={support}"))
        .await
        .text()
        .await
        .unwrap();
    let listed = |email: &str| html.contains(&format!("<div class=\"muted small\">{email}</div>"));
    assert!(
        listed("pat@example.com") && !listed("admin@example.com"),
        "{html}"
    );
    let page = app.get_page("/users?group=not-a-group").await;
    assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = app
        .get_page(&format!("/users/{}", person.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Activity") && html.contains("No calls yet"),
        "{html}"
    );

    // Restrictions through the form: checkboxes post the restricted set.
    let server = app
        .create_server(&admin, "Everything", everything_stdio())
        .await;
    let saved = app
        .submit_form(
            "groups/restrictions",
            &format!("/groups/{support}/tools"),
            &[
                ("group_id", &support.to_string()),
                ("server_id", &server.id.to_string()),
                ("tools[]", "echo"),
                ("tools[]", "get-sum"),
            ],
        )
        .await;
    assert!(saved.status().is_redirection(), "{}", saved.status());
    let restricted: Vec<String> = sqlx::query_scalar(
        "SELECT tool_name FROM tool_restrictions WHERE group_id = $1 ORDER BY 1",
    )
    .bind(support)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(restricted, ["echo", "get-sum"]);
    let cleared = app
        .submit_form(
            "groups/restrictions",
            &format!("/groups/{support}/tools"),
            &[
                ("group_id", &support.to_string()),
                ("server_id", &server.id.to_string()),
            ],
        )
        .await;
    assert!(cleared.status().is_redirection());
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM tool_restrictions")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}
