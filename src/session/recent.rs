//! Recent event and chain ids with their first outcome, for idempotent
//! replies: an id among the session's last `--recent-events` (1,024) is
//! not handled again (docs/protocol.md section 6.3 (idempotency)).

use std::collections::{HashMap, VecDeque};

use crate::protocol::reply::Outcome;

/// A bounded map from id to first outcome; the oldest id is forgotten first.
#[derive(Debug)]
pub(crate) struct Recent {
    outcomes: HashMap<String, Outcome>,
    order: VecDeque<String>,
    capacity: usize,
}

impl Recent {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            outcomes: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Outcome> {
        self.outcomes.get(id)
    }

    /// Remembers the first outcome of `id`; a known id keeps its first one.
    pub(crate) fn insert(&mut self, id: String, outcome: Outcome) {
        if self.capacity == 0 || self.outcomes.contains_key(&id) {
            return;
        }
        if self.order.len() == self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.outcomes.remove(&old);
            }
        }
        self.order.push_back(id.clone());
        self.outcomes.insert(id, outcome);
    }

    /// Entries, oldest first (for saving).
    pub(crate) fn entries(&self) -> Vec<(String, Outcome)> {
        self.order
            .iter()
            .filter_map(|id| self.outcomes.get(id).map(|o| (id.clone(), o.clone())))
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
}
