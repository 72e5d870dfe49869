//! The database: either the server named by `DATABASE_URL`, or the embedded private cluster.
//! Migrations live in `migrations/` and are compiled into the binary.

pub mod embedded;

use std::{path::Path, str::FromStr, time::Duration};

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use sqlx::{
    PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

pub use embedded::{Durability, EmbeddedPostgres};

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The database name Gatehouse uses inside its embedded cluster.
pub const EMBEDDED_DATABASE: &str = "gatehouse";

/// An open database, and the embedded cluster behind it when there is one.
pub struct Database {
    pub pool: PgPool,
    pub embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Connects to `database_url`, or starts the embedded cluster under `data_dir`.
    pub async fn open(
        database_url: Option<&SecretString>,
        data_dir: &Path,
    ) -> anyhow::Result<Self> {
        let (options, embedded) = match database_url {
            Some(url) => {
                let options = PgConnectOptions::from_str(url.expose_secret())
                    .context("DATABASE_URL is not a valid postgres:// URL")?;
                (options, None)
            }
            None => {
                let pg = EmbeddedPostgres::start(data_dir, EMBEDDED_DATABASE, Durability::Full)
                    .await
                    .context("starting the embedded Postgres")?;
                tracing::info!(url = %pg.url(EMBEDDED_DATABASE), "embedded Postgres is running");
                (pg.connect_options(EMBEDDED_DATABASE), Some(pg))
            }
        };
        let pool = pool_options(20)
            .connect_with(options)
            .await
            .context("connecting to Postgres")?;
        Ok(Database { pool, embedded })
    }

    /// Closes the pool, then stops the embedded cluster if this process started it.
    pub async fn close(self) -> anyhow::Result<()> {
        self.pool.close().await;
        if let Some(pg) = self.embedded {
            pg.stop().await?;
        }
        Ok(())
    }
}

/// Pool settings shared by the server and the tests.
pub fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
}

/// Applies pending migrations. Safe to run from several replicas at once (sqlx takes an
/// advisory lock).
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .context("applying database migrations")
}

/// Whether every migration this binary knows has been applied.
pub async fn is_migrated(pool: &PgPool) -> sqlx::Result<bool> {
    let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await?;
    Ok(applied.unwrap_or(0) >= latest)
}
