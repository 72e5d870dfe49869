//! Small pieces every page is built from: headers, alerts, empty states, form fields.
//! They render complete HTML on the server and only add behaviour once the bundle hydrates.

mod widgets;

use leptos::prelude::*;

use crate::error::AppError;
pub use widgets::*;

/// `true` once the browser bundle has hydrated the page. Controls that need JavaScript start
/// hidden so a page without it never shows a button that does nothing.
pub fn use_hydrated() -> ReadSignal<bool> {
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    hydrated
}

#[component]
pub fn PageHeader(
    #[prop(into)] title: String,
    #[prop(optional, into)] subtitle: Option<String>,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <header class="page-header">
            <div>
                <h1>{title}</h1>
                {subtitle.map(|s| view! { <p class="page-subtitle">{s}</p> })}
            </div>
            <div class="page-actions">{children.map(|c| c())}</div>
        </header>
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AlertKind {
    Info,
    Success,
    Warning,
    Error,
}

#[component]
pub fn Alert(kind: AlertKind, children: Children) -> impl IntoView {
    let (class, role) = match kind {
        AlertKind::Info => ("alert alert-info", "status"),
        AlertKind::Success => ("alert alert-success", "status"),
        AlertKind::Warning => ("alert alert-warning", "alert"),
        AlertKind::Error => ("alert alert-error", "alert"),
    };
    view! { <div class=class role=role>{children()}</div> }
}

/// Shows an error from a server function as a page-level message, and gives the HTTP response
/// the matching status when it is rendered on the server.
#[component]
pub fn ErrorNotice(error: AppError) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(error.status());
    }
    let hint = match &error {
        AppError::Unauthenticated => Some(view! { <a href="/login">"Sign in"</a> }.into_any()),
        AppError::Forbidden | AppError::NotFound(_) => {
            Some(view! { <a href="/">"Back to the start page"</a> }.into_any())
        }
        _ => None,
    };
    view! {
        <div class="error-notice">
            <Alert kind=AlertKind::Error>
                <p>{error.to_string()}</p>
                {hint}
            </Alert>
        </div>
    }
}

/// Adds one to `version` each time `action` succeeds, so resources keyed on it read again
/// (with JavaScript a form does not reload the page). A failed action leaves the page as it
/// is, so its error stays on screen.
pub fn bump_on_success<S>(action: ServerAction<S>, version: RwSignal<u32>)
where
    S: leptos::server_fn::ServerFn + Send + Sync + Clone + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    let value = action.value();
    Effect::watch(
        move || action.version().get(),
        move |_, _, _| {
            if value.with_untracked(|v| matches!(v, Some(Ok(_)))) {
                version.update(|n| *n += 1);
            }
        },
        false,
    );
}

/// Error for `field` from the last submission of a form's action.
pub fn field_error<T, V>(value: V, field: &'static str) -> Signal<Option<String>>
where
    V: With<Value = Option<Result<T, AppError>>> + Clone + Send + Sync + 'static,
{
    Signal::derive(move || value.with(|v| v.as_ref()?.as_ref().err()?.for_field(field)))
}

/// Error from the last submission that belongs to no field in particular.
pub fn form_error<T, V>(value: V, fields: &'static [&'static str]) -> Signal<Option<String>>
where
    V: With<Value = Option<Result<T, AppError>>> + Clone + Send + Sync + 'static,
{
    Signal::derive(move || {
        value.with(|v| {
            let err = v.as_ref()?.as_ref().err()?;
            match err {
                AppError::Invalid { field: Some(f), .. } if fields.contains(&f.as_str()) => None,
                other => Some(other.to_string()),
            }
        })
    })
}

/// What a list shows when it has nothing in it, with the action that fills it.
#[component]
pub fn EmptyState(
    #[prop(into)] title: String,
    #[prop(into)] body: String,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    view! {
        <div class="empty-state">
            <h2>{title}</h2>
            <p>{body}</p>
            {children.map(|c| c())}
        </div>
    }
}

/// The message under a form field, announced to screen readers.
#[component]
pub fn FieldError(
    #[prop(into)] message: Signal<Option<String>>,
    #[prop(into)] id: String,
) -> impl IntoView {
    view! {
        <Show when=move || message.get().is_some()>
            <p class="field-error" id=id.clone() role="alert">{move || message.get()}</p>
        </Show>
    }
}

/// A password input with a Show/Hide toggle that appears once JavaScript is running.
#[component]
pub fn PasswordField(
    #[prop(into)] id: String,
    #[prop(into)] name: String,
    #[prop(into)] label: String,
    #[prop(into)] autocomplete: String,
    #[prop(into, optional)] error: Signal<Option<String>>,
    #[prop(optional)] autofocus: bool,
) -> impl IntoView {
    let hydrated = use_hydrated();
    let (visible, set_visible) = signal(false);
    let error_id = format!("{id}-error");
    let described_by = {
        let error_id = error_id.clone();
        move || error.get().map(|_| error_id.clone())
    };
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <div class="password-input">
                <input
                    id=id.clone()
                    name=name
                    type=move || if visible.get() { "text" } else { "password" }
                    autocomplete=autocomplete
                    required
                    autofocus=autofocus
                    aria-invalid=move || error.get().is_some().then_some("true")
                    aria-describedby=described_by
                />
                <button
                    type="button"
                    class="btn btn-ghost btn-small password-toggle"
                    hidden=move || !hydrated.get()
                    aria-controls=id
                    aria-pressed=move || visible.get().to_string()
                    on:click=move |_| set_visible.update(|v| *v = !*v)
                >
                    {move || if visible.get() { "Hide" } else { "Show" }}
                </button>
            </div>
            <FieldError message=error id=error_id/>
        </div>
    }
}
