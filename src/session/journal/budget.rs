//! The journal budget (`--journal-total-bytes`): one bound on what the
//! journals of all live sessions hold together, so a service's memory for
//! replay stays bounded whatever the number of sessions.
//!
//! Every journal adds its bytes (payloads plus [`ENTRY_COST`] per delta)
//! to one total as it changes. A push that takes the total past the
//! budget evicts, on the pushing session's thread: it lowers the largest
//! journals to one common level (their oldest deltas go first; smaller
//! journals keep all of theirs) until the total is back to 7/8 of the
//! budget, so evictions come in batches and not at every delta. Only one
//! eviction runs at a time; a push that finds one running leaves it be,
//! and the running one looks at the total again before it ends.
//! A cursor behind an evicted delta resumes by `snapshot`, as behind any
//! journal's own bounds (docs/protocol.md section 5.4).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::Shared;
use crate::metrics::Metrics;

/// The hub's journal budget. Shared (`Arc`) by every session's journal.
pub(crate) struct JournalBudget {
    /// The bound, in bytes; 0: none (the total is still counted).
    limit: usize,
    total: AtomicUsize,
    /// Every enrolled journal, by its id.
    journals: Mutex<HashMap<u64, Arc<Shared>>>,
    next_id: AtomicU64,
    evicting: AtomicBool,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for JournalBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalBudget")
            .field("limit", &self.limit)
            .field("total", &self.total())
            .finish_non_exhaustive()
    }
}

impl JournalBudget {
    /// A budget of `limit` bytes (0: unbounded) whose total is reported as
    /// `tabhub_journal_bytes`, and evictions as
    /// `tabhub_journal_evicted_total`.
    pub(crate) fn new(limit: usize, metrics: Arc<Metrics>) -> Self {
        Self {
            limit,
            total: AtomicUsize::new(0),
            journals: Mutex::default(),
            next_id: AtomicU64::new(0),
            evicting: AtomicBool::new(false),
            metrics,
        }
    }

    /// Bytes the enrolled journals hold, summed.
    pub(crate) fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    /// Enrolls a journal's entries; returns its id.
    pub(super) fn enroll(&self, shared: Arc<Shared>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let over = {
            let e = shared.lock();
            self.account(0, e.cost)
        };
        self.journals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, shared);
        if over {
            self.evict();
        }
        id
    }

    /// Takes a journal out: its entries are emptied (an eviction that
    /// still holds them finds nothing to take) and its bytes come off the
    /// total.
    pub(super) fn leave(&self, id: u64, shared: &Shared) {
        self.journals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        let mut e = shared.lock();
        self.account(e.cost, 0);
        *e = super::Entries::default();
        shared.cost.store(0, Ordering::Relaxed);
    }

    /// A journal went from `before` to `after` bytes. Called with that
    /// journal's entries locked, so each journal's changes reach the total
    /// in the order they were made and the total never dips below what
    /// the journals hold. Returns whether the total is now past the
    /// budget: the caller then calls [`Self::evict`], once it has let go
    /// of the lock.
    pub(super) fn account(&self, before: usize, after: usize) -> bool {
        let total = if after >= before {
            self.total.fetch_add(after - before, Ordering::SeqCst) + (after - before)
        } else {
            self.total.fetch_sub(before - after, Ordering::SeqCst) - (before - after)
        };
        self.metrics
            .journal_bytes
            .add(as_i64(after) - as_i64(before));
        self.limit > 0 && total > self.limit
    }

    /// Lowers the largest journals to one level until the total is at 7/8
    /// of the budget (see the module docs).
    pub(super) fn evict(&self) {
        // A push that finds an eviction running leaves it be; the running
        // one looks again once it is done, so a total that a push took
        // past the budget meanwhile is not left there.
        while !self.evicting.swap(true, Ordering::SeqCst) {
            self.evict_once();
            self.evicting.store(false, Ordering::SeqCst);
            if self.total() <= self.limit {
                break;
            }
        }
    }

    /// One pass: the largest journals lowered to the level that frees
    /// what the total is over 7/8 of the budget.
    fn evict_once(&self) {
        let target = self.limit - self.limit / 8;
        let excess = self.total().saturating_sub(target);
        if excess == 0 {
            return;
        }
        let mut journals: Vec<(usize, Arc<Shared>)> = self
            .journals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|s| (s.cost.load(Ordering::Relaxed), s.clone()))
            .filter(|(cost, _)| *cost > 0)
            .collect();
        journals.sort_unstable_by_key(|(cost, _)| std::cmp::Reverse(*cost));
        let level = water_level(journals.iter().map(|(cost, _)| *cost), excess);
        for (_, shared) in journals.iter().take_while(|(cost, _)| *cost > level) {
            self.lower(shared, level);
        }
    }

    /// Evicts a journal's oldest deltas until it holds at most `level`
    /// bytes.
    fn lower(&self, shared: &Shared, level: usize) {
        let mut e = shared.lock();
        let before = e.cost;
        let mut evicted = 0u64;
        while e.cost > level && e.pop_oldest() {
            evicted += 1;
        }
        shared.cost.store(e.cost, Ordering::Relaxed);
        self.account(before, e.cost);
        self.metrics.journal_evicted.inc_by(evicted);
    }
}

/// The level to which the largest of `costs` (sorted largest first) must
/// be lowered to free at least `excess` bytes: every journal above it is
/// cut to it, every journal below it keeps all it has.
fn water_level(costs: impl Iterator<Item = usize>, excess: usize) -> usize {
    let costs: Vec<usize> = costs.collect();
    let mut above = 0usize; // sum of the first k+1 costs
    for (k, cost) in costs.iter().enumerate() {
        above += cost;
        let next = costs.get(k + 1).copied().unwrap_or(0);
        let journals = k + 1;
        // Lowering these `journals` to `next` frees this much.
        if above - journals * next >= excess {
            return (above - excess) / journals;
        }
    }
    0
}

/// Bytes as a gauge value (journals hold far less than `i64::MAX`).
fn as_i64(bytes: usize) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::super::{Journal, ENTRY_COST};
    use super::*;
    use serde_json::value::RawValue;

    fn budget(limit: usize) -> Arc<JournalBudget> {
        Arc::new(JournalBudget::new(limit, Arc::default()))
    }

    /// A delta payload of exactly `len` bytes.
    fn payload(len: usize) -> Arc<RawValue> {
        let text = format!("\"{}\"", "x".repeat(len - 2));
        Arc::from(RawValue::from_string(text).unwrap_or_else(|e| panic!("{e}")))
    }

    /// A journal in `budget` holding `n` deltas (seqs 1..=n) of `len`
    /// bytes each.
    fn journal(budget: &Arc<JournalBudget>, n: u64, len: usize) -> Journal {
        let mut j = Journal::new(usize::MAX, usize::MAX);
        j.count_in(budget.clone());
        for seq in 1..=n {
            j.push(seq, payload(len));
        }
        j
    }

    const COST: usize = 100 + ENTRY_COST;

    #[test]
    fn the_level_frees_at_least_the_excess_from_the_largest_first() {
        // One large journal covers the excess alone.
        assert_eq!(water_level([100, 10, 10].into_iter(), 50), 50);
        // Two have to come down to a common level below the second.
        assert_eq!(water_level([100, 60, 10].into_iter(), 80), 40);
        // Everything goes.
        assert_eq!(water_level([5, 5].into_iter(), 10), 0);
        assert_eq!(water_level([5, 5].into_iter(), 99), 0);
        assert_eq!(water_level(std::iter::empty(), 1), 0);
    }

    #[test]
    fn journals_count_their_bytes_and_give_them_back_when_dropped() {
        let b = budget(0);
        let one = journal(&b, 3, 100);
        let two = journal(&b, 2, 100);
        assert_eq!(b.total(), 5 * COST);
        drop(one);
        assert_eq!(b.total(), 2 * COST);
        drop(two);
        assert_eq!(b.total(), 0);
    }

    #[test]
    fn a_journal_past_its_own_bound_gives_the_evicted_bytes_back() {
        let b = budget(0);
        let mut j = Journal::new(2, usize::MAX);
        j.count_in(b.clone());
        for seq in 1..=5 {
            j.push(seq, payload(100));
        }
        assert_eq!((j.len(), b.total()), (2, 2 * COST));
    }

    #[test]
    fn over_budget_the_largest_journal_loses_its_oldest_deltas_first() {
        // 40 deltas fit; the budget evicts down to 35.
        let b = budget(40 * COST);
        let large = journal(&b, 30, 100);
        let small = journal(&b, 10, 100);
        assert_eq!(b.total(), 40 * COST, "at the budget, nothing evicted");
        let mut small = small;
        small.push(11, payload(100));
        // 41 over 40: down to 35 (7/8), all of it from the large journal.
        assert_eq!(b.total(), 35 * COST);
        assert_eq!((large.len(), small.len()), (24, 11));
        assert_eq!(large.first_seq(), Some(7), "the oldest went");
        assert_eq!(small.first_seq(), Some(1));
    }

    #[test]
    fn journals_above_the_level_are_cut_to_it_and_smaller_ones_are_kept() {
        let b = budget(80 * COST);
        let a = journal(&b, 40, 100);
        let mut c = journal(&b, 30, 100);
        let d = journal(&b, 10, 100);
        c.push(31, payload(100)); // 81 over 80: free 11 → down to 70
        assert_eq!(b.total(), 70 * COST);
        // a (40) and c (31) come down to a common 30; d keeps its 10.
        assert_eq!((a.len(), c.len(), d.len()), (30, 30, 10));
    }

    #[test]
    fn journals_pushing_on_several_threads_keep_the_total_exact_and_within_the_budget() {
        let b = budget(200 * COST);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || {
                    let mut j = Journal::new(usize::MAX, usize::MAX);
                    j.count_in(b);
                    for seq in 1..=5_000 {
                        j.push(seq, payload(100));
                    }
                    j
                })
            })
            .collect();
        let journals: Vec<Journal> = threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| panic!("a pushing thread panicked"))
            })
            .collect();
        let held: usize = journals.iter().map(|j| j.len() * COST).sum();
        assert_eq!(b.total(), held, "the total is what the journals hold");
        assert!(held <= 200 * COST, "{held} bytes held");
        assert!(
            journals.iter().all(|j| j.len() > 0),
            "every journal keeps its newest"
        );
    }

    #[test]
    fn an_unbounded_budget_never_evicts() {
        let b = budget(0);
        let j = journal(&b, 500, 100);
        assert_eq!((j.len(), b.total()), (500, 500 * COST));
    }
}
