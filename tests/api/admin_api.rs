//! The admin JSON API under `/api/v1`: what a script with an admin token can do, and what
//! everyone else is refused.

use gatehouse::accounts::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, everything_stdio, spawn_app};

/// An API client holding a bearer token.
struct Api<'a> {
    app: &'a TestApp,
    token: Option<String>,
}

impl Api<'_> {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = reqwest::Client::new().request(method, self.app.url(path));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request is sent");
        let status = response.status();
        let text = response.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("{path} answered {status} with non-JSON: {text}"))
        };
        (status, json)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(body)).await
    }
}

fn everything_json() -> Value {
    serde_json::to_value(everything_stdio()).unwrap()
}

/// Every route of the servers API, with a body where one is needed.
fn every_route(slug: &str) -> Vec<(Method, String, Option<Value>)> {
    let s = format!("/api/v1/servers/{slug}");
    vec![
        (Method::GET, "/api/v1/servers".into(), None),
        (
            Method::POST,
            "/api/v1/servers".into(),
            Some(json!({"name": "Sneaky", "source": everything_json()})),
        ),
        (Method::GET, s.clone(), None),
        (Method::PATCH, s.clone(), Some(json!({"name": "Renamed"}))),
        (Method::POST, format!("{s}/disable"), None),
        (Method::POST, format!("{s}/enable"), None),
        (Method::GET, format!("{s}/env"), None),
        (
            Method::PUT,
            format!("{s}/env/API_KEY"),
            Some(json!({"value": "x"})),
        ),
        (Method::DELETE, format!("{s}/env/API_KEY"), None),
        (Method::GET, format!("{s}/tools"), None),
        (Method::POST, format!("{s}/tools/refresh"), None),
        (Method::GET, format!("{s}/deployments"), None),
        (Method::POST, format!("{s}/deployments"), None),
        (Method::DELETE, s, None),
    ]
}

#[tokio::test]
async fn an_admin_token_manages_a_server_from_creation_to_deletion() {
    let app = spawn_app().await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    let api = Api {
        app: &app,
        token: Some(app.mint_token(&admin).await),
    };

    let (status, created) = api
        .post(
            "/api/v1/servers",
            json!({"name": "Everything", "description": "The reference server", "source": everything_json(), "env": {"API_KEY": "s3cret"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["slug"], "everything");
    assert_eq!(created["mcp_url"], app.mcp_url("everything"));
    assert_eq!(created["live_deployment"]["number"], 1);

    let (_, list) = api.get("/api/v1/servers").await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Everything"]);

    let (status, renamed) = api
        .send(
            Method::PATCH,
            "/api/v1/servers/everything",
            Some(json!({"name": "Everything server"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"], "Everything server");
    assert_eq!(
        renamed["description"], "The reference server",
        "fields left out stay as they were"
    );

    // Environment variables: names are listed, values never leave the server.
    let (status, _) = api
        .send(
            Method::PUT,
            "/api/v1/servers/everything/env/REGION",
            Some(json!({"value": "eu"})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, env) = api.get("/api/v1/servers/everything/env").await;
    let names: Vec<&str> = env
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["API_KEY", "REGION"]);
    assert!(!env.to_string().contains("s3cret"), "a value leaked: {env}");
    let (_, detail) = api.get("/api/v1/servers/everything").await;
    assert_eq!(
        detail["env_pending"], true,
        "the change waits for a deployment"
    );

    let (status, deployed) = api
        .post("/api/v1/servers/everything/deployments", Value::Null)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{deployed}");
    assert_eq!(deployed["live_deployment"]["number"], 2);
    assert_eq!(deployed["env_pending"], false);
    let (_, history) = api.get("/api/v1/servers/everything/deployments").await;
    let numbers: Vec<i64> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 1], "newest first");

    let (status, tools) = api
        .post("/api/v1/servers/everything/tools/refresh", Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK, "{tools}");
    let tool_names: Vec<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(tool_names.contains(&"echo"), "{tool_names:?}");

    let (status, _) = api
        .post("/api/v1/servers/everything/disable", Value::Null)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("/api/v1/servers/everything").await.1["status"],
        "disabled"
    );
    let (_, active_only) = api.get("/api/v1/servers").await;
    assert_eq!(
        active_only,
        json!([]),
        "a disabled server is hidden unless asked for"
    );
    let (_, all) = api.get("/api/v1/servers?deactivated=true").await;
    assert_eq!(all[0]["status"], "disabled");
    api.post("/api/v1/servers/everything/enable", Value::Null)
        .await;
    assert_eq!(
        api.get("/api/v1/servers/everything").await.1["status"],
        "active"
    );

    let (status, _) = api
        .send(Method::DELETE, "/api/v1/servers/everything", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, error) = api
        .post("/api/v1/servers/everything/enable", Value::Null)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a deleted server cannot come back"
    );
    assert_eq!(error["error"]["kind"], "not_found");
}

#[tokio::test]
async fn members_and_strangers_are_refused_on_every_route() {
    let app = spawn_app().await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    let member = app.create_user("member@example.com", Role::Member).await;
    let manager = app.create_user("manager@example.com", Role::Manager).await;
    let admin_handle = app.admin(&admin);
    app.create_server(&admin_handle, "Target", everything_stdio())
        .await;

    let stranger = Api {
        app: &app,
        token: None,
    };
    let forged = Api {
        app: &app,
        token: Some("gh_pat_not-a-real-token".into()),
    };
    let as_member = Api {
        app: &app,
        token: Some(app.mint_token(&member).await),
    };
    let as_manager = Api {
        app: &app,
        token: Some(app.mint_token(&manager).await),
    };
    for (method, path, body) in every_route("target") {
        for (who, api, expected) in [
            ("no token", &stranger, StatusCode::UNAUTHORIZED),
            ("a forged token", &forged, StatusCode::UNAUTHORIZED),
            ("a member", &as_member, StatusCode::FORBIDDEN),
            ("a manager", &as_manager, StatusCode::FORBIDDEN),
        ] {
            let (status, error) = api.send(method.clone(), &path, body.clone()).await;
            assert_eq!(status, expected, "{method} {path} as {who}: {error}");
            assert!(error["error"]["message"].is_string(), "{error}");
        }
    }
    // Nothing changed behind the refusals.
    let servers = Api {
        app: &app,
        token: Some(app.mint_token(&admin).await),
    }
    .get("/api/v1/servers")
    .await
    .1;
    assert_eq!(servers.as_array().unwrap().len(), 1);
    assert_eq!(servers[0]["name"], "Target");
}

#[tokio::test]
async fn a_revoked_or_server_limited_token_does_not_open_the_api() {
    let app = spawn_app().await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    let token = app.mint_token(&admin).await;
    let api = Api {
        app: &app,
        token: Some(token.clone()),
    };
    assert_eq!(api.get("/api/v1/servers").await.0, StatusCode::OK);

    sqlx::query("UPDATE api_tokens SET server_ids = ARRAY[gen_random_uuid()]")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        api.get("/api/v1/servers").await.0,
        StatusCode::UNAUTHORIZED,
        "limited to some servers"
    );

    sqlx::query("UPDATE api_tokens SET server_ids = NULL, revoked_at = now()")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        api.get("/api/v1/servers").await.0,
        StatusCode::UNAUTHORIZED,
        "revoked"
    );
}

#[tokio::test]
async fn bad_input_is_answered_with_what_to_fix_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    let api = Api {
        app: &app,
        token: Some(app.mint_token(&admin).await),
    };
    api.post(
        "/api/v1/servers",
        json!({"name": "Weather", "source": everything_json()}),
    )
    .await;

    let cases = [
        (json!({"name": "", "source": everything_json()}), "name"),
        (
            json!({"name": "Weather", "source": everything_json()}),
            "slug",
        ),
        (
            json!({"name": "Other", "slug": "Bad Slug!", "source": everything_json()}),
            "slug",
        ),
        (
            json!({"name": "Remote", "source": {"kind": "remote", "url": "ftp://example.com", "transport": "streamable_http"}}),
            "url",
        ),
        (
            json!({"name": "Env", "source": everything_json(), "env": {"lower": "x"}}),
            "env",
        ),
    ];
    for (body, field) in cases {
        let (status, error) = api.post("/api/v1/servers", body.clone()).await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::CONFLICT,
            "{body} → {status} {error}"
        );
        let named = error["error"]["field"].as_str().unwrap_or_default();
        assert!(
            named.starts_with(field),
            "{body}: expected the error on {field}, got {error}"
        );
    }

    // Not JSON, or JSON of the wrong shape: still the API's error format.
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/servers"))
        .bearer_auth(api.token.as_deref().unwrap())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["kind"], "invalid");
    let (status, error) = api.post("/api/v1/servers", json!({"name": 42})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");

    for name in [
        "GATEHOUSE_SECRET",
        "GUMLOOP_X",
        "GUMSTACK_Y",
        "9LIVES",
        "has-dash",
    ] {
        let (status, error) = api
            .send(
                Method::PUT,
                &format!("/api/v1/servers/weather/env/{name}"),
                Some(json!({"value": "v"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {error}");
        assert_eq!(error["error"]["field"], "env_name", "{name}: {error}");
    }
    let (status, error) = api.get("/api/v1/servers/no-such-server").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["error"]["kind"], "not_found");
    let (status, error) = api.get("/api/v1/no-such-route").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");

    // Only the first server exists, with no environment variables.
    let (_, list) = api.get("/api/v1/servers").await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(api.get("/api/v1/servers/weather/env").await.1, json!([]));
}

#[tokio::test]
async fn a_signed_in_admin_uses_the_api_from_the_browser_session() {
    let app = spawn_app().await;
    app.create_user("admin@example.com", Role::Admin).await;
    app.sign_in("admin@example.com", PASSWORD).await;
    let response = app
        .client
        .get(app.url("/api/v1/servers"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), json!([]));
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = spawn_app().await;
    let document: Value = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths = document["paths"].as_object().unwrap();
    for (method, path, _) in every_route("{slug}") {
        let path = path.replace("/env/API_KEY", "/env/{name}");
        let operation = &paths
            .get(&path)
            .unwrap_or_else(|| panic!("{path} is not documented"))[method.as_str().to_lowercase()];
        assert!(operation.is_object(), "{method} {path} is not documented");
    }
    assert!(document["components"]["schemas"]["ServerSource"].is_object());
}
