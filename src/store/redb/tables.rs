//! The redb tables of [`super::RedbStore`], the records kept in them, and
//! [`Tables`], the tables of one write transaction.
//!
//! Every value is UTF-8 JSON (see the schema in the module docs of
//! [`super`]); this file owns the row types and their encoding, not what
//! is written when (`write.rs`), read (`load.rs`) or deleted (`trim.rs`).

use std::fmt;

use redb::{ReadableTable, Table, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{Epoch, SessionKey};
use crate::store::{Outcome, SavedChain, SavedTask, StoreError};

/// The layout written by this version; a database with another one is
/// refused at open.
pub(super) const SCHEMA_VERSION: u64 = 1;

/// `"version"` -> [`SCHEMA_VERSION`].
pub(super) const SCHEMA: TableDefinition<&str, u64> = TableDefinition::new("schema");
/// key -> [`Meta`].
pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// key -> [`Checkpoint`].
pub(super) const CHECKPOINTS: TableDefinition<&str, &[u8]> = TableDefinition::new("checkpoints");
/// (key, seq) -> the `delta` payload exactly as it was sent.
pub(super) const DELTAS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("deltas");
/// (key, n) -> [`RecentRow`], n increasing.
pub(super) const RECENT_EVENTS: TableDefinition<(&str, u64), &[u8]> =
    TableDefinition::new("recent_events");
/// (key, n) -> [`RecentRow`], n increasing.
pub(super) const RECENT_CHAINS: TableDefinition<(&str, u64), &[u8]> =
    TableDefinition::new("recent_chains");
/// (key, chain id) -> [`PendingRow`].
pub(super) const PENDING_CHAINS: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("pending_chains");
/// (key, task key) -> the input of a running restartable task.
pub(super) const TASKS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("tasks");
/// (last activity, ms since the UNIX epoch, key) -> nothing: every key by
/// its last activity, oldest first, for the retention sweeper.
pub(super) const ACTIVITY: TableDefinition<(u64, &str), ()> = TableDefinition::new("activity");

/// The per-key record of `meta`.
///
/// Invariant: the delta rows of the key are exactly
/// `keep_from()..=seq`, with no gap.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Meta {
    /// The key's seq.
    pub(super) seq: u64,
    /// Its epoch; `None` if saved without one (then the journal is empty).
    pub(super) epoch: Option<Epoch>,
    /// The app's summary.
    #[serde(default)]
    pub(super) summary: Value,
    /// The seq of the row in `checkpoints`.
    pub(super) checkpoint_seq: u64,
    /// First seq of the journal, as the session's last step named it
    /// ([`crate::store::Step::journal_from`]): the journal is
    /// `journal_from..=seq`, empty when `journal_from` is `seq + 1`.
    ///
    /// Databases written before the session named the window also hold
    /// `journal_len` and `journal_bytes` here; they are ignored (a zero
    /// `journal_len` always came with `journal_from = seq + 1`).
    pub(super) journal_from: u64,
    /// Rows of `recent_events`: `first..next`.
    pub(super) events: Span,
    /// Rows of `recent_chains`: `first..next`.
    pub(super) chains: Span,
    /// The `no` of the next pending chain.
    pub(super) next_pending: u64,
    /// The key's last activity (save, append or touch) in ms since the
    /// UNIX epoch, as its `activity` row holds it; 0 in databases written
    /// before retention (such keys are stamped when the store opens).
    #[serde(default)]
    pub(super) active_ms: u64,
}

impl Meta {
    /// A key at `seq` whose checkpoint is at `seq`, with an empty journal
    /// and no recent ids, chains or summary.
    pub(super) fn new(epoch: Option<Epoch>, seq: u64) -> Self {
        Self {
            seq,
            epoch,
            summary: Value::Null,
            checkpoint_seq: seq,
            journal_from: seq.saturating_add(1),
            events: Span::default(),
            chains: Span::default(),
            next_pending: 0,
            active_ms: 0,
        }
    }
}

/// Row numbers `first..next` of a key in a recent-id table.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub(super) struct Span {
    /// The oldest row still kept.
    pub(super) first: u64,
    /// The number the next row gets.
    pub(super) next: u64,
}

/// A row of `checkpoints`, as written.
#[derive(Serialize)]
pub(super) struct CheckpointRef<'a> {
    /// The seq of `state`.
    pub(super) seq: u64,
    /// The whole state at `seq`.
    pub(super) state: &'a Value,
}

/// A row of `checkpoints`, as read.
#[derive(Deserialize)]
pub(super) struct Checkpoint {
    /// The seq of `state`.
    pub(super) seq: u64,
    /// The whole state at `seq`.
    pub(super) state: Value,
}

/// A row of `recent_events` or `recent_chains`, as written.
#[derive(Serialize)]
pub(super) struct RecentRef<'a> {
    /// The event or chain id.
    pub(super) id: &'a str,
    /// Its first outcome.
    pub(super) outcome: &'a Outcome,
}

/// A row of `recent_events` or `recent_chains`, as read.
#[derive(Deserialize)]
pub(super) struct RecentRow {
    /// The event or chain id.
    pub(super) id: String,
    /// Its first outcome.
    pub(super) outcome: Outcome,
}

/// A row of `pending_chains`, as written.
#[derive(Serialize)]
pub(super) struct PendingRef<'a> {
    /// Creation order among the key's chains.
    pub(super) no: u64,
    /// The chain.
    pub(super) chain: &'a SavedChain,
}

/// A row of `pending_chains`, as read.
#[derive(Deserialize)]
pub(super) struct PendingRow {
    /// Creation order among the key's chains.
    pub(super) no: u64,
    /// The chain.
    pub(super) chain: SavedChain,
}

/// A [`StoreError`] saying what failed in redb (or the file system) and
/// why ([`crate::store::StoreCause::Backend`]).
pub(super) fn fail(what: impl fmt::Display, cause: impl fmt::Display) -> StoreError {
    StoreError::backend(format_args!("{what}: {cause}"))
}

/// `value` as JSON bytes; `what` names it in the error.
pub(super) fn to_json(
    what: impl fmt::Display,
    value: &impl Serialize,
) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| fail(format_args!("encoding {what}"), e))
}

/// JSON `bytes` decoded; `what` names them in the error (a record that
/// does not decode is [`crate::store::StoreCause::Corrupt`]).
pub(super) fn from_json<T: serde::de::DeserializeOwned>(
    what: impl fmt::Display,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::corrupt(format_args!("{what} does not decode: {e}")))
}

/// `n` as `u64` (saturating; a `usize` wider than 64 bits is not seen).
pub(super) fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The tables of one write transaction.
pub(super) struct Tables<'t> {
    /// See [`META`].
    pub(super) meta: Table<'t, &'static str, &'static [u8]>,
    /// See [`CHECKPOINTS`].
    pub(super) checkpoints: Table<'t, &'static str, &'static [u8]>,
    /// See [`DELTAS`].
    pub(super) deltas: Table<'t, (&'static str, u64), &'static [u8]>,
    /// See [`RECENT_EVENTS`].
    pub(super) recent_events: Table<'t, (&'static str, u64), &'static [u8]>,
    /// See [`RECENT_CHAINS`].
    pub(super) recent_chains: Table<'t, (&'static str, u64), &'static [u8]>,
    /// See [`PENDING_CHAINS`].
    pub(super) pending: Table<'t, (&'static str, &'static str), &'static [u8]>,
    /// See [`TASKS`].
    pub(super) tasks: Table<'t, (&'static str, &'static str), &'static [u8]>,
    /// See [`ACTIVITY`].
    pub(super) activity: Table<'t, (u64, &'static str), ()>,
}

impl<'t> Tables<'t> {
    /// Opens (creating if missing) every table in `txn`.
    pub(super) fn open(txn: &'t WriteTransaction) -> Result<Self, StoreError> {
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
            activity: txn.open_table(ACTIVITY).map_err(|e| open("activity", e))?,
        })
    }

    /// The key's meta, `None` for a key never written.
    pub(super) fn read_meta(&self, key: &SessionKey) -> Result<Option<Meta>, StoreError> {
        let row = self
            .meta
            .get(key.as_str())
            .map_err(|e| fail(format_args!("reading the meta of {key}"), e))?;
        row.map(|v| from_json(format_args!("meta of {key}"), v.value()))
            .transpose()
    }

    /// Replaces the key's meta.
    pub(super) fn write_meta(&mut self, key: &SessionKey, meta: &Meta) -> Result<(), StoreError> {
        let value = to_json(format_args!("meta of {key}"), meta)?;
        self.meta
            .insert(key.as_str(), value.as_slice())
            .map_err(|e| fail(format_args!("writing the meta of {key}"), e))?;
        Ok(())
    }

    /// Replaces the key's checkpoint with `state` at `seq`.
    pub(super) fn write_checkpoint(
        &mut self,
        key: &SessionKey,
        seq: u64,
        state: &Value,
    ) -> Result<(), StoreError> {
        let value = to_json(
            format_args!("checkpoint of {key}"),
            &CheckpointRef { seq, state },
        )?;
        self.checkpoints
            .insert(key.as_str(), value.as_slice())
            .map_err(|e| fail(format_args!("writing the checkpoint of {key}"), e))?;
        Ok(())
    }

    /// Records a pending chain of `key`, `no` its creation order.
    pub(super) fn put_pending(
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

    /// Records a running restartable task of `key`.
    pub(super) fn put_task(
        &mut self,
        key: &SessionKey,
        task: &SavedTask,
    ) -> Result<(), StoreError> {
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
