//! Recording an audit event. Every write that changes configuration records one in the same
//! transaction.

use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

/// Who made a change: a signed-in person, or the command line on the host.
#[derive(Clone, Debug)]
pub enum Actor {
    User { id: Uuid, email: String },
    Cli,
    System,
}

impl Actor {
    fn parts(&self) -> (Option<Uuid>, String) {
        match self {
            Actor::User { id, email } => (Some(*id), email.clone()),
            Actor::Cli => (None, "command line".to_owned()),
            Actor::System => (None, "Gatehouse".to_owned()),
        }
    }
}

pub async fn record(
    ex: impl PgExecutor<'_>,
    actor: &Actor,
    kind: &str,
    subject: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> sqlx::Result<()> {
    let (actor_id, actor_label) = actor.parts();
    sqlx::query(
        "INSERT INTO audit_events (actor_id, actor_label, kind, subject, before, after) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(actor_id)
    .bind(actor_label)
    .bind(kind)
    .bind(subject)
    .bind(before)
    .bind(after)
    .execute(ex)
    .await
    .map(|_| ())
}
