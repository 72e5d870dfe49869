//! The one activity table: the global Activity page, each server's Activity tab and each
//! person's page show calls with it. A row opens (no JavaScript needed: `<details>`) to the
//! call's input and output, or a link to download one too large to show.

use leptos::prelude::*;

use super::{CallPage, CallStatus, CallView, Part, Payload};
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
                <JsonPanel call=call.id part=Part::Input title="Input" payload=call.input.clone()/>
                <JsonPanel
                    call=call.id
                    part=Part::Output
                    title=if call.output_truncated { "Output (truncated)" } else { "Output" }
                    payload=call.output.clone()
                />
            </div>
        </details>
    }
}

#[component]
fn JsonPanel(
    call: uuid::Uuid,
    part: Part,
    #[prop(into)] title: String,
    payload: Payload,
) -> impl IntoView {
    let body = match payload {
        Payload::Shown(json) => view! {
            <header><h3>{title}</h3><CopyButton text=json.clone()/></header>
            <pre><code>{json}</code></pre>
        }
        .into_any(),
        Payload::TooLarge { bytes } => {
            let href = part.href(call);
            view! {
                <header><h3>{title}</h3><a class="btn btn-small" href=href.clone() download>"Download"</a></header>
                <p class="muted">
                    {format!("The {} is {}, too large to show here. ", part.noun(), size(bytes))}
                    <a href=href download>{format!("Download the {}", part.noun())}</a>
                    " to read it."
                </p>
            }
            .into_any()
        }
        Payload::NotRecorded => view! {
            <header><h3>{title}</h3></header>
            <p class="muted">"None recorded."</p>
        }
        .into_any(),
    };
    view! { <section class="json-panel">{body}</section> }
}

/// `bytes` for people: `812 bytes`, `64.5 KiB`, `3.9 MiB`.
fn size(bytes: i64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KIB {
        format!("{bytes} bytes")
    } else if b < KIB * KIB - KIB / 20.0 {
        // Just under 1 MiB reads as 1.0 MiB, not 1024.0 KiB.
        format!("{:.1} KiB", b / KIB)
    } else {
        format!("{:.1} MiB", b / (KIB * KIB))
    }
}

#[cfg(test)]
mod tests {
    use super::{latency_indicator, size};

    #[test]
    fn sizes_read_in_the_unit_that_suits_them() {
        assert_eq!(size(812), "812 bytes");
        assert_eq!(size(66_048), "64.5 KiB");
        assert_eq!(size(4_089_446), "3.9 MiB");
        assert_eq!(size(1_048_570), "1.0 MiB");
    }

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
