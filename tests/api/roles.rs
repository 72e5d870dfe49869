//! Roles are enforced at every door: each dashboard page and each server function an admin
//! uses refuses a member, and the lists below must name every page and function the app has,
//! so a new one cannot be added without deciding who may use it.

use std::collections::BTreeSet;

use gatehouse::{accounts::Role, app::App};
use reqwest::{StatusCode, header};

use crate::helpers::{PASSWORD, everything_stdio, spawn_app};

/// Server functions anyone signed in may call, and those only admins may call, with form
/// arguments that would succeed for an admin (so a refusal is the role check, not bad input).
const FOR_EVERYONE: &[&str] = &[
    "me",
    "sign_in",
    "sign_out",
    "change_password",
    "tokens/list",
    "tokens/create",
    "tokens/revoke",
    // Anyone may read their own calls; other targets check the role (tests/api/activity.rs).
    "activity/view",
    // A person's own connected clients; `everyone` checks the role (tests/api/oauth.rs).
    "oauth/connections",
    "oauth/revoke_connection",
    "oauth/consent",
];
/// A well-formed id; the role check comes before any look-up.
const DEFAULT_GROUP: &str = "00000000-0000-0000-0000-000000000001";
const ADMIN_ONLY: &[(&str, &[(&str, &str)])] = &[
    (
        "servers/list",
        &[
            ("filter[q]", ""),
            ("filter[deactivated]", "false"),
            ("filter[mine]", "false"),
        ],
    ),
    ("servers/detail", &[("slug", "target")]),
    ("servers/overview", &[("slug", "target")]),
    ("servers/deployments", &[("slug", "target")]),
    ("servers/tools", &[("slug", "target")]),
    ("servers/refresh_tools", &[("slug", "target")]),
    ("servers/env", &[("slug", "target")]),
    (
        "servers/env/reveal",
        &[("slug", "target"), ("name", "API_KEY")],
    ),
    (
        "servers/env/set",
        &[
            ("slug", "target"),
            ("env_name", "OTHER"),
            ("env_value", "x"),
        ],
    ),
    (
        "servers/env/remove",
        &[("slug", "target"), ("env_name", "API_KEY")],
    ),
    (
        "servers/update",
        &[
            ("slug", "target"),
            ("name", "Renamed"),
            ("description", ""),
            ("seen", "2000-01-01T00:00:00Z"),
        ],
    ),
    ("servers/redeploy", &[("slug", "target")]),
    ("servers/status", &[("slug", "target"), ("active", "false")]),
    (
        "servers/delete",
        &[("slug", "target"), ("confirm", "Target")],
    ),
    ("servers/wizard/draft", &[]),
    ("oauth/clients", &[]),
    (
        "oauth/register_client",
        &[
            ("name", "Sneaky"),
            ("redirect_uris", "https://x.example.com/cb"),
        ],
    ),
    ("oauth/delete_client", &[("id", "gh_oci_x")]),
    ("audit/list", &[("query[range]", "7d")]),
    ("groups/list", &[]),
    ("groups/create", &[("name", "Sneaky")]),
    ("groups/detail", &[("id", DEFAULT_GROUP)]),
    (
        "groups/members",
        &[("id", DEFAULT_GROUP), ("q", ""), ("page", "1")],
    ),
    ("groups/candidate", &[("email", "admin@example.com")]),
    (
        "groups/members/add",
        &[("group_id", DEFAULT_GROUP), ("user_id", DEFAULT_GROUP)],
    ),
    (
        "groups/members/remove",
        &[("group_id", DEFAULT_GROUP), ("user_id", DEFAULT_GROUP)],
    ),
    ("groups/tools", &[("id", DEFAULT_GROUP)]),
    (
        "groups/restrictions",
        &[
            ("group_id", DEFAULT_GROUP),
            ("server_id", DEFAULT_GROUP),
            ("tools[]", "echo"),
        ],
    ),
    (
        "groups/rename",
        &[("id", DEFAULT_GROUP), ("name", "Renamed")],
    ),
    ("groups/default", &[("id", DEFAULT_GROUP)]),
    ("groups/delete", &[("id", DEFAULT_GROUP)]),
    ("users/list", &[("filter[q]", "")]),
    ("users/detail", &[("id", DEFAULT_GROUP)]),
    (
        "users/update",
        &[
            ("id", DEFAULT_GROUP),
            ("role", "admin"),
            ("group_id", DEFAULT_GROUP),
        ],
    ),
    (
        "servers/wizard/basics",
        &[
            ("name", "New"),
            ("description", ""),
            ("source_kind", "remote"),
            ("url", "https://example.com/mcp"),
        ],
    ),
    ("servers/wizard/access", &[("env", "")]),
    ("servers/wizard/create", &[]),
    ("servers/wizard/reset", &[]),
];

/// Pages only admins see (`{slug}` is a real server's).
const ADMIN_PAGES: &[&str] = &[
    "/servers",
    "/servers/new",
    "/servers/{slug}",
    "/servers/{slug}/overview",
    "/servers/{slug}/tools",
    "/servers/{slug}/activity",
    "/servers/{slug}/deployments",
    "/servers/{slug}/settings",
    "/audit",
    "/users",
    "/users/{id}",
    "/groups",
    "/groups/{id}",
    "/groups/{id}/members",
    "/groups/{id}/tools",
    "/groups/{id}/settings",
    "/oauth-clients",
];
const PAGES_FOR_EVERYONE: &[&str] = &[
    "/",
    "/login",
    "/profile",
    "/tokens",
    "/activity",
    "/connections",
    "/oauth/consent",
];

#[test]
fn every_server_function_is_classified() {
    let registered: BTreeSet<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.trim_start_matches("/_fn/").to_owned())
        .collect();
    let classified: BTreeSet<String> = FOR_EVERYONE
        .iter()
        .copied()
        .chain(ADMIN_ONLY.iter().map(|(name, _)| *name))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        registered, classified,
        "add new server functions to FOR_EVERYONE or ADMIN_ONLY"
    );
}

#[test]
fn every_page_is_classified() {
    let routes: BTreeSet<String> = leptos_axum::generate_route_list(App)
        .iter()
        .map(|route| route.path().replace(":slug", "{slug}"))
        .collect();
    let classified: BTreeSet<String> = ADMIN_PAGES
        .iter()
        .chain(PAGES_FOR_EVERYONE)
        .map(|p| (*p).to_owned())
        .collect();
    assert_eq!(
        routes, classified,
        "add new pages to ADMIN_PAGES or PAGES_FOR_EVERYONE"
    );
}

#[tokio::test]
async fn a_member_is_refused_every_admin_page_and_server_function() {
    let app = spawn_app().await;
    let admin = app.create_user("admin@example.com", Role::Admin).await;
    let admin = app.admin(&admin);
    let server = app
        .create_server_with_env(
            &admin,
            "Target",
            everything_stdio(),
            vec![("API_KEY".into(), "s3cret".into())],
        )
        .await;
    for role in [Role::Member, Role::Manager] {
        let email = format!("{role:?}@example.com").to_lowercase();
        app.create_user(&email, role).await;
        let signed_in = app.sign_in(&email, PASSWORD).await;
        assert!(signed_in.status().is_redirection());

        for (endpoint, args) in ADMIN_ONLY {
            // As the browser bundle calls it, and as a form posts without JavaScript.
            let response = app
                .client
                .post(app.url(&format!("/_fn/{endpoint}")))
                .header(header::ACCEPT, "application/json")
                .header(header::ORIGIN, &app.address)
                .form(args)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body = response.text().await.unwrap();
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{role:?} called {endpoint}: {body}"
            );
            assert!(!body.contains("s3cret"));
        }
        for page in ADMIN_PAGES {
            let path = page
                .replace("{slug}", "target")
                .replace("{id}", DEFAULT_GROUP);
            let response = app.get_page(&path).await;
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{role:?} opened {path}"
            );
            let html = response.text().await.unwrap();
            assert!(
                html.contains("You do not have access to this page."),
                "{path}"
            );
            assert!(
                !html.contains("s3cret") && !html.contains("API_KEY"),
                "{path} leaked settings"
            );
        }
        app.submit_form("sign_out", "/", &[]).await;
    }

    // Nothing a member attempted happened.
    let row = gatehouse::servers::db::find_by_slug(&app.pool, "target")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.name, "Target");
    assert_eq!(row.status, gatehouse::servers::ServerStatus::Active);
    assert_eq!(row.updated_at, server.updated_at);
    let (env_count,): (i64,) = sqlx::query_as("SELECT count(*) FROM server_env_vars")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(env_count, 1);
}
