//! Saved sessions: the [`Store`] trait and what it keeps ([`SavedSession`]).
//!
//! A session loads itself from the store when it starts (on its first
//! join) and saves itself when it stops, both on the blocking pool; with a
//! durable store its steps go to the group-commit thread (`committer.rs`). [`MemoryStore`] keeps saved
//! sessions in process memory; [`RedbStore`] keeps them on disk (redb:
//! embedded, ACID), step by step, for crash safety.

pub(crate) mod committer;
mod memory;
mod redb;

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::ids::{ChainId, Epoch, SessionKey};
pub(crate) use crate::protocol::reply::Outcome;

pub use memory::MemoryStore;
pub use redb::{RedbOptions, RedbStore};

/// One journaled delta: its seq and its `delta` payload JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedDelta {
    /// The seq the delta produces.
    pub seq: u64,
    /// The `delta` payload, exactly as it was sent.
    pub payload: Arc<RawValue>,
}

/// A chained event not yet re-submitted by any tab.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedChain {
    /// Its chain id.
    pub chain: ChainId,
    /// The event name to re-submit.
    pub name: String,
    /// The event payload to re-submit.
    pub payload: Value,
}

/// A restartable background task that was running: its key and the input
/// the app gave it, handed back to [`crate::App::restart_task`] on load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedTask {
    /// The task's key.
    pub key: String,
    /// The app's input for restarting it.
    pub input: Value,
}

/// Everything a stopped session needs to come back as it was.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedSession {
    /// The state's JSON.
    pub state: Value,
    /// The seq of that state. A loaded session never goes below it.
    pub seq: u64,
    /// The epoch, if the store kept the journal with it. `None` makes the
    /// loaded session start a new epoch (tabs resync by snapshot).
    pub epoch: Option<Epoch>,
    /// Recent deltas, oldest first, ending at `seq` (empty if not kept).
    pub journal: Vec<SavedDelta>,
    /// Chains waiting for a tab; re-sent after the session loads.
    pub pending_chains: Vec<SavedChain>,
    /// Recent event ids and chain ids with their first outcome, oldest first.
    pub recent: Vec<(String, Outcome)>,
    /// The app's last summary (docs/protocol.md section 5.8 (summary joins)), `null` if never set.
    #[serde(default)]
    pub summary: Value,
    /// Restartable tasks that were running, restarted after a load.
    #[serde(default)]
    pub tasks: Vec<SavedTask>,
    /// Recent chain ids with their first outcome, oldest first.
    #[serde(default)]
    pub recent_chains: Vec<(String, Outcome)>,
}

/// One handled step of a session, as the store must keep it: what the step
/// changed, never the whole state (but for a periodic checkpoint), so a
/// commit costs the size of the change. Steps of one key arrive in seq
/// order; a batch may hold steps of many keys (group commit).
#[derive(Clone, Debug)]
pub struct Step {
    /// The session.
    pub key: SessionKey,
    /// Its epoch (unchanged for the life of a saved session).
    pub epoch: Epoch,
    /// The session's seq after this step.
    pub seq: u64,
    /// The deltas of this step, in seq order, the last producing `seq`
    /// (empty if the step changed no state; more than one when a handler's
    /// requests changed state again, e.g. cancelling a task).
    pub deltas: Vec<SavedDelta>,
    /// The seq of the oldest delta the session's journal holds after this
    /// step (`seq + 1` when the journal is empty). The session's journal
    /// decides what is kept for replay (bounded by count and bytes); a
    /// durable store keeps the deltas from here to `seq` (and those its
    /// rebuild needs) and may delete older ones.
    pub journal_from: u64,
    /// The event id handled in this step and its first outcome.
    pub event: Option<(String, Outcome)>,
    /// The chain id handled in this step and its first outcome.
    pub chain: Option<(String, Outcome)>,
    /// Chains created in this step.
    pub chains_added: Vec<SavedChain>,
    /// Chains handled in this step (no longer pending).
    pub chains_removed: Vec<ChainId>,
    /// The summary, if this step changed it.
    pub summary: Option<Value>,
    /// Restartable tasks started in this step.
    pub tasks_started: Vec<SavedTask>,
    /// Keys of restartable tasks that ended in this step.
    pub tasks_ended: Vec<String>,
    /// The whole state at `seq`, every so many deltas: loading starts from
    /// the latest checkpoint and applies the deltas after it.
    pub checkpoint: Option<Value>,
}

impl Step {
    /// Whether the step holds nothing to keep (a repeated event id, say).
    pub fn is_empty(&self) -> bool {
        self.deltas.is_empty()
            && self.event.is_none()
            && self.chain.is_none()
            && self.chains_added.is_empty()
            && self.chains_removed.is_empty()
            && self.summary.is_none()
            && self.tasks_started.is_empty()
            && self.tasks_ended.is_empty()
            && self.checkpoint.is_none()
    }

    /// A step of `key` at `seq` that changed nothing yet, with an empty
    /// journal; the session fills in what its handling changes.
    pub fn new(key: SessionKey, epoch: Epoch, seq: u64) -> Self {
        Self {
            key,
            epoch,
            seq,
            deltas: Vec::new(),
            journal_from: seq.saturating_add(1),
            event: None,
            chain: None,
            chains_added: Vec::new(),
            chains_removed: Vec::new(),
            summary: None,
            tasks_started: Vec::new(),
            tasks_ended: Vec::new(),
            checkpoint: None,
        }
    }
}

/// `t` in milliseconds since the UNIX epoch (0 before it), as stores keep
/// activity times.
pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A store failure, with the key's prefix and a cause for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    /// What failed, in words.
    pub message: String,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "store error: {}", self.message)
    }
}

impl std::error::Error for StoreError {}

/// Where stopped sessions are kept. Calls are synchronous and may block:
/// tabhub never makes them on an actor thread (`load`, `save`,
/// `load_summary` and `sessions_with_tasks` run on the blocking pool,
/// `append` on the commit thread), so a slow disk delays only the session
/// it serves.
pub trait Store: Send + Sync + 'static {
    /// Loads a saved session, `Ok(None)` if the key was never saved.
    ///
    /// # Errors
    /// [`StoreError`] when the record exists but cannot be read.
    fn load(&self, key: &SessionKey) -> Result<Option<SavedSession>, StoreError>;

    /// Saves a session, replacing what was saved for the key.
    ///
    /// # Errors
    /// [`StoreError`] when it could not be written.
    fn save(&self, key: &SessionKey, session: &SavedSession) -> Result<(), StoreError>;

    /// The saved summary of a key (`Ok(None)` if never saved), served to
    /// summary joins of a stopped session. The default loads the whole
    /// session; stores may read less.
    ///
    /// # Errors
    /// As [`Store::load`].
    fn load_summary(&self, key: &SessionKey) -> Result<Option<Value>, StoreError> {
        Ok(self.load(key)?.map(|s| s.summary))
    }

    /// Keys of saved sessions that had restartable tasks running, so the
    /// service can load them at start and their tasks go on without waiting
    /// for a tab. Default: none.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be read.
    fn sessions_with_tasks(&self) -> Result<Vec<SessionKey>, StoreError> {
        Ok(Vec::new())
    }

    /// Deletes everything kept for `key` (state, journal, recent ids,
    /// chains, tasks, summary): the next load finds nothing and the key
    /// starts again from the app's initial state, in a new epoch. Never
    /// called while the key's session is live (the supervisor fences the
    /// key until this returns).
    ///
    /// Returns whether anything was kept. The default refuses: a store
    /// that cannot delete keeps every session.
    ///
    /// # Errors
    /// [`StoreError`] when it could not be deleted (nothing is then
    /// deleted), or the store cannot delete.
    fn delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        Err(StoreError {
            message: format!("this store cannot delete sessions (asked to delete {key})"),
        })
    }

    /// Notes that the session of `key` was active now, although it has
    /// nothing new to save (it stopped unchanged). Stores that expire idle
    /// sessions keep, per key, the time of its last save, append or touch.
    /// Default: nothing.
    ///
    /// # Errors
    /// [`StoreError`] when it could not be written.
    fn touch(&self, key: &SessionKey) -> Result<(), StoreError> {
        let _ = key;
        Ok(())
    }

    /// At most `limit` keys whose last activity (save, append or touch) is
    /// older than `cutoff`, least recently active first: the candidates of
    /// the retention sweeper (`--session-ttl`). The sweeper calls it once
    /// per tick, so it must cost about `limit` reads, not a scan of every
    /// key. Default: none (sessions are kept forever).
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be read.
    fn idle_before(&self, cutoff: SystemTime, limit: usize) -> Result<Vec<SessionKey>, StoreError> {
        let _ = (cutoff, limit);
        Ok(Vec::new())
    }

    /// Deletes `key` as [`Store::delete`] does, but only if its last
    /// activity is still older than `cutoff`, checked in the same
    /// transaction (the key may have been used since it was listed).
    /// Returns whether it was deleted. Default: never deletes.
    ///
    /// # Errors
    /// [`StoreError`] when it could not be read or deleted.
    fn delete_if_idle(&self, key: &SessionKey, cutoff: SystemTime) -> Result<bool, StoreError> {
        let _ = (key, cutoff);
        Ok(false)
    }

    /// Whether [`Store::append`] makes steps durable. A durable store's
    /// sessions send a step's delta and reply only after its append
    /// returned (docs/architecture.md invariant 8). Default: `false`.
    fn durable(&self) -> bool {
        false
    }

    /// Writes the steps of any number of sessions in one transaction (group
    /// commit). With a durable store the steps survive a crash once this
    /// returns `Ok`. Default: keeps nothing (the session is saved whole
    /// when it stops).
    ///
    /// # Errors
    /// [`StoreError`] when the transaction failed; none of the steps is
    /// then durable.
    fn append(&self, steps: &[Step]) -> Result<(), StoreError> {
        let _ = steps;
        Ok(())
    }
}
