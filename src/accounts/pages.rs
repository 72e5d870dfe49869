//! The sign-in page and the signed-in person's profile.

use leptos::{either::Either, prelude::*, server_fn::ServerFn};
use leptos_meta::Title;
use leptos_router::{components::Redirect, hooks::use_query_map};

use super::{ChangePassword, MIN_PASSWORD_CHARS, SignIn, get_me};
use crate::{
    app::use_me,
    ui::{Alert, AlertKind, FieldError, PageHeader, PasswordField, field_error, form_error},
};

#[component]
pub fn LoginPage() -> impl IntoView {
    let me = OnceResource::new(get_me());
    let action = ServerAction::<SignIn>::new();
    let value = action.value();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let pending = action.pending();
    let general = form_error(value, &["email", "password"]);
    let email_error = field_error(value, "email");
    let password_error = field_error(value, "password");
    // Signing in on the way to an OAuth authorization must end in a full page load there (it is
    // served outside the dashboard's router), which a plain form post gives. Dashboard pages
    // are reached in place.
    let leaves_app = query
        .read_untracked()
        .get("next")
        .is_some_and(|next| next.starts_with("/oauth/"));
    let sign_in_url = <SignIn as ServerFn>::PATH;
    let fields = move || {
        view! {
            <FieldError message=general id="sign-in-error"/>
            <input type="hidden" name="next" value=next/>
            <div class="field">
                <label for="email">"Email"</label>
                <input
                    id="email"
                    name="email"
                    type="email"
                    autocomplete="username"
                    required
                    autofocus
                    aria-invalid=move || email_error.get().is_some().then_some("true")
                />
                <FieldError message=email_error id="email-error"/>
            </div>
            <PasswordField
                id="password"
                name="password"
                label="Password"
                autocomplete="current-password"
                error=password_error
            />
            <button type="submit" class="btn btn-primary btn-block" disabled=move || pending.get()>
                {move || if pending.get() { "Signing in…" } else { "Sign in" }}
            </button>
        }
    };

    view! {
        <Title text="Sign in · Gatehouse"/>
        <main class="auth-page">
            <Suspense>
                {move || Suspend::new(async move {
                    match me.await {
                        Ok(Some(_)) => Either::Left(view! { <Redirect path=crate::accounts::safe_next(Some(&next()))/> }),
                        _ => Either::Right(()),
                    }
                })}
            </Suspense>
            <div class="auth-card">
                <div class="brand brand-large">
                    <span class="brand-mark" aria-hidden="true"></span>
                    "Gatehouse"
                </div>
                <h1>"Sign in"</h1>
                <p class="muted">"Use the email and password your Gatehouse admin gave you."</p>
                {if leaves_app {
                    Either::Left(view! {
                        <form method="post" action=sign_in_url class="form" novalidate>
                            {fields()}
                        </form>
                    })
                } else {
                    Either::Right(view! {
                        <ActionForm action=action attr:class="form" attr:novalidate=true>
                            {fields()}
                        </ActionForm>
                    })
                }}
            </div>
        </main>
    }
}

#[component]
pub fn ProfilePage() -> impl IntoView {
    let me = use_me();
    let action = ServerAction::<ChangePassword>::new();
    let value = action.value();
    let query = use_query_map();
    let changed = move || query.read().get("password").as_deref() == Some("changed");
    let pending = action.pending();
    let general = form_error(
        value,
        &["current_password", "new_password", "confirm_password"],
    );

    view! {
        <Title text="Profile · Gatehouse"/>
        <PageHeader title="Profile" subtitle="Your account and how you sign in."/>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                me.await.ok().flatten().map(|me| view! {
                    <section class="card">
                        <h2>"Account"</h2>
                        <dl class="facts">
                            <dt>"Name"</dt><dd>{me.name}</dd>
                            <dt>"Email"</dt><dd>{me.email}</dd>
                            <dt>"Role"</dt><dd>{me.role.label()}</dd>
                            <dt>"Permission group"</dt><dd>{me.group_name}</dd>
                        </dl>
                    </section>
                })
            })}
        </Suspense>
        <section class="card">
            <h2>"Change password"</h2>
            <Show when=changed>
                <Alert kind=AlertKind::Success>"Your password was changed."</Alert>
            </Show>
            <ActionForm action=action attr:class="form form-narrow" attr:novalidate=true>
                <FieldError message=general id="password-form-error"/>
                <PasswordField
                    id="current_password"
                    name="current_password"
                    label="Current password"
                    autocomplete="current-password"
                    error=field_error(value, "current_password")
                />
                <PasswordField
                    id="new_password"
                    name="new_password"
                    label=format!("New password (at least {MIN_PASSWORD_CHARS} characters)")
                    autocomplete="new-password"
                    error=field_error(value, "new_password")
                />
                <PasswordField
                    id="confirm_password"
                    name="confirm_password"
                    label="Repeat the new password"
                    autocomplete="new-password"
                    error=field_error(value, "confirm_password")
                />
                <button type="submit" class="btn btn-primary" disabled=move || pending.get()>
                    {move || if pending.get() { "Saving…" } else { "Change password" }}
                </button>
            </ActionForm>
        </section>
    }
}
