//! The start page after sign-in.

use leptos::prelude::*;
use leptos_meta::Title;

use super::use_me;
use crate::ui::PageHeader;

#[component]
pub fn HomePage() -> impl IntoView {
    let me = use_me();
    view! {
        <Title text="Home · Gatehouse"/>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                me.await.ok().flatten().map(|me| {
                    let first = me.name.split_whitespace().next().unwrap_or(&me.name).to_owned();
                    view! {
                        <PageHeader
                            title=format!("Welcome, {first}")
                            subtitle="Gatehouse signs people in, enforces what their group may call, and logs every tool call."
                        />
                        <section class="card">
                            <h2>"Your access"</h2>
                            <dl class="facts">
                                <dt>"Role"</dt><dd>{me.role.label()}</dd>
                                <dt>"Permission group"</dt><dd>{me.group_name.clone()}</dd>
                            </dl>
                        </section>
                    }
                })
            })}
        </Suspense>
    }
}
