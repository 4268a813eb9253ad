//! Summary joins (docs/protocol.md section 5.8 (summary joins)) and the
//! list that holds one key's: owned by the live session of the key, or by
//! the supervisor while the key has none, and moved whole between the two
//! (at a session's start, and in its answer to a grace stop), so a summary
//! join is kept in exactly one place.
//!
//! Every list counts its joins in one hub-wide gauge, which follows the
//! list when it moves and gives its count back when it is dropped:
//! `HubStats::summary_joins` reads that gauge, not the lists.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::TabInbox;
use crate::ids::{ConnId, TabId};

/// One summary join: where its `summary` pushes go.
#[derive(Clone)]
pub(crate) struct Watcher {
    pub(crate) tab: TabId,
    pub(crate) conn: ConnId,
    pub(crate) addr: TabInbox,
    pub(crate) join_ref: Arc<str>,
    /// The `ref` of the join message, for its reply.
    pub(crate) reply_ref: Option<String>,
    /// Whether its join reply has been sent. A join to a key with no live
    /// session waits for the store's summary; if a session starts first,
    /// the session answers it once loaded (its summary is at least as new).
    pub(crate) answered: bool,
}

impl Watcher {
    /// Whether this is the join `(tab, conn)` made with `join_ref`.
    fn is(&self, tab: &TabId, conn: ConnId, join_ref: &str) -> bool {
        self.holds(tab, conn) && &*self.join_ref == join_ref
    }

    /// Whether this join is `(tab, conn)`'s (one per topic and connection).
    fn holds(&self, tab: &TabId, conn: ConnId) -> bool {
        &self.tab == tab && self.conn == conn
    }
}

/// The summary joins of one key, at most one per `(tab, conn)`.
pub(crate) struct Watchers {
    list: Vec<Watcher>,
    /// The hub's count of summary joins, over all keys.
    count: Arc<AtomicUsize>,
}

impl Watchers {
    /// An empty list counting in `count` (the hub's gauge).
    pub(crate) fn new(count: Arc<AtomicUsize>) -> Self {
        Self {
            list: Vec::new(),
            count,
        }
    }

    /// Adds `watcher`, in place of the earlier summary join of the same
    /// `(tab, conn)`, if any (a rejoin).
    pub(crate) fn upsert(&mut self, watcher: Watcher) {
        match self
            .list
            .iter_mut()
            .find(|w| w.holds(&watcher.tab, watcher.conn))
        {
            Some(w) => *w = watcher,
            None => {
                self.list.push(watcher);
                self.count.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Ends `(tab, conn)`'s summary join; whether there was one.
    pub(crate) fn remove(&mut self, tab: &TabId, conn: ConnId) -> bool {
        let Some(i) = self.list.iter().position(|w| w.holds(tab, conn)) else {
            return false;
        };
        self.list.swap_remove(i);
        self.count.fetch_sub(1, Ordering::Relaxed);
        true
    }

    /// Marks the join `(tab, conn, join_ref)` answered and returns it, if
    /// it is here and was not answered yet.
    pub(crate) fn answer(&mut self, tab: &TabId, conn: ConnId, join_ref: &str) -> Option<Watcher> {
        let w = self
            .list
            .iter_mut()
            .find(|w| w.is(tab, conn, join_ref) && !w.answered)?;
        w.answered = true;
        Some(w.clone())
    }

    /// Marks every join not yet answered answered, and returns them.
    pub(crate) fn answer_all(&mut self) -> Vec<Watcher> {
        self.list
            .iter_mut()
            .filter(|w| !w.answered)
            .map(|w| {
                w.answered = true;
                w.clone()
            })
            .collect()
    }

    /// Empties the list, returning its joins (which no longer count).
    pub(crate) fn drain(&mut self) -> Vec<Watcher> {
        self.count.fetch_sub(self.list.len(), Ordering::Relaxed);
        std::mem::take(&mut self.list)
    }

    /// Moves the joins to a new list (counted as before), leaving this one
    /// empty: how a list changes owner.
    pub(crate) fn take(&mut self) -> Watchers {
        Watchers {
            list: std::mem::take(&mut self.list),
            count: self.count.clone(),
        }
    }

    /// A new empty list counting in the same gauge.
    pub(crate) fn empty_like(&self) -> Watchers {
        Watchers::new(self.count.clone())
    }

    /// Adds every join of `other` (a later one of the same `(tab, conn)`
    /// wins).
    pub(crate) fn merge(&mut self, mut other: Watchers) {
        for w in other.drain() {
            self.upsert(w);
        }
    }

    pub(crate) fn iter(&self) -> std::slice::Iter<'_, Watcher> {
        self.list.iter()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

impl Drop for Watchers {
    fn drop(&mut self) {
        self.count.fetch_sub(self.list.len(), Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Watchers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchers")
            .field("joins", &self.list.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::testing::Recorder;
    use actix::Actor;

    fn watcher(tab: &str, conn: u64, join_ref: &str) -> Watcher {
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        Watcher {
            tab: TabId::parse(tab).unwrap_or_else(|e| panic!("{e}")),
            conn: ConnId(conn),
            addr: TabInbox::direct(Recorder(tx).start().recipient()),
            join_ref: Arc::from(join_ref),
            reply_ref: None,
            answered: false,
        }
    }

    fn id(tab: &str) -> TabId {
        TabId::parse(tab).unwrap_or_else(|e| panic!("{e}"))
    }

    #[actix_rt::test]
    async fn the_gauge_counts_joins_wherever_their_list_is_and_drops_with_it() {
        let count = Arc::new(AtomicUsize::new(0));
        let mut a = Watchers::new(count.clone());
        a.upsert(watcher("a", 1, "1"));
        a.upsert(watcher("b", 1, "1"));
        a.upsert(watcher("a", 1, "2"));
        assert_eq!(count.load(Ordering::Relaxed), 2, "a rejoin replaces");

        let moved = a.take();
        assert!(a.is_empty());
        assert_eq!(count.load(Ordering::Relaxed), 2, "moving keeps the count");

        let mut b = Watchers::new(count.clone());
        b.upsert(watcher("b", 1, "3"));
        b.merge(moved);
        assert_eq!(count.load(Ordering::Relaxed), 2, "merging counts once");
        assert_eq!(
            b.iter().find(|w| w.tab == id("b")).map(|w| &*w.join_ref),
            Some("1")
        );

        assert!(b.remove(&id("a"), ConnId(1)));
        assert!(!b.remove(&id("a"), ConnId(1)));
        assert_eq!(count.load(Ordering::Relaxed), 1);
        drop(b);
        assert_eq!(
            count.load(Ordering::Relaxed),
            0,
            "a dropped list gives its count back"
        );

        let mut c = Watchers::new(count.clone());
        c.upsert(watcher("c", 1, "1"));
        assert_eq!(c.drain().len(), 1);
        assert_eq!(
            count.load(Ordering::Relaxed),
            0,
            "drained joins no longer count"
        );
    }

    #[actix_rt::test]
    async fn a_join_is_answered_once_and_only_the_join_it_was() {
        let mut list = Watchers::new(Arc::default());
        list.upsert(watcher("a", 1, "1"));
        list.upsert(watcher("b", 1, "1"));
        assert!(
            list.answer(&id("a"), ConnId(1), "2").is_none(),
            "another join_ref"
        );
        assert!(
            list.answer(&id("a"), ConnId(2), "1").is_none(),
            "another connection"
        );
        assert!(list.answer(&id("a"), ConnId(1), "1").is_some());
        assert!(
            list.answer(&id("a"), ConnId(1), "1").is_none(),
            "answered once"
        );
        let rest: Vec<TabId> = list.answer_all().into_iter().map(|w| w.tab).collect();
        assert_eq!(rest, vec![id("b")]);
        assert!(list.answer_all().is_empty());
    }
}
