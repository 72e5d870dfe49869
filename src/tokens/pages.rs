//! Personal access tokens: create one (shown once), see when each was last used, revoke.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{CreateToken, RevokeToken, TokenInfo, list_tokens};
use crate::ui::{
    Ago, Alert, AlertKind, CodeBlock, EmptyState, ErrorNotice, FieldError, PageHeader, field_error,
    form_error,
};

#[component]
pub fn TokensPage() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_tokens(),
    );
    let value = create.value();
    let query = use_query_map();
    let revoked = move || query.read().get("revoked").is_some();
    view! {
        <Title text="Tokens · Gatehouse"/>
        <PageHeader
            title="Personal access tokens"
            subtitle="For MCP clients and scripts that cannot sign in by themselves: send one as `Authorization: Bearer <token>`."
        />
        <Show when=revoked>
            <Alert kind=AlertKind::Success>"The token was revoked; it stopped working on the very next request."</Alert>
        </Show>
        <Suspense fallback=|| view! { <p class="muted">"Loading tokens…"</p> }>
            {move || Suspend::new(async move {
                match tokens.await {
                    Ok(list) => {
                        let now = list.now;
                        view! {
                            {list.minted.map(|secret| view! {
                                <section class="card minted" aria-live="polite">
                                    <h2>"Your new token"</h2>
                                    <p>"Copy it now: it is shown only this once. Anyone with it can call tools as you."</p>
                                    <CodeBlock code=secret label="Copy token"/>
                                </section>
                            })}
                            {if list.tokens.is_empty() {
                                view! { <EmptyState title="No tokens yet" body="Create one for each client or script, so each can be revoked on its own."/> }.into_any()
                            } else {
                                view! { <TokenTable tokens=list.tokens now revoke/> }.into_any()
                            }}
                        }
                        .into_any()
                    }
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
        <section class="card">
            <h2>"Create a token"</h2>
            <ActionForm action=create attr:class="form form-narrow" attr:novalidate=true>
                <FieldError message=form_error(value, &["name", "lifetime_days"]) id="token-error"/>
                <div class="field">
                    <label for="token-name">"Name"</label>
                    <input id="token-name" name="name" type="text" maxlength="80" required placeholder="Cursor on my laptop"/>
                    <FieldError message=field_error(value, "name") id="token-name-error"/>
                </div>
                <div class="field">
                    <label for="token-lifetime">"Expires"</label>
                    <select id="token-lifetime" name="lifetime_days">
                        <option value="30">"in 30 days"</option>
                        <option value="90" selected>"in 90 days"</option>
                        <option value="366">"in a year"</option>
                        <option value="never">"never"</option>
                    </select>
                    <FieldError message=field_error(value, "lifetime_days") id="token-lifetime-error"/>
                </div>
                <button type="submit" class="btn btn-primary">"Create token"</button>
            </ActionForm>
        </section>
    }
}

#[component]
fn TokenTable(
    tokens: Vec<TokenInfo>,
    now: chrono::DateTime<chrono::Utc>,
    revoke: ServerAction<RevokeToken>,
) -> impl IntoView {
    let rows = tokens
        .into_iter()
        .map(|token| {
            let usable = token.is_usable(now);
            let state = if token.revoked_at.is_some() {
                view! { <span class="badge badge-neutral">"Revoked"</span> }.into_any()
            } else if !usable {
                view! { <span class="badge badge-warning">"Expired"</span> }.into_any()
            } else {
                view! { <span class="badge badge-success">"Active"</span> }.into_any()
            };
            let question = format!("Revoke {}?", token.name);
            let id = token.id.to_string();
            view! {
                <tr>
                    <td><span class="strong">{token.name.clone()}</span><div class="muted small mono">{format!("{}…", token.prefix)}</div></td>
                    <td>{state}</td>
                    <td><Ago at=token.created_at now/></td>
                    <td>{match token.expires_at {
                        Some(at) => at.format("%Y-%m-%d").to_string(),
                        None => "never".to_owned(),
                    }}</td>
                    <td>{match token.last_used_at {
                        Some(at) => view! { <Ago at now/> }.into_any(),
                        None => view! { <span class="muted">"never"</span> }.into_any(),
                    }}</td>
                    <td class="actions">
                        {usable.then(|| view! {
                            <details class="inline-menu">
                                <summary class="btn btn-small">"Revoke"</summary>
                                <ActionForm action=revoke attr:class="inline-form">
                                    <input type="hidden" name="id" value=id/>
                                    <span>{question}</span>
                                    <button type="submit" class="btn btn-small btn-danger">"Revoke"</button>
                                </ActionForm>
                            </details>
                        })}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="table">
            <thead><tr>
                <th scope="col">"Token"</th><th scope="col">"Status"</th><th scope="col">"Created"</th>
                <th scope="col">"Expires"</th><th scope="col">"Last used"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}
