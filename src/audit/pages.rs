//! `/audit`: every configuration change, newest first, filterable by time, actor and kind.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{AuditEvent, AuditPageData, AuditQuery, KINDS, audit_events};
use crate::{
    activity::{DATETIME_FORMAT, Preset},
    ui::{Ago, EmptyState, ErrorNotice, PageHeader, Pagination},
};

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let audit_query = Memo::new(move |_| {
        let q = query.read();
        let get = |key: &str| q.get(key).unwrap_or_default();
        AuditQuery {
            range: get("range"),
            from: get("from"),
            to: get("to"),
            actor: get("actor"),
            kind: get("kind"),
            page: q.get("page").and_then(|p| p.parse().ok()),
        }
    });
    let events = Resource::new(move || audit_query.get(), audit_events);
    view! {
        <Title text="Audit log · Gatehouse"/>
        <PageHeader title="Audit log" subtitle="Who changed what, and when: servers, environment variables, groups, people and tokens."/>
        <Suspense fallback=|| view! { <p class="muted" aria-busy="true">"Loading the audit log…"</p> }>
            {move || Suspend::new(async move {
                match events.await {
                    Ok(data) => view! { <AuditBody data/> }.into_any(),
                    Err(error) => view! {
                        <ErrorNotice error/>
                        <p><a class="btn" href="/audit">"Reset the filters"</a></p>
                    }
                    .into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn AuditBody(data: AuditPageData) -> impl IntoView {
    let (from, to) = match data.preset {
        Preset::Custom => (
            data.from.format(DATETIME_FORMAT).to_string(),
            data.to.format(DATETIME_FORMAT).to_string(),
        ),
        _ => (String::new(), String::new()),
    };
    let presets = Preset::CHOICES
        .iter()
        .map(|(preset, key, label)| view! { <option value=*key selected=*preset == data.preset>{*label}</option> })
        .collect_view();
    let kinds = KINDS
        .iter()
        .map(|(key, label)| view! { <option value=*key selected=*key == data.kind>{*label}</option> })
        .collect_view();
    let actors = data
        .actors
        .iter()
        .map(|a| view! { <option value=a.clone()></option> })
        .collect_view();
    let active = usize::from(!data.actor.is_empty()) + usize::from(!data.kind.is_empty());
    let (pages, page, total) = (data.pages(), data.page, data.total);
    let hrefs = data.clone();
    let now = data.now;
    let rows = data
        .events
        .into_iter()
        .map(|event| view! { <EventRow event now/> })
        .collect_view();
    view! {
        <form class="filters activity-filters" method="get" action="/audit" role="search" aria-label="Filter the audit log">
            <label class="field-inline">"Kind"
                <select name="kind">
                    <option value="">"Every kind"</option>
                    {kinds}
                </select>
            </label>
            <label class="field-inline">"Actor"
                <input type="search" name="actor" list="audit-actors" placeholder="Email" value=data.actor.clone() autocomplete="off"/>
            </label>
            <datalist id="audit-actors">{actors}</datalist>
            <label class="field-inline">"Range"
                <select name="range">
                    {presets}
                    <option value="custom" selected=data.preset == Preset::Custom>"Custom range"</option>
                </select>
            </label>
            <label class="field-inline">"From" <input type="datetime-local" name="from" value=from/></label>
            <label class="field-inline">"To" <input type="datetime-local" name="to" value=to/></label>
            <button type="submit" class="btn">"Apply"</button>
            {(active > 0).then(|| view! {
                <span class="badge badge-info">{if active == 1 { "1 filter active".to_owned() } else { format!("{active} filters active") }}</span>
                <a href="/audit">"Clear filters"</a>
            })}
        </form>
        {if total == 0 {
            view! { <EmptyState title="No changes in this range" body="Changes to servers, environment variables, groups, people and tokens appear here as they are made."/> }.into_any()
        } else {
            view! {
                <div class="table-wrap">
                    <table class="table audit">
                        <thead><tr><th>"When"</th><th>"Actor"</th><th>"Change"</th><th>"Subject"</th><th>"Before / after"</th></tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </div>
                <Pagination page pages total href=move |p| hrefs.href(p)/>
            }
            .into_any()
        }}
    }
}

#[component]
fn EventRow(event: AuditEvent, now: chrono::DateTime<chrono::Utc>) -> impl IntoView {
    let changes = (event.before.is_some() || event.after.is_some()).then(|| {
        view! {
            <details>
                <summary>"Show"</summary>
                <div class="audit-diff">
                    <div><h3>"Before"</h3><pre><code>{event.before.clone().unwrap_or_else(|| "—".to_owned())}</code></pre></div>
                    <div><h3>"After"</h3><pre><code>{event.after.clone().unwrap_or_else(|| "—".to_owned())}</code></pre></div>
                </div>
            </details>
        }
    });
    view! {
        <tr>
            <td><Ago at=event.occurred_at now/></td>
            <td>{event.actor}</td>
            <td><span class="badge badge-neutral mono">{event.kind}</span></td>
            <td class="mono small">{event.subject}</td>
            <td>{changes}</td>
        </tr>
    }
}
