//! [`RedbStore`]: sessions on disk in one redb database, step by step.
//!
//! Every table is keyed by the session key (first tuple element where the
//! table holds many rows per key), and every value is UTF-8 JSON, so a
//! record can be read with any redb tool. Tables:
//!
//! | table            | key                    | value                                        |
//! |------------------|------------------------|----------------------------------------------|
//! | `schema`         | `"version"`            | `u64`, the schema version (1)                |
//! | `meta`           | key                    | `Meta`: seq, epoch, summary, checkpoint seq, journal start, recent-id and chain counters |
//! | `checkpoints`    | key                    | `{"seq", "state"}`: the latest whole state   |
//! | `deltas`         | (key, seq)             | the `delta` payload exactly as it was sent   |
//! | `recent_events`  | (key, n)               | `{"id", "outcome"}`, n increasing            |
//! | `recent_chains`  | (key, n)               | `{"id", "outcome"}`, n increasing            |
//! | `pending_chains` | (key, chain id)        | `{"no", "chain"}`, `no` the creation order    |
//! | `tasks`          | (key, task key)        | the input of a running restartable task      |
//! | `activity`       | (last activity ms, key) | nothing: keys by last activity, for expiry  |
//!
//! A key's state is its checkpoint with every delta after it applied in seq
//! order. Deltas are kept from `min(journal start, checkpoint seq + 1)` up
//! to the key's seq: the ones needed to rebuild the state, and the journal
//! for replay. The journal's start is not decided here: each step names it
//! ([`Step::journal_from`], what the session's bounded journal holds), and
//! older deltas are deleted in the transaction that makes them unneeded.
//!
//! Every commit is fsync'ed (redb's `Durability::Immediate`) before it returns.
//!
//! After an I/O error in a commit (a full disk, say), redb refuses every
//! later write until the database is opened again; the store reopens it at
//! its next call, so once the disk recovers, commits succeed again without
//! a restart (nothing is lost: what failed was never acknowledged).
//!
//! For fault injection, [`RedbStore::open_with_backend`] opens a database
//! kept in any redb `StorageBackend` instead of a file (the power-loss
//! test's storage, which forgets what was not synced).
//!
//! Files: `open.rs` (opening, reopening, transactions), `tables.rs`
//! (tables, row types, JSON helpers), `write.rs`
//! (appending steps), `save.rs` (saving a whole session), `load.rs`
//! (reading a key's log back), `trim.rs` (what stays bounded, what is deleted),
//! `retention.rs` (last activity, idle keys, deleting a key).

mod load;
mod open;
mod retention;
mod save;
mod tables;
mod trim;
mod write;

use std::fmt;
use std::path::PathBuf;

use std::sync::atomic::AtomicBool;
use std::sync::RwLock;

use redb::Database;
use serde_json::Value;

use super::{LoggedSession, SavedSession, SessionStore, Step, StepLog, StoreError};
use crate::ids::SessionKey;

/// Options of a [`RedbStore`].
#[derive(Clone, Debug)]
pub struct RedbOptions {
    /// The database file; its parent directories are created at open.
    /// With [`RedbStore::open_with_backend`], only the database's name in
    /// errors and logs.
    pub path: PathBuf,
    /// Event ids, and separately chain ids, kept per key with their outcome.
    pub recent_events: usize,
}

/// Sessions on disk in one redb database (see the module docs for the
/// schema). It is both halves of a store: its [`StepLog`] appends steps as
/// deltas, and as a [`SessionStore`] it saves a session whole
/// ([`SessionStore::save`]) and loads one by rebuilding it from its
/// checkpoint and deltas ([`LoggedSession::rebuild`]).
pub struct RedbStore {
    options: RedbOptions,
    /// Where the database is: `options.path`, or a backend a test gave.
    source: Source,
    /// The open database; `None` after a reopen failed (tried again at the
    /// next call).
    db: RwLock<Option<Database>>,
    /// Set when a write failed in redb itself: after an I/O error (a full
    /// disk, say) redb refuses every later write until the database is
    /// opened again, which the next call does (`open.rs`).
    broken: AtomicBool,
}

/// Where a [`RedbStore`]'s database lives, so a reopen finds it again.
enum Source {
    /// The file at `options.path`.
    File,
    /// A storage backend ([`RedbStore::open_with_backend`]): opens the
    /// database on a fresh clone of it.
    Backend(Box<OpenOnBackend>),
}

/// Opens the database on a fresh clone of a backend.
type OpenOnBackend = dyn Fn(&redb::Builder) -> Result<Database, redb::DatabaseError> + Send + Sync;

impl fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbStore")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl SessionStore for RedbStore {
    /// The key's checkpoint and deltas, rebuilt
    /// ([`StepLog::load_steps`], [`LoggedSession::rebuild`]).
    fn load(&self, key: &SessionKey) -> Result<Option<SavedSession>, StoreError> {
        self.load_steps(key)?.map(|l| l.rebuild(key)).transpose()
    }

    /// Replaces everything kept for `key` with `session`, in one
    /// transaction: its state becomes the checkpoint at its seq; of its
    /// journal (the session's, already bounded), the longest suffix that
    /// ends at its seq with no gap is kept (none without an epoch); of its
    /// recent ids, the newest `recent_events`.
    fn save(&self, key: &SessionKey, session: &SavedSession) -> Result<(), StoreError> {
        self.save_session(key, session).map_err(|e| e.for_key(key))
    }

    /// Reads the key's meta only.
    fn load_summary(&self, key: &SessionKey) -> Result<Option<Value>, StoreError> {
        self.read_summary(key).map_err(|e| e.for_key(key))
    }

    /// Distinct session keys in the `tasks` table. A key that does not parse
    /// (a corrupt row) is logged and skipped.
    fn sessions_with_tasks(&self) -> Result<Vec<SessionKey>, StoreError> {
        self.keys_with_tasks()
    }

    /// Deletes every row of the key in one transaction.
    fn delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.delete_session(key, None).map_err(|e| e.for_key(key))
    }

    /// Stamps the key's last activity (meta and `activity` index).
    fn touch(&self, key: &SessionKey) -> Result<(), StoreError> {
        self.touch_session(key).map_err(|e| e.for_key(key))
    }

    /// Reads at most `limit` rows of the `activity` index.
    fn idle_before(
        &self,
        cutoff: std::time::SystemTime,
        limit: usize,
    ) -> Result<Vec<SessionKey>, StoreError> {
        self.idle_keys(cutoff, limit)
    }

    /// Reads `offset + limit` rows of the `activity` index at most, from
    /// its newest end.
    fn recent(&self, offset: usize, limit: usize) -> Result<Vec<(SessionKey, u64)>, StoreError> {
        self.recent_keys(offset, limit)
    }

    /// Checks the key's activity and deletes its rows in one transaction.
    fn delete_if_idle(
        &self,
        key: &SessionKey,
        cutoff: std::time::SystemTime,
    ) -> Result<bool, StoreError> {
        self.delete_session(key, Some(cutoff))
            .map_err(|e| e.for_key(key))
    }

    /// Itself: every commit is fsync'ed before [`StepLog::append`] returns.
    fn step_log(&self) -> Option<&dyn StepLog> {
        Some(self)
    }
}

impl StepLog for RedbStore {
    /// Writes `steps` (any keys, each key's steps in seq order) in one
    /// write transaction: a delta row per delta, recent ids, pending
    /// chains, tasks, the meta, and a checkpoint when the step carries
    /// one; then deletes the deltas neither the journal nor the rebuild
    /// needs (below both the journal the last step names and the first
    /// delta after the checkpoint), and returns once the commit is
    /// fsync'ed.
    ///
    /// Beyond [`StepLog::append`]'s contract (checked: a step breaking it
    /// fails the whole batch): to replace a key wholesale, use
    /// [`SessionStore::save`]. The journal after a step is
    /// `journal_from..=seq`, as the step names it ([`Step::journal_from`]);
    /// the store bounds nothing itself. A `journal_from` below the deltas
    /// the store holds for the epoch (which a session never names) starts
    /// at the first held one.
    ///
    /// # Errors
    /// [`StoreError`] when a step breaks the contract, a touched key's meta
    /// does not decode, or redb fails; nothing of the batch is then
    /// written. The error names the key of the step it concerns.
    fn append(&self, steps: &[Step]) -> Result<(), StoreError> {
        self.append_steps(steps)
    }

    /// The key's meta, checkpoint, deltas from its `keep_from`, recent
    /// ids, pending chains and tasks, in one read transaction.
    fn load_steps(&self, key: &SessionKey) -> Result<Option<LoggedSession>, StoreError> {
        self.read_logged(key).map_err(|e| e.for_key(key))
    }
}

#[cfg(test)]
mod tests;
