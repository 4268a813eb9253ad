//! Recent event and chain ids with their first outcome, for idempotent
//! replies: an id among the session's last `--recent-events` (1,024) is
//! not handled again (docs/protocol.md section 6.3 (idempotency)).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::protocol::reply::Outcome;

/// A bounded map from id to first outcome; the oldest id is forgotten first.
///
/// The ids and outcomes live in a ring, oldest first; the map only finds
/// an id's place in it (the id shared, its place counted from the first id
/// ever kept), so its entries are small: an id and a number, 24 bytes, not
/// the outcome (about 100 bytes). A hash map whose entries are forgotten
/// and added without end fills with deleted slots and then doubles its
/// buckets once, for good (a session's memory rose by about 260 KB after about
/// 10,000 events, docs/performance.md); so the map is rebuilt in place
/// after every `capacity / 2` ids forgotten, before its deleted slots can
/// use up its room.
#[derive(Debug)]
pub(crate) struct Recent {
    places: HashMap<Arc<str>, u64>,
    ring: VecDeque<(Arc<str>, Outcome)>,
    /// The place of `ring[0]`.
    first: u64,
    capacity: usize,
    /// Ids forgotten since the map was last rebuilt.
    forgotten: usize,
}

impl Recent {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            places: HashMap::new(),
            ring: VecDeque::new(),
            first: 0,
            capacity,
            forgotten: 0,
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Outcome> {
        let place = *self.places.get(id)?;
        let index = usize::try_from(place.checked_sub(self.first)?).ok()?;
        self.ring.get(index).map(|(_, outcome)| outcome)
    }

    pub(crate) fn insert(&mut self, id: String, outcome: Outcome) {
        if self.capacity == 0 || self.places.contains_key(id.as_str()) {
            return;
        }
        if self.ring.len() == self.capacity {
            if let Some((old, _)) = self.ring.pop_front() {
                self.places.remove(&old);
                self.first += 1;
                self.forgotten += 1;
            }
            if self.forgotten >= (self.capacity / 2).max(1) {
                self.reindex();
            }
        }
        let id: Arc<str> = Arc::from(id);
        let place = self.first + self.ring.len() as u64;
        self.places.insert(id.clone(), place);
        self.ring.push_back((id, outcome));
    }

    /// Rebuilds the map from the ring in its own allocation: every slot
    /// empty again, then every id at its place.
    fn reindex(&mut self) {
        self.places.clear();
        for (place, (id, _)) in (self.first..).zip(&self.ring) {
            self.places.insert(id.clone(), place);
        }
        self.forgotten = 0;
    }

    pub(crate) fn entries(&self) -> Vec<(String, Outcome)> {
        self.ring
            .iter()
            .map(|(id, outcome)| (id.to_string(), outcome.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_outcome_and_forgets_the_oldest_id() {
        let mut r = Recent::new(2);
        r.insert("a".into(), Outcome::Ok { seq: 1, data: None });
        r.insert("a".into(), Outcome::Ok { seq: 9, data: None });
        assert_eq!(r.get("a"), Some(&Outcome::Ok { seq: 1, data: None }));
        r.insert("b".into(), Outcome::Ok { seq: 2, data: None });
        r.insert("c".into(), Outcome::Ok { seq: 3, data: None });
        assert_eq!(r.get("a"), None);
        assert_eq!(r.entries().len(), 2);
    }

    #[test]
    fn after_many_ids_it_still_holds_exactly_the_newest_in_order() {
        let mut r = Recent::new(3);
        for n in 0..10_000u64 {
            r.insert(format!("e{n}"), Outcome::Ok { seq: n, data: None });
        }
        assert_eq!(r.get("e9996"), None);
        for n in 9_997..10_000u64 {
            let id = format!("e{n}");
            assert_eq!(r.get(&id), Some(&Outcome::Ok { seq: n, data: None }));
        }
        let ids: Vec<String> = r.entries().into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["e9997", "e9998", "e9999"]);
    }

    #[test]
    fn ids_forgotten_without_end_never_grow_the_map() {
        let mut r = Recent::new(1024);
        let ok = |n| Outcome::Ok { seq: n, data: None };
        for n in 0..1024u64 {
            r.insert(format!("e{n}"), ok(n));
        }
        let room = r.places.capacity();
        for n in 1024..100_000u64 {
            r.insert(format!("e{n}"), ok(n));
        }
        // Its room (entries plus free slots, deleted ones not counted)
        // never passes what it had when first full: it never doubled.
        assert!(
            r.places.capacity() <= room,
            "{} > {room}",
            r.places.capacity()
        );
        assert_eq!(r.get("e99999"), Some(&ok(99_999)));
        assert_eq!(r.get("e98976"), Some(&ok(98_976)));
        assert_eq!(r.get("e98975"), None);
    }

    #[test]
    fn a_capacity_of_zero_keeps_nothing() {
        let mut r = Recent::new(0);
        r.insert("a".into(), Outcome::Ok { seq: 1, data: None });
        assert_eq!((r.get("a"), r.entries().len()), (None, 0));
    }
}
