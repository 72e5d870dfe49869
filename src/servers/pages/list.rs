//! The Internal MCPs list: search, "Show deactivated", "My servers only" — all in the URL.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::ServerStatusBadge;
use crate::{
    servers::{ServerFilter, ServerList, ServerStatus, list_servers},
    ui::{Ago, Alert, AlertKind, EmptyState, ErrorNotice, PageHeader},
};

#[component]
pub fn ServersPage() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        let q = query.read();
        ServerFilter {
            q: q.get("q").unwrap_or_default(),
            deactivated: q.get("deactivated").is_some_and(|v| v == "1" || v == "on"),
            mine: q.get("mine").is_some_and(|v| v == "1" || v == "on"),
        }
    });
    let servers = Resource::new(move || filter.get(), list_servers);
    let deleted = move || query.read().get("deleted");

    view! {
        <Title text="Servers · Gatehouse"/>
        <PageHeader title="Internal MCPs" subtitle="The MCP servers your organization runs through Gatehouse.">
            <a class="btn btn-primary" href="/servers/new">"Create New Server"</a>
        </PageHeader>
        {move || deleted().map(|name| view! {
            <Alert kind=AlertKind::Success>{format!("{name} was deleted. Its repository, if any, is untouched.")}</Alert>
        })}
        <form class="filters" method="get" action="/servers" role="search">
            <label class="visually-hidden" for="server-search">"Search by name"</label>
            <input id="server-search" type="search" name="q" placeholder="Search by name"
                prop:value=move || filter.get().q/>
            <label class="check">
                <input type="checkbox" name="deactivated" value="1" prop:checked=move || filter.get().deactivated/>
                "Show deactivated"
            </label>
            <label class="check">
                <input type="checkbox" name="mine" value="1" prop:checked=move || filter.get().mine/>
                "My servers only"
            </label>
            <button type="submit" class="btn">"Apply"</button>
        </form>
        <Suspense fallback=|| view! { <p class="muted">"Loading servers…"</p> }>
            {move || Suspend::new(async move {
                match servers.await {
                    Ok(list) => view! { <ServerTable list filtered=filter.get() != ServerFilter::default()/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ServerTable(list: ServerList, filtered: bool) -> impl IntoView {
    if list.servers.is_empty() {
        return if filtered {
            view! { <EmptyState title="No servers match" body="Try another name, or clear the filters."/> }.into_any()
        } else {
            view! {
                <EmptyState title="No servers yet" body="Register a remote MCP server or a command Gatehouse runs for you.">
                    <a class="btn btn-primary" href="/servers/new">"Create New Server"</a>
                </EmptyState>
            }
            .into_any()
        };
    }
    let now = list.now;
    let rows = list
        .servers
        .into_iter()
        .map(|server| {
            let usable = server.status != ServerStatus::Deleted;
            let href = format!("/servers/{}/overview", server.slug);
            view! {
                <tr class:inactive=server.status != ServerStatus::Active>
                    <td>
                        {if usable {
                            view! { <a class="strong" href=href>{server.name.clone()}</a> }.into_any()
                        } else {
                            view! { <span class="strong">{server.name.clone()}</span> }.into_any()
                        }}
                        <div class="muted small">{server.source.clone()}</div>
                    </td>
                    <td><ServerStatusBadge status=server.status/></td>
                    <td>{server.creator_name.clone().unwrap_or_else(|| "—".to_owned())}</td>
                    <td><Ago at=server.updated_at now/></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="table">
            <thead>
                <tr><th scope="col">"Name"</th><th scope="col">"Status"</th><th scope="col">"Creator"</th><th scope="col">"Last updated"</th></tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}
