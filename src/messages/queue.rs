//! A session's queue depth as its tabs see it: how many of its events are
//! not done, checked against `--queue-len` before a tab submits
//! (`queue_full`, docs/protocol.md section 11, backpressure). Shared by the session and
//! its tabs through [`crate::messages::SessionLink`]; every number has one
//! meaning and one writer of each direction.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Events of one session that count against `--queue-len`, in two parts
/// (counts, not bytes):
///
/// - **waiting**: submitted by a tab, not yet taken up by the session. A
///   tab adds one when it submits ([`QueueDepth::try_submit`]); the session
///   takes it off when it starts handling the event ([`QueueDepth::taken`]).
/// - **unsynced**: handled, but its step is not durable yet (a durable
///   store only). The session adds one when the step closes and takes them
///   off when the commit confirms them, so a slow disk pushes back on tabs
///   instead of piling up deliveries held for it.
#[derive(Debug, Default)]
pub(crate) struct QueueDepth {
    waiting: AtomicUsize,
    unsynced: AtomicUsize,
}

impl QueueDepth {
    /// Reserves a place for one event if fewer than `limit` events are
    /// waiting or unsynced; `false` means the queue is full (nothing was
    /// reserved). Concurrent tabs may each see the last place free, so the
    /// bound holds within the number of the session's tabs.
    pub(crate) fn try_submit(&self, limit: usize) -> bool {
        let before = self.waiting.fetch_add(1, Ordering::AcqRel);
        if before.saturating_add(self.unsynced.load(Ordering::Acquire)) >= limit {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Gives back a place reserved by [`QueueDepth::try_submit`] for an
    /// event that was not sent after all (the session is gone).
    pub(crate) fn unsubmit(&self) {
        self.waiting.fetch_sub(1, Ordering::AcqRel);
    }

    /// The session took a submitted event up.
    pub(crate) fn taken(&self) {
        self.waiting.fetch_sub(1, Ordering::AcqRel);
    }

    /// One handled event waits for its step to be durable.
    pub(crate) fn hold_unsynced(&self) {
        self.unsynced.fetch_add(1, Ordering::AcqRel);
    }

    /// `count` handled events' steps are durable (or will never be).
    pub(crate) fn release_unsynced(&self, count: usize) {
        if count > 0 {
            self.unsynced.fetch_sub(count, Ordering::AcqRel);
        }
    }

    /// Whether no event is waiting or unsynced.
    pub(crate) fn is_empty(&self) -> bool {
        self.waiting.load(Ordering::Acquire) == 0 && self.unsynced.load(Ordering::Acquire) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::QueueDepth;

    #[test]
    fn a_full_queue_refuses_and_reserves_nothing() {
        let q = QueueDepth::default();
        assert!(q.try_submit(2));
        assert!(q.try_submit(2));
        assert!(!q.try_submit(2), "two waiting fill a queue of two");
        q.taken();
        assert!(q.try_submit(2), "a place is free once the session took one");
    }

    #[test]
    fn unsynced_events_count_against_the_limit_until_released() {
        let q = QueueDepth::default();
        assert!(q.try_submit(1));
        q.taken();
        q.hold_unsynced();
        assert!(!q.try_submit(1), "the unsynced event still holds its place");
        assert!(!q.is_empty());
        q.release_unsynced(1);
        assert!(q.is_empty());
        assert!(q.try_submit(1));
    }
}
