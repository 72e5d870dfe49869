//! Builds the application: the state every handler shares and the router that serves the
//! dashboard, its server functions and the operational endpoints. Binding port 0 works, which
//! is how the tests run many apps side by side.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    Router, extract::FromRef, middleware::from_fn_with_state, routing::get, serve::ListenerExt,
};
use leptos::{config::LeptosOptions, prelude::*};
use leptos_axum::{LeptosRoutes, generate_route_list};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::{
    accounts,
    activity::recorder::{ActivityRecorder, RecorderSettings},
    app::{App, shell},
    changes::ChangeFeed,
    config::Config,
    crypto::SecretBox,
    error::AppError,
    gateway::{self, Gateway},
    http::{csrf, headers, health, server_fn_status},
};

pub mod host;
mod serve;

/// What every handler and server function can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub config: Arc<Config>,
    pub leptos_options: LeptosOptions,
    pub secrets: SecretBox,
    pub changes: ChangeFeed,
    pub gateway: Gateway,
}

impl AppState {
    /// The state, from inside a server function or a page being rendered.
    pub fn from_context() -> Result<Self, AppError> {
        use_context::<AppState>()
            .ok_or_else(|| AppError::internal("request context", "no app state"))
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl FromRef<AppState> for PgPool {
    fn from_ref(state: &AppState) -> Self {
        state.pool.clone()
    }
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Binds `config.addr` and assembles the app on an already migrated database.
    pub async fn build(config: Config, pool: PgPool) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("listening on {}", config.addr))?;
        Self::with_listener(listener, config, pool).await
    }

    /// Assembles the app on a listener bound by the caller (tests bind port 0 first, so the
    /// public URL can name the real port).
    pub async fn with_listener(
        listener: TcpListener,
        config: Config,
        pool: PgPool,
    ) -> anyhow::Result<Self> {
        let local_addr = listener.local_addr()?;
        let leptos_options = LeptosOptions::builder()
            .output_name("gatehouse")
            .site_root(config.site_root.to_string_lossy().into_owned())
            .site_pkg_dir("pkg")
            .site_addr(local_addr)
            .env(leptos::config::Env::PROD)
            .build();
        let secrets = SecretBox::load(config.secret_key.as_ref(), &config.data_dir)?;
        let changes = ChangeFeed::listen(pool.clone()).await?;
        let mut recorder_settings = RecorderSettings::new(&config.data_dir);
        recorder_settings.memory_rows = config.activity_buffer_rows;
        let recorder = ActivityRecorder::start(pool.clone(), recorder_settings);
        let mut gateway_settings = gateway::Settings::new(&config.public_url);
        gateway_settings.max_logged_output_bytes = config.activity_output_bytes;
        let gateway = Gateway::new(
            pool.clone(),
            secrets.clone(),
            &changes,
            recorder,
            gateway_settings,
        )?;
        let state = AppState {
            pool,
            config: Arc::new(config),
            leptos_options,
            secrets,
            changes,
            gateway,
        };
        let router = router(state.clone());
        Ok(Application {
            listener,
            router,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        spawn_maintenance(self.state.pool.clone());
        // Streamed answers (SSE) are written in small pieces; without TCP_NODELAY, Nagle's
        // algorithm holds each back for the peer's delayed ACK, some 40 ms a call.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(error = %err, "could not set TCP_NODELAY");
            }
        });
        serve::serve(listener, self.router, shutdown).await;
        // Requests are drained; stop the upstream processes and write the last activity rows.
        self.state.gateway.shutdown().await;
        Ok(())
    }
}

fn router(state: AppState) -> Router {
    let pool = state.pool.clone();
    let options = state.leptos_options.clone();
    let dashboard = Router::new()
        .merge(crate::api::router())
        .merge(crate::activity::routes::router())
        .merge(crate::oauth::router())
        .leptos_routes_with_context(
            &state,
            generate_route_list(App),
            || (),
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn(server_fn_status::fix_status))
        .layer(from_fn_with_state(
            pool.clone(),
            accounts::session::load_current_user,
        ))
        .layer(accounts::session::layer(
            pool.clone(),
            state.config.is_https(),
        ))
        .with_state(state.clone());

    let mut app = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz).with_state(pool))
        .merge(state.gateway.router())
        .merge(dashboard)
        .layer(from_fn_with_state(
            csrf::AllowedOrigin(state.config.public_origin()),
            csrf::protect,
        ));
    for layer in headers::layers() {
        app = app.layer(layer);
    }
    app.layer(TraceLayer::new_for_http())
}

/// Housekeeping that keeps tables small: expired sessions and old sign-in attempts.
fn spawn_maintenance(pool: PgPool) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let sessions = sqlx::query("DELETE FROM sessions WHERE expiry_date < now()")
                .execute(&pool)
                .await;
            let attempts = accounts::throttle::prune(&pool).await;
            let oauth = crate::oauth::db::prune(&pool).await;
            for result in [sessions.map(|_| ()), attempts.map(|_| ()), oauth] {
                if let Err(err) = result {
                    tracing::warn!(error = %err, "housekeeping failed; will retry");
                }
            }
        }
    });
}
