//! Slows down password guessing: after a few failed sign-ins for one account (or many from one
//! address) further attempts are refused for a while, on every replica, without checking the
//! password at all.

use chrono::{Duration, Utc};
use sqlx::PgPool;
use std::net::IpAddr;

use crate::error::AppError;

const WINDOW_MINUTES: i64 = 15;
const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
const MAX_FAILURES_PER_ADDRESS: i64 = 30;

/// Refuses the attempt when the account or the address has failed too often recently.
/// Failures before the account's last successful sign-in do not count.
pub async fn check(pool: &PgPool, email: &str, ip: Option<IpAddr>) -> Result<(), AppError> {
    let since = Utc::now() - Duration::minutes(WINDOW_MINUTES);
    let (failures, oldest): (i64, Option<chrono::DateTime<Utc>>) = sqlx::query_as(
        "SELECT count(*), min(attempted_at) FROM sign_in_attempts a \
         WHERE lower(a.email) = lower($1) AND NOT a.succeeded AND a.attempted_at > $2 \
           AND a.attempted_at > coalesce((SELECT max(attempted_at) FROM sign_in_attempts s \
                WHERE lower(s.email) = lower($1) AND s.succeeded), '-infinity')",
    )
    .bind(email)
    .bind(since)
    .fetch_one(pool)
    .await?;
    let from_address: i64 = match ip {
        Some(ip) => {
            sqlx::query_scalar(
                "SELECT count(*) FROM sign_in_attempts \
                 WHERE client_ip = $1 AND NOT succeeded AND attempted_at > $2",
            )
            .bind(ip)
            .bind(since)
            .fetch_one(pool)
            .await?
        }
        None => 0,
    };
    if failures >= MAX_FAILURES_PER_ACCOUNT || from_address >= MAX_FAILURES_PER_ADDRESS {
        let unlock = oldest.unwrap_or_else(Utc::now) + Duration::minutes(WINDOW_MINUTES);
        let minutes = ((unlock - Utc::now()).num_seconds() as f64 / 60.0)
            .ceil()
            .max(1.0) as i64;
        let plural = if minutes == 1 { "" } else { "s" };
        return Err(AppError::TooManyRequests(format!(
            "Too many failed sign-in attempts. Try again in {minutes} minute{plural}."
        )));
    }
    Ok(())
}

pub async fn record(
    pool: &PgPool,
    email: &str,
    ip: Option<IpAddr>,
    succeeded: bool,
) -> Result<(), AppError> {
    sqlx::query("INSERT INTO sign_in_attempts (email, client_ip, succeeded) VALUES ($1, $2, $3)")
        .bind(email)
        .bind(ip)
        .bind(succeeded)
        .execute(pool)
        .await?;
    Ok(())
}

/// Forgets attempts older than a day; run periodically.
pub async fn prune(pool: &PgPool) -> sqlx::Result<u64> {
    sqlx::query("DELETE FROM sign_in_attempts WHERE attempted_at < now() - interval '1 day'")
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
}
