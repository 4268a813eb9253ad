//! [`Step`]: one handled step of a session, as a [`super::StepLog`]
//! keeps it.

use serde_json::Value;

#[cfg(any(feature = "redb", feature = "redis"))]
use super::StoreError;
use super::{SavedChain, SavedDelta, SavedTask};
use crate::ids::{ChainId, Epoch, SessionKey};
use crate::protocol::reply::Outcome;

/// One handled step of a session, as the store must keep it: what the step
/// changed, never the whole state (but for a periodic checkpoint), so a
/// commit costs the size of the change. Steps of one key arrive in seq
/// order; a batch may hold steps of many keys (group commit).
///
/// It grows with what a step can change, so code outside tabhub starts
/// one with [`Step::new`] and sets the fields it needs.
#[derive(Clone, Debug)]
#[non_exhaustive]
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

    /// Refuses a step whose deltas are not consecutive up to its seq (the
    /// first rule of [`super::StepLog::append`]'s contract), before a log
    /// writes anything of it.
    ///
    /// # Errors
    /// [`StoreError`] ([`super::StoreCause::Invalid`]) naming the seqs.
    #[cfg(any(feature = "redb", feature = "redis"))]
    pub(crate) fn check_deltas(&self) -> Result<(), StoreError> {
        let consecutive = self.deltas.iter().zip(0u64..).all(|(d, i)| {
            self.deltas
                .first()
                .is_some_and(|f| d.seq == f.seq.saturating_add(i))
        });
        if !consecutive || self.deltas.last().is_some_and(|d| d.seq != self.seq) {
            return Err(StoreError::invalid(format_args!(
                "step of {} at seq {} carries deltas {:?}, not consecutive up to it",
                self.key,
                self.seq,
                self.deltas.iter().map(|d| d.seq).collect::<Vec<_>>()
            )));
        }
        Ok(())
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
