//! Widgets the area pages share: relative times, copy buttons, tabs, pagination, code.

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use super::use_hydrated;

/// "just now", "5 min ago", "3 h ago", "2 d ago", then the date.
pub fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - at).num_seconds();
    match seconds {
        s if s < 45 => "just now".to_owned(),
        s if s < 3600 => format!("{} min ago", (s + 30) / 60),
        s if s < 86_400 => format!("{} h ago", (s + 1800) / 3600),
        s if s < 30 * 86_400 => format!("{} d ago", (s + 43_200) / 86_400),
        _ => at.format("%Y-%m-%d").to_string(),
    }
}

/// A time shown relative to `now`, with the exact time on hover.
#[component]
pub fn Ago(at: DateTime<Utc>, now: DateTime<Utc>) -> impl IntoView {
    view! {
        <time datetime=at.to_rfc3339() title=at.format("%Y-%m-%d %H:%M:%S UTC").to_string()>
            {ago(at, now)}
        </time>
    }
}

/// Copies `text` to the clipboard. Appears once JavaScript runs; without it, the text next to
/// it is selectable.
#[component]
pub fn CopyButton(
    #[prop(into)] text: String,
    #[prop(into, optional)] label: Option<String>,
) -> impl IntoView {
    let hydrated = use_hydrated();
    let (copied, set_copied) = signal(false);
    let label = label.unwrap_or_else(|| "Copy".to_owned());
    let on_click = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let text = text.clone();
            leptos::task::spawn_local(async move {
                if let Some(window) = web_sys::window() {
                    let promise = window.navigator().clipboard().write_text(&text);
                    if wasm_bindgen_futures::JsFuture::from(promise).await.is_ok() {
                        set_copied.set(true);
                    }
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = &text;
            set_copied.set(true);
        }
    };
    view! {
        <button type="button" class="btn btn-small" hidden=move || !hydrated.get() on:click=on_click>
            {move || if copied.get() { "Copied".to_owned() } else { label.clone() }}
        </button>
    }
}

/// A block of text to copy (a URL, a configuration file).
#[component]
pub fn CodeBlock(
    #[prop(into)] code: String,
    #[prop(into, optional)] label: Option<String>,
) -> impl IntoView {
    view! {
        <div class="code-block">
            <pre><code>{code.clone()}</code></pre>
            <div class="code-block-actions"><CopyButton text=code label=label.unwrap_or_else(|| "Copy".to_owned())/></div>
        </div>
    }
}

/// Previous / next links for a paged list; `href(page)` builds each page's URL.
#[component]
pub fn Pagination(
    page: u32,
    pages: u32,
    total: i64,
    href: impl Fn(u32) -> String + 'static,
) -> impl IntoView {
    let previous = (page > 1).then(|| href(page - 1));
    let next = (page < pages).then(|| href(page + 1));
    view! {
        <nav class="pagination" aria-label="Pages">
            <span class="muted">{format!("Page {page} of {pages} · {total} in all")}</span>
            <span class="pagination-links">
                {match previous {
                    Some(href) => view! { <a class="btn btn-small" href=href rel="prev">"Previous"</a> }.into_any(),
                    None => view! { <span class="btn btn-small" aria-disabled="true">"Previous"</span> }.into_any(),
                }}
                {match next {
                    Some(href) => view! { <a class="btn btn-small" href=href rel="next">"Next"</a> }.into_any(),
                    None => view! { <span class="btn btn-small" aria-disabled="true">"Next"</span> }.into_any(),
                }}
            </span>
        </nav>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn relative_times_read_naturally() {
        let now = Utc::now();
        assert_eq!(ago(now - Duration::seconds(10), now), "just now");
        assert_eq!(ago(now - Duration::minutes(2), now), "2 min ago");
        assert_eq!(ago(now - Duration::hours(3), now), "3 h ago");
        assert_eq!(ago(now - Duration::days(2), now), "2 d ago");
        assert_eq!(
            ago(now - Duration::days(90), now),
            (now - Duration::days(90)).format("%Y-%m-%d").to_string()
        );
    }
}
