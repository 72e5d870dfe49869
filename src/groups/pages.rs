//! The groups pages: the list with "Create group", and a group's Members, Agent tools and
//! Settings tabs. Every form posts without JavaScript; with it, the tool list gains search and
//! select-all.

use std::collections::HashSet;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::{A, Outlet},
    hooks::{use_params_map, use_query_map},
};
use uuid::Uuid;

use super::{
    AddMember, CreateGroup, DeleteGroup, GroupDetail, MakeDefaultGroup, RemoveMember, RenameGroup,
    ServerAccess, SetRestrictions, get_group, group_members, group_tools, list_groups,
    member_candidate,
};
use crate::{
    error::AppError,
    ui::{
        Alert, AlertKind, EmptyState, ErrorNotice, FieldError, PageHeader, Pagination, field_error,
        form_error, use_hydrated,
    },
};

#[component]
pub fn GroupsPage() -> impl IntoView {
    let create = ServerAction::<CreateGroup>::new();
    let value = create.value();
    let groups = Resource::new(|| (), |_| list_groups());
    let query = use_query_map();
    let deleted = move || query.read().get("deleted").is_some();
    view! {
        <Title text="Permission groups · Gatehouse"/>
        <PageHeader title="Permission groups" subtitle="Everyone belongs to exactly one group; a group decides which tools its members may call."/>
        <Show when=deleted>
            <Alert kind=AlertKind::Success>"The group was deleted."</Alert>
        </Show>
        <section class="card">
            <ActionForm action=create attr:class="form form-inline" attr:novalidate=true>
                <div class="field">
                    <label for="group-name">"New group"</label>
                    <input id="group-name" name="name" type="text" required maxlength="80" placeholder="e.g. Support"
                        aria-invalid=move || field_error(value, "name").get().is_some().then_some("true")/>
                </div>
                <button type="submit" class="btn btn-primary">"Create group"</button>
                <FieldError message=field_error(value, "name") id="group-name-error"/>
                <FieldError message=form_error(value, &["name"]) id="group-create-error"/>
            </ActionForm>
        </section>
        <Suspense fallback=|| view! { <p class="muted" aria-busy="true">"Loading groups…"</p> }>
            {move || Suspend::new(async move {
                match groups.await {
                    Ok(groups) => {
                        let rows = groups.into_iter().map(|g| {
                            let recent = if g.recent_members.is_empty() { "—".to_owned() } else { g.recent_members.join(", ") };
                            view! {
                                <tr>
                                    <td>
                                        <a class="strong" href=format!("/groups/{}/members", g.id)>{g.name.clone()}</a>
                                        {g.is_default.then(|| view! { " "<span class="badge badge-info">"Default"</span> })}
                                    </td>
                                    <td class="num">{g.member_count}</td>
                                    <td class="muted">{recent}</td>
                                    <td class="muted">{g.created_at.format("%Y-%m-%d").to_string()}</td>
                                </tr>
                            }
                        }).collect_view();
                        view! {
                            <table class="table">
                                <thead><tr><th>"Group"</th><th class="num">"Members"</th><th>"Recent members"</th><th>"Created"</th></tr></thead>
                                <tbody>{rows}</tbody>
                            </table>
                        }.into_any()
                    }
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

pub type GroupResource = Resource<Result<GroupDetail, AppError>>;

/// Bumped when an action on the page changed the group, so everything on it reads it again
/// (with JavaScript the page is not reloaded after a form).
#[derive(Clone, Copy)]
struct GroupVersion(RwSignal<u32>);

fn refresh_group_on<S>(action: ServerAction<S>)
where
    S: leptos::server_fn::ServerFn + Send + Sync + Clone + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    crate::ui::bump_on_success(action, expect_context::<GroupVersion>().0);
}

/// The group id in the URL; a malformed one reads as no group.
fn use_group_id() -> Memo<Uuid> {
    let params = use_params_map();
    Memo::new(move |_| {
        params
            .read()
            .get("id")
            .and_then(|id| id.parse().ok())
            .unwrap_or_default()
    })
}

#[component]
pub fn GroupLayout() -> impl IntoView {
    let id = use_group_id();
    let version = GroupVersion(RwSignal::new(0));
    provide_context(version);
    let group: GroupResource =
        Resource::new(move || (id.get(), version.0.get()), |(id, _)| get_group(id));
    provide_context(group);
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading the group…"</p> }>
            {move || Suspend::new(async move {
                match group.await {
                    Ok(detail) => view! { <GroupHeader detail/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
        <Outlet/>
    }
}

#[component]
fn GroupHeader(detail: GroupDetail) -> impl IntoView {
    let tab = |path: &'static str, label: &'static str| {
        let href = format!("/groups/{}/{path}", detail.id);
        view! { <li><A href=href>{label}</A></li> }
    };
    view! {
        <Title text=format!("{} · Gatehouse", detail.name)/>
        <nav class="breadcrumbs" aria-label="Breadcrumb"><a href="/groups">"Permission groups"</a>" / "<span>{detail.name.clone()}</span></nav>
        <header class="server-header">
            <div>
                <h1>{detail.name.clone()}{detail.is_default.then(|| view! { " "<span class="badge badge-info">"Default"</span> })}</h1>
                <p class="muted">{format!("{} member{}", detail.member_count, if detail.member_count == 1 { "" } else { "s" })}</p>
            </div>
        </header>
        <nav class="tabs" aria-label="Group">
            <ul>
                {tab("members", "Members")}
                {tab("tools", "Agent tools")}
                {tab("settings", "Settings")}
            </ul>
        </nav>
    }
}

/// `/groups/{id}` opens the Members tab.
#[component]
pub fn GroupIndex() -> impl IntoView {
    let id = use_group_id();
    view! { <leptos_router::components::Redirect path=format!("/groups/{}/members", id.get_untracked())/> }
}

#[component]
pub fn GroupMembersTab() -> impl IntoView {
    let id = use_group_id();
    let group = expect_context::<GroupResource>();
    let query = use_query_map();
    let q = Memo::new(move |_| query.read().get("q").unwrap_or_default());
    let page = Memo::new(move |_| {
        query
            .read()
            .get("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1u32)
    });
    let add = Memo::new(move |_| query.read().get("add").unwrap_or_default());
    let added = move || query.read().get("added").is_some();
    let version = expect_context::<GroupVersion>();
    let members = Resource::new(
        move || (id.get(), q.get(), page.get(), version.0.get()),
        |(id, q, page, _)| group_members(id, q, page),
    );
    let candidate = Resource::new(
        move || add.get(),
        |email| async move {
            if email.trim().is_empty() {
                None
            } else {
                Some(member_candidate(email).await)
            }
        },
    );
    let add_action = ServerAction::<AddMember>::new();
    let remove_action = ServerAction::<RemoveMember>::new();
    refresh_group_on(add_action);
    refresh_group_on(remove_action);
    let remove_value = remove_action.value();
    view! {
        <Show when=added>
            <Alert kind=AlertKind::Success>"Added. Their calls follow this group's rules from the next request."</Alert>
        </Show>
        <FieldError message=form_error(remove_value, &[]) id="remove-error"/>
        <section class="card">
            <header class="card-header"><h2>"Add someone"</h2></header>
            <form method="get" class="form form-inline" role="search" aria-label="Add a member">
                <div class="field">
                    <label for="add-email">"Email"</label>
                    <input id="add-email" type="search" name="add" placeholder="person@example.com" value=move || add.get()/>
                </div>
                <button type="submit" class="btn">"Add to group"</button>
            </form>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let group = group.await;
                    match (candidate.await, group) {
                        (None, _) => ().into_any(),
                        (Some(Err(error)), _) => view! {
                            <p class="field-error" role="alert">{error.to_string()}</p>
                        }.into_any(),
                        (Some(Ok(person)), Ok(group)) if person.group_id == group.id => view! {
                            <Alert kind=AlertKind::Info>{format!("{} is already in {}.", person.name, group.name)}</Alert>
                        }.into_any(),
                        (Some(Ok(person)), Ok(group)) => view! {
                            <div class="confirm" role="alertdialog" aria-labelledby="move-title">
                                <p id="move-title" class="strong">
                                    {format!("Move {} ({}) from {} to {}?", person.name, person.email, person.group_name, group.name)}
                                </p>
                                <p class="muted">"Everyone is in exactly one group: they leave their current group and its rules."</p>
                                <ActionForm action=add_action attr:class="form-actions">
                                    <input type="hidden" name="group_id" value=group.id.to_string()/>
                                    <input type="hidden" name="user_id" value=person.id.to_string()/>
                                    <button type="submit" class="btn btn-primary">{format!("Move to {}", group.name)}</button>
                                    <a class="btn btn-ghost" href=format!("/groups/{}/members", group.id)>"Cancel"</a>
                                </ActionForm>
                            </div>
                        }.into_any(),
                        (Some(Ok(_)), Err(error)) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
        <section class="card">
            <header class="card-header">
                <h2>"Members"</h2>
                <form method="get" class="form-inline" role="search" aria-label="Search members">
                    <label class="visually-hidden" for="member-search">"Search members"</label>
                    <input id="member-search" type="search" name="q" placeholder="Search by name or email" value=move || q.get()/>
                    <button type="submit" class="btn btn-small">"Search"</button>
                </form>
            </header>
            <Suspense fallback=|| view! { <p class="muted" aria-busy="true">"Loading members…"</p> }>
                {move || Suspend::new(async move {
                    let group = group.await;
                    match (members.await, group) {
                        (Ok(page), Ok(group)) => {
                            if page.members.is_empty() {
                                let body = if q.get().is_empty() { "Add people with their email above." } else { "Nobody in this group matches that search." };
                                return view! { <EmptyState title="No members" body=body/> }.into_any();
                            }
                            let (number, pages, total) = (page.page, page.pages(), page.total);
                            let rows = page.members.into_iter().map(|m| {
                                let move_to = format!("Move to {}", group.default_group);
                                let remove = (!group.is_default).then(|| view! {
                                    <ActionForm action=remove_action>
                                        <input type="hidden" name="group_id" value=group.id.to_string()/>
                                        <input type="hidden" name="user_id" value=m.id.to_string()/>
                                        <button type="submit" class="btn btn-small btn-ghost"
                                            title=move_to>"Remove"</button>
                                    </ActionForm>
                                });
                                view! {
                                    <tr>
                                        <td><a href=format!("/users/{}", m.id)>{m.name.clone()}</a></td>
                                        <td>{m.email.clone()}</td>
                                        <td>{m.role.label()}</td>
                                        <td class="muted">{m.created_at.format("%Y-%m-%d").to_string()}</td>
                                        <td class="actions">{remove}</td>
                                    </tr>
                                }
                            }).collect_view();
                            let (gid, q) = (group.id, q.get());
                            view! {
                                <table class="table">
                                    <thead><tr><th>"Name"</th><th>"Email"</th><th>"Role"</th><th>"Added"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                                    <tbody>{rows}</tbody>
                                </table>
                                {group.is_default.then(|| view! {
                                    <p class="muted small">"People leave the default group by being added to another group."</p>
                                })}
                                <Pagination page=number pages total href=move |p| {
                                    let query = serde_urlencoded::to_string([("q", q.clone()), ("page", p.to_string())]).unwrap_or_default();
                                    format!("/groups/{gid}/members?{query}")
                                }/>
                            }.into_any()
                        }
                        (Err(error), _) | (_, Err(error)) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
pub fn GroupToolsTab() -> impl IntoView {
    let id = use_group_id();
    let version = expect_context::<GroupVersion>();
    let tools = Resource::new(
        move || (id.get(), version.0.get()),
        |(id, _)| group_tools(id),
    );
    let query = use_query_map();
    let saved = move || query.read().get("saved").is_some();
    view! {
        <Show when=saved>
            <Alert kind=AlertKind::Success>"Saved. The change applies to the next tools/list and tools/call of every member."</Alert>
        </Show>
        <p class="muted">"Restricted tools are hidden from the group's tools/list and refused on tools/call. A group with every tool of a server restricted does not see that server at all."</p>
        <Suspense fallback=|| view! { <p class="muted" aria-busy="true">"Loading tools…"</p> }>
            {move || Suspend::new(async move {
                match tools.await {
                    Ok(servers) if servers.is_empty() => view! {
                        <EmptyState title="No servers yet" body="Restrictions are set per server; create a server first."/>
                    }.into_any(),
                    Ok(servers) => {
                        let group_id = id.get();
                        servers.into_iter().map(|access| view! { <ServerTools group_id access/> }).collect_view().into_any()
                    }
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ServerTools(group_id: Uuid, access: ServerAccess) -> impl IntoView {
    let save = ServerAction::<SetRestrictions>::new();
    refresh_group_on(save);
    let value = save.value();
    let hydrated = use_hydrated();
    let checked = RwSignal::new(
        access
            .tools
            .iter()
            .filter(|t| t.restricted_at.is_some())
            .map(|t| t.name.clone())
            .collect::<HashSet<String>>(),
    );
    let search = RwSignal::new(String::new());
    let names: Vec<String> = access.tools.iter().map(|t| t.name.clone()).collect();
    let visible = move |name: &str| {
        let needle = search.get().to_lowercase();
        needle.is_empty() || name.to_lowercase().contains(&needle)
    };
    let set_visible = move |on: bool| {
        let names = names.clone();
        move |_| {
            checked.update(|set| {
                for name in names.iter().filter(|n| visible(n)) {
                    if on {
                        set.insert(name.clone());
                    } else {
                        set.remove(name);
                    }
                }
            })
        }
    };
    let count = access.tools.len();
    let listed = access.tools.iter().filter(|t| !t.stale).count();
    let summary = format!("{} of {} restricted", access.restricted(), count);
    let search_id = format!("tool-search-{}", access.server_id);
    let rows = access
        .tools
        .iter()
        .map(|tool| {
            let name = tool.name.clone();
            let (n1, n2, n3) = (name.clone(), name.clone(), name.clone());
            let note = match (tool.stale, tool.restricted_at) {
                (true, _) => view! { <span class="badge badge-warning">"Stale: the server no longer lists this tool"</span> }.into_any(),
                (false, Some(at)) => view! { <span class="muted small">{format!("Restricted since {}", at.format("%Y-%m-%d"))}</span> }.into_any(),
                (false, None) => ().into_any(),
            };
            view! {
                <li class="tool-choice" style:display=move || if visible(&n3) { "" } else { "none" }>
                    <label class="check">
                        <input type="checkbox" name="tools[]" value=name.clone()
                            prop:checked=move || checked.with(|s| s.contains(&n1))
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                checked.update(|s| { if on { s.insert(n2.clone()); } else { s.remove(&n2); } });
                            }/>
                        <span><span class="mono strong">{name.clone()}</span>
                            {tool.description.clone().map(|d| view! { <span class="muted small tool-description">{d}</span> })}
                        </span>
                    </label>
                    {note}
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="card" aria-labelledby=format!("server-{}", access.server_id)>
            <header class="card-header">
                <h2 id=format!("server-{}", access.server_id)><a href=format!("/servers/{}/tools", access.slug)>{access.name.clone()}</a></h2>
                <span class="muted">{summary}</span>
            </header>
            {access.hidden().then(|| view! {
                <Alert kind=AlertKind::Warning>"Every tool is restricted: members of this group do not see this server."</Alert>
            })}
            {if count == 0 {
                view! {
                    <p class="muted">"Gatehouse has not read this server's tools yet. "
                        <a href=format!("/servers/{}/tools", access.slug)>"Refresh them on its Tools tab"</a>"."</p>
                }.into_any()
            } else {
                view! {
                    <ActionForm action=save attr:class="form">
                        <input type="hidden" name="group_id" value=group_id.to_string()/>
                        <input type="hidden" name="server_id" value=access.server_id.to_string()/>
                        <Show when=move || hydrated.get()>
                            <div class="tool-tools">
                                <label class="visually-hidden" for=search_id.clone()>"Search tools"</label>
                                <input id=search_id.clone() type="search" placeholder="Search tools"
                                    on:input=move |ev| search.set(event_target_value(&ev))/>
                                <button type="button" class="btn btn-small" on:click=set_visible(true)>"Select all"</button>
                                <button type="button" class="btn btn-small" on:click=set_visible(false)>"Deselect all"</button>
                            </div>
                        </Show>
                        <ul class="tool-choices">{rows}</ul>
                        <FieldError message=form_error(value, &[]) id=format!("restrictions-error-{}", access.server_id)/>
                        <div class="form-actions">
                            <span class="muted small">{format!("Checked tools are restricted. {listed} listed by the server.")}</span>
                            <button type="submit" class="btn btn-primary">"Save restrictions"</button>
                        </div>
                    </ActionForm>
                }.into_any()
            }}
        </section>
    }
}

#[component]
pub fn GroupSettingsTab() -> impl IntoView {
    let group = expect_context::<GroupResource>();
    let query = use_query_map();
    let saved = move || query.read().get("saved").is_some();
    view! {
        <Show when=saved>
            <Alert kind=AlertKind::Success>"Saved."</Alert>
        </Show>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match group.await {
                    Ok(detail) => view! { <GroupSettings detail/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn GroupSettings(detail: GroupDetail) -> impl IntoView {
    let rename = ServerAction::<RenameGroup>::new();
    refresh_group_on(rename);
    let rename_value = rename.value();
    let make_default = ServerAction::<MakeDefaultGroup>::new();
    refresh_group_on(make_default);
    let default_value = make_default.value();
    let delete = ServerAction::<DeleteGroup>::new();
    let delete_value = delete.value();
    let id = detail.id.to_string();
    let (id2, id3) = (id.clone(), id.clone());
    let (name, name2) = (detail.name.clone(), detail.name.clone());
    let blocked = if detail.is_default {
        Some(
            "The default group cannot be deleted. Make another group the default first.".to_owned(),
        )
    } else if detail.member_count > 0 {
        Some(format!(
            "This group has {} member{}. Move them to another group before deleting it.",
            detail.member_count,
            if detail.member_count == 1 { "" } else { "s" }
        ))
    } else {
        None
    };
    view! {
        <section class="card">
            <h2>"Name"</h2>
            <ActionForm action=rename attr:class="form form-inline" attr:novalidate=true>
                <input type="hidden" name="id" value=id/>
                <div class="field">
                    <label for="rename-group">"Group name"</label>
                    <input id="rename-group" name="name" type="text" required maxlength="80" value=name/>
                </div>
                <button type="submit" class="btn btn-primary">"Rename"</button>
                <FieldError message=field_error(rename_value, "name") id="rename-error"/>
                <FieldError message=form_error(rename_value, &["name"]) id="rename-form-error"/>
            </ActionForm>
        </section>
        <section class="card">
            <h2>"Default group"</h2>
            {if detail.is_default {
                view! { <p class="muted">"This is the default group: new people join it."</p> }.into_any()
            } else {
                view! {
                    <ActionForm action=make_default attr:class="form-actions">
                        <input type="hidden" name="id" value=id2/>
                        <span class="muted">"New people join the default group. There is exactly one."</span>
                        <button type="submit" class="btn">"Make default"</button>
                    </ActionForm>
                    <FieldError message=form_error(default_value, &[]) id="default-error"/>
                }.into_any()
            }}
        </section>
        <section class="card danger-zone">
            <h2>"Delete group"</h2>
            {match blocked {
                Some(reason) => view! { <p class="muted">{reason}</p> }.into_any(),
                None => view! {
                    <details>
                        <summary class="btn btn-danger">"Delete this group…"</summary>
                        <ActionForm action=delete attr:class="confirm">
                            <input type="hidden" name="id" value=id3/>
                            <p>{format!("Delete {name2}? Its tool restrictions are deleted with it.")}</p>
                            <button type="submit" class="btn btn-danger">"Delete group"</button>
                        </ActionForm>
                    </details>
                    <FieldError message=form_error(delete_value, &[]) id="delete-error"/>
                }.into_any(),
            }}
        </section>
    }
}
