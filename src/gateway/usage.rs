//! When each token was last used, for the dashboard. Recorded in memory on the request path
//! and written in one statement every half minute, so using a token never waits on Postgres.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use sqlx::PgPool;
use uuid::Uuid;

pub struct TokenUsage {
    pool: PgPool,
    seen: Arc<Mutex<HashSet<Uuid>>>,
}

impl TokenUsage {
    pub fn start(pool: PgPool) -> Self {
        let usage = TokenUsage {
            pool,
            seen: Arc::default(),
        };
        let (pool, seen) = (usage.pool.clone(), usage.seen.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(30));
            loop {
                tick.tick().await;
                write(&pool, &seen).await;
            }
        });
        usage
    }

    pub fn touch(&self, token_id: Uuid) {
        self.seen.lock().expect("usage lock").insert(token_id);
    }

    pub async fn flush(&self) {
        write(&self.pool, &self.seen).await;
    }
}

async fn write(pool: &PgPool, seen: &Mutex<HashSet<Uuid>>) {
    let ids: Vec<Uuid> = seen.lock().expect("usage lock").drain().collect();
    if ids.is_empty() {
        return;
    }
    if let Err(err) = crate::tokens::db::touch(pool, &ids, chrono::Utc::now()).await {
        tracing::warn!(error = %err, "recording token use failed");
        seen.lock().expect("usage lock").extend(ids);
    }
}
