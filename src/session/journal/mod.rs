//! The bounded journal of recent deltas, and the resume decision for a
//! joining cursor: `current`, `replay` or `snapshot`; docs/protocol.md section 5.4 (resume kinds).
//!
//! Each journal is bounded on its own (`--journal-len`,
//! `--journal-max-bytes`) and, with the other journals of its hub, by the
//! journal budget (`--journal-total-bytes`, `budget.rs`), which may evict
//! its oldest deltas from another session's thread: its entries sit under
//! a lock of their own, taken for a push, a resume decision or an
//! eviction, never held across anything that waits.

mod budget;

pub(crate) use budget::JournalBudget;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::value::RawValue;

use crate::ids::Epoch;
use crate::protocol::message::Cursor;
use crate::store::SavedDelta;

/// What a journaled delta holds besides its payload's bytes, in bytes:
/// its slot in the deque (seq and pointer, 24 bytes, up to twice that
/// with the deque's spare capacity) and the shared payload's two counts
/// (16 bytes). `benches/session_memory.rs` measured 56 to 69 bytes of
/// heap beyond the payload for journals of 9 to 65 deltas; the figure
/// counted errs on the high side.
pub(crate) const ENTRY_COST: usize = 72;

/// Recent deltas, oldest first, bounded by count and by payload bytes
/// (whichever is reached first), and by the hub's journal budget. Entries
/// are the encoded `delta` payloads, shared with the fan-out, so
/// journaling costs no second encoding.
#[derive(Debug)]
pub(crate) struct Journal {
    shared: Arc<Shared>,
    max_len: usize,
    max_bytes: usize,
    /// The budget it counts in, and its place there; `None` until the
    /// session starts loading (and in unit tests).
    budget: Option<(Arc<JournalBudget>, u64)>,
}

/// A journal's entries, reachable from the budget as well as from its
/// session.
#[derive(Debug, Default)]
struct Shared {
    entries: Mutex<Entries>,
    /// `Entries::cost`, readable without the lock (the budget picks the
    /// largest journals by it).
    cost: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The deltas and what they add up to.
#[derive(Debug, Default)]
struct Entries {
    deltas: VecDeque<SavedDelta>,
    /// Payload bytes (what `--journal-max-bytes` bounds).
    payload_bytes: usize,
    /// Payload bytes plus [`ENTRY_COST`] per delta (what the budget
    /// counts).
    cost: usize,
}

impl Entries {
    fn pop_oldest(&mut self) -> bool {
        match self.deltas.pop_front() {
            Some(old) => {
                let len = old.payload.get().len();
                self.payload_bytes -= len;
                self.cost -= len + ENTRY_COST;
                true
            }
            None => false,
        }
    }
}

/// How a cursor catches up with the session.
#[derive(Debug)]
pub(crate) enum Catchup<'a> {
    /// Up to date.
    Current,
    /// These delta payloads, in seq order, with no gap.
    Replay(Vec<&'a RawValue>),
    /// Send the whole state.
    Snapshot,
}

impl Journal {
    pub(crate) fn new(max_len: usize, max_bytes: usize) -> Self {
        Self {
            shared: Arc::default(),
            max_len,
            max_bytes,
            budget: None,
        }
    }

    /// Counts this journal's bytes, now and as they change, in `budget`
    /// (which may evict its oldest deltas from now on). A session calls it
    /// once, as it starts loading and before anything is journaled:
    /// leaving a budget empties the journal (what `Drop` needs), so a
    /// journal moved to a second budget would start empty there.
    pub(crate) fn count_in(&mut self, budget: Arc<JournalBudget>) {
        self.leave_budget();
        let id = budget.enroll(self.shared.clone());
        self.budget = Some((budget, id));
    }

    /// Restores saved entries (oldest first), then applies the bounds.
    pub(crate) fn restore(&mut self, saved: Vec<SavedDelta>) {
        for d in saved {
            self.push(d.seq, d.payload);
        }
    }

    /// Appends the delta that produced `seq`; drops the oldest entries while
    /// over either of this journal's bounds, then lets the budget evict
    /// if the hub's journals are over theirs.
    pub(crate) fn push(&mut self, seq: u64, payload: Arc<RawValue>) {
        let over = {
            let mut e = self.shared.lock();
            let before = e.cost;
            let len = payload.get().len();
            e.payload_bytes += len;
            e.cost += len + ENTRY_COST;
            e.deltas.push_back(SavedDelta { seq, payload });
            while e.deltas.len() > self.max_len || e.payload_bytes > self.max_bytes {
                if !e.pop_oldest() {
                    break;
                }
            }
            self.shared.cost.store(e.cost, Ordering::Relaxed);
            match &self.budget {
                Some((budget, _)) => budget.account(before, e.cost),
                None => false,
            }
        };
        if let Some((budget, _)) = self.budget.as_ref().filter(|_| over) {
            budget.evict();
        }
    }

    /// A copy of the entries, oldest first (what the store keeps).
    pub(crate) fn saved(&self) -> Vec<SavedDelta> {
        self.shared.lock().deltas.iter().cloned().collect()
    }

    /// The seq of the oldest entry, `None` when empty.
    pub(crate) fn first_seq(&self) -> Option<u64> {
        self.shared.lock().deltas.front().map(|d| d.seq)
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.shared.lock().deltas.len()
    }

    /// Decides how a joining `cursor` catches up with a session at
    /// `(epoch, seq)` and hands the decision to `answer` (the entries stay
    /// locked meanwhile, so no eviction splits a replay). A cursor of
    /// another epoch, ahead of the session, or older than the journal's
    /// first entry gets a snapshot.
    pub(crate) fn catchup<R>(
        &self,
        cursor: Option<&Cursor>,
        epoch: &Epoch,
        seq: u64,
        answer: impl FnOnce(Catchup<'_>) -> R,
    ) -> R {
        let Some(cursor) = cursor else {
            return answer(Catchup::Snapshot);
        };
        if &cursor.epoch != epoch || cursor.seq > seq {
            return answer(Catchup::Snapshot);
        }
        if cursor.seq == seq {
            return answer(Catchup::Current);
        }
        let e = self.shared.lock();
        match e.deltas.front() {
            // Gapless only if the journal still holds the delta right after
            // the cursor.
            Some(first) if first.seq <= cursor.seq + 1 => answer(Catchup::Replay(
                e.deltas
                    .iter()
                    .filter(|d| d.seq > cursor.seq)
                    .map(|d| &*d.payload)
                    .collect(),
            )),
            _ => answer(Catchup::Snapshot),
        }
    }

    /// Takes this journal out of its budget, its bytes off the total.
    fn leave_budget(&mut self) {
        if let Some((budget, id)) = self.budget.take() {
            budget.leave(id, &self.shared);
        }
    }
}

impl Drop for Journal {
    /// A session that stops takes its journal's bytes off the total.
    fn drop(&mut self) {
        self.leave_budget();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(seq: u64) -> Arc<RawValue> {
        Arc::from(
            RawValue::from_string(format!("{{\"seq\":{seq}}}")).unwrap_or_else(|e| panic!("{e}")),
        )
    }

    fn journal_with(n: u64, max_len: usize, max_bytes: usize) -> Journal {
        let mut j = Journal::new(max_len, max_bytes);
        for s in 1..=n {
            j.push(s, raw(s));
        }
        j
    }

    fn cursor(epoch: &Epoch, seq: u64) -> Cursor {
        Cursor {
            epoch: epoch.clone(),
            seq,
        }
    }

    #[test]
    fn keeps_at_most_max_len_entries() {
        let j = journal_with(10, 4, usize::MAX);
        assert_eq!(j.len(), 4);
        assert_eq!(
            j.saved().iter().map(|d| d.seq).collect::<Vec<_>>(),
            vec![7, 8, 9, 10]
        );
    }

    #[test]
    fn keeps_at_most_max_bytes() {
        // Each payload `{"seq":N}` is 9 bytes for N < 10.
        let j = journal_with(9, 100, 20);
        assert_eq!(j.len(), 2);
    }

    /// A resume decision, owned (the journal's lock is gone).
    #[derive(Debug, PartialEq)]
    enum Decided {
        Current,
        Replay(Vec<String>),
        Snapshot,
    }

    fn decide(j: &Journal, cursor: Option<&Cursor>, epoch: &Epoch, seq: u64) -> Decided {
        j.catchup(cursor, epoch, seq, |c| match c {
            Catchup::Current => Decided::Current,
            Catchup::Replay(ds) => Decided::Replay(ds.iter().map(|d| d.get().to_owned()).collect()),
            Catchup::Snapshot => Decided::Snapshot,
        })
    }

    fn replay_of(seqs: std::ops::RangeInclusive<u64>) -> Decided {
        Decided::Replay(seqs.map(|s| format!("{{\"seq\":{s}}}")).collect())
    }

    #[test]
    fn no_cursor_other_epoch_or_future_seq_get_a_snapshot() {
        let e = Epoch::new("e");
        let j = journal_with(5, 10, usize::MAX);
        assert_eq!(decide(&j, None, &e, 5), Decided::Snapshot);
        let old = cursor(&Epoch::new("old"), 5);
        assert_eq!(decide(&j, Some(&old), &e, 5), Decided::Snapshot);
        assert_eq!(decide(&j, Some(&cursor(&e, 6)), &e, 5), Decided::Snapshot);
    }

    #[test]
    fn an_up_to_date_cursor_is_current() {
        let e = Epoch::new("e");
        let j = journal_with(5, 10, usize::MAX);
        assert_eq!(decide(&j, Some(&cursor(&e, 5)), &e, 5), Decided::Current);
    }

    #[test]
    fn a_cursor_within_the_journal_replays_exactly_the_missing_deltas() {
        let e = Epoch::new("e");
        let j = journal_with(5, 10, usize::MAX);
        assert_eq!(decide(&j, Some(&cursor(&e, 2)), &e, 5), replay_of(3..=5));
        // Cursor 0 with the whole history kept is a replay too.
        assert_eq!(decide(&j, Some(&cursor(&e, 0)), &e, 5), replay_of(1..=5));
    }

    #[test]
    fn a_cursor_older_than_the_journal_gets_a_snapshot() {
        let e = Epoch::new("e");
        let j = journal_with(10, 3, usize::MAX); // keeps 8, 9, 10
        assert_eq!(decide(&j, Some(&cursor(&e, 6)), &e, 10), Decided::Snapshot);
        assert_eq!(decide(&j, Some(&cursor(&e, 7)), &e, 10), replay_of(8..=10));
    }
}
