//! [`RedbStore`]: sessions on disk in one redb database, step by step.
//!
//! Every table is keyed by the session key (first tuple element where the
//! table holds many rows per key), and every value is UTF-8 JSON, so a
//! record can be read with any redb tool. Tables:
//!
//! | table            | key                    | value                                        |
//! |------------------|------------------------|----------------------------------------------|
//! | `schema`         | `"version"`            | `u64`, [`SCHEMA_VERSION`]                    |
//! | `meta`           | key                    | [`Meta`]: seq, epoch, summary, checkpoint seq, journal window, recent-id and chain counters |
//! | `checkpoints`    | key                    | `{"seq", "state"}`: the latest whole state   |
//! | `deltas`         | (key, seq)             | the `delta` payload exactly as it was sent   |
//! | `recent_events`  | (key, n)               | `{"id", "outcome"}`, n increasing            |
//! | `recent_chains`  | (key, n)               | `{"id", "outcome"}`, n increasing            |
//! | `pending_chains` | (key, chain id)        | `{"no", "chain"}`, `no` the creation order    |
//! | `tasks`          | (key, task key)        | the input of a running restartable task      |
//!
//! A key's state is its checkpoint with every delta after it applied in seq
//! order. Deltas are kept from `min(journal start, checkpoint seq + 1)` up
//! to the key's seq: the ones needed to rebuild the state, and the journal
//! for replay (bounded like `session::journal`); older ones are deleted in
//! the transaction that makes them unneeded.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use redb::{
    Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable, Table, TableDefinition,
    WriteTransaction,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use super::{SavedChain, SavedDelta, SavedSession, SavedTask, Step, Store, StoreError};
use crate::ids::{Epoch, SessionKey};
use crate::session::Outcome;

/// The layout written by this version; a database with another one is
/// refused at open.
const SCHEMA_VERSION: u64 = 1;

const SCHEMA: TableDefinition<&str, u64> = TableDefinition::new("schema");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const CHECKPOINTS: TableDefinition<&str, &[u8]> = TableDefinition::new("checkpoints");
const DELTAS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("deltas");
const RECENT_EVENTS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("recent_events");
const RECENT_CHAINS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("recent_chains");
const PENDING_CHAINS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("pending_chains");
const TASKS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("tasks");

/// Options of a [`RedbStore`].
#[derive(Clone, Debug)]
pub struct RedbOptions {
    /// The database file; its parent directories are created at open.
    pub path: PathBuf,
    /// Deltas kept per key for replay, by count.
    pub journal_len: usize,
    /// Deltas kept per key for replay, by bytes of their payloads.
    pub journal_max_bytes: usize,
    /// Event ids, and separately chain ids, kept per key with their outcome.
    pub recent_events: usize,
    /// Whether each commit waits for fsync (`true`, strict) or not. With
    /// `false`, commits are [`Durability::None`] (redb 4 has only `None`
    /// and `Immediate`: a `None` commit survives no crash, not even of the
    /// process, until a later `Immediate` one), so a background thread
    /// makes them durable every [`RedbStore::RELAXED_SYNC_INTERVAL`]: a
    /// crash loses at most that much.
    pub fsync: bool,
}

/// Sessions on disk in one redb database (see the module docs for the
/// schema). Steps are appended as deltas ([`Store::append`]); a stopping
/// session is saved whole ([`Store::save`]).
pub struct RedbStore {
    options: RedbOptions,
    db: Arc<Database>,
    /// A non-durable commit was made since the last durable one.
    pending: Arc<AtomicBool>,
    /// Only with `fsync: false`; held for its `Drop`, which stops and joins
    /// the thread, so the database closes (and makes pending commits
    /// durable) when the store is dropped.
    _flusher: Option<Flusher>,
}

impl fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbStore")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The per-key record of `meta`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Meta {
    /// The key's seq.
    seq: u64,
    /// Its epoch; `None` if saved without one (then the journal is empty).
    epoch: Option<Epoch>,
    /// The app's summary.
    #[serde(default)]
    summary: Value,
    /// The seq of the row in `checkpoints`.
    checkpoint_seq: u64,
    /// First seq of the journal, meaningful when `journal_len > 0`; the
    /// journal is then `journal_from..=seq`, with no gap.
    journal_from: u64,
    /// Number of deltas in the journal.
    journal_len: u64,
    /// Bytes of the journal's payloads.
    journal_bytes: u64,
    /// Rows of `recent_events`: `first..next`.
    events: Span,
    /// Rows of `recent_chains`: `first..next`.
    chains: Span,
    /// The `no` of the next pending chain.
    next_pending: u64,
}

impl Meta {
    fn new(epoch: Option<Epoch>, seq: u64) -> Self {
        Self {
            seq,
            epoch,
            summary: Value::Null,
            checkpoint_seq: seq,
            journal_from: seq.saturating_add(1),
            journal_len: 0,
            journal_bytes: 0,
            events: Span::default(),
            chains: Span::default(),
            next_pending: 0,
        }
    }

    /// Empties the journal (its deltas stay if the rebuild needs them).
    fn clear_journal(&mut self) {
        self.journal_from = self.seq.saturating_add(1);
        self.journal_len = 0;
        self.journal_bytes = 0;
    }

    /// The lowest seq whose delta must be kept.
    fn keep_from(&self) -> u64 {
        let rebuild = self.checkpoint_seq.saturating_add(1);
        if self.journal_len > 0 {
            self.journal_from.min(rebuild)
        } else {
            rebuild
        }
    }
}

/// Row numbers `first..next` of a key in a recent-id table.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
struct Span {
    first: u64,
    next: u64,
}

#[derive(Serialize)]
struct CheckpointRef<'a> {
    seq: u64,
    state: &'a Value,
}

#[derive(Deserialize)]
struct Checkpoint {
    seq: u64,
    state: Value,
}

#[derive(Serialize)]
struct RecentRef<'a> {
    id: &'a str,
    outcome: &'a Outcome,
}

#[derive(Deserialize)]
struct RecentRow {
    id: String,
    outcome: Outcome,
}

#[derive(Serialize)]
struct PendingRef<'a> {
    no: u64,
    chain: &'a SavedChain,
}

#[derive(Deserialize)]
struct PendingRow {
    no: u64,
    chain: SavedChain,
}

/// What loading needs of a `delta` payload (`event_id` is ignored).
#[derive(Deserialize)]
struct DeltaRecord {
    seq: u64,
    patch: json_patch::Patch,
}

/// A [`StoreError`] saying what failed and why.
fn fail(what: impl fmt::Display, cause: impl fmt::Display) -> StoreError {
    StoreError {
        message: format!("{what}: {cause}"),
    }
}

fn to_json(what: impl fmt::Display, value: &impl Serialize) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| fail(format_args!("encoding {what}"), e))
}

fn from_json<T: serde::de::DeserializeOwned>(
    what: impl fmt::Display,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| fail(format_args!("{what} does not decode"), e))
}

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl RedbStore {
    /// With `fsync: false`, how often pending non-durable commits are made
    /// durable by a background thread (an fsync'ed empty commit): the most
    /// a crash can lose.
    pub const RELAXED_SYNC_INTERVAL: Duration = Duration::from_secs(1);

    /// Opens the database at `options.path`, creating it (and its parent
    /// directories) if missing, and starts the background sync thread when
    /// `options.fsync` is `false`.
    ///
    /// # Errors
    /// [`StoreError`] when the directory or file cannot be created, the
    /// file is not a redb database (or is open elsewhere), its schema
    /// version is not this build's (1), or the sync thread cannot start.
    pub fn open(options: RedbOptions) -> Result<Self, StoreError> {
        let path = options.path.display().to_string();
        if let Some(dir) = options.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| fail(format_args!("creating directory {}", dir.display()), e))?;
        }
        let db = Database::create(&options.path)
            .map_err(|e| fail(format_args!("opening redb database {path}"), e))?;
        let mut txn = db
            .begin_write()
            .map_err(|e| fail(format_args!("initializing {path}"), e))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| fail(format_args!("initializing {path}"), e))?;
        {
            let mut schema = txn
                .open_table(SCHEMA)
                .map_err(|e| fail(format_args!("opening table schema of {path}"), e))?;
            let found = schema
                .get("version")
                .map_err(|e| fail(format_args!("reading the schema version of {path}"), e))?
                .map(|v| v.value());
            match found {
                Some(SCHEMA_VERSION) => {}
                Some(v) => {
                    return Err(StoreError {
                        message: format!(
                            "{path} has schema version {v}, this build reads {SCHEMA_VERSION}"
                        ),
                    })
                }
                None => {
                    schema.insert("version", SCHEMA_VERSION).map_err(|e| {
                        fail(format_args!("writing the schema version of {path}"), e)
                    })?;
                }
            }
            // Create every table, so read transactions always find them.
            Tables::open(&txn)?;
        }
        txn.commit()
            .map_err(|e| fail(format_args!("initializing {path}"), e))?;

        let db = Arc::new(db);
        let pending = Arc::new(AtomicBool::new(false));
        let flusher = if options.fsync {
            None
        } else {
            Some(Flusher::start(db.clone(), pending.clone())?)
        };
        Ok(Self {
            options,
            db,
            pending,
            _flusher: flusher,
        })
    }

    /// Makes every commit made so far durable (an fsync'ed empty commit if
    /// a non-durable one is pending; nothing otherwise). Only useful with
    /// `fsync: false`, where the background thread does it every
    /// [`RedbStore::RELAXED_SYNC_INTERVAL`] and closing the store does it too.
    ///
    /// # Errors
    /// [`StoreError`] when the commit failed; the pending commits are then
    /// still not durable and a later sync retries.
    pub fn sync(&self) -> Result<(), StoreError> {
        sync_pending(&self.db, &self.pending)
    }

    /// A write transaction with the durability of the options.
    fn begin_write(&self, what: &str) -> Result<WriteTransaction, StoreError> {
        let mut txn = self
            .db
            .begin_write()
            .map_err(|e| fail(format_args!("{what}: beginning a write transaction"), e))?;
        let durability = if self.options.fsync {
            Durability::Immediate
        } else {
            Durability::None
        };
        txn.set_durability(durability)
            .map_err(|e| fail(format_args!("{what}: setting durability"), e))?;
        Ok(txn)
    }

    fn commit(&self, txn: WriteTransaction, what: &str) -> Result<(), StoreError> {
        txn.commit()
            .map_err(|e| fail(format_args!("{what}: commit"), e))?;
        if !self.options.fsync {
            self.pending.store(true, Ordering::Release);
        }
        Ok(())
    }

    fn begin_read(&self, key: &SessionKey) -> Result<ReadTransaction, StoreError> {
        self.db.begin_read().map_err(|e| {
            fail(
                format_args!("reading {key}: beginning a read transaction"),
                e,
            )
        })
    }

    /// The journal bounds, as `u64`.
    fn journal_bounds(&self) -> (u64, u64) {
        (
            as_u64(self.options.journal_len),
            as_u64(self.options.journal_max_bytes),
        )
    }

    /// Applies one step to the tables; `meta` is the key's record so far
    /// (`None` for a key never written).
    fn apply_step(
        &self,
        t: &mut Tables<'_>,
        meta: Option<Meta>,
        step: &Step,
    ) -> Result<Meta, StoreError> {
        let key = &step.key;
        let k = key.as_str();
        let consecutive = step.deltas.iter().enumerate().all(|(i, d)| {
            step.deltas
                .first()
                .is_some_and(|f| d.seq == f.seq + as_u64(i))
        });
        if !consecutive || step.deltas.last().is_some_and(|d| d.seq != step.seq) {
            return Err(StoreError {
                message: format!(
                    "step of {key} at seq {} carries deltas {:?}, not consecutive up to it",
                    step.seq,
                    step.deltas.iter().map(|d| d.seq).collect::<Vec<_>>()
                ),
            });
        }
        let follows = |m: &Meta| match step.deltas.first() {
            Some(first) => m.seq.checked_add(1) == Some(first.seq),
            None => m.seq == step.seq,
        };
        let mut m = match meta {
            Some(m) if follows(&m) => {
                if m.epoch.as_ref() != Some(&step.epoch) {
                    // A new epoch's cursors never replay the old epoch's
                    // deltas; they stay only if the rebuild needs them.
                    m_with_epoch(m, &step.epoch)
                } else {
                    m
                }
            }
            other => {
                if step.checkpoint.is_none() {
                    return Err(StoreError {
                        message: match other {
                            None => format!(
                                "first step of {key} (seq {}) carries no checkpoint",
                                step.seq
                            ),
                            Some(m) => format!(
                                "step of {key} at seq {} ({} deltas) does not follow saved seq {} \
                                 and carries no checkpoint",
                                step.seq,
                                step.deltas.len(),
                                m.seq
                            ),
                        },
                    });
                }
                // Restart the key's deltas at this step's checkpoint; the
                // other records (recent ids, chains, summary) stay.
                t.deltas
                    .retain_in((k, 0)..=(k, u64::MAX), |_, _| false)
                    .map_err(|e| fail(format_args!("deleting the deltas of {key}"), e))?;
                let mut fresh = Meta::new(Some(step.epoch.clone()), step.seq);
                if let Some(old) = other {
                    fresh.summary = old.summary;
                    fresh.events = old.events;
                    fresh.chains = old.chains;
                    fresh.next_pending = old.next_pending;
                }
                fresh
            }
        };
        m.seq = step.seq;

        for d in &step.deltas {
            let bytes = d.payload.get().as_bytes();
            t.deltas
                .insert((k, d.seq), bytes)
                .map_err(|e| fail(format_args!("writing delta {} of {key}", d.seq), e))?;
            if m.journal_len == 0 {
                m.journal_from = d.seq;
            }
            m.journal_len += 1;
            m.journal_bytes = m.journal_bytes.saturating_add(as_u64(bytes.len()));
            self.evict_journal(t, key, &mut m)?;
        }
        if let Some(state) = &step.checkpoint {
            let value = to_json(
                format_args!("checkpoint of {key}"),
                &CheckpointRef {
                    seq: step.seq,
                    state,
                },
            )?;
            t.checkpoints
                .insert(k, value.as_slice())
                .map_err(|e| fail(format_args!("writing the checkpoint of {key}"), e))?;
            m.checkpoint_seq = step.seq;
        }
        let limit = as_u64(self.options.recent_events);
        if let Some((id, outcome)) = &step.event {
            push_recent(
                &mut t.recent_events,
                "event",
                key,
                &mut m.events,
                limit,
                id,
                outcome,
            )?;
        }
        if let Some((id, outcome)) = &step.chain {
            push_recent(
                &mut t.recent_chains,
                "chain",
                key,
                &mut m.chains,
                limit,
                id,
                outcome,
            )?;
        }
        for chain in &step.chains_added {
            t.put_pending(key, m.next_pending, chain)?;
            m.next_pending += 1;
        }
        for chain in &step.chains_removed {
            t.pending
                .remove((k, chain.as_str()))
                .map_err(|e| fail(format_args!("removing a pending chain of {key}"), e))?;
        }
        for task in &step.tasks_started {
            t.put_task(key, task)?;
        }
        for task in &step.tasks_ended {
            t.tasks
                .remove((k, task.as_str()))
                .map_err(|e| fail(format_args!("removing task {task:?} of {key}"), e))?;
        }
        if let Some(summary) = &step.summary {
            m.summary = summary.clone();
        }
        Ok(m)
    }

    /// Drops the journal's oldest deltas while over either bound (as
    /// `Journal::push`); the rows go at the end of the batch if unneeded.
    fn evict_journal(
        &self,
        t: &Tables<'_>,
        key: &SessionKey,
        m: &mut Meta,
    ) -> Result<(), StoreError> {
        let (max_len, max_bytes) = self.journal_bounds();
        if m.journal_len <= max_len && m.journal_bytes <= max_bytes {
            return Ok(());
        }
        let k = key.as_str();
        let rows = t
            .deltas
            .range((k, m.journal_from)..=(k, m.seq))
            .map_err(|e| fail(format_args!("reading the journal of {key}"), e))?;
        for row in rows {
            if m.journal_len <= max_len && m.journal_bytes <= max_bytes {
                break;
            }
            let (seq, value) =
                row.map_err(|e| fail(format_args!("reading the journal of {key}"), e))?;
            let seq = seq.value().1;
            m.journal_len -= 1;
            m.journal_bytes = m.journal_bytes.saturating_sub(as_u64(value.value().len()));
            m.journal_from = seq.saturating_add(1);
        }
        if m.journal_len == 0 {
            m.clear_journal();
        }
        Ok(())
    }

    /// Reads a key's meta in a read transaction.
    fn read_meta(
        &self,
        txn: &ReadTransaction,
        key: &SessionKey,
    ) -> Result<Option<Meta>, StoreError> {
        let table = txn
            .open_table(META)
            .map_err(|e| fail(format_args!("reading the meta of {key}"), e))?;
        let row = table
            .get(key.as_str())
            .map_err(|e| fail(format_args!("reading the meta of {key}"), e))?;
        row.map(|v| from_json(format_args!("meta of {key}"), v.value()))
            .transpose()
    }

    /// Rebuilds a key's state and journal from its checkpoint and deltas.
    fn read_state(
        &self,
        txn: &ReadTransaction,
        key: &SessionKey,
        meta: &Meta,
    ) -> Result<(Value, Vec<SavedDelta>), StoreError> {
        let k = key.as_str();
        let checkpoints = txn
            .open_table(CHECKPOINTS)
            .map_err(|e| fail(format_args!("reading the checkpoint of {key}"), e))?;
        let checkpoint: Checkpoint = match checkpoints
            .get(k)
            .map_err(|e| fail(format_args!("reading the checkpoint of {key}"), e))?
        {
            Some(v) => from_json(format_args!("checkpoint of {key}"), v.value())?,
            None => {
                return Err(StoreError {
                    message: format!("{key} has a meta but no checkpoint"),
                })
            }
        };
        if checkpoint.seq != meta.checkpoint_seq || checkpoint.seq > meta.seq {
            return Err(StoreError {
                message: format!(
                    "checkpoint of {key} is at seq {}, its meta says {} (seq {})",
                    checkpoint.seq, meta.checkpoint_seq, meta.seq
                ),
            });
        }
        let mut state = checkpoint.state;
        let mut journal = Vec::new();
        // Without an epoch the journal is meaningless (the session starts
        // a new one): only the rebuild reads deltas.
        let journal_from = if meta.journal_len > 0 && meta.epoch.is_some() {
            meta.journal_from
        } else {
            u64::MAX
        };
        let start = meta.keep_from().min(journal_from);
        if start > meta.seq {
            return Ok((state, journal));
        }
        let deltas = txn
            .open_table(DELTAS)
            .map_err(|e| fail(format_args!("reading the deltas of {key}"), e))?;
        let rows = deltas
            .range((k, start)..=(k, meta.seq))
            .map_err(|e| fail(format_args!("reading the deltas of {key}"), e))?;
        let mut expected = start;
        for row in rows {
            let (seq, value) =
                row.map_err(|e| fail(format_args!("reading the deltas of {key}"), e))?;
            let seq = seq.value().1;
            if seq != expected {
                break;
            }
            let text = std::str::from_utf8(value.value())
                .map_err(|e| fail(format_args!("delta {seq} of {key} is not UTF-8"), e))?;
            if seq > checkpoint.seq {
                let record: DeltaRecord =
                    from_json(format_args!("delta {seq} of {key}"), text.as_bytes())?;
                if record.seq != seq {
                    return Err(StoreError {
                        message: format!("delta {seq} of {key} says seq {}", record.seq),
                    });
                }
                json_patch::patch(&mut state, &record.patch.0)
                    .map_err(|e| fail(format_args!("applying delta {seq} of {key}"), e))?;
            }
            if seq >= journal_from {
                let raw = RawValue::from_string(text.to_owned())
                    .map_err(|e| fail(format_args!("delta {seq} of {key} does not decode"), e))?;
                journal.push(SavedDelta {
                    seq,
                    payload: Arc::from(raw),
                });
            }
            expected += 1;
        }
        if expected != meta.seq.saturating_add(1) {
            return Err(StoreError {
                message: format!(
                    "delta {expected} of {key} is missing (needed from {start} to {})",
                    meta.seq
                ),
            });
        }
        Ok((state, journal))
    }

    /// Number of delta rows kept for `key` (tests: disk use is bounded).
    #[cfg(test)]
    fn delta_rows(&self, key: &SessionKey) -> Result<usize, StoreError> {
        let txn = self.begin_read(key)?;
        let table = txn
            .open_table(DELTAS)
            .map_err(|e| fail("opening deltas", e))?;
        let k = key.as_str();
        let rows = table
            .range((k, 0)..=(k, u64::MAX))
            .map_err(|e| fail("reading deltas", e))?;
        Ok(rows.count())
    }

    /// Number of recent event rows and recent chain rows kept for `key`.
    #[cfg(test)]
    fn recent_rows(&self, key: &SessionKey) -> Result<(usize, usize), StoreError> {
        let txn = self.begin_read(key)?;
        let k = key.as_str();
        let mut counts = [0; 2];
        for (count, def) in counts.iter_mut().zip([RECENT_EVENTS, RECENT_CHAINS]) {
            let table = txn.open_table(def).map_err(|e| fail("opening recent", e))?;
            *count = table
                .range((k, 0)..=(k, u64::MAX))
                .map_err(|e| fail("reading recent", e))?
                .count();
        }
        Ok((counts[0], counts[1]))
    }
}

/// `m` with its journal restarted for a new epoch.
fn m_with_epoch(mut m: Meta, epoch: &Epoch) -> Meta {
    m.clear_journal();
    m.epoch = Some(epoch.clone());
    m
}

/// Appends `(id, outcome)` as the key's newest row and forgets the oldest
/// rows beyond `limit`.
fn push_recent(
    table: &mut Table<'_, (&'static str, u64), &'static [u8]>,
    what: &str,
    key: &SessionKey,
    span: &mut Span,
    limit: u64,
    id: &str,
    outcome: &Outcome,
) -> Result<(), StoreError> {
    let k = key.as_str();
    let value = to_json(
        format_args!("recent {what} id of {key}"),
        &RecentRef { id, outcome },
    )?;
    table
        .insert((k, span.next), value.as_slice())
        .map_err(|e| fail(format_args!("writing a recent {what} id of {key}"), e))?;
    span.next += 1;
    while span.next - span.first > limit {
        table
            .remove((k, span.first))
            .map_err(|e| fail(format_args!("forgetting a recent {what} id of {key}"), e))?;
        span.first += 1;
    }
    Ok(())
}

/// Reads a key's rows of a recent-id table, oldest first.
fn read_recent(
    txn: &ReadTransaction,
    def: TableDefinition<(&'static str, u64), &'static [u8]>,
    what: &str,
    key: &SessionKey,
) -> Result<Vec<(String, Outcome)>, StoreError> {
    let k = key.as_str();
    let table = txn
        .open_table(def)
        .map_err(|e| fail(format_args!("reading the recent {what} ids of {key}"), e))?;
    let rows = table
        .range((k, 0)..=(k, u64::MAX))
        .map_err(|e| fail(format_args!("reading the recent {what} ids of {key}"), e))?;
    let mut out = Vec::new();
    for row in rows {
        let (n, value) =
            row.map_err(|e| fail(format_args!("reading the recent {what} ids of {key}"), e))?;
        let row: RecentRow = from_json(
            format_args!("recent {what} id #{} of {key}", n.value().1),
            value.value(),
        )?;
        out.push((row.id, row.outcome));
    }
    Ok(out)
}

/// Reads a key's pending chains, in creation order.
fn read_pending(txn: &ReadTransaction, key: &SessionKey) -> Result<Vec<SavedChain>, StoreError> {
    let k = key.as_str();
    let table = txn
        .open_table(PENDING_CHAINS)
        .map_err(|e| fail(format_args!("reading the pending chains of {key}"), e))?;
    let rows = table
        .range((k, "")..)
        .map_err(|e| fail(format_args!("reading the pending chains of {key}"), e))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, value) =
            row.map_err(|e| fail(format_args!("reading the pending chains of {key}"), e))?;
        if id.value().0 != k {
            break;
        }
        let row: PendingRow = from_json(format_args!("a pending chain of {key}"), value.value())?;
        out.push(row);
    }
    out.sort_by_key(|r| r.no);
    Ok(out.into_iter().map(|r| r.chain).collect())
}

/// The longest suffix of `journal` that ends at `seq` with no gap and is
/// within both bounds (what `Journal::push` would have kept).
fn journal_suffix(
    journal: &[SavedDelta],
    seq: u64,
    max_len: u64,
    max_bytes: u64,
) -> (&[SavedDelta], u64) {
    let mut keep = 0;
    let mut bytes = 0u64;
    let mut expected = Some(seq);
    for d in journal.iter().rev() {
        let len = as_u64(d.payload.get().len());
        if Some(d.seq) != expected
            || as_u64(keep) >= max_len
            || bytes.saturating_add(len) > max_bytes
        {
            break;
        }
        keep += 1;
        bytes += len;
        expected = d.seq.checked_sub(1);
    }
    (&journal[journal.len() - keep..], bytes)
}

/// The tables of one write transaction.
struct Tables<'t> {
    meta: Table<'t, &'static str, &'static [u8]>,
    checkpoints: Table<'t, &'static str, &'static [u8]>,
    deltas: Table<'t, (&'static str, u64), &'static [u8]>,
    recent_events: Table<'t, (&'static str, u64), &'static [u8]>,
    recent_chains: Table<'t, (&'static str, u64), &'static [u8]>,
    pending: Table<'t, (&'static str, &'static str), &'static [u8]>,
    tasks: Table<'t, (&'static str, &'static str), &'static [u8]>,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        let open = |name: &str, e: redb::TableError| fail(format_args!("opening table {name}"), e);
        Ok(Self {
            meta: txn.open_table(META).map_err(|e| open("meta", e))?,
            checkpoints: txn
                .open_table(CHECKPOINTS)
                .map_err(|e| open("checkpoints", e))?,
            deltas: txn.open_table(DELTAS).map_err(|e| open("deltas", e))?,
            recent_events: txn
                .open_table(RECENT_EVENTS)
                .map_err(|e| open("recent_events", e))?,
            recent_chains: txn
                .open_table(RECENT_CHAINS)
                .map_err(|e| open("recent_chains", e))?,
            pending: txn
                .open_table(PENDING_CHAINS)
                .map_err(|e| open("pending_chains", e))?,
            tasks: txn.open_table(TASKS).map_err(|e| open("tasks", e))?,
        })
    }

    fn read_meta(&self, key: &SessionKey) -> Result<Option<Meta>, StoreError> {
        let row = self
            .meta
            .get(key.as_str())
            .map_err(|e| fail(format_args!("reading the meta of {key}"), e))?;
        row.map(|v| from_json(format_args!("meta of {key}"), v.value()))
            .transpose()
    }

    fn write_meta(&mut self, key: &SessionKey, meta: &Meta) -> Result<(), StoreError> {
        let value = to_json(format_args!("meta of {key}"), meta)?;
        self.meta
            .insert(key.as_str(), value.as_slice())
            .map_err(|e| fail(format_args!("writing the meta of {key}"), e))?;
        Ok(())
    }

    fn put_pending(
        &mut self,
        key: &SessionKey,
        no: u64,
        chain: &SavedChain,
    ) -> Result<(), StoreError> {
        let value = to_json(
            format_args!("a pending chain of {key}"),
            &PendingRef { no, chain },
        )?;
        self.pending
            .insert((key.as_str(), chain.chain.as_str()), value.as_slice())
            .map_err(|e| fail(format_args!("writing a pending chain of {key}"), e))?;
        Ok(())
    }

    /// Deletes the deltas below what `meta` still needs.
    fn trim_deltas(&mut self, key: &SessionKey, meta: &Meta) -> Result<(), StoreError> {
        let k = key.as_str();
        let low = meta.keep_from();
        if low > 0 {
            self.deltas
                .retain_in((k, 0)..(k, low), |_, _| false)
                .map_err(|e| fail(format_args!("deleting old deltas of {key}"), e))?;
        }
        Ok(())
    }

    /// Deletes every row of `key` but its meta and checkpoint (which the
    /// caller overwrites).
    fn clear_key(&mut self, key: &SessionKey) -> Result<(), StoreError> {
        let k = key.as_str();
        for (name, table) in [
            ("deltas", &mut self.deltas),
            ("recent event ids", &mut self.recent_events),
            ("recent chain ids", &mut self.recent_chains),
        ] {
            table
                .retain_in((k, 0)..=(k, u64::MAX), |_, _| false)
                .map_err(|e| fail(format_args!("deleting the {name} of {key}"), e))?;
        }
        let mut chains = Vec::new();
        for row in self
            .pending
            .range((k, "")..)
            .map_err(|e| fail(format_args!("reading the pending chains of {key}"), e))?
        {
            let (id, _) =
                row.map_err(|e| fail(format_args!("reading the pending chains of {key}"), e))?;
            let (owner, chain) = id.value();
            if owner != k {
                break;
            }
            chains.push(chain.to_owned());
        }
        for chain in &chains {
            self.pending
                .remove((k, chain.as_str()))
                .map_err(|e| fail(format_args!("deleting the pending chains of {key}"), e))?;
        }
        let tasks = task_keys(&self.tasks, key)?;
        for task in &tasks {
            self.tasks
                .remove((k, task.as_str()))
                .map_err(|e| fail(format_args!("deleting the tasks of {key}"), e))?;
        }
        Ok(())
    }

    /// Records a running restartable task of `key`.
    fn put_task(&mut self, key: &SessionKey, task: &SavedTask) -> Result<(), StoreError> {
        let input = to_json(
            format_args!("the input of task {:?} of {key}", task.key),
            &task.input,
        )?;
        self.tasks
            .insert((key.as_str(), task.key.as_str()), input.as_slice())
            .map_err(|e| fail(format_args!("writing task {:?} of {key}", task.key), e))?;
        Ok(())
    }
}

/// The task keys recorded for `key`.
fn task_keys(
    table: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
    key: &SessionKey,
) -> Result<Vec<String>, StoreError> {
    Ok(read_tasks(table, key)?.into_iter().map(|t| t.key).collect())
}

/// The running restartable tasks recorded for `key`, by task key.
fn read_tasks(
    table: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
    key: &SessionKey,
) -> Result<Vec<SavedTask>, StoreError> {
    let k = key.as_str();
    let rows = table
        .range((k, "")..)
        .map_err(|e| fail(format_args!("reading the tasks of {key}"), e))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, value) = row.map_err(|e| fail(format_args!("reading the tasks of {key}"), e))?;
        let (owner, task) = id.value();
        if owner != k {
            break;
        }
        let input = from_json(
            format_args!("the input of task {task:?} of {key}"),
            value.value(),
        )?;
        out.push(SavedTask {
            key: task.to_owned(),
            input,
        });
    }
    Ok(out)
}

impl Store for RedbStore {
    fn load(&self, key: &SessionKey) -> Result<Option<SavedSession>, StoreError> {
        let txn = self.begin_read(key)?;
        let Some(meta) = self.read_meta(&txn, key)? else {
            return Ok(None);
        };
        let (state, journal) = self.read_state(&txn, key, &meta)?;
        Ok(Some(SavedSession {
            state,
            seq: meta.seq,
            epoch: meta.epoch,
            journal,
            pending_chains: read_pending(&txn, key)?,
            recent: read_recent(&txn, RECENT_EVENTS, "event", key)?,
            summary: meta.summary,
            recent_chains: read_recent(&txn, RECENT_CHAINS, "chain", key)?,
            tasks: {
                let table = txn
                    .open_table(TASKS)
                    .map_err(|e| fail(format_args!("reading the tasks of {key}"), e))?;
                read_tasks(&table, key)?
            },
        }))
    }

    /// Replaces everything kept for `key` with `session`, in one
    /// transaction: its state becomes the checkpoint at its seq; of its
    /// journal, the longest suffix that ends at its seq with no gap and is
    /// within the journal bounds is kept (none without an epoch); of its
    /// recent ids, the newest `recent_events`.
    fn save(&self, key: &SessionKey, session: &SavedSession) -> Result<(), StoreError> {
        let what = format!("saving {key}");
        let txn = self.begin_write(&what)?;
        {
            let mut t = Tables::open(&txn)?;
            t.clear_key(key)?;
            let k = key.as_str();
            let mut meta = Meta::new(session.epoch.clone(), session.seq);
            meta.summary = session.summary.clone();

            let checkpoint = to_json(
                format_args!("checkpoint of {key}"),
                &CheckpointRef {
                    seq: session.seq,
                    state: &session.state,
                },
            )?;
            t.checkpoints
                .insert(k, checkpoint.as_slice())
                .map_err(|e| fail(format_args!("writing the checkpoint of {key}"), e))?;

            if session.epoch.is_some() {
                let (max_len, max_bytes) = self.journal_bounds();
                let (journal, bytes) =
                    journal_suffix(&session.journal, session.seq, max_len, max_bytes);
                for d in journal {
                    t.deltas
                        .insert((k, d.seq), d.payload.get().as_bytes())
                        .map_err(|e| fail(format_args!("writing delta {} of {key}", d.seq), e))?;
                }
                if let Some(first) = journal.first() {
                    meta.journal_from = first.seq;
                    meta.journal_len = as_u64(journal.len());
                    meta.journal_bytes = bytes;
                }
            }

            let limit = as_u64(self.options.recent_events);
            for (table, what, span, recent) in [
                (
                    &mut t.recent_events,
                    "event",
                    &mut meta.events,
                    &session.recent,
                ),
                (
                    &mut t.recent_chains,
                    "chain",
                    &mut meta.chains,
                    &session.recent_chains,
                ),
            ] {
                let skip = recent.len().saturating_sub(self.options.recent_events);
                for (id, outcome) in recent.iter().skip(skip) {
                    push_recent(table, what, key, span, limit, id, outcome)?;
                }
            }
            for chain in &session.pending_chains {
                t.put_pending(key, meta.next_pending, chain)?;
                meta.next_pending += 1;
            }
            for task in &session.tasks {
                t.put_task(key, task)?;
            }
            t.write_meta(key, &meta)?;
        }
        self.commit(txn, &what)
    }

    /// Reads the key's meta only.
    fn load_summary(&self, key: &SessionKey) -> Result<Option<Value>, StoreError> {
        let txn = self.begin_read(key)?;
        Ok(self.read_meta(&txn, key)?.map(|m| m.summary))
    }

    /// Distinct session keys in the `tasks` table. A key that does not parse
    /// (a corrupt row) is logged and skipped.
    fn sessions_with_tasks(&self) -> Result<Vec<SessionKey>, StoreError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| fail("listing sessions with tasks", e))?;
        let table = txn
            .open_table(TASKS)
            .map_err(|e| fail("listing sessions with tasks", e))?;
        let mut keys: Vec<SessionKey> = Vec::new();
        for row in table
            .iter()
            .map_err(|e| fail("listing sessions with tasks", e))?
        {
            let (id, _) = row.map_err(|e| fail("listing sessions with tasks", e))?;
            let owner = id.value().0;
            if keys.last().is_some_and(|k| k.as_str() == owner) {
                continue;
            }
            match SessionKey::parse(owner) {
                Ok(k) => keys.push(k),
                Err(e) => {
                    tracing::error!(error = %e, "a task row has an invalid session key; skipped")
                }
            }
        }
        Ok(keys)
    }

    /// `true`: [`Store::append`] returns once its transaction is committed
    /// (fsync'ed with `fsync: true`; with `false`, synced within
    /// [`RedbStore::RELAXED_SYNC_INTERVAL`]).
    fn durable(&self) -> bool {
        true
    }

    /// Writes `steps` (any keys, each key's steps in seq order) in one
    /// write transaction: a delta row per step that has one, recent ids,
    /// pending chains, the meta, and a checkpoint when the step carries
    /// one; then deletes the deltas no longer needed (below both the
    /// journal and the checkpoint).
    ///
    /// # Contract (checked: a step breaking it fails the whole batch)
    /// - A step's `delta`, if any, produces the step's seq, and follows the
    ///   key's seq: seq advances by exactly one with a delta and not at
    ///   all without one.
    /// - Otherwise the step must carry a `checkpoint` (the whole state at
    ///   its seq): in particular the **first step of a key never written**
    ///   (e.g. the initial state at seq 0 with no delta, or the state after
    ///   its first delta), and any step whose seq jumps (it then restarts
    ///   the key's deltas; recent ids and chains stay). To replace a key
    ///   wholesale, use [`Store::save`].
    /// - A new epoch with a following seq needs no checkpoint; it restarts
    ///   the journal.
    /// - The session checkpoints every so many deltas: loading applies
    ///   every delta after the latest checkpoint, and they are all kept.
    ///
    /// # Errors
    /// [`StoreError`] when a step breaks the contract, a touched key's meta
    /// does not decode, or redb fails; nothing of the batch is then
    /// written.
    fn append(&self, steps: &[Step]) -> Result<(), StoreError> {
        if steps.is_empty() {
            return Ok(());
        }
        let what = format!("appending {} steps", steps.len());
        let txn = self.begin_write(&what)?;
        {
            let mut t = Tables::open(&txn)?;
            let mut metas: HashMap<&SessionKey, Meta> = HashMap::new();
            for step in steps {
                let meta = match metas.remove(&step.key) {
                    Some(m) => Some(m),
                    None => t.read_meta(&step.key)?,
                };
                let meta = self.apply_step(&mut t, meta, step)?;
                metas.insert(&step.key, meta);
            }
            for (key, meta) in &metas {
                t.trim_deltas(key, meta)?;
                t.write_meta(key, meta)?;
            }
        }
        self.commit(txn, &what)
    }
}

/// Makes pending non-durable commits durable with an fsync'ed empty commit.
fn sync_pending(db: &Database, pending: &AtomicBool) -> Result<(), StoreError> {
    // Cleared first: a commit made after this point sets it again and is
    // either covered by this commit or by the next sync.
    if !pending.swap(false, Ordering::AcqRel) {
        return Ok(());
    }
    let result = (|| {
        let mut txn = db.begin_write().map_err(|e| fail("sync", e))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| fail("sync", e))?;
        txn.commit().map_err(|e| fail("sync: commit", e))
    })();
    if result.is_err() {
        pending.store(true, Ordering::Release);
    }
    result
}

/// The background thread of a relaxed store: syncs pending commits every
/// [`RedbStore::RELAXED_SYNC_INTERVAL`]; stopped and joined on drop.
struct Flusher {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    fn start(db: Arc<Database>, pending: Arc<AtomicBool>) -> Result<Self, StoreError> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tabhub-redb-sync".into())
            .spawn(move || {
                // Until the store drops the sender (or sends).
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(RedbStore::RELAXED_SYNC_INTERVAL)
                {
                    if let Err(e) = sync_pending(&db, &pending) {
                        tracing::warn!(error = %e, "could not sync the redb store; retrying");
                    }
                }
            })
            .map_err(|e| fail("starting the redb sync thread", e))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use serde_json::json;

    use super::*;
    use crate::ids::ChainId;

    /// A database file in the temp dir, removed on drop.
    struct TempDb(PathBuf);

    impl TempDb {
        fn new(name: &str) -> Self {
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            Self(std::env::temp_dir().join(format!(
                "tabhub-redb-test-{}-{n}-{name}/sessions.redb",
                std::process::id()
            )))
        }

        fn options(&self) -> RedbOptions {
            RedbOptions {
                path: self.0.clone(),
                journal_len: 100,
                journal_max_bytes: 1 << 20,
                recent_events: 100,
                fsync: true,
            }
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            if let Some(dir) = self.0.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    fn open(options: RedbOptions) -> RedbStore {
        RedbStore::open(options).unwrap_or_else(|e| panic!("{e}"))
    }

    fn key(c: char) -> SessionKey {
        SessionKey::parse(&c.to_string().repeat(24)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn ok<T>(r: Result<T, StoreError>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    fn load(store: &RedbStore, k: &SessionKey) -> SavedSession {
        ok(store.load(k)).unwrap_or_else(|| panic!("{k} not found"))
    }

    /// A `delta` payload setting `/n` to `seq`.
    fn delta(seq: u64) -> SavedDelta {
        let payload = json!({
            "seq": seq,
            "patch": [{"op": "replace", "path": "/n", "value": seq}],
            "event_id": format!("ev{seq}"),
        });
        let raw = RawValue::from_string(payload.to_string()).unwrap_or_else(|e| panic!("{e}"));
        SavedDelta {
            seq,
            payload: Arc::from(raw),
        }
    }

    fn step(k: &SessionKey, epoch: &Epoch, seq: u64) -> Step {
        Step::new(k.clone(), epoch.clone(), seq)
    }

    /// The first step of a key: its initial state `{"n": 0}` at seq 0.
    fn first(k: &SessionKey, epoch: &Epoch) -> Step {
        Step {
            checkpoint: Some(json!({"n": 0})),
            ..step(k, epoch, 0)
        }
    }

    /// A step applying `delta(seq)`, handling event `ev{seq}`.
    fn delta_step(k: &SessionKey, epoch: &Epoch, seq: u64) -> Step {
        Step {
            deltas: vec![delta(seq)],
            event: Some((format!("ev{seq}"), Outcome::Ok { seq })),
            ..step(k, epoch, seq)
        }
    }

    fn seqs(journal: &[SavedDelta]) -> Vec<u64> {
        journal.iter().map(|d| d.seq).collect()
    }

    fn chain(id: &str) -> SavedChain {
        SavedChain {
            chain: ChainId::new(id),
            name: format!("next_{id}"),
            payload: json!({"id": id}),
        }
    }

    #[test]
    fn a_round_trip_through_a_reopened_file_gives_back_everything_written() {
        let tmp = TempDb::new("round-trip");
        let (k, e) = (key('a'), Epoch::new("epoch-1"));
        {
            let store = open(tmp.options());
            ok(store.append(&[first(&k, &e)]));
            ok(store.append(&[
                Step {
                    chains_added: vec![chain("c1"), chain("c2"), chain("c3")],
                    ..delta_step(&k, &e, 1)
                },
                Step {
                    chain: Some(("c1".into(), Outcome::Ok { seq: 2 })),
                    chains_removed: vec![ChainId::new("c1")],
                    summary: Some(json!({"title": "two"})),
                    ..delta_step(&k, &e, 2)
                },
            ]));
            ok(store.append(&[Step {
                event: Some(("bad".into(), Outcome::error("invalid_payload", "nope"))),
                ..step(&k, &e, 2)
            }]));
            ok(store.append(&[delta_step(&k, &e, 3)]));
        }
        let store = open(tmp.options());
        let s = load(&store, &k);
        assert_eq!(s.state, json!({"n": 3}));
        assert_eq!(s.seq, 3);
        assert_eq!(s.epoch, Some(e));
        assert_eq!(seqs(&s.journal), vec![1, 2, 3]);
        assert_eq!(s.journal[2].payload.get(), delta(3).payload.get());
        assert_eq!(
            s.recent,
            vec![
                ("ev1".into(), Outcome::Ok { seq: 1 }),
                ("ev2".into(), Outcome::Ok { seq: 2 }),
                ("bad".into(), Outcome::error("invalid_payload", "nope")),
                ("ev3".into(), Outcome::Ok { seq: 3 }),
            ]
        );
        assert_eq!(s.recent_chains, vec![("c1".into(), Outcome::Ok { seq: 2 })]);
        let pending: Vec<_> = s
            .pending_chains
            .iter()
            .map(|c| (c.chain.as_str(), c.name.as_str(), c.payload.clone()))
            .collect();
        assert_eq!(
            pending,
            vec![
                ("c2", "next_c2", json!({"id": "c2"})),
                ("c3", "next_c3", json!({"id": "c3"}))
            ]
        );
        assert_eq!(s.summary, json!({"title": "two"}));
    }

    #[test]
    fn a_key_never_written_loads_as_none() {
        let tmp = TempDb::new("none");
        let store = open(tmp.options());
        assert!(ok(store.load(&key('z'))).is_none());
        assert!(ok(store.load_summary(&key('z'))).is_none());
    }

    #[test]
    fn a_step_with_several_deltas_lands_whole_and_gaps_within_a_step_are_refused() {
        let tmp = TempDb::new("multi");
        let store = open(tmp.options());
        let (k, e) = (key('m'), Epoch::new("e"));
        // A handler that also cancelled a task: two deltas in one step.
        ok(store.append(&[
            first(&k, &e),
            Step {
                deltas: vec![delta(1), delta(2)],
                ..step(&k, &e, 2)
            },
        ]));
        let s = load(&store, &k);
        assert_eq!((s.seq, s.state.clone()), (2, json!({"n": 2})));
        assert_eq!(seqs(&s.journal), vec![1, 2]);
        let gap = Step {
            deltas: vec![delta(3), delta(5)],
            ..step(&k, &e, 5)
        };
        assert!(store.append(&[gap]).is_err());
        assert_eq!(load(&store, &k).seq, 2, "a refused batch wrote nothing");
    }

    #[test]
    fn sessions_with_running_restartable_tasks_are_listed() {
        let tmp = TempDb::new("with-tasks");
        let store = open(tmp.options());
        let e = Epoch::new("e");
        let task = SavedTask {
            key: "job".into(),
            input: json!({}),
        };
        let (busy, idle) = (key('x'), key('y'));
        ok(store.append(&[
            first(&busy, &e),
            Step {
                tasks_started: vec![task.clone()],
                ..delta_step(&busy, &e, 1)
            },
            first(&idle, &e),
            Step {
                tasks_started: vec![task],
                ..delta_step(&idle, &e, 1)
            },
            Step {
                tasks_ended: vec!["job".into()],
                ..delta_step(&idle, &e, 2)
            },
        ]));
        assert_eq!(ok(store.sessions_with_tasks()), vec![busy]);
    }

    #[test]
    fn restartable_tasks_are_kept_while_running_and_forgotten_when_ended() {
        let tmp = TempDb::new("tasks");
        let store = open(tmp.options());
        let (k, e) = (key('t'), Epoch::new("e"));
        let started = |task: &str| SavedTask {
            key: task.into(),
            input: json!({"task": task}),
        };
        ok(store.append(&[
            first(&k, &e),
            Step {
                tasks_started: vec![started("a"), started("b")],
                ..delta_step(&k, &e, 1)
            },
            Step {
                tasks_ended: vec!["a".into()],
                ..delta_step(&k, &e, 2)
            },
        ]));
        assert_eq!(load(&store, &k).tasks, vec![started("b")]);
    }

    #[test]
    fn the_state_is_rebuilt_from_the_latest_checkpoint_and_the_deltas_after_it() {
        let tmp = TempDb::new("rebuild");
        let store = open(tmp.options());
        let (k, e) = (key('b'), Epoch::new("e"));
        ok(store.append(&[first(&k, &e), delta_step(&k, &e, 1), delta_step(&k, &e, 2)]));
        // The checkpoint at 3 holds a mark no delta writes: it shows the
        // rebuild starts from it, not from seq 0.
        ok(store.append(&[Step {
            checkpoint: Some(json!({"n": 3, "mark": true})),
            ..delta_step(&k, &e, 3)
        }]));
        ok(store.append(&[delta_step(&k, &e, 4), delta_step(&k, &e, 5)]));
        let s = load(&store, &k);
        assert_eq!(s.state, json!({"n": 5, "mark": true}));
        assert_eq!(s.seq, 5);
        assert_eq!(seqs(&s.journal), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn the_journal_keeps_the_last_journal_len_deltas_and_older_unneeded_ones_are_deleted() {
        let tmp = TempDb::new("journal-len");
        let store = open(RedbOptions {
            journal_len: 3,
            ..tmp.options()
        });
        let (k, e) = (key('c'), Epoch::new("e"));
        ok(store.append(&[first(&k, &e)]));
        for seq in 1..=10 {
            ok(store.append(&[delta_step(&k, &e, seq)]));
        }
        let s = load(&store, &k);
        assert_eq!(seqs(&s.journal), vec![8, 9, 10]);
        assert_eq!(s.state, json!({"n": 10}));
        // No checkpoint since seq 0: every delta is needed to rebuild.
        assert_eq!(ok(store.delta_rows(&k)), 10);

        ok(store.append(&[Step {
            checkpoint: Some(json!({"n": 11})),
            ..delta_step(&k, &e, 11)
        }]));
        assert_eq!(ok(store.delta_rows(&k)), 3);
        ok(store.append(&[delta_step(&k, &e, 12)]));
        assert_eq!(ok(store.delta_rows(&k)), 3);
        let s = load(&store, &k);
        assert_eq!(seqs(&s.journal), vec![10, 11, 12]);
        assert_eq!(s.state, json!({"n": 12}));
    }

    #[test]
    fn the_journal_is_bounded_by_bytes() {
        let tmp = TempDb::new("journal-bytes");
        let size = delta(10).payload.get().len();
        let store = open(RedbOptions {
            journal_max_bytes: 2 * size + size / 2,
            ..tmp.options()
        });
        let (k, e) = (key('d'), Epoch::new("e"));
        ok(store.append(&[first(&k, &e)]));
        // Every step checkpoints, so only the journal keeps deltas; the
        // jump from 0 to 10 is allowed because it carries a checkpoint.
        for seq in 10..=15 {
            ok(store.append(&[Step {
                checkpoint: Some(json!({ "n": seq })),
                ..delta_step(&k, &e, seq)
            }]));
        }
        let s = load(&store, &k);
        assert_eq!(seqs(&s.journal), vec![14, 15]);
        assert_eq!(ok(store.delta_rows(&k)), 2);

        // A delta bigger than the bound empties the journal; the state is
        // still rebuilt from it.
        let big = {
            let text = json!({
                "seq": 16,
                "patch": [{"op": "add", "path": "/big", "value": "x".repeat(4 * size)}],
            })
            .to_string();
            SavedDelta {
                seq: 16,
                payload: Arc::from(RawValue::from_string(text).unwrap_or_else(|e| panic!("{e}"))),
            }
        };
        ok(store.append(&[Step {
            deltas: vec![big],
            ..step(&k, &e, 16)
        }]));
        let s = load(&store, &k);
        assert!(s.journal.is_empty());
        assert_eq!(s.state["big"], json!("x".repeat(4 * size)));
        assert_eq!(s.seq, 16);
        assert_eq!(ok(store.delta_rows(&k)), 1);
    }

    #[test]
    fn recent_ids_keep_only_the_newest_recent_events() {
        let tmp = TempDb::new("recent");
        let store = open(RedbOptions {
            recent_events: 3,
            ..tmp.options()
        });
        let (k, e) = (key('e'), Epoch::new("e"));
        ok(store.append(&[first(&k, &e)]));
        for seq in 1..=5 {
            ok(store.append(&[Step {
                chain: Some((format!("c{seq}"), Outcome::Ok { seq })),
                ..delta_step(&k, &e, seq)
            }]));
        }
        let s = load(&store, &k);
        let ids: Vec<_> = s.recent.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, vec!["ev3", "ev4", "ev5"]);
        let ids: Vec<_> = s.recent_chains.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, vec!["c3", "c4", "c5"]);
        assert_eq!(ok(store.recent_rows(&k)), (3, 3));
    }

    #[test]
    fn save_replaces_everything_and_load_returns_it() {
        let tmp = TempDb::new("save");
        let store = open(RedbOptions {
            journal_len: 2,
            recent_events: 2,
            ..tmp.options()
        });
        let (k, e) = (key('f'), Epoch::new("e"));
        ok(store.append(&[
            first(&k, &e),
            Step {
                chains_added: vec![chain("old")],
                summary: Some(json!("old")),
                ..delta_step(&k, &e, 1)
            },
        ]));
        let e2 = Epoch::new("e2");
        let saved = SavedSession {
            state: json!({"n": 9, "saved": true}),
            seq: 9,
            epoch: Some(e2.clone()),
            // 5 is not followed by 6: only the gapless tail within the
            // bound (2 deltas) is kept.
            journal: vec![delta(5), delta(7), delta(8), delta(9)],
            pending_chains: vec![chain("n1"), chain("n2")],
            recent: vec![
                ("a".into(), Outcome::Ok { seq: 1 }),
                ("b".into(), Outcome::Ok { seq: 2 }),
                ("c".into(), Outcome::Ok { seq: 3 }),
            ],
            summary: json!({"saved": 1}),
            recent_chains: vec![("n0".into(), Outcome::Ok { seq: 4 })],
            tasks: vec![SavedTask {
                key: "job".into(),
                input: json!({"steps": 3}),
            }],
        };
        ok(store.save(&k, &saved));
        drop(store);
        let store = open(RedbOptions {
            journal_len: 2,
            recent_events: 2,
            ..tmp.options()
        });
        let s = load(&store, &k);
        assert_eq!(s.state, saved.state);
        assert_eq!(s.seq, 9);
        assert_eq!(s.epoch, Some(e2.clone()));
        assert_eq!(seqs(&s.journal), vec![8, 9]);
        assert_eq!(ok(store.delta_rows(&k)), 2);
        let ids: Vec<_> = s.pending_chains.iter().map(|c| c.chain.as_str()).collect();
        assert_eq!(ids, vec!["n1", "n2"]);
        assert_eq!(s.recent, saved.recent[1..].to_vec());
        assert_eq!(s.recent_chains, saved.recent_chains);
        assert_eq!(s.summary, json!({"saved": 1}));

        // Appending continues from the saved session.
        ok(store.append(&[delta_step(&k, &e2, 10)]));
        let s = load(&store, &k);
        assert_eq!(s.state, json!({"n": 10, "saved": true}));
        assert_eq!(seqs(&s.journal), vec![9, 10]);

        // Saving a key never written, without an epoch: no journal.
        let k2 = key('g');
        ok(store.save(
            &k2,
            &SavedSession {
                epoch: None,
                ..saved.clone()
            },
        ));
        let s = load(&store, &k2);
        assert_eq!(s.epoch, None);
        assert!(s.journal.is_empty());
        assert_eq!(s.state, saved.state);
        assert_eq!(ok(store.delta_rows(&k2)), 0);
    }

    /// Writes `bytes` as `key`'s row of a key-only table.
    fn write_garbage(
        store: &RedbStore,
        def: TableDefinition<&str, &[u8]>,
        k: &SessionKey,
        bytes: &[u8],
    ) {
        let txn = store.db.begin_write().unwrap_or_else(|e| panic!("{e}"));
        {
            let mut table = txn.open_table(def).unwrap_or_else(|e| panic!("{e}"));
            table
                .insert(k.as_str(), bytes)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        txn.commit().unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn load_summary_reads_the_meta_without_a_full_load() {
        let tmp = TempDb::new("summary");
        let store = open(tmp.options());
        let (k, e) = (key('h'), Epoch::new("e"));
        ok(store.append(&[Step {
            summary: Some(json!({"count": 1})),
            ..first(&k, &e)
        }]));
        // A broken checkpoint fails a full load, not the summary.
        write_garbage(&store, CHECKPOINTS, &k, b"\xff not json");
        assert!(store.load(&k).is_err());
        assert_eq!(ok(store.load_summary(&k)), Some(json!({"count": 1})));
    }

    #[test]
    fn a_corrupt_record_of_one_key_fails_that_key_only() {
        let tmp = TempDb::new("corrupt");
        let store = open(tmp.options());
        let e = Epoch::new("e");
        let (good, bad_meta, bad_checkpoint, bad_delta) = (key('i'), key('j'), key('k'), key('l'));
        for k in [&good, &bad_meta, &bad_checkpoint, &bad_delta] {
            ok(store.append(&[first(k, &e), delta_step(k, &e, 1)]));
        }
        write_garbage(&store, META, &bad_meta, b"{\"seq\": \"garbage");
        write_garbage(&store, CHECKPOINTS, &bad_checkpoint, b"[1, 2]");
        {
            let txn = store.db.begin_write().unwrap_or_else(|e| panic!("{e}"));
            {
                let mut t = txn.open_table(DELTAS).unwrap_or_else(|e| panic!("{e}"));
                t.insert(
                    (bad_delta.as_str(), 1),
                    b"{\"seq\":1,\"patch\":7}".as_slice(),
                )
                .unwrap_or_else(|e| panic!("{e}"));
            }
            txn.commit().unwrap_or_else(|e| panic!("{e}"));
        }

        let err = |k: &SessionKey| match store.load(k) {
            Err(e) => e.message,
            Ok(_) => panic!("{k} loaded"),
        };
        assert!(err(&bad_meta).contains("meta of"), "{}", err(&bad_meta));
        assert!(err(&bad_checkpoint).contains("checkpoint of"));
        assert!(err(&bad_delta).contains("delta 1 of"));
        assert!(store.load_summary(&bad_meta).is_err());
        // No message carries a whole key (keys are secrets).
        assert!(!err(&bad_meta).contains(bad_meta.as_str()));
        assert_eq!(load(&store, &good).state, json!({"n": 1}));
        // The broken keys' failures do not block appends to others.
        ok(store.append(&[delta_step(&good, &e, 2)]));
        assert_eq!(load(&store, &good).state, json!({"n": 2}));
    }

    #[test]
    fn one_append_with_steps_of_several_keys_lands_them_all() {
        let tmp = TempDb::new("batch");
        let store = open(tmp.options());
        let e = Epoch::new("e");
        let (a, b, c) = (key('m'), key('n'), key('o'));
        ok(store.append(&[
            first(&a, &e),
            first(&b, &e),
            delta_step(&a, &e, 1),
            first(&c, &e),
            delta_step(&b, &e, 1),
            delta_step(&a, &e, 2),
        ]));
        assert_eq!(load(&store, &a).state, json!({"n": 2}));
        assert_eq!(seqs(&load(&store, &a).journal), vec![1, 2]);
        assert_eq!(load(&store, &b).seq, 1);
        assert_eq!(load(&store, &c).seq, 0);
    }

    #[test]
    fn a_batch_with_a_step_breaking_the_contract_writes_nothing() {
        let tmp = TempDb::new("contract");
        let store = open(tmp.options());
        let e = Epoch::new("e");
        let (a, b) = (key('p'), key('q'));
        // b's first step carries no checkpoint: the whole batch fails.
        let err = store
            .append(&[first(&a, &e), delta_step(&b, &e, 1)])
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert!(
            err.message.contains("carries no checkpoint"),
            "{}",
            err.message
        );
        assert!(ok(store.load(&a)).is_none());
        assert!(ok(store.load(&b)).is_none());

        // A gap without a checkpoint is refused too.
        ok(store.append(&[first(&a, &e), delta_step(&a, &e, 1)]));
        assert!(store.append(&[delta_step(&a, &e, 3)]).is_err());
        assert_eq!(load(&store, &a).seq, 1);
        // A new epoch restarts the journal, not the state.
        let e2 = Epoch::new("e2");
        ok(store.append(&[delta_step(&a, &e2, 2)]));
        let s = load(&store, &a);
        assert_eq!(
            (s.state, s.epoch, seqs(&s.journal)),
            (json!({"n": 2}), Some(e2), vec![2])
        );
    }

    #[test]
    fn a_relaxed_store_keeps_its_commits_across_a_reopen() {
        let tmp = TempDb::new("relaxed");
        let (k, e) = (key('r'), Epoch::new("e"));
        let relaxed = RedbOptions {
            fsync: false,
            ..tmp.options()
        };
        {
            let store = open(relaxed.clone());
            ok(store.append(&[first(&k, &e), delta_step(&k, &e, 1)]));
            ok(store.sync());
            ok(store.append(&[delta_step(&k, &e, 2)]));
        }
        let store = open(relaxed);
        assert_eq!(load(&store, &k).state, json!({"n": 2}));
    }
}
