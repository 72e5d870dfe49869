//! The Tools, Activity and Deployments tabs.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::detail::use_slug;
use crate::{
    activity::{ActivityPanel, ActivityTarget},
    servers::{DeploymentView, RefreshTools, ToolView, server_deployments, server_tools},
    ui::{Alert, AlertKind, EmptyState, ErrorNotice},
};

#[component]
pub fn ToolsTab() -> impl IntoView {
    let slug = use_slug();
    let refresh = ServerAction::<RefreshTools>::new();
    let tools = Resource::new(
        move || (slug.get(), refresh.version().get()),
        |(slug, _)| server_tools(slug),
    );
    let pending = refresh.pending();
    view! {
        <section class="card">
            <header class="card-header">
                <h2>"Tools"</h2>
                <ActionForm action=refresh>
                    <input type="hidden" name="slug" value=move || slug.get()/>
                    <button type="submit" class="btn btn-small" disabled=move || pending.get()>
                        {move || if pending.get() { "Asking the server…" } else { "Refresh from the server" }}
                    </button>
                </ActionForm>
            </header>
            <Suspense fallback=|| view! { <p class="muted">"Loading tools…"</p> }>
                {move || Suspend::new(async move {
                    match tools.await {
                        Ok(view) => {
                            let fetched = view.fetched_at.map(|at| format!("Listed by the live deployment at {}.", at.format("%Y-%m-%d %H:%M UTC")));
                            view! {
                                {view.error.clone().map(|error| view! {
                                    <Alert kind=AlertKind::Error>{format!("The last attempt to list the tools failed: {error}")}</Alert>
                                })}
                                {fetched.map(|f| view! { <p class="muted small">{f}</p> })}
                                {if view.tools.is_empty() {
                                    view! { <EmptyState title="No tools listed" body="The server has not listed any tools yet. Refresh once it is reachable."/> }.into_any()
                                } else {
                                    view.tools.into_iter().map(|tool| view! { <ToolCard tool/> }).collect_view().into_any()
                                }}
                            }
                            .into_any()
                        }
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn ToolCard(tool: ToolView) -> impl IntoView {
    let groups = |names: Vec<String>| {
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    };
    view! {
        <article class="tool">
            <h3 class="mono">{tool.name.clone()}</h3>
            {tool.title.clone().map(|t| view! { <p class="strong">{t}</p> })}
            <p>{tool.description.clone().unwrap_or_else(|| "No description.".to_owned())}</p>
            {(!tool.annotations.is_empty()).then(|| view! {
                <ul class="chips">
                    {tool.annotations.iter().map(|(k, v)| view! { <li class="chip">{format!("{k}: {v}")}</li> }).collect_view()}
                </ul>
            })}
            <dl class="facts small">
                <dt>"May call"</dt><dd>{groups(tool.allowed_groups.clone())}</dd>
                <dt>"Restricted for"</dt><dd>{groups(tool.restricted_groups.clone())}</dd>
            </dl>
            <details><summary>"Input schema"</summary><pre><code>{tool.input_schema.clone()}</code></pre></details>
        </article>
    }
}

/// The shared activity panel, scoped to this server.
#[component]
pub fn ActivityTab() -> impl IntoView {
    let slug = use_slug();
    view! { <ActivityPanel target=Signal::derive(move || ActivityTarget::Server(slug.get()).key())/> }
}

#[component]
pub fn DeploymentsTab() -> impl IntoView {
    let slug = use_slug();
    let deployments = Resource::new(move || slug.get(), server_deployments);
    let query = use_query_map();
    let deployed = move || query.read().get("deployed").is_some();
    view! {
        <Show when=deployed>
            <Alert kind=AlertKind::Success>"Deployed. New calls use this deployment; calls in flight finish on the previous one."</Alert>
        </Show>
        <section class="card">
            <header class="card-header"><h2>"Deployments"</h2></header>
            <Suspense fallback=|| view! { <p class="muted">"Loading deployments…"</p> }>
                {move || Suspend::new(async move {
                    match deployments.await {
                        Ok(list) if list.is_empty() => view! { <EmptyState title="No deployments" body="Nothing has been deployed yet."/> }.into_any(),
                        Ok(list) => view! { <DeploymentTable list/> }.into_any(),
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn DeploymentTable(list: Vec<DeploymentView>) -> impl IntoView {
    let rows = list
        .into_iter()
        .map(|d| {
            let status = if d.live {
                "Live".to_owned()
            } else {
                capitalise(&d.status)
            };
            let class = match (d.live, d.status.as_str()) {
                (true, _) => "badge badge-success",
                (_, "failed") => "badge badge-danger",
                (_, "building" | "deploying" | "pending") => "badge badge-info",
                _ => "badge badge-neutral",
            };
            view! {
                <tr class:live=d.live>
                    <td class="mono">{format!("#{}", d.number)}</td>
                    <td><span class=class>{status}</span></td>
                    <td>{d.summary}<div class="muted small mono">{d.source}</div>
                        {d.error.map(|e| view! { <div class="field-error">{e}</div> })}</td>
                    <td>{d.author.unwrap_or_else(|| "—".to_owned())}</td>
                    <td>{d.created_at.format("%Y-%m-%d %H:%M UTC").to_string()}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="table">
            <thead><tr><th scope="col">"#"</th><th scope="col">"Status"</th><th scope="col">"What changed"</th><th scope="col">"By"</th><th scope="col">"When"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}
