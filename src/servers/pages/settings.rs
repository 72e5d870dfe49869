//! The Settings tab: name and description, the fixed URL and authentication method,
//! environment variables (masked, revealed on request), deployment, disabling and deleting.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::detail::{refresh_server_on, use_server};
use crate::{
    servers::{
        DeleteServer, EnvVarView, RedeployServer, RemoveEnvVar, ServerDetail, ServerStatus,
        SetEnvVar, SetServerActive, UpdateServer, reveal_env_var, server_env,
    },
    ui::{Alert, AlertKind, CopyButton, ErrorNotice, FieldError, field_error, form_error},
};

#[component]
pub fn SettingsTab() -> impl IntoView {
    let server = use_server();
    let query = use_query_map();
    let saved = move || query.read().get("saved");
    view! {
        {move || saved().map(|what| {
            let message = match what.as_str() {
                "env" => "Saved. Environment changes apply at the next deployment.",
                "status" => "Saved. The gateway applies it from the next request on.",
                _ => "Saved.",
            };
            view! { <Alert kind=AlertKind::Success>{message}</Alert> }
        })}
        <Suspense fallback=|| view! { <p class="muted">"Loading settings…"</p> }>
            {move || Suspend::new(async move {
                match server.await {
                    Ok(detail) => view! {
                        <DetailsForm detail=detail.clone()/>
                        <EnvSection detail=detail.clone()/>
                        <DangerZone detail/>
                    }
                    .into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn DetailsForm(detail: ServerDetail) -> impl IntoView {
    let action = ServerAction::<UpdateServer>::new();
    refresh_server_on(action);
    let value = action.value();
    let pending = action.pending();
    view! {
        <section class="card">
            <h2>"General"</h2>
            <ActionForm action=action attr:class="form form-wide" attr:novalidate=true>
                <FieldError message=form_error(value, &["name", "description"]) id="details-error"/>
                <input type="hidden" name="slug" value=detail.slug.clone()/>
                <input type="hidden" name="seen" value=detail.updated_at.to_rfc3339()/>
                <div class="field">
                    <label for="server-name">"Server name"</label>
                    <input id="server-name" name="name" type="text" required maxlength="80" value=detail.name.clone()/>
                    <FieldError message=field_error(value, "name") id="server-name-error"/>
                </div>
                <div class="field">
                    <label for="server-description">"Description"</label>
                    <textarea id="server-description" name="description" rows="3" maxlength="2000">{detail.description.clone()}</textarea>
                    <FieldError message=field_error(value, "description") id="server-description-error"/>
                </div>
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" disabled=move || pending.get()>"Save changes"</button>
                </div>
            </ActionForm>
            <dl class="facts">
                <dt>"MCP Server URL"</dt>
                <dd><code class="select-all">{detail.mcp_url.clone()}</code>" "<CopyButton text=detail.mcp_url.clone()/></dd>
                <dt>"Authentication"</dt>
                <dd>{detail.auth_method.label()}<span class="muted">" — fixed when the server was created"</span></dd>
            </dl>
        </section>
    }
}

#[component]
fn EnvSection(detail: ServerDetail) -> impl IntoView {
    let slug = detail.slug.clone();
    let set = ServerAction::<SetEnvVar>::new();
    let remove = ServerAction::<RemoveEnvVar>::new();
    let deploy = ServerAction::<RedeployServer>::new();
    refresh_server_on(set);
    refresh_server_on(remove);
    refresh_server_on(deploy);
    let env = Resource::new(
        {
            let slug = slug.clone();
            move || (slug.clone(), set.version().get(), remove.version().get())
        },
        |(slug, _, _)| server_env(slug),
    );
    let query = use_query_map();
    let revealed_name = Memo::new(move |_| query.read().get("reveal"));
    let revealed = Resource::new(
        {
            let slug = slug.clone();
            move || (slug.clone(), revealed_name.get())
        },
        |(slug, name)| async move {
            match name {
                Some(name) => reveal_env_var(slug, name.clone())
                    .await
                    .map(|v| Some((name, v))),
                None => Ok(None),
            }
        },
    );
    let value = set.value();
    let active = detail.status == ServerStatus::Active;
    let (add_slug, deploy_slug, table_slug) = (slug.clone(), slug.clone(), slug.clone());
    view! {
        <section class="card" id="environment">
            <header class="card-header"><h2>"Environment variables"</h2></header>
            <p class="muted">"Injected into the server when it is deployed. Values are encrypted at rest and masked here."</p>
            {detail.env_pending.then(|| view! {
                <Alert kind=AlertKind::Info>"Changes are saved but not live: deploy to apply them."</Alert>
            })}
            <Suspense fallback=|| view! { <p class="muted">"Loading variables…"</p> }>
                {
                    move || {
                        let slug = table_slug.clone();
                        Suspend::new(async move {
                            let shown = revealed.await.ok().flatten();
                            match env.await {
                                Ok(vars) if vars.is_empty() => view! { <p class="muted">"No variables yet."</p> }.into_any(),
                                Ok(vars) => view! { <EnvTable vars slug shown set remove/> }.into_any(),
                                Err(error) => view! { <ErrorNotice error/> }.into_any(),
                            }
                        })
                    }
                }
            </Suspense>
            <ActionForm action=set attr:class="form env-add" attr:novalidate=true>
                <h3>"Add a variable"</h3>
                <FieldError message=form_error(value, &["env_name", "env_value"]) id="env-add-error"/>
                <input type="hidden" name="slug" value=add_slug/>
                <div class="field-row">
                    <div class="field">
                        <label for="env-name">"Name"</label>
                        <input id="env-name" name="env_name" type="text" class="mono" placeholder="API_KEY" required
                            aria-invalid=move || field_error(value, "env_name").get().is_some().then_some("true")/>
                    </div>
                    <div class="field">
                        <label for="env-value">"Value"</label>
                        <input id="env-value" name="env_value" type="password" autocomplete="off" placeholder="value"/>
                    </div>
                    <button type="submit" class="btn">"Add"</button>
                </div>
                <FieldError message=field_error(value, "env_name") id="env-name-error"/>
                <FieldError message=field_error(value, "env_value") id="env-value-error"/>
            </ActionForm>
            <ActionForm action=deploy attr:class="form-actions">
                <input type="hidden" name="slug" value=deploy_slug/>
                <span class="muted">"Environment changes take effect at the next deployment."</span>
                <button type="submit" class="btn btn-primary" disabled=!active>"Deploy now"</button>
            </ActionForm>
        </section>
    }
}

#[component]
fn EnvTable(
    vars: Vec<EnvVarView>,
    slug: String,
    shown: Option<(String, String)>,
    set: ServerAction<SetEnvVar>,
    remove: ServerAction<RemoveEnvVar>,
) -> impl IntoView {
    let rows = vars
        .into_iter()
        .map(|var| {
            // Each form below takes its own copies: their contents are built later.
            let (edit_slug, remove_slug) = (slug.clone(), slug.clone());
            let (edit_name, remove_name, edit_id) = (var.name.clone(), var.name.clone(), format!("edit-{}", var.name));
            let (label, question) = (format!("New value for {}", var.name), format!("Remove {}?", var.name));
            let value = shown.as_ref().filter(|(n, _)| *n == var.name).map(|(_, v)| v.clone());
            let is_shown = value.is_some();
            let reveal_href = if is_shown {
                format!("/servers/{slug}/settings#environment")
            } else {
                format!("/servers/{slug}/settings?reveal={}#environment", var.name)
            };
            view! {
                <tr>
                    <td><span class="mono">{var.name.clone()}</span>" "<CopyButton text=var.name.clone() label="Copy key"/></td>
                    <td class="mono">{value.unwrap_or_else(|| "••••••••".to_owned())}</td>
                    <td class="actions">
                        <a class="btn btn-small" href=reveal_href>{if is_shown { "Hide" } else { "Reveal" }}</a>
                        <details class="inline-menu">
                            <summary class="btn btn-small">"Edit"</summary>
                            <ActionForm action=set attr:class="inline-form">
                                <input type="hidden" name="slug" value=edit_slug/>
                                <input type="hidden" name="env_name" value=edit_name/>
                                <label class="visually-hidden" for=edit_id.clone()>{label}</label>
                                <input id=edit_id name="env_value" type="password" autocomplete="off" placeholder="New value"/>
                                <button type="submit" class="btn btn-small btn-primary">"Save"</button>
                            </ActionForm>
                        </details>
                        <details class="inline-menu">
                            <summary class="btn btn-small">"Remove"</summary>
                            <ActionForm action=remove attr:class="inline-form">
                                <input type="hidden" name="slug" value=remove_slug/>
                                <input type="hidden" name="env_name" value=remove_name/>
                                <span>{question}</span>
                                <button type="submit" class="btn btn-small btn-danger">"Remove"</button>
                            </ActionForm>
                        </details>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="table">
            <thead><tr><th scope="col">"Name"</th><th scope="col">"Value"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

#[component]
fn DangerZone(detail: ServerDetail) -> impl IntoView {
    let status = ServerAction::<SetServerActive>::new();
    refresh_server_on(status);
    let delete = ServerAction::<DeleteServer>::new();
    let delete_value = delete.value();
    let active = detail.status == ServerStatus::Active;
    let (status_slug, delete_slug) = (detail.slug.clone(), detail.slug.clone());
    let confirm_label = format!("Type {} to confirm", detail.name);
    view! {
        <section class="card danger-zone">
            <h2>"Danger zone"</h2>
            <div class="danger-row">
                <div>
                    <h3>{if active { "Disable server" } else { "Enable server" }}</h3>
                    <p class="muted">{if active {
                        "Every call fails with a clear message until it is enabled again; connected clients keep working after that without reconnecting."
                    } else {
                        "Calls work again from the next request; connected clients need not reconnect."
                    }}</p>
                </div>
                {if active {
                    view! {
                        <details class="inline-menu">
                            <summary class="btn btn-danger-outline">"Disable"</summary>
                            <ActionForm action=status attr:class="inline-form">
                                <input type="hidden" name="slug" value=status_slug/>
                                <input type="hidden" name="active" value="false"/>
                                <span>"Disable it now?"</span>
                                <button type="submit" class="btn btn-danger">"Disable server"</button>
                            </ActionForm>
                        </details>
                    }
                    .into_any()
                } else {
                    view! {
                        <ActionForm action=status>
                            <input type="hidden" name="slug" value=status_slug/>
                            <input type="hidden" name="active" value="true"/>
                            <button type="submit" class="btn btn-primary">"Enable server"</button>
                        </ActionForm>
                    }
                    .into_any()
                }}
            </div>
            <div class="danger-row">
                <div>
                    <h3>"Delete server"</h3>
                    <p class="muted">"Removes its configuration, environment variables and restrictions. Its activity history stays; a git repository is never touched."</p>
                </div>
                <details class="inline-menu" open=move || delete_value.with(|v| matches!(v, Some(Err(_))))>
                    <summary class="btn btn-danger-outline">"Delete"</summary>
                    <ActionForm action=delete attr:class="inline-form column" attr:novalidate=true>
                        <input type="hidden" name="slug" value=delete_slug/>
                        <label for="confirm-delete">{confirm_label}</label>
                        <input id="confirm-delete" name="confirm" type="text" autocomplete="off" required/>
                        <FieldError message=field_error(delete_value, "confirm") id="confirm-delete-error"/>
                        <button type="submit" class="btn btn-danger">"Delete this server"</button>
                    </ActionForm>
                </details>
            </div>
        </section>
    }
}
