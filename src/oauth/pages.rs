//! The consent page a person sees when an app asks to sign in, their connected clients, and the
//! admins' list of registered clients.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{
    ClientKind, ClientView, ConnectionView, DeleteClient, RegisterClient, RevokeConnection,
    consent_request, list_clients, list_connections,
};
use crate::{
    error::AppError,
    ui::{
        Ago, Alert, AlertKind, CodeBlock, EmptyState, ErrorNotice, FieldError, PageHeader,
        field_error, form_error,
    },
};

/// `/oauth/consent?request=…`: names the app and what it will reach; Allow or Deny post a
/// plain form, so it works without JavaScript.
#[component]
pub fn ConsentPage() -> impl IntoView {
    let query = use_query_map();
    let request = query.read_untracked().get("request").unwrap_or_default();
    let consent = Resource::new(move || request.clone(), consent_request);
    view! {
        <Title text="Allow access? · Gatehouse"/>
        <main class="auth-page">
            <div class="auth-card consent">
                <div class="brand brand-large">
                    <span class="brand-mark" aria-hidden="true"></span>
                    "Gatehouse"
                </div>
                <Suspense fallback=|| view! { <p class="muted">"Loading the request…"</p> }>
                    {move || Suspend::new(async move {
                        match consent.await {
                            Ok(view) => Either::Left(view! { <ConsentForm view/> }),
                            Err(AppError::Unauthenticated) => Either::Right(Either::Left(view! {
                                <h1>"Sign in first"</h1>
                                <p><a class="btn btn-primary" href="/login">"Sign in"</a></p>
                            })),
                            Err(error) => Either::Right(Either::Right(view! {
                                <h1>"This request cannot be answered"</h1>
                                <ErrorNotice error/>
                                <p class="muted">"Go back to the app and start signing in again."</p>
                            })),
                        }
                    })}
                </Suspense>
            </div>
        </main>
    }
}

#[component]
fn ConsentForm(view: super::ConsentView) -> impl IntoView {
    let verified = match view.client_kind {
        ClientKind::MetadataDocument => format!("Identified by {}", view.client_id),
        ClientKind::Manual => "Registered by your Gatehouse admin".to_owned(),
        ClientKind::Dynamic => {
            "This app registered itself; Gatehouse cannot vouch for its name.".to_owned()
        }
    };
    view! {
        <h1>{format!("Allow {} to use Gatehouse as you?", view.client_name)}</h1>
        <p class="muted small">{verified}</p>
        <dl class="consent-details">
            <dt>"It will reach"</dt>
            <dd><span class="strong">{view.resource_label}</span><div class="muted small mono">{view.resource_uri}</div></dd>
            <dt>"It can"</dt>
            <dd>"List and call the tools your permission group allows, as " <span class="strong">{view.person}</span> ". Every call is logged."</dd>
            <dt>"You will return to"</dt>
            <dd class="mono">{view.redirect_to}</dd>
        </dl>
        <p class="muted small">"You can disconnect it at any time under Connections."</p>
        <form method="post" action="/oauth/decision" class="consent-actions">
            <input type="hidden" name="request" value=view.request_id.to_string()/>
            <button type="submit" name="decision" value="allow" class="btn btn-primary">"Allow"</button>
            <button type="submit" name="decision" value="deny" class="btn">"Deny"</button>
        </form>
    }
}

/// `/connections`: the apps a person has allowed in (admins can see everyone's), with revoke.
#[component]
pub fn ConnectionsPage() -> impl IntoView {
    let query = use_query_map();
    let everyone = move || query.read().get("everyone").is_some_and(|v| v == "true");
    let revoke = ServerAction::<RevokeConnection>::new();
    let connections = Resource::new(
        move || (everyone(), revoke.version().get()),
        |(everyone, _)| list_connections(everyone),
    );
    let revoked = move || query.read().get("revoked").is_some();
    let me = crate::app::use_me();
    view! {
        <Title text="Connections · Gatehouse"/>
        <PageHeader
            title="Connected clients"
            subtitle="Apps that signed in to Gatehouse as you with OAuth: Cursor, Claude, agents. Disconnect one and its tokens stop working at once."
        />
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let admin = matches!(me.await, Ok(Some(me)) if me.role.is_admin());
                admin.then(|| view! {
                    <nav class="segmented" aria-label="Whose connections">
                        <a href="/connections" aria-current=move || (!everyone()).then_some("page")>"Mine"</a>
                        <a href="/connections?everyone=true" aria-current=move || everyone().then_some("page")>"Everyone"</a>
                    </nav>
                })
            })}
        </Suspense>
        <Show when=revoked>
            <Alert kind=AlertKind::Success>"Disconnected: its tokens stopped working on the very next request."</Alert>
        </Show>
        <Suspense fallback=|| view! { <p class="muted">"Loading connections…"</p> }>
            {move || Suspend::new(async move {
                match connections.await {
                    Ok(list) if list.connections.is_empty() => view! {
                        <EmptyState
                            title="No connected clients"
                            body="Point an MCP client at a server's URL; it will send you here to sign in, and it shows up in this list."
                        />
                    }.into_any(),
                    Ok(list) => view! { <ConnectionTable list=list.connections everyone=list.everyone now=list.now revoke/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ConnectionTable(
    list: Vec<ConnectionView>,
    everyone: bool,
    now: chrono::DateTime<chrono::Utc>,
    revoke: ServerAction<RevokeConnection>,
) -> impl IntoView {
    let rows = list
        .into_iter()
        .map(|c| {
            let question = format!("Disconnect {}?", c.client_name);
            view! {
                <tr>
                    <td><span class="strong">{c.client_name.clone()}</span><div class="muted small">{c.client_kind.label()}</div></td>
                    {everyone.then(|| view! { <td><a href=format!("/users/{}", c.user_id)>{c.user_name.clone()}</a><div class="muted small">{c.user_email.clone()}</div></td> })}
                    <td class="mono small">{c.resource.clone()}</td>
                    <td><Ago at=c.created_at now/></td>
                    <td>{match c.last_used_at {
                        Some(at) => view! { <Ago at now/> }.into_any(),
                        None => view! { <span class="muted">"not yet"</span> }.into_any(),
                    }}</td>
                    <td class="actions">
                        <details class="inline-menu">
                            <summary class="btn btn-small">"Disconnect"</summary>
                            <ActionForm action=revoke attr:class="inline-form">
                                <input type="hidden" name="grant_id" value=c.grant_id.to_string()/>
                                <input type="hidden" name="everyone" value=everyone.to_string()/>
                                <span>{question}</span>
                                <button type="submit" class="btn btn-small btn-danger">"Disconnect"</button>
                            </ActionForm>
                        </details>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="table">
            <thead><tr>
                <th scope="col">"Client"</th>
                {everyone.then(|| view! { <th scope="col">"Person"</th> })}
                <th scope="col">"Reaches"</th><th scope="col">"Connected"</th><th scope="col">"Last used"</th>
                <th scope="col"><span class="visually-hidden">"Actions"</span></th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

/// `/oauth-clients` (admins): every client Gatehouse knows, and registering one by hand for
/// apps that neither publish a metadata document nor register themselves.
#[component]
pub fn OAuthClientsPage() -> impl IntoView {
    let register = ServerAction::<RegisterClient>::new();
    let delete = ServerAction::<DeleteClient>::new();
    let clients = Resource::new(
        move || (register.version().get(), delete.version().get()),
        |_| list_clients(),
    );
    let value = register.value();
    let query = use_query_map();
    let deleted = move || query.read().get("deleted").is_some();
    view! {
        <Title text="OAuth clients · Gatehouse"/>
        <PageHeader
            title="OAuth clients"
            subtitle="Apps that may ask people to sign in. Most arrive by themselves (a metadata document or dynamic registration); register one here when it cannot."
        />
        <Show when=deleted>
            <Alert kind=AlertKind::Success>"The client was deleted; its connections ended at once."</Alert>
        </Show>
        <Suspense fallback=|| view! { <p class="muted">"Loading clients…"</p> }>
            {move || Suspend::new(async move {
                match clients.await {
                    Ok(list) => view! {
                        {list.registered.map(|(id, secret)| view! {
                            <section class="card minted" aria-live="polite">
                                <h2>"Client registered"</h2>
                                <p>"Its client ID:"</p>
                                <CodeBlock code=id label="Copy client ID"/>
                                {secret.map(|secret| view! {
                                    <p>"Its secret — copy it now, it is shown only this once:"</p>
                                    <CodeBlock code=secret label="Copy secret"/>
                                })}
                            </section>
                        })}
                        {if list.clients.is_empty() {
                            view! { <EmptyState title="No clients yet" body="Clients appear here the first time they ask someone to sign in."/> }.into_any()
                        } else {
                            view! { <ClientTable clients=list.clients now=list.now delete/> }.into_any()
                        }}
                    }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
        <section class="card">
            <h2>"Register a client"</h2>
            <ActionForm action=register attr:class="form form-narrow" attr:novalidate=true>
                <FieldError message=form_error(value, &["name", "redirect_uris"]) id="client-error"/>
                <div class="field">
                    <label for="client-name">"Name"</label>
                    <input id="client-name" name="name" type="text" maxlength="200" required placeholder="Support agent"/>
                    <FieldError message=field_error(value, "name") id="client-name-error"/>
                </div>
                <div class="field">
                    <label for="client-redirects">"Redirect URIs, one per line"</label>
                    <textarea id="client-redirects" name="redirect_uris" rows="3" required placeholder="https://agent.example.com/oauth/callback"></textarea>
                    <p class="hint">"https, http on localhost (any port), or an app scheme such as cursor://…"</p>
                    <FieldError message=field_error(value, "redirect_uris") id="client-redirects-error"/>
                </div>
                <label class="checkbox"><input type="checkbox" name="confidential" value="on"/>" Confidential (runs on a server and keeps a secret)"</label>
                <button type="submit" class="btn btn-primary">"Register client"</button>
            </ActionForm>
        </section>
    }
}

#[component]
fn ClientTable(
    clients: Vec<ClientView>,
    now: chrono::DateTime<chrono::Utc>,
    delete: ServerAction<DeleteClient>,
) -> impl IntoView {
    let rows = clients
        .into_iter()
        .map(|c| {
            let question = format!(
                "Delete {}? Its {} connection(s) end at once.",
                c.name, c.connections
            );
            view! {
                <tr>
                    <td><span class="strong">{c.name.clone()}</span><div class="muted small mono">{c.id.clone()}</div></td>
                    <td>{c.kind.label()}{c.confidential.then_some(" · confidential")}</td>
                    <td class="mono small">{c.redirect_uris.join("\n")}</td>
                    <td>{c.connections}</td>
                    <td><Ago at=c.created_at now/></td>
                    <td class="actions">
                        <details class="inline-menu">
                            <summary class="btn btn-small">"Delete"</summary>
                            <ActionForm action=delete attr:class="inline-form">
                                <input type="hidden" name="id" value=c.id.clone()/>
                                <span>{question}</span>
                                <button type="submit" class="btn btn-small btn-danger">"Delete"</button>
                            </ActionForm>
                        </details>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="table">
            <thead><tr>
                <th scope="col">"Client"</th><th scope="col">"Kind"</th><th scope="col">"Redirect URIs"</th>
                <th scope="col">"Connections"</th><th scope="col">"Added"</th>
                <th scope="col"><span class="visually-hidden">"Actions"</span></th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}
