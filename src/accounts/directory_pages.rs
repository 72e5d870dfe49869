//! `/users` (everyone, filterable, 10 per page) and `/users/{id}` (role, group and the person's
//! full activity with its CSV export).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use uuid::Uuid;

use super::{Role, UpdateUser, UserFilter, UserList, UserView, get_user, list_users};
use crate::{
    activity::{ActivityPanel, ActivityTarget},
    ui::{
        Alert, AlertKind, EmptyState, ErrorNotice, FieldError, PageHeader, Pagination, field_error,
        form_error,
    },
};

#[component]
pub fn UsersPage() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        let q = query.read();
        UserFilter {
            q: q.get("q").unwrap_or_default(),
            role: q.get("role").unwrap_or_default(),
            group: q.get("group").unwrap_or_default(),
            page: q.get("page").and_then(|p| p.parse().ok()),
        }
    });
    let users = Resource::new(move || filter.get(), list_users);
    view! {
        <Title text="Users · Gatehouse"/>
        <PageHeader title="Users" subtitle="Everyone who can sign in, their role and their permission group."/>
        <Suspense fallback=|| view! { <p class="muted" aria-busy="true">"Loading people…"</p> }>
            {move || Suspend::new(async move {
                match users.await {
                    Ok(list) => view! { <UsersBody list filter=filter.get_untracked()/> }.into_any(),
                    Err(error) => view! {
                        <ErrorNotice error/>
                        <p><a class="btn" href="/users">"Reset the filters"</a></p>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn UsersBody(list: UserList, filter: UserFilter) -> impl IntoView {
    let roles = Role::ALL
        .into_iter()
        .map(|r| view! { <option value=r.as_str() selected=filter.role == r.as_str()>{r.label()}</option> })
        .collect_view();
    let groups = list
        .groups
        .iter()
        .map(|(id, name)| {
            let id = id.to_string();
            let selected = filter.group == id;
            view! { <option value=id selected=selected>{name.clone()}</option> }
        })
        .collect_view();
    let (page, pages, total) = (list.page, list.pages(), list.total);
    let href = {
        let filter = filter.clone();
        move |p: u32| {
            let pairs = [
                ("q", filter.q.clone()),
                ("role", filter.role.clone()),
                ("group", filter.group.clone()),
                ("page", p.to_string()),
            ];
            format!(
                "/users?{}",
                serde_urlencoded::to_string(pairs).unwrap_or_default()
            )
        }
    };
    let rows = list
        .users
        .into_iter()
        .map(|u| {
            view! {
                <tr>
                    <td><a class="strong" href=format!("/users/{}", u.id)>{u.name.clone()}</a><div class="muted small">{u.email.clone()}</div></td>
                    <td class="muted">{u.created_at.format("%Y-%m-%d").to_string()}</td>
                    <td><a href=format!("/groups/{}/members", u.group_id)>{u.group_name.clone()}</a></td>
                    <td><span class="badge badge-neutral">{u.role.label()}</span></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <form class="filters" method="get" action="/users" role="search" aria-label="Filter users">
            <label class="visually-hidden" for="user-search">"Search by name or email"</label>
            <input id="user-search" type="search" name="q" placeholder="Search by name or email" value=filter.q.clone()/>
            <label class="field-inline">"Role"
                <select name="role"><option value="">"Every role"</option>{roles}</select>
            </label>
            <label class="field-inline">"Group"
                <select name="group"><option value="">"Every group"</option>{groups}</select>
            </label>
            <button type="submit" class="btn">"Apply"</button>
        </form>
        {if total == 0 {
            view! { <EmptyState title="Nobody matches" body="Try another search, role or group."/> }.into_any()
        } else {
            view! {
                <table class="table">
                    <thead><tr><th>"User"</th><th>"Added"</th><th>"Group"</th><th>"Role"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
                <Pagination page pages total href/>
            }.into_any()
        }}
    }
}

#[component]
pub fn UserPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| {
        params
            .read()
            .get("id")
            .and_then(|id| id.parse::<Uuid>().ok())
            .unwrap_or_default()
    });
    let user = Resource::new(move || id.get(), get_user);
    let query = use_query_map();
    let saved = move || query.read().get("saved").is_some();
    view! {
        <Show when=saved>
            <Alert kind=AlertKind::Success>"Saved. The change applies to their next request."</Alert>
        </Show>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok((user, groups)) => view! { <UserDetail user groups/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
        <h2 class="section-title">"Activity"</h2>
        <ActivityPanel target=Signal::derive(move || ActivityTarget::User(id.get()).key())/>
    }
}

#[component]
fn UserDetail(user: UserView, groups: Vec<(Uuid, String)>) -> impl IntoView {
    let update = ServerAction::<UpdateUser>::new();
    let value = update.value();
    let roles = Role::ALL
        .into_iter()
        .map(|r| view! { <option value=r.as_str() selected=r == user.role>{r.label()}</option> })
        .collect_view();
    let group_options = groups
        .into_iter()
        .map(|(id, name)| view! { <option value=id.to_string() selected=id == user.group_id>{name}</option> })
        .collect_view();
    view! {
        <Title text=format!("{} · Gatehouse", user.name)/>
        <nav class="breadcrumbs" aria-label="Breadcrumb"><a href="/users">"Users"</a>" / "<span>{user.name.clone()}</span></nav>
        <PageHeader title=user.name.clone() subtitle=user.email.clone()/>
        <section class="card">
            <dl class="facts">
                <dt>"Email"</dt><dd>{user.email.clone()}</dd>
                <dt>"Added"</dt><dd>{user.created_at.format("%Y-%m-%d").to_string()}</dd>
            </dl>
            <ActionForm action=update attr:class="form form-inline" attr:novalidate=true>
                <input type="hidden" name="id" value=user.id.to_string()/>
                <label class="field-inline">"Role" <select name="role">{roles}</select></label>
                <label class="field-inline">"Group" <select name="group_id">{group_options}</select></label>
                <button type="submit" class="btn btn-primary">"Save"</button>
                <FieldError message=field_error(value, "role") id="role-error"/>
                <FieldError message=field_error(value, "group_id") id="group-error"/>
                <FieldError message=form_error(value, &["role", "group_id"]) id="user-error"/>
            </ActionForm>
        </section>
    }
}
