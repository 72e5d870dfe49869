//! The server detail frame (header and tabs) and its Overview tab.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::{A, Outlet},
    hooks::{use_params_map, use_query_map},
};

use super::ServerStatusBadge;
use crate::{
    activity::{CallTable, StatCards},
    error::AppError,
    servers::{RedeployServer, ServerDetail, ServerStatus, get_server, server_overview},
    ui::{Alert, AlertKind, CodeBlock, CopyButton, ErrorNotice},
};

pub type ServerResource = Resource<Result<ServerDetail, AppError>>;

/// The slug in the URL.
pub fn use_slug() -> Memo<String> {
    let params = use_params_map();
    Memo::new(move |_| params.read().get("slug").unwrap_or_default())
}

pub fn use_server() -> ServerResource {
    expect_context::<ServerResource>()
}

/// Bumped when something on the page changed the server, so the header reads it again.
#[derive(Clone, Copy)]
pub struct ServerVersion(RwSignal<u32>);

/// Re-reads the server (header and tabs) each time `action` succeeds.
pub fn refresh_server_on<S>(action: ServerAction<S>)
where
    S: leptos::server_fn::ServerFn + Send + Sync + Clone + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    crate::ui::bump_on_success(action, expect_context::<ServerVersion>().0);
}

#[component]
pub fn ServerLayout() -> impl IntoView {
    let slug = use_slug();
    let version = ServerVersion(RwSignal::new(0));
    provide_context(version);
    let server: ServerResource = Resource::new(
        move || (slug.get(), version.0.get()),
        |(slug, _)| get_server(slug),
    );
    provide_context(server);
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading the server…"</p> }>
            {move || Suspend::new(async move {
                match server.await {
                    Ok(detail) => view! { <ServerHeader detail/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
        <Outlet/>
    }
}

#[component]
fn ServerHeader(detail: ServerDetail) -> impl IntoView {
    let deploy = ServerAction::<RedeployServer>::new();
    refresh_server_on(deploy);
    let slug = detail.slug.clone();
    let tab = |path: &'static str, label: &'static str| {
        let href = format!("/servers/{}/{path}", detail.slug);
        view! { <li><A href=href>{label}</A></li> }
    };
    view! {
        <Title text=format!("{} · Gatehouse", detail.name)/>
        <nav class="breadcrumbs" aria-label="Breadcrumb"><a href="/servers">"Internal MCPs"</a>" / "<span>{detail.name.clone()}</span></nav>
        <header class="server-header">
            <div>
                <h1>{detail.name.clone()}" "<ServerStatusBadge status=detail.status/></h1>
                <p class="muted">
                    {format!("Created by {}", detail.creator_name.clone().unwrap_or_else(|| "someone".to_owned()))}
                    " · "<span class="mono">{detail.source.describe()}</span>
                </p>
                <div class="url-line">
                    <code class="select-all">{detail.mcp_url.clone()}</code>
                    <CopyButton text=detail.mcp_url.clone() label="Copy Server URL"/>
                </div>
            </div>
            <ActionForm action=deploy attr:class="header-actions">
                <input type="hidden" name="slug" value=slug/>
                <button type="submit" class="btn btn-primary" disabled=detail.status != ServerStatus::Active
                    title="Deploy the current configuration and environment">"Deploy"</button>
            </ActionForm>
        </header>
        {(detail.status == ServerStatus::Disabled).then(|| view! {
            <Alert kind=AlertKind::Warning>
                "This server is disabled: every call fails until it is enabled again (Settings)."
            </Alert>
        })}
        <nav class="tabs" aria-label="Server">
            <ul>
                {tab("overview", "Overview")}
                {tab("tools", "Tools")}
                {tab("activity", "Activity")}
                {tab("deployments", "Deployments")}
                {tab("settings", "Settings")}
            </ul>
        </nav>
    }
}

#[component]
pub fn OverviewTab() -> impl IntoView {
    let slug = use_slug();
    let server = use_server();
    let overview = Resource::new(move || slug.get(), server_overview);
    let query = use_query_map();
    let created = move || query.read().get("created").is_some();
    view! {
        <Show when=created>
            <Alert kind=AlertKind::Success>"The server was created. Share its URL with the people who will use it."</Alert>
        </Show>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let (detail, overview) = (server.await, overview.await);
                match (detail, overview) {
                    (Ok(detail), Ok((stats, recent))) => {
                        let slug = detail.slug.clone();
                        view! {
                            <StatCards summary=stats label="last 7 days"/>
                            <section class="card">
                                <header class="card-header"><h2>"Recent activity"</h2>
                                    <a href=format!("/servers/{slug}/activity")>"All activity"</a></header>
                                <CallTable page=recent no_pager=true href=move |p| format!("/servers/{slug}/activity?page={p}")/>
                            </section>
                            <ConnectCard detail=detail.clone()/>
                            <LiveDeployment detail/>
                        }
                        .into_any()
                    }
                    (Err(error), _) | (_, Err(error)) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The MCP URL and ready-to-paste configuration for the usual clients.
#[component]
fn ConnectCard(detail: ServerDetail) -> impl IntoView {
    let url = detail.mcp_url.clone();
    let name = detail.slug.clone();
    let cursor = format!(
        "{{\n  \"mcpServers\": {{\n    \"{name}\": {{\n      \"url\": \"{url}\",\n      \"headers\": {{ \"Authorization\": \"Bearer ${{env:GATEHOUSE_TOKEN}}\" }}\n    }}\n  }}\n}}"
    );
    let claude = format!(
        "{{\n  \"mcpServers\": {{\n    \"{name}\": {{\n      \"command\": \"npx\",\n      \"args\": [\"-y\", \"mcp-remote\", \"{url}\", \"--header\", \"Authorization: Bearer ${{GATEHOUSE_TOKEN}}\"],\n      \"env\": {{ \"GATEHOUSE_TOKEN\": \"<your token>\" }}\n    }}\n  }}\n}}"
    );
    let vscode = format!(
        "{{\n  \"servers\": {{\n    \"{name}\": {{\n      \"type\": \"http\",\n      \"url\": \"{url}\",\n      \"headers\": {{ \"Authorization\": \"Bearer ${{input:gatehouse-token}}\" }}\n    }}\n  }},\n  \"inputs\": [{{ \"id\": \"gatehouse-token\", \"type\": \"promptString\", \"password\": true, \"description\": \"Gatehouse token\" }}]\n}}"
    );
    let remote =
        format!("npx -y mcp-remote {url} --header \"Authorization: Bearer $GATEHOUSE_TOKEN\"");
    view! {
        <section class="card">
            <header class="card-header"><h2>"MCP Server URL"</h2></header>
            <p class="muted">
                "Clients send a personal access token as a bearer token. "
                <a href="/tokens">"Create a token"</a>" and keep it in an environment variable, never in the file."
            </p>
            <CodeBlock code=url label="Copy URL"/>
            <details class="snippet"><summary>"Cursor — .cursor/mcp.json"</summary><CodeBlock code=cursor/></details>
            <details class="snippet"><summary>"Claude Desktop — claude_desktop_config.json"</summary><CodeBlock code=claude/></details>
            <details class="snippet"><summary>"VS Code — .vscode/mcp.json"</summary><CodeBlock code=vscode/></details>
            <details class="snippet"><summary>"mcp-remote (any stdio client)"</summary><CodeBlock code=remote/></details>
        </section>
    }
}

#[component]
fn LiveDeployment(detail: ServerDetail) -> impl IntoView {
    view! {
        <section class="card">
            <header class="card-header"><h2>"Live deployment"</h2>
                <a href=format!("/servers/{}/deployments", detail.slug)>"History"</a></header>
            {match detail.live_deployment {
                Some(live) => view! {
                    <dl class="facts">
                        <dt>"Deployment"</dt><dd>{format!("#{}", live.number)}" "<span class="badge badge-success">"Live"</span></dd>
                        <dt>"What changed"</dt><dd>{live.summary}</dd>
                        <dt>"Source"</dt><dd class="mono">{live.source}</dd>
                        <dt>"By"</dt><dd>{live.author.unwrap_or_else(|| "—".to_owned())}</dd>
                        <dt>"At"</dt><dd>{live.created_at.format("%Y-%m-%d %H:%M UTC").to_string()}</dd>
                    </dl>
                }
                .into_any(),
                None => view! { <p class="muted">"Nothing is deployed."</p> }.into_any(),
            }}
            {detail.env_pending.then(|| view! {
                <Alert kind=AlertKind::Info>"Environment variables changed since this deployment; deploy to apply them."</Alert>
            })}
        </section>
    }
}
