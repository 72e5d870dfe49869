//! The activity recorder: the gateway hands it one [`CallRecord`] when a call starts and one
//! when it ends, and goes on. A single writer thread batches rows (at most 50 ms or 500 rows) into
//! one upsert keyed by call id, so retries are harmless and a finished row never goes back to
//! `in_progress`. When Postgres is unreachable, rows wait in memory up to a bound, then in a
//! spill file in the data directory; they are written when Postgres is back, and at shutdown
//! whatever could not be written is spilled. No row is dropped.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::sync::{Notify, mpsc, oneshot};
use uuid::Uuid;

use super::CallStatus;

mod spill;
mod write;

use write::write_batch;

/// One tool call as it is known at a moment: started (`in_progress`) or finished. Input and
/// output are JSON text, serialised once on the request path and parsed by Postgres. A call
/// shown as running sends its input with its start record only; its end record leaves it out.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CallRecord {
    pub id: Uuid,
    pub server_id: Uuid,
    pub deployment_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub client_name: Option<String>,
    pub client_version: Option<String>,
    pub tool_name: String,
    pub input: Option<Arc<str>>,
    pub output: Option<String>,
    pub output_truncated: bool,
    pub status: CallStatus,
    pub error: Option<String>,
    pub latency_ms: Option<i32>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// Limits of the recorder; the defaults suit production, tests shrink them.
#[derive(Clone, Debug)]
pub struct RecorderSettings {
    pub batch_rows: usize,
    pub batch_delay: Duration,
    /// Rows kept in memory while Postgres is unreachable before they go to the spill file,
    /// counted by [`CallRecord::weight`]: a row with a large input or output counts as the
    /// many small ones its memory would hold.
    pub memory_rows: usize,
    pub spill_path: PathBuf,
}

impl RecorderSettings {
    pub fn new(data_dir: &Path) -> Self {
        RecorderSettings {
            batch_rows: 500,
            batch_delay: Duration::from_millis(50),
            memory_rows: 50_000,
            spill_path: data_dir.join("activity-spill.jsonl"),
        }
    }

    /// Where the spill file is moved while its rows are replayed.
    pub fn replay_path(&self) -> PathBuf {
        self.spill_path.with_extension("jsonl.replaying")
    }
}

/// What the writer is asked besides writing rows.
enum Control {
    Flush(oneshot::Sender<()>),
    /// Write (or spill) everything and stop; later rows are spilled by their senders.
    Stop(oneshot::Sender<()>),
}

/// Rows on their way to the writer. A sender appends under a short lock and wakes the writer
/// only when the row is the first since the writer last looked, and again every `wake_every`
/// rows: one wake-up per batch instead of one per row. Each wake-up is a syscall on the request
/// path and, with every core busy, a context switch in the middle of someone's call
/// (docs/PERFORMANCE.md). The periodic wake-ups let the writer hold the memory bound while it
/// waits on Postgres.
struct Inbox {
    state: std::sync::Mutex<InboxState>,
    ready: Notify,
    wake_every: usize,
}

#[derive(Default)]
struct InboxState {
    rows: Vec<CallRecord>,
    /// The rows' total [`CallRecord::weight`].
    weight: usize,
    /// The writer has stopped (or never started): senders spill their rows themselves.
    closed: bool,
}

impl Inbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, InboxState> {
        // A panic while holding the lock cannot leave the rows half-changed.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn weight(&self) -> usize {
        self.lock().weight
    }

    fn take(&self) -> Vec<CallRecord> {
        let mut state = self.lock();
        state.weight = 0;
        std::mem::take(&mut state.rows)
    }

    /// Refuses further rows and hands over the ones still here.
    fn close(&self) -> Vec<CallRecord> {
        let mut state = self.lock();
        state.closed = true;
        state.weight = 0;
        std::mem::take(&mut state.rows)
    }
}

/// The handle the gateway holds. Cloning is cheap.
#[derive(Clone)]
pub struct ActivityRecorder {
    inbox: Arc<Inbox>,
    control: mpsc::UnboundedSender<Control>,
    /// Resolves when the writer thread has finished.
    stopped: Arc<tokio::sync::Mutex<Option<oneshot::Receiver<()>>>>,
    /// Where a row goes that arrives after the writer stopped (a call finishing during
    /// shutdown); the next start replays it.
    spill_path: Arc<Path>,
}

impl ActivityRecorder {
    /// Starts the writer on a thread of its own, with its own connections to `pool`'s
    /// database: encoding a batch and talking to Postgres never take a gateway worker's time.
    pub fn start(pool: PgPool, settings: RecorderSettings) -> Self {
        let (control, control_rx) = mpsc::unbounded_channel();
        let inbox = Arc::new(Inbox {
            state: std::sync::Mutex::default(),
            ready: Notify::new(),
            wake_every: settings.batch_rows.min(settings.memory_rows).max(1),
        });
        let spill_path: Arc<Path> = Arc::from(settings.spill_path.as_path());
        let options = (*pool.connect_options()).clone();
        let (finished, finished_rx) = oneshot::channel();
        let writer_inbox = inbox.clone();
        let spawned = std::thread::Builder::new()
            .name("activity-writer".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a current-thread runtime builds");
                runtime.block_on(async move {
                    let pool = sqlx::postgres::PgPoolOptions::new()
                        .max_connections(2)
                        .acquire_timeout(Duration::from_secs(10))
                        .connect_lazy_with(options);
                    let writer = Writer {
                        pool,
                        stopping: false,
                        pending: Vec::new(),
                        settings,
                        backoff: Duration::from_millis(100),
                    };
                    writer.run(writer_inbox, control_rx).await;
                });
                let _ = finished.send(());
            });
        if let Err(err) = spawned {
            tracing::error!(error = %err, "could not start the activity writer thread; rows go to the spill file");
            inbox.close();
        }
        ActivityRecorder {
            inbox,
            control,
            stopped: Arc::new(tokio::sync::Mutex::new(Some(finished_rx))),
            spill_path,
        }
    }

    /// Queues a record without waiting.
    pub fn record(&self, record: CallRecord) {
        let weight = record.weight();
        let queued = {
            let mut state = self.inbox.lock();
            if state.closed {
                Err(record)
            } else {
                state.rows.push(record);
                state.weight += weight;
                Ok((state.weight - weight, state.weight))
            }
        };
        let every = self.inbox.wake_every;
        match queued {
            // The first row since the writer looked, and each time another `wake_every` of
            // weight has come in.
            Ok((before, now)) if before == 0 || now / every > before / every => {
                self.inbox.ready.notify_one()
            }
            Ok(_) => {}
            Err(record) => {
                if let Err(err) = spill::append(&self.spill_path, std::slice::from_ref(&record)) {
                    tracing::error!(call = %record.id, error = %err, "an activity row arrived after shutdown and could not be spilled");
                }
            }
        }
    }

    /// Waits until everything queued so far has been written (or spilled).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.control.send(Control::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }

    /// Stops the writer after it has written or spilled every queued row (graceful shutdown).
    pub async fn shutdown(&self) {
        let handle = self.stopped.lock().await.take();
        if let Some(handle) = handle {
            let (done, wait) = oneshot::channel();
            if self.control.send(Control::Stop(done)).is_ok() {
                let _ = wait.await;
            }
            let _ = handle.await;
        }
    }
}

struct Writer {
    pool: PgPool,
    stopping: bool,
    /// Rows waiting to be written, oldest first.
    pending: Vec<CallRecord>,
    settings: RecorderSettings,
    backoff: Duration,
}

impl Writer {
    async fn run(mut self, inbox: Arc<Inbox>, mut control: mpsc::UnboundedReceiver<Control>) {
        // Rows a previous run could not write come first.
        self.replay_spill(&inbox).await;
        loop {
            let mut waiters = Vec::new();
            // Nothing to do: sleep until the first row or a request.
            if self.pending.is_empty() && inbox.weight() == 0 {
                tokio::select! {
                    _ = inbox.ready.notified() => {}
                    message = control.recv() => self.accept(message, &mut waiters),
                }
            }
            // Gather for up to the batch delay, or until a batch is full or someone waits.
            let deadline = tokio::time::Instant::now() + self.settings.batch_delay;
            while waiters.is_empty()
                && !self.stopping
                && weight_of(&self.pending) + inbox.weight() < self.settings.batch_rows
            {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = inbox.ready.notified() => {}
                    message = control.recv() => self.accept(message, &mut waiters),
                }
            }
            if self.stopping {
                // Nothing more comes in; what is still queued is written or spilled.
                self.pending.extend(inbox.close());
                if !self.write_pending(&inbox).await {
                    self.spill_all();
                }
            } else {
                self.pending.extend(inbox.take());
                if self.write_pending(&inbox).await {
                    self.backoff = Duration::from_millis(100);
                    if self.has_spilled() {
                        self.replay_spill(&inbox).await;
                    }
                } else {
                    self.spill_overflow();
                    if !waiters.is_empty() {
                        // Someone waits for an answer: what cannot reach Postgres now goes to disk.
                        self.spill_all();
                    } else {
                        self.bounded(&inbox, tokio::time::sleep(self.backoff)).await;
                        self.backoff = (self.backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
            for waiter in waiters {
                let _ = waiter.send(());
            }
            if self.stopping {
                break;
            }
        }
    }

    /// Takes a request; a closed channel (every handle dropped) means stop.
    fn accept(&mut self, message: Option<Control>, waiters: &mut Vec<oneshot::Sender<()>>) {
        match message {
            Some(Control::Flush(done)) => waiters.push(done),
            Some(Control::Stop(done)) => {
                self.stopping = true;
                waiters.push(done);
            }
            None => self.stopping = true,
        }
    }

    /// Writes every pending row, a batch at a time. Returns false when Postgres refused.
    async fn write_pending(&mut self, inbox: &Inbox) -> bool {
        let pool = self.pool.clone();
        while !self.pending.is_empty() {
            let mut take = 0;
            let mut weight = 0;
            for row in &self.pending {
                if !joins_batch(take, weight, row, self.settings.batch_rows) {
                    break;
                }
                take += 1;
                weight += row.weight();
            }
            let batch: Vec<CallRecord> = self.pending[..take].to_vec();
            match self.bounded(inbox, write_batch(&pool, &batch)).await {
                Ok(()) => {
                    self.pending.drain(..take);
                }
                Err(err) => {
                    tracing::warn!(error = %err, rows = self.pending.len(), "activity rows wait: Postgres unreachable");
                    return false;
                }
            }
        }
        true
    }

    /// Runs `work` (a write, or the pause between attempts) while holding the memory bound:
    /// when the rows that arrive meanwhile push the total past `memory_rows`, they go to the
    /// spill file at once. A write can take seconds while Postgres is away (connecting is
    /// retried until the pool's timeout), and the gateway does not stop making rows.
    /// Only newly arrived rows are spilled, so `pending` stays as the caller left it; the order
    /// rows reach the table in does not matter (see [`write_batch`]).
    async fn bounded<T>(&mut self, inbox: &Inbox, work: impl std::future::Future<Output = T>) -> T {
        tokio::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = inbox.ready.notified() => {
                    if weight_of(&self.pending) + inbox.weight() > self.settings.memory_rows {
                        let rows = inbox.take();
                        self.append_spill(&rows);
                    }
                }
            }
        }
    }
}

fn weight_of(rows: &[CallRecord]) -> usize {
    rows.iter().map(CallRecord::weight).sum()
}

/// Whether `row` joins a batch that holds `rows` rows of total `weight` so far. A batch is at
/// most `batch_rows` by weight, not only by count, so a batch of large inputs (up to 4 MiB
/// each) stays a few megabytes in memory and in its message to Postgres; a row heavier than
/// a whole batch goes alone.
fn joins_batch(rows: usize, weight: usize, row: &CallRecord, batch_rows: usize) -> bool {
    rows == 0 || weight + row.weight() <= batch_rows
}

/// How much memory a row holds, in rows of up to [`WEIGHT_UNIT`] bytes of text.
const WEIGHT_UNIT: usize = 4096;

impl CallRecord {
    /// The row's share of the memory bound: 1, plus 1 for each [`WEIGHT_UNIT`] of input,
    /// output and error text (a 256 KiB output weighs 65).
    pub fn weight(&self) -> usize {
        let text = self.input.as_deref().map_or(0, str::len)
            + self.output.as_deref().map_or(0, str::len)
            + self.error.as_deref().map_or(0, str::len);
        1 + text / WEIGHT_UNIT
    }
}

/// Caps serialised JSON at `limit` bytes. Larger text is replaced by
/// `{"truncated": true, "size": N, "preview": "<first bytes>"}`, itself within `limit`, and
/// reported as truncated.
pub fn cap_json(json: String, limit: usize) -> (String, bool) {
    if json.len() <= limit {
        return (json, false);
    }
    // The preview is a JSON string inside the marker, so it grows when escaped (quotes and
    // backslashes double, control characters take six bytes): cut it until the marker fits.
    let mut cut = limit;
    loop {
        while !json.is_char_boundary(cut) {
            cut -= 1;
        }
        let capped =
            serde_json::json!({ "truncated": true, "size": json.len(), "preview": &json[..cut] })
                .to_string();
        if capped.len() <= limit || cut == 0 {
            return (capped, true);
        }
        let shrunk = (cut as u128 * limit as u128 / capped.len() as u128) as usize;
        cut = shrunk.min(cut - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn small_documents_pass_whole_and_large_ones_are_cut_with_a_marker() {
        let (v, cut) = cap_json(r#"{"a":1}"#.to_owned(), 100);
        assert_eq!(v, r#"{"a":1}"#);
        assert!(!cut);
        let big = serde_json::json!({ "text": "é".repeat(1000) }).to_string();
        let (v, cut) = cap_json(big, 101);
        assert!(cut);
        assert!(v.len() <= 101, "{v}");
        let v: Value = serde_json::from_str(&v).unwrap();
        assert_eq!(v["truncated"], true);
        assert!(!v["preview"].as_str().unwrap().is_empty());
    }

    #[test]
    fn a_preview_that_grows_when_escaped_still_keeps_the_marker_within_the_cap() {
        let quotes = serde_json::json!({ "text": "\"\\\u{1}".repeat(10_000) }).to_string();
        let (v, cut) = cap_json(quotes, 1_000);
        assert!(cut);
        assert!(v.len() <= 1_000, "{} bytes", v.len());
        let v: Value = serde_json::from_str(&v).unwrap();
        assert!(v["preview"].as_str().unwrap().len() > 100);
    }
}
