//! The one activity table: the global Activity page, each server's Activity tab and each
//! person's page show calls with it. A row opens (no JavaScript needed: `<details>`) to the
//! call's full input and output.

use leptos::prelude::*;

use super::{CallPage, CallStatus, CallView};
use crate::ui::{Ago, CopyButton, EmptyState, Pagination};

pub fn status_class(status: CallStatus) -> &'static str {
    match status {
        CallStatus::Success => "badge badge-success",
        CallStatus::Error => "badge badge-danger",
        CallStatus::PermissionDenied => "badge badge-warning",
        CallStatus::Timeout => "badge badge-timeout",
        CallStatus::InProgress => "badge badge-info",
    }
}

/// The latency cell's colour and hover text from where the call falls in its server's
/// distribution: fastest quarter green, P85–P95 yellow, slowest 5 % red.
pub fn latency_indicator(rank: Option<f64>) -> (&'static str, Option<String>) {
    let Some(rank) = rank else {
        return ("num latency", None);
    };
    let class = match rank {
        r if r <= 0.25 => "num latency latency-fast",
        r if r > 0.95 => "num latency latency-slowest",
        r if r >= 0.85 => "num latency latency-slow",
        _ => "num latency",
    };
    let percentile = (rank * 100.0).round().clamp(0.0, 100.0);
    (
        class,
        Some(format!(
            "P{percentile:.0} of this server's calls in the range"
        )),
    )
}

#[component]
pub fn CallStatusBadge(status: CallStatus) -> impl IntoView {
    view! { <span class=status_class(status)>{status.label()}</span> }
}

/// A page of calls with its pager. `show_server` adds the server column (the global page).
#[component]
pub fn CallTable(
    page: CallPage,
    #[prop(optional)] show_server: bool,
    /// The Overview tab's latest calls have no further pages.
    #[prop(optional)]
    no_pager: bool,
    href: impl Fn(u32) -> String + 'static,
) -> impl IntoView {
    if page.calls.is_empty() {
        return view! {
            <EmptyState
                title="No calls yet"
                body="Tool calls appear here as soon as a client makes them through the gateway."
            />
        }
        .into_any();
    }
    let now = page.now;
    let pages = page.pages();
    let (number, total) = (page.page, page.total);
    let rows = page
        .calls
        .into_iter()
        .map(|call| view! { <CallRow call now show_server/> })
        .collect_view();
    view! {
        <div class="calls" role="table" aria-label="Tool calls">
            <div class="call-head" role="row" class:with-server=show_server>
                {show_server.then(|| view! { <span role="columnheader">"Server"</span> })}
                <span role="columnheader">"Time"</span>
                <span role="columnheader">"Tool"</span>
                <span role="columnheader">"User"</span>
                <span role="columnheader" class="num">"Latency"</span>
                <span role="columnheader">"Status"</span>
            </div>
            {rows}
        </div>
        {(!no_pager).then(|| view! { <Pagination page=number pages total href/> })}
    }
    .into_any()
}

#[component]
fn CallRow(call: CallView, now: chrono::DateTime<chrono::Utc>, show_server: bool) -> impl IntoView {
    let user = call
        .user_name
        .clone()
        .or(call.user_email.clone())
        .unwrap_or_else(|| "—".to_owned());
    let latency = call
        .latency_ms
        .map(|ms| format!("{ms} ms"))
        .unwrap_or_else(|| "—".to_owned());
    let (latency_class, latency_title) = latency_indicator(call.latency_rank);
    let server_href = format!("/servers/{}/overview", call.server_slug);
    view! {
        <details class="call" role="row">
            <summary class="call-row" class:with-server=show_server>
                {show_server.then(|| view! { <a href=server_href.clone()>{call.server_name.clone()}</a> })}
                <Ago at=call.started_at now/>
                <span class="mono">{call.tool.clone()}</span>
                <span>{user}</span>
                <span class=latency_class title=latency_title>{latency}</span>
                <span><CallStatusBadge status=call.status/></span>
            </summary>
            <div class="call-detail">
                {call.error.clone().map(|error| view! { <div class="alert alert-error call-error"><strong>"Error: "</strong>{error}</div> })}
                <dl class="facts small">
                    <dt>"Started"</dt><dd>{call.started_at.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()}</dd>
                    <dt>"Client"</dt><dd>{call.client.clone().unwrap_or_else(|| "unknown".to_owned())}</dd>
                    {call.user_email.clone().map(|email| view! { <dt>"Email"</dt><dd>{email}</dd> })}
                </dl>
                <JsonPanel title="Input" json=call.input.clone()/>
                <JsonPanel
                    title=if call.output_truncated { "Output (truncated)" } else { "Output" }
                    json=call.output.clone()
                />
            </div>
        </details>
    }
}

#[component]
fn JsonPanel(#[prop(into)] title: String, json: Option<String>) -> impl IntoView {
    match json {
        Some(json) => view! {
            <section class="json-panel">
                <header><h3>{title}</h3><CopyButton text=json.clone()/></header>
                <pre><code>{json}</code></pre>
            </section>
        }
        .into_any(),
        None => view! {
            <section class="json-panel">
                <header><h3>{title}</h3></header>
                <p class="muted">"None recorded."</p>
            </section>
        }
        .into_any(),
    }
}

#[cfg(test)]
mod tests {
    use super::latency_indicator;

    #[test]
    fn latency_colours_follow_the_percentile_bands() {
        assert_eq!(latency_indicator(Some(0.10)).0, "num latency latency-fast");
        assert_eq!(latency_indicator(Some(0.50)).0, "num latency");
        assert_eq!(latency_indicator(Some(0.90)).0, "num latency latency-slow");
        assert_eq!(
            latency_indicator(Some(0.99)).0,
            "num latency latency-slowest"
        );
        assert_eq!(latency_indicator(None), ("num latency", None));
        assert_eq!(
            latency_indicator(Some(0.9)).1.unwrap(),
            "P90 of this server's calls in the range"
        );
    }
}
