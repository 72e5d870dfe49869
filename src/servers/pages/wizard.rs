//! The creation wizard: (1) basic information and source, (2) authentication and environment,
//! (3) review with an edit link per section. Each step posts to the server, which keeps the
//! draft in the session, so the wizard works without JavaScript and survives a reload.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{
    servers::{
        WizardAccess, WizardBasics, WizardCreate, WizardDraft, WizardReset, get_wizard_draft,
    },
    ui::{ErrorNotice, FieldError, PageHeader, field_error, form_error, use_hydrated},
};

#[component]
pub fn NewServerPage() -> impl IntoView {
    let query = use_query_map();
    let step = Memo::new(move |_| {
        query
            .read()
            .get("step")
            .and_then(|s| s.parse::<u8>().ok())
            .unwrap_or(1)
            .clamp(1, 3)
    });
    let draft = Resource::new(move || step.get(), |_| get_wizard_draft());
    view! {
        <Title text="Create a server · Gatehouse"/>
        <PageHeader title="Create New Server" subtitle="Three steps: what it is, how it authenticates, and a last look."/>
        <ol class="steps" aria-label="Steps">
            {[(1u8, "Basic info"), (2, "Authentication & environment"), (3, "Review")]
                .into_iter()
                .map(|(n, label)| view! {
                    <li class:current=move || step.get() == n class:done={move || step.get() > n}
                        aria-current=move || (step.get() == n).then_some("step")>
                        <span class="step-number">{n}</span>{label}
                    </li>
                })
                .collect_view()}
        </ol>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match draft.await {
                    Ok(draft) => match step.get() {
                        1 => view! { <BasicsStep draft/> }.into_any(),
                        2 => view! { <AccessStep draft/> }.into_any(),
                        _ => view! { <ReviewStep draft/> }.into_any(),
                    },
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn BasicsStep(draft: WizardDraft) -> impl IntoView {
    let action = ServerAction::<WizardBasics>::new();
    let value = action.value();
    let hydrated = use_hydrated();
    let initial = if draft.source_kind.is_empty() {
        "remote".to_owned()
    } else {
        draft.source_kind.clone()
    };
    let (kind, set_kind) = signal(initial.clone());
    // Without JavaScript every source's fields show; with it, only the chosen one's.
    let hide = move |which: &'static str| move || hydrated.get() && kind.get() != which;
    let general = form_error(
        value,
        &[
            "name",
            "slug",
            "description",
            "source_kind",
            "url",
            "command_line",
            "path",
        ],
    );
    let remote_transport = if draft.remote_transport.is_empty() {
        "streamable_http".to_owned()
    } else {
        draft.remote_transport.clone()
    };
    let command_transport = if draft.command_transport.is_empty() {
        "stdio".to_owned()
    } else {
        draft.command_transport.clone()
    };
    let path = if draft.path.is_empty() {
        "/mcp".to_owned()
    } else {
        draft.path.clone()
    };
    view! {
        <ActionForm action=action attr:class="card form form-wide" attr:novalidate=true>
            <FieldError message=general id="basics-error"/>
            <div class="field">
                <label for="name">"Server name"</label>
                <input id="name" name="name" type="text" required maxlength="80" value=draft.name.clone()
                    placeholder="Linear issues" aria-describedby="name-hint"/>
                <p class="field-hint" id="name-hint">"Also gives the server its URL: Linear issues → /mcp/linear-issues."</p>
                <FieldError message=field_error(value, "name") id="name-error"/>
            </div>
            <details class="field" open=!draft.slug.is_empty()>
                <summary>"Choose the URL name yourself"</summary>
                <label for="slug">"URL name"</label>
                <input id="slug" name="slug" type="text" maxlength="63" value=draft.slug.clone() placeholder="linear-issues"/>
                <FieldError message=field_error(value, "slug") id="slug-error"/>
            </details>
            <div class="field">
                <label for="description">"Description"</label>
                <textarea id="description" name="description" rows="3" maxlength="2000">{draft.description.clone()}</textarea>
                <FieldError message=field_error(value, "description") id="description-error"/>
            </div>
            <fieldset class="field">
                <legend>"Source"</legend>
                <label class="radio">
                    <input type="radio" name="source_kind" value="remote" checked=initial == "remote"
                        on:change=move |_| set_kind.set("remote".to_owned())/>
                    <span><strong>"Remote MCP URL"</strong>" — a server already running somewhere."</span>
                </label>
                <label class="radio">
                    <input type="radio" name="source_kind" value="command" checked=initial == "command"
                        on:change=move |_| set_kind.set("command".to_owned())/>
                    <span><strong>"Command"</strong>" — Gatehouse starts and supervises it."</span>
                </label>
                <label class="radio disabled">
                    <input type="radio" name="source_kind" value="git" disabled/>
                    <span><strong>"Git repository"</strong>" — build and deploy on every push. Not available yet."</span>
                </label>
                <FieldError message=field_error(value, "source_kind") id="source-error"/>
            </fieldset>
            <fieldset class="field subfields" hidden=hide("remote")>
                <legend>"Remote server"</legend>
                <label for="url">"MCP URL"</label>
                <input id="url" name="url" type="url" value=draft.url.clone() placeholder="https://mcp.example.com/mcp"/>
                <FieldError message=field_error(value, "url") id="url-error"/>
                <label for="remote_transport">"Transport"</label>
                <select id="remote_transport" name="remote_transport">
                    <option value="streamable_http" selected=remote_transport == "streamable_http">"Streamable HTTP"</option>
                    <option value="sse" selected=remote_transport == "sse">"HTTP+SSE (legacy)"</option>
                </select>
            </fieldset>
            <fieldset class="field subfields" hidden=hide("command")>
                <legend>"Command"</legend>
                <label for="command_line">"Command line"</label>
                <input id="command_line" name="command_line" type="text" class="mono" value=draft.command_line.clone()
                    placeholder="npx -y @modelcontextprotocol/server-everything stdio"/>
                <FieldError message=field_error(value, "command_line") id="command-error"/>
                <label for="command_transport">"Speaks MCP over"</label>
                <select id="command_transport" name="command_transport">
                    <option value="stdio" selected=command_transport == "stdio">"stdio"</option>
                    <option value="http" selected=command_transport == "http">"HTTP on the port in $PORT"</option>
                </select>
                <label for="path">"MCP path (HTTP only)"</label>
                <input id="path" name="path" type="text" class="mono" value=path/>
                <FieldError message=field_error(value, "path") id="path-error"/>
            </fieldset>
            <div class="form-actions">
                <a class="btn btn-ghost" href="/servers">"Cancel"</a>
                <button type="submit" class="btn btn-primary">"Next: authentication"</button>
            </div>
        </ActionForm>
    }
}

#[component]
fn AccessStep(draft: WizardDraft) -> impl IntoView {
    let action = ServerAction::<WizardAccess>::new();
    let value = action.value();
    if !draft.basics_done {
        return view! { <MissingStep step=1/> }.into_any();
    }
    view! {
        <ActionForm action=action attr:class="card form form-wide" attr:novalidate=true>
            <fieldset class="field">
                <legend>"Authentication method"</legend>
                <p class="field-hint">"How the server gets upstream credentials. It is fixed once the server is created."</p>
                <label class="radio">
                    <input type="radio" name="auth_method" value="none" checked=true/>
                    <span><strong>"No authentication"</strong>" — the server's environment variables are its credentials; access is managed by permission groups."</span>
                </label>
                <label class="radio disabled">
                    <input type="radio" name="auth_method" value="credentials" disabled/>
                    <span><strong>"API key / credentials"</strong>" — each person enters their own. Not available yet."</span>
                </label>
                <label class="radio disabled">
                    <input type="radio" name="auth_method" value="oauth" disabled/>
                    <span><strong>"OAuth 2.0"</strong>" — each person connects their account. Not available yet."</span>
                </label>
            </fieldset>
            <div class="field">
                <label for="env">"Environment variables"</label>
                <textarea id="env" name="env" rows="6" class="mono" placeholder="API_KEY=sk-…\nREGION=eu-west-1"
                    aria-describedby="env-hint">{draft.env.clone()}</textarea>
                <p class="field-hint" id="env-hint">
                    "One NAME=value per line. Names use capital letters, digits and underscores; GUMLOOP_, GUMSTACK_ and GATEHOUSE_ are reserved. Values are encrypted at rest."
                </p>
                <FieldError message=field_error(value, "env") id="env-error"/>
            </div>
            <div class="form-actions">
                <a class="btn btn-ghost" href="/servers/new?step=1">"Back"</a>
                <button type="submit" class="btn btn-primary">"Next: review"</button>
            </div>
        </ActionForm>
    }
    .into_any()
}

#[component]
fn ReviewStep(draft: WizardDraft) -> impl IntoView {
    let create = ServerAction::<WizardCreate>::new();
    let reset = ServerAction::<WizardReset>::new();
    let value = create.value();
    let pending = create.pending();
    if !draft.basics_done || !draft.access_done {
        return view! { <MissingStep step=if draft.basics_done { 2 } else { 1 }/> }.into_any();
    }
    let source = if draft.source_kind == "remote" {
        format!(
            "Remote ({}): {}",
            if draft.remote_transport == "sse" {
                "HTTP+SSE"
            } else {
                "Streamable HTTP"
            },
            draft.url
        )
    } else {
        format!(
            "Command ({}): {}",
            if draft.command_transport == "http" {
                "HTTP"
            } else {
                "stdio"
            },
            draft.command_line
        )
    };
    let env_names: Vec<String> = draft
        .env
        .lines()
        .filter_map(|l| {
            l.trim_start()
                .split_once('=')
                .map(|(n, _)| n.trim().to_owned())
        })
        .filter(|n| !n.is_empty() && !n.starts_with('#'))
        .collect();
    view! {
        <div class="review">
            <section class="card">
                <header class="card-header"><h2>"Basic info"</h2><a href="/servers/new?step=1">"Edit"</a></header>
                <dl class="facts">
                    <dt>"Name"</dt><dd>{draft.name.clone()}</dd>
                    <dt>"URL name"</dt><dd class="mono">{if draft.slug.is_empty() { "(from the name)".to_owned() } else { draft.slug.clone() }}</dd>
                    <dt>"Description"</dt><dd>{if draft.description.is_empty() { "—".to_owned() } else { draft.description.clone() }}</dd>
                    <dt>"Source"</dt><dd class="mono">{source}</dd>
                </dl>
            </section>
            <section class="card">
                <header class="card-header"><h2>"Authentication & environment"</h2><a href="/servers/new?step=2">"Edit"</a></header>
                <dl class="facts">
                    <dt>"Authentication"</dt><dd>"No authentication (fixed after creation)"</dd>
                    <dt>"Environment variables"</dt>
                    <dd>{if env_names.is_empty() { "None".to_owned() } else { env_names.join(", ") }}</dd>
                </dl>
            </section>
            <ActionForm action=create attr:class="form-actions">
                <FieldError message=form_error(value, &[]) id="create-error"/>
                <button type="submit" class="btn btn-primary" disabled=move || pending.get()>
                    {move || if pending.get() { "Creating…" } else { "Create server" }}
                </button>
            </ActionForm>
            <ActionForm action=reset attr:class="form-actions">
                <button type="submit" class="btn btn-ghost">"Discard this draft"</button>
            </ActionForm>
        </div>
    }
    .into_any()
}

#[component]
fn MissingStep(step: u8) -> impl IntoView {
    view! {
        <div class="card">
            <p>"This step needs the earlier ones first."</p>
            <a class="btn btn-primary" href=format!("/servers/new?step={step}")>{format!("Go to step {step}")}</a>
        </div>
    }
}
