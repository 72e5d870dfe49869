//! The signed-in frame: sidebar navigation filtered by role, the person and sign-out.
//! Someone signed out who opens a page here is sent to sign in and brought back after.

use leptos::{either::Either, prelude::*};
use leptos_router::{
    components::{A, Outlet, Redirect},
    hooks::use_location,
};

use super::MeResource;
use crate::accounts::{Me, SignOut, get_me};
use crate::ui::ErrorNotice;

/// One entry of the sidebar. Entries appear only once their feature exists, and only to the
/// roles that may use them.
struct NavItem {
    href: &'static str,
    label: &'static str,
    admin_only: bool,
    /// Highlighted only on its own page, not on the pages below it.
    exact: bool,
}

const NAV: &[NavItem] = &[
    NavItem {
        href: "/",
        label: "Home",
        admin_only: false,
        exact: true,
    },
    NavItem {
        href: "/servers",
        label: "Servers",
        admin_only: true,
        exact: false,
    },
    NavItem {
        href: "/activity",
        label: "Activity",
        admin_only: false,
        exact: false,
    },
    NavItem {
        href: "/groups",
        label: "Groups",
        admin_only: true,
        exact: false,
    },
    NavItem {
        href: "/users",
        label: "Users",
        admin_only: true,
        exact: false,
    },
    NavItem {
        href: "/audit",
        label: "Audit log",
        admin_only: true,
        exact: false,
    },
    NavItem {
        href: "/oauth-clients",
        label: "OAuth clients",
        admin_only: true,
        exact: false,
    },
    NavItem {
        href: "/connections",
        label: "Connections",
        admin_only: false,
        exact: false,
    },
    NavItem {
        href: "/tokens",
        label: "Tokens",
        admin_only: false,
        exact: false,
    },
    NavItem {
        href: "/profile",
        label: "Profile",
        admin_only: false,
        exact: false,
    },
];

/// The signed-in person, loaded once per page by the layout.
pub fn use_me() -> MeResource {
    expect_context::<MeResource>()
}

#[component]
pub fn SignedIn() -> impl IntoView {
    let me: MeResource = Resource::new(|| (), |_| get_me());
    provide_context(me);
    let location = use_location();
    let sign_in_url = move || {
        let here = format!("{}{}", location.pathname.get(), location.search.get());
        let here = if here.starts_with('?') {
            format!("/{here}")
        } else {
            here
        };
        format!(
            "/login?next={}",
            percent_encoding::utf8_percent_encode(&here, percent_encoding::NON_ALPHANUMERIC)
        )
    };

    view! {
        <div class="app">
            <aside class="sidebar">
                <a class="brand" href="/">
                    <span class="brand-mark" aria-hidden="true"></span>
                    "Gatehouse"
                </a>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        match me.await {
                            Ok(Some(me)) => Either::Left(view! { <Navigation me/> }),
                            Ok(None) => Either::Right(Either::Left(view! { <Redirect path=sign_in_url()/> })),
                            Err(error) => Either::Right(Either::Right(view! { <ErrorNotice error/> })),
                        }
                    })}
                </Suspense>
            </aside>
            <main class="content" id="main">
                <Outlet/>
            </main>
        </div>
    }
}

#[component]
fn Navigation(me: Me) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    let items = NAV
        .iter()
        .filter(|item| !item.admin_only || me.role.is_admin())
        .map(|item| {
            view! {
                <li>
                    <A href=item.href exact=item.exact>{item.label}</A>
                </li>
            }
        })
        .collect_view();
    view! {
        <nav aria-label="Main">
            <ul class="nav-list">{items}</ul>
        </nav>
        <div class="sidebar-footer">
            <div class="whoami">
                <span class="whoami-name">{me.name.clone()}</span>
                <span class="whoami-email">{me.email.clone()}</span>
                <span class="badge badge-neutral">{me.role.label()}</span>
            </div>
            <ActionForm action=sign_out>
                <button type="submit" class="btn btn-ghost btn-block">"Sign out"</button>
            </ActionForm>
        </div>
    }
}
