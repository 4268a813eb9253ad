//! [`StepLog`]: the durable half of a store, which keeps every step of
//! every session as it happens; and [`LoggedSession`], what a log holds
//! for one key, with the rebuild of a [`SavedSession`] from it (any log
//! stores a checkpoint and the deltas after it, so the rebuild is here,
//! once, not in each store).

use serde::Deserialize;
use serde_json::Value;

use super::{SavedChain, SavedDelta, SavedSession, SavedTask, Step, StoreError};
use crate::ids::{Epoch, SessionKey};
use crate::protocol::reply::Outcome;

/// A durable log of steps: what each handled message of a session
/// changed, written as it happens, so a crash loses nothing acknowledged.
/// A store offers one through [`super::SessionStore::step_log`].
///
/// The group-commit thread is its only writer (`append`, on that thread,
/// never an actor's). The session decides what the log keeps: each step
/// names the first seq of the session's journal ([`Step::journal_from`])
/// and carries a checkpoint every so many deltas; the log keeps the
/// deltas from there and those after the latest checkpoint, and deletes
/// older ones in the same append (the trim).
pub trait StepLog: Send + Sync + 'static {
    /// Writes the steps of any number of sessions (each key's steps in seq
    /// order) in one transaction (group commit), and trims each key to the
    /// journal window its last step names. Once this returns `Ok` the steps
    /// survive a crash.
    ///
    /// # Contract
    /// - A step's deltas, if any, are consecutive, the last produces the
    ///   step's seq, and the first follows the key's seq: seq advances with
    ///   each delta and not at all without one.
    /// - Otherwise the step carries a `checkpoint` (the whole state at its
    ///   seq): in particular the first step of a key never written, and
    ///   any step whose seq jumps (it restarts the key's deltas; recent
    ///   ids and chains stay).
    /// - A new epoch with a following seq needs no checkpoint; it restarts
    ///   the journal (no delta of the old epoch is in the new journal).
    ///
    /// # Errors
    /// [`StoreError`] when the transaction failed or a step breaks the
    /// contract ([`super::StoreCause::Invalid`]); none of the steps is then
    /// durable.
    fn append(&self, steps: &[Step]) -> Result<(), StoreError>;

    /// What the log holds for `key` (its latest checkpoint, the deltas
    /// kept, and the records steps carry), `Ok(None)` if it holds nothing.
    /// [`LoggedSession::rebuild`] makes the session of it.
    ///
    /// # Errors
    /// [`StoreError`] when the records exist but cannot be read.
    fn load_steps(&self, key: &SessionKey) -> Result<Option<LoggedSession>, StoreError>;

    /// Whether the log could take a write now, without writing: asked by
    /// the commit thread while its writes fail, so the hub's health
    /// recovers when the log does, not only at the next write (a node out
    /// of a load balancer's rotation may get none). `Some(Ok(()))`: yes;
    /// `Some(Err(_))`: no; `None` (the default): the log cannot tell
    /// without writing, and the next write decides.
    fn probe(&self) -> Option<Result<(), StoreError>> {
        None
    }
}

/// What a [`StepLog`] holds for one key: the latest checkpoint, the deltas
/// kept (the ones after the checkpoint, which the rebuild applies, and the
/// journal for replay), and what steps record besides.
///
/// Built by a store's [`StepLog::load_steps`] with [`LoggedSession::new`]
/// and the fields it reads.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LoggedSession {
    /// The key's seq (its latest step's).
    pub seq: u64,
    /// Its epoch; `None` if it was saved without one (no journal then).
    pub epoch: Option<Epoch>,
    /// The seq of the checkpoint, at most `seq`.
    pub checkpoint_seq: u64,
    /// The whole state at `checkpoint_seq`.
    pub checkpoint: Value,
    /// The journal's first seq as the last step named it (`seq + 1`:
    /// empty).
    pub journal_from: u64,
    /// The deltas kept, in seq order: at least every one from
    /// `min(journal_from, checkpoint_seq + 1)` to `seq`.
    pub deltas: Vec<SavedDelta>,
    /// Chains waiting for a tab, in creation order.
    pub pending_chains: Vec<SavedChain>,
    /// Recent event ids with their first outcome, oldest first.
    pub recent: Vec<(String, Outcome)>,
    /// Recent chain ids with their first outcome, oldest first.
    pub recent_chains: Vec<(String, Outcome)>,
    /// The app's summary, `null` if never set.
    pub summary: Value,
    /// Restartable tasks running.
    pub tasks: Vec<SavedTask>,
}

/// What the rebuild needs of a `delta` payload (`event_id` is ignored).
#[derive(Deserialize)]
struct DeltaRecord {
    /// The seq the delta produces.
    seq: u64,
    /// The RFC 6902 patch from the state before it.
    patch: json_patch::Patch,
}

impl LoggedSession {
    /// A key at `seq` in `epoch` whose checkpoint is `checkpoint` at
    /// `seq`, with an empty journal and nothing else recorded.
    pub fn new(seq: u64, epoch: Option<Epoch>, checkpoint: Value) -> Self {
        Self {
            seq,
            epoch,
            checkpoint_seq: seq,
            checkpoint,
            journal_from: seq.saturating_add(1),
            deltas: Vec::new(),
            pending_chains: Vec::new(),
            recent: Vec::new(),
            recent_chains: Vec::new(),
            summary: Value::Null,
            tasks: Vec::new(),
        }
    }

    /// The first seq whose delta the log must keep: the journal's first, or
    /// the first after the checkpoint (the rebuild applies those),
    /// whichever is lower.
    pub fn keep_from(&self) -> u64 {
        self.journal_from.min(self.checkpoint_seq.saturating_add(1))
    }

    /// The session of `key`: the checkpoint with every delta after it applied in
    /// seq order, and the journal (`journal_from..=seq`; none without an
    /// epoch, since the loaded session then starts a new one).
    ///
    /// # Errors
    /// [`StoreError`] ([`super::StoreCause::Corrupt`]) when the checkpoint
    /// is past `seq`, a needed delta is missing, or one does not decode or
    /// apply.
    pub fn rebuild(self, key: &SessionKey) -> Result<SavedSession, StoreError> {
        self.rebuilt(key).map_err(|e| e.for_key(key))
    }

    fn rebuilt(self, key: &SessionKey) -> Result<SavedSession, StoreError> {
        if self.checkpoint_seq > self.seq {
            return Err(StoreError::corrupt(format_args!(
                "the checkpoint of {key} is at seq {}, past its seq {}",
                self.checkpoint_seq, self.seq
            )));
        }
        let journal_from = if self.journal_from <= self.seq && self.epoch.is_some() {
            self.journal_from
        } else {
            u64::MAX
        };
        let start = self.keep_from();
        let mut state = self.checkpoint;
        let mut journal = Vec::new();
        let mut expected = start;
        for delta in self.deltas {
            if delta.seq < start {
                continue;
            }
            if delta.seq != expected || delta.seq > self.seq {
                break;
            }
            let seq = delta.seq;
            if seq > self.checkpoint_seq {
                let record: DeltaRecord =
                    serde_json::from_str(delta.payload.get()).map_err(|e| {
                        StoreError::corrupt(format_args!(
                            "delta {seq} of {key} does not decode: {e}"
                        ))
                    })?;
                if record.seq != seq {
                    return Err(StoreError::corrupt(format_args!(
                        "delta {seq} of {key} says seq {}",
                        record.seq
                    )));
                }
                json_patch::patch(&mut state, &record.patch.0).map_err(|e| {
                    StoreError::corrupt(format_args!("applying delta {seq} of {key}: {e}"))
                })?;
            }
            if seq >= journal_from {
                journal.push(delta);
            }
            expected += 1;
        }
        if start <= self.seq && expected != self.seq.saturating_add(1) {
            return Err(StoreError::corrupt(format_args!(
                "delta {expected} of {key} is missing (needed from {start} to {})",
                self.seq
            )));
        }
        Ok(SavedSession {
            state,
            seq: self.seq,
            epoch: self.epoch,
            journal,
            pending_chains: self.pending_chains,
            recent: self.recent,
            summary: self.summary,
            tasks: self.tasks,
            recent_chains: self.recent_chains,
        })
    }
}
