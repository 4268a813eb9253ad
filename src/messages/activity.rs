//! Activity: "most recently active" for the leader election
//! (docs/protocol.md section 9 (the leader election)), without a message
//! per event.
//!
//! The control plane owns these facts; the data path only stamps them. Each
//! join of a tab has an [`ActivityStamp`]; the tab stamps it from the
//! service-wide [`ActivityClock`] when it joins and whenever it submits an
//! event, and the supervisor reads it when it elects. A counter, not a wall
//! clock, so "most recent" is a total order without ties. Relaxed atomics
//! suffice: an election that reads a stamp one event late still elects an
//! active tab, and the next join, leave or visibility change re-elects.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The service-wide activity counter. Cheap to clone; clones share it.
#[derive(Clone, Debug, Default)]
pub(crate) struct ActivityClock(Arc<AtomicU64>);

impl ActivityClock {
    /// A new reading, larger than every earlier one.
    fn tick(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A stamp for a new join, already stamped now.
    pub(crate) fn stamp(&self) -> ActivityStamp {
        ActivityStamp {
            clock: self.clone(),
            last: Arc::new(AtomicU64::new(self.tick())),
        }
    }
}

/// When one join of a tab was last active. The tab holds one end, the
/// supervisor's registry the other (clones share the reading).
#[derive(Clone, Debug)]
pub(crate) struct ActivityStamp {
    clock: ActivityClock,
    last: Arc<AtomicU64>,
}

impl ActivityStamp {
    /// Records activity now (the tab submitted an event).
    pub(crate) fn touch(&self) {
        self.last.store(self.clock.tick(), Ordering::Relaxed);
    }

    /// The clock reading of the last activity (larger = more recent).
    pub(crate) fn last(&self) -> u64 {
        self.last.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_touched_stamp_is_more_recent_than_every_earlier_one() {
        let clock = ActivityClock::default();
        let a = clock.stamp();
        let b = clock.stamp();
        assert!(b.last() > a.last());
        a.touch();
        assert!(a.last() > b.last());
        let shared = a.clone();
        b.touch();
        assert!(b.last() > shared.last(), "clones read the same stamp");
    }
}
