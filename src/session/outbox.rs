//! Durable before visible (ARCHITECTURE invariant 8): everything a session
//! sends waits, in order, until the step it depends on is durable.
//!
//! Every handled step gets a number. Deliveries made while handling step N
//! are tagged N and sent once the store confirmed every step up to N; until
//! then they wait in one FIFO, so a tab's messages keep their order. With a
//! store that is not durable, steps count as durable at once and nothing
//! waits.

use std::collections::VecDeque;

use actix::Recipient;

use crate::messages::Deliver;

/// The session's outbound FIFO, gated by durable step numbers.
#[derive(Default)]
pub(crate) struct Outbox {
    held: VecDeque<(u64, Recipient<Deliver>, Deliver)>,
    /// The step being handled: what new deliveries depend on.
    head: u64,
    /// The highest step known durable.
    durable: u64,
}

impl Outbox {
    /// Sends now if nothing waits and the current step is durable, else
    /// queues behind what waits.
    pub(crate) fn send(&mut self, to: &Recipient<Deliver>, deliver: Deliver) {
        if self.held.is_empty() && self.head <= self.durable {
            to.do_send(deliver);
        } else {
            self.held.push_back((self.head, to.clone(), deliver));
        }
    }

    /// Starts step `step`: deliveries from now on depend on it.
    pub(crate) fn begin(&mut self, step: u64) {
        self.head = self.head.max(step);
    }

    /// Every step up to `step` is durable: sends what waited for them.
    pub(crate) fn durable_to(&mut self, step: u64) {
        self.durable = self.durable.max(step);
        while let Some((needs, _, _)) = self.held.front() {
            if *needs > self.durable {
                break;
            }
            if let Some((_, to, deliver)) = self.held.pop_front() {
                to.do_send(deliver);
            }
        }
    }

    /// Drops everything held: it depended on steps that will never be
    /// durable (the store failed).
    pub(crate) fn clear(&mut self) {
        self.held.clear();
        self.durable = self.head;
    }

    /// Whether some step is not yet durable.
    pub(crate) fn pending(&self) -> bool {
        self.head > self.durable
    }

    /// Deliveries waiting for durability.
    pub(crate) fn held(&self) -> usize {
        self.held.len()
    }
}
