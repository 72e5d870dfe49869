//! The activity panel every activity page is made of (filter bar, stat cards, charts, the call
//! table, export), and the global Activity page. The filters are a plain GET form, so each view
//! is a URL that can be shared and works without JavaScript.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_location, use_query_map};

use super::{
    ActivityData, ActivityQuery, ActivitySummary, CallStatus, CallTable, DATETIME_FORMAT, Preset,
    activity_view,
};
use crate::ui::{ErrorNotice, PageHeader};

/// The filters in the page's URL.
fn use_activity_query() -> Memo<ActivityQuery> {
    let query = use_query_map();
    Memo::new(move |_| {
        let q = query.read();
        let get = |key: &str| q.get(key).unwrap_or_default();
        ActivityQuery {
            status: get("status"),
            server: get("server"),
            tool: get("tool"),
            user: get("user"),
            range: get("range"),
            from: get("from"),
            to: get("to"),
            page: q.get("page").and_then(|p| p.parse().ok()),
        }
    })
}

/// The whole activity view for `target` (see [`super::ActivityTarget`]).
#[component]
pub fn ActivityPanel(#[prop(into)] target: Signal<String>) -> impl IntoView {
    let query = use_activity_query();
    let data = Resource::new(
        move || (target.get(), query.get()),
        |(target, query)| activity_view(target, query),
    );
    let location = use_location();
    view! {
        <Suspense fallback=|| view! { <p class="muted" aria-busy="true">"Loading activity…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(data) => view! { <ActivityBody data/> }.into_any(),
                    Err(error) => {
                        let reset = location.pathname.get();
                        view! {
                            <ErrorNotice error/>
                            <p><a class="btn" href=reset>"Reset the filters"</a></p>
                        }
                        .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn ActivityBody(data: ActivityData) -> impl IntoView {
    let filters = data.filters.clone();
    let base = data.base.clone();
    let pager = {
        let (base, filters) = (base.clone(), filters.clone());
        move |page: u32| format!("{base}?{}", filters.to_query(page))
    };
    let range_label = match filters.preset {
        Preset::Custom => format!(
            "{} – {} UTC",
            filters.from.format("%Y-%m-%d %H:%M"),
            filters.to.format("%Y-%m-%d %H:%M")
        ),
        preset => Preset::CHOICES
            .iter()
            .find(|(p, ..)| *p == preset)
            .map_or_else(String::new, |(_, _, label)| (*label).to_owned()),
    };
    view! {
        <FilterBar data=data.clone()/>
        <StatCards summary=data.summary.clone() label=range_label.clone()/>
        <section class="card">
            <header class="card-header">
                <h2>{data.volume_title.clone()}</h2>
                <Legend/>
            </header>
            <figure class="chart" role="img" aria-label=format!("{} over {}", data.volume_title, range_label)
                inner_html=data.volume_svg.clone()></figure>
        </section>
        {data.latency_svg.clone().map(|svg| view! {
            <section class="card">
                <header class="card-header"><h2>"Latency distribution"</h2>
                    <span class="muted small">"Finished calls by how long they took"</span></header>
                <figure class="chart" role="img" aria-label="Latency distribution" inner_html=svg></figure>
            </section>
        })}
        <section class="card">
            <header class="card-header">
                <h2>"Calls"</h2>
                <a class="btn btn-small" href=data.export_href.clone() download rel="nofollow">"Export CSV"</a>
            </header>
            <CallTable page=data.calls show_server=data.show_server href=pager/>
        </section>
    }
}

#[component]
fn Legend() -> impl IntoView {
    let items = CallStatus::ALL
        .into_iter()
        .map(|status| {
            view! {
                <li><span class=format!("swatch swatch-{}", status.as_str()) aria-hidden="true"></span>{status.label()}</li>
            }
        })
        .collect_view();
    view! { <ul class="legend" aria-label="Colours">{items}</ul> }
}

#[component]
fn FilterBar(data: ActivityData) -> impl IntoView {
    let filters = data.filters;
    let choices = data.choices;
    // Picking a date switches the range to "Custom"; without JavaScript a date sent with no
    // range chosen is read as a custom range too.
    let (range, set_range) = signal(filters.preset.key().to_owned());
    let (from, to) = match filters.preset {
        Preset::Custom => (
            filters.from.format(DATETIME_FORMAT).to_string(),
            filters.to.format(DATETIME_FORMAT).to_string(),
        ),
        _ => (String::new(), String::new()),
    };
    let status_value = filters
        .statuses
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let several = (filters.statuses.len() > 1).then(|| {
        let value = status_value.clone();
        view! { <option value=value selected>{format!("{} statuses", filters.statuses.len())}</option> }
    });
    let statuses = CallStatus::ALL
        .into_iter()
        .map(|s| {
            let selected = status_value == s.as_str();
            view! { <option value=s.as_str() selected=selected>{s.label()}</option> }
        })
        .collect_view();
    let server = filters.server.clone().unwrap_or_default();
    let servers = data.show_server.then(|| {
        let options = choices
            .servers
            .iter()
            .map(|(slug, label)| {
                view! { <option value=slug.clone() selected=*slug == server>{label.clone()}</option> }
            })
            .collect_view();
        view! {
            <label class="field-inline">"Server"
                <select name="server">
                    <option value="">"All servers"</option>
                    {options}
                </select>
            </label>
        }
    });
    let tool = filters.tool.clone().unwrap_or_default();
    let tools = data.show_tool.then(|| {
        let options = choices
            .tools
            .iter()
            .map(|name| view! { <option value=name.clone() selected=*name == tool>{name.clone()}</option> })
            .collect_view();
        view! {
            <label class="field-inline">"Tool"
                <select name="tool">
                    <option value="">"All tools"</option>
                    {options}
                </select>
            </label>
        }
    });
    let users = data.show_user.then(|| {
        let options = choices
            .users
            .iter()
            .map(|email| view! { <option value=email.clone()></option> })
            .collect_view();
        view! {
            <label class="field-inline">"User"
                <input type="search" name="user" list="activity-users" placeholder="Email"
                    value=filters.user.clone().unwrap_or_default() autocomplete="off"/>
            </label>
            <datalist id="activity-users">{options}</datalist>
        }
    });
    let presets = Preset::CHOICES
        .iter()
        .map(|(_, key, label)| {
            let key = *key;
            view! { <option value=key selected=move || range.get() == key>{*label}</option> }
        })
        .collect_view();
    let active = filters.active();
    let base = data.base.clone();
    view! {
        <form class="filters activity-filters" method="get" action=base.clone() role="search" aria-label="Filter activity">
            <label class="field-inline">"Status"
                <select name="status">
                    <option value="">"All statuses"</option>
                    {several}
                    {statuses}
                </select>
            </label>
            {servers}
            {tools}
            {users}
            <label class="field-inline">"Range"
                <select name="range" on:change=move |ev| set_range.set(event_target_value(&ev))>
                    {presets}
                    <option value="custom" selected=move || range.get() == "custom">"Custom range"</option>
                </select>
            </label>
            <fieldset class="custom-range">
                <legend class="visually-hidden">"Custom range (UTC)"</legend>
                <label class="field-inline">"From"
                    <input type="datetime-local" name="from" value=from
                        on:input=move |_| set_range.set("custom".to_owned())/>
                </label>
                <label class="field-inline">"To"
                    <input type="datetime-local" name="to" value=to
                        on:input=move |_| set_range.set("custom".to_owned())/>
                </label>
                <span class="muted small">"UTC"</span>
            </fieldset>
            <button type="submit" class="btn">"Apply"</button>
            {(active > 0).then(|| view! {
                <span class="badge badge-info" aria-live="polite">
                    {if active == 1 { "1 filter active".to_owned() } else { format!("{active} filters active") }}
                </span>
                <a href=base.clone()>"Clear filters"</a>
            })}
        </form>
    }
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |ms| format!("{ms:.0} ms"))
}

/// Total calls, unique users, error rate, latency average and percentiles.
#[component]
pub fn StatCards(summary: ActivitySummary, #[prop(into)] label: String) -> impl IntoView {
    let card = |label: &'static str, value: String| {
        view! { <div class="stat"><span class="stat-label">{label}</span><span class="stat-value">{value}</span></div> }
    };
    view! {
        <section class="stats stats-wide" aria-label=format!("Totals, {label}")>
            {card("Total calls", summary.total_calls.to_string())}
            {card("Unique users", summary.unique_users.to_string())}
            {card("Error rate", format!("{:.1} %", summary.error_rate * 100.0))}
            {card("Avg latency", ms(summary.avg_latency_ms))}
            {card("P50 latency", ms(summary.p50_ms))}
            {card("P95 latency", ms(summary.p95_ms))}
            {card("P99 latency", ms(summary.p99_ms))}
        </section>
    }
}

/// `/activity`: every call for admins, a person's own calls for everyone else.
#[component]
pub fn ActivityPage() -> impl IntoView {
    let me = crate::app::use_me();
    let title = move || {
        me.get()
            .and_then(|me| me.ok().flatten())
            .map(|me| {
                if me.role.is_admin() {
                    "Activity"
                } else {
                    "My activity"
                }
            })
            .unwrap_or("Activity")
    };
    view! {
        <Title text="Activity · Gatehouse"/>
        <Suspense fallback=|| ()>
            {move || view! { <PageHeader title=title() subtitle="Every tool call through the gateway: who called what, how it ended, how long it took."/> }}
        </Suspense>
        <ActivityPanel target="home".to_owned()/>
    }
}
