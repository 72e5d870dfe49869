//! The spill file: where activity rows go when Postgres cannot take them and memory is full,
//! and how they come back. One JSON document per line, appended and synced; replayed a batch at
//! a time once Postgres answers again.

use std::{
    io::{BufRead, Write},
    path::Path,
};

use super::{CallRecord, Inbox, Writer, joins_batch, weight_of, write_batch};

impl Writer {
    /// Keeps at most `memory_rows` in memory; older rows go to the spill file.
    /// Moves the oldest pending rows to disk until the rest fit the memory bound.
    pub(super) fn spill_overflow(&mut self) {
        let mut weight = weight_of(&self.pending);
        let mut excess = 0;
        while weight > self.settings.memory_rows && excess < self.pending.len() {
            weight -= self.pending[excess].weight();
            excess += 1;
        }
        if excess > 0 {
            let rows: Vec<CallRecord> = self.pending.drain(..excess).collect();
            self.append_spill(&rows);
        }
    }

    pub(super) fn spill_all(&mut self) {
        let rows = std::mem::take(&mut self.pending);
        self.append_spill(&rows);
    }

    pub(super) fn append_spill(&mut self, rows: &[CallRecord]) {
        if rows.is_empty() {
            return;
        }
        match append(&self.settings.spill_path, rows) {
            Ok(()) => {
                tracing::warn!(rows = rows.len(), path = %self.settings.spill_path.display(), "activity rows spilled to disk")
            }
            Err(err) => {
                // Nowhere left to put them: keep them in memory rather than lose them. They go
                // last, so a batch being written from the front of `pending` is undisturbed.
                tracing::error!(error = %err, "could not write the activity spill file; keeping rows in memory");
                self.pending.extend_from_slice(rows);
            }
        }
    }

    /// Whether rows wait on disk.
    pub(super) fn has_spilled(&self) -> bool {
        self.settings.spill_path.exists() || self.settings.replay_path().exists()
    }

    /// Writes the spilled rows to Postgres, a batch at a time, holding the memory bound while it
    /// does. When Postgres refuses, what is not yet written stays on disk for the next try.
    ///
    /// The spill file is renamed aside first, so rows spilled during the replay start a new file
    /// instead of being removed with the old one; those are replayed in turn. A replay cut short
    /// leaves the renamed file to be taken up first next time (rows written twice are harmless:
    /// the upsert is idempotent).
    pub(super) async fn replay_spill(&mut self, inbox: &Inbox) {
        let replaying = self.settings.replay_path();
        loop {
            if !replaying.exists() {
                match std::fs::rename(&self.settings.spill_path, &replaying) {
                    Ok(()) => {}
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => return,
                    Err(err) => {
                        tracing::warn!(error = %err, "could not set the activity spill file aside for replay");
                        return;
                    }
                }
            }
            if !self.replay_file(&replaying, inbox).await {
                return;
            }
        }
    }

    /// Replays one set-aside spill file and removes it once every row is in.
    async fn replay_file(&mut self, path: &Path, inbox: &Inbox) -> bool {
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(err) => {
                tracing::warn!(error = %err, "opening the activity spill file");
                return false;
            }
        };
        let pool = self.pool.clone();
        // A read error ends the file where it happened (as a torn last line would); a line that
        // is not a row is skipped.
        let mut rows = std::io::BufReader::new(file)
            .lines()
            .map_while(|line| {
                line.inspect_err(|err| tracing::warn!(error = %err, "reading the activity spill file"))
                    .ok()
            })
            .filter_map(|line| {
                serde_json::from_str::<CallRecord>(&line)
                    .inspect_err(|err| tracing::warn!(error = %err, "skipping an unreadable spilled activity row"))
                    .ok()
            })
            .peekable();
        let mut replayed = 0;
        loop {
            let mut batch = Vec::new();
            let mut weight = 0;
            while let Some(row) =
                rows.next_if(|row| joins_batch(batch.len(), weight, row, self.settings.batch_rows))
            {
                weight += row.weight();
                batch.push(row);
            }
            if batch.is_empty() {
                break;
            }
            if let Err(err) = self.bounded(inbox, write_batch(&pool, &batch)).await {
                tracing::warn!(error = %err, "replaying spilled activity rows failed; will retry");
                return false;
            }
            replayed += batch.len();
        }
        if let Err(err) = std::fs::remove_file(path) {
            tracing::warn!(error = %err, "removing the replayed activity spill file");
            return false;
        }
        tracing::info!(rows = replayed, "replayed spilled activity rows");
        true
    }
}

/// Appends rows to the spill file, one JSON document per line, and syncs it.
pub(super) fn append(path: &Path, rows: &[CallRecord]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // One write of whole lines: appends from the writer and from threads recording after
    // shutdown then land one after the other, never interleaved mid-line (a buffered writer
    // would split a row larger than its buffer into several writes).
    let mut lines = Vec::new();
    for row in rows {
        serde_json::to_writer(&mut lines, row)?;
        lines.push(b'\n');
    }
    file.write_all(&lines)?;
    file.sync_data()
}
