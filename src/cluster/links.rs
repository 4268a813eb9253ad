//! Numbering what nodes send each other: [`Outbox`] numbers and publishes
//! what this node sends, per receiver; [`Heard`] checks what it receives,
//! per sender, and says when a number was skipped (a message lost while
//! the subscription was down).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::wire::{Body, Envelope};
use crate::store::SessionStore;

/// Sends messages to other nodes, numbered per receiver. Shared by the
/// node's actors, so one receiver's numbers follow publish order.
pub(crate) struct Outbox {
    store: Arc<dyn SessionStore>,
    node: String,
    sent: Mutex<HashMap<Arc<str>, u64>>,
    stats: Arc<super::ClusterStats>,
}

impl Outbox {
    pub(crate) fn new(
        store: Arc<dyn SessionStore>,
        node: String,
        stats: Arc<super::ClusterStats>,
    ) -> Self {
        Self {
            store,
            node,
            sent: Mutex::new(HashMap::new()),
            stats,
        }
    }

    /// Publishes `body` to `to`.
    pub(crate) fn send(&self, to: &Arc<str>, body: Body) {
        let Some(bus) = self.store.bus() else {
            return;
        };
        let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        let n = sent.entry(to.clone()).or_insert(0);
        *n += 1;
        let envelope = Envelope {
            from: self.node.clone(),
            n: *n,
            body,
        };
        match serde_json::to_vec(&envelope) {
            Ok(bytes) => {
                self.stats
                    .sent
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // Under the lock: the bus keeps publish order.
                bus.publish(to, bytes);
            }
            Err(e) => tracing::error!(error = %e, "a message to another node did not encode"),
        }
    }
}

/// The last number heard from each sender.
#[derive(Default)]
pub(crate) struct Heard {
    last: HashMap<String, u64>,
}

impl Heard {
    /// Records `n` from `from`; `false` when numbers were skipped since
    /// the last one heard (or, for a sender not heard since the
    /// subscription began, when `n` is not its first message).
    pub(crate) fn next(&mut self, from: &str, n: u64) -> bool {
        let last = self.last.insert(from.to_owned(), n).unwrap_or(0);
        n == last + 1
    }

    /// The subscription (re)started: messages may have been lost from
    /// anyone, so nothing heard before counts.
    pub(crate) fn restart(&mut self) {
        self.last.clear();
    }

    /// Forgets a sender that is gone.
    pub(crate) fn forget(&mut self, from: &str) {
        self.last.remove(from);
    }
}

#[cfg(test)]
mod tests {
    use super::Heard;

    #[test]
    fn a_skipped_number_is_a_gap_and_numbering_goes_on_from_the_new_one() {
        let mut heard = Heard::default();
        assert!(heard.next("a", 1));
        assert!(heard.next("a", 2));
        assert!(!heard.next("a", 4), "3 was lost");
        assert!(heard.next("a", 5));
        assert!(heard.next("b", 1), "senders are numbered apart");
    }

    #[test]
    fn after_a_resubscribe_a_sender_already_talking_shows_a_gap() {
        let mut heard = Heard::default();
        assert!(heard.next("a", 1));
        heard.restart();
        assert!(!heard.next("a", 7));
        heard.forget("a");
        assert!(heard.next("a", 1), "a restarted node starts at 1 again");
    }
}
