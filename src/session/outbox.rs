//! Durable before visible (docs/architecture.md invariant 8): everything a session
//! sends waits, in order, until the step it depends on is durable.
//!
//! Every handled step gets a number. Deliveries made while handling step N
//! are tagged N and sent once the store confirmed every step up to N; until
//! then they wait in one FIFO, so a tab's messages keep their order. With a
//! store that is not durable, steps count as durable at once and nothing
//! waits.

use std::collections::VecDeque;

use crate::messages::{Deliver, TabInbox};

/// What waits in the outbox: a delivery to a member, or an answer to
/// server code (a session handle's call), which counts as visible too.
enum Held {
    Deliver(TabInbox, Deliver),
    Answer(Box<dyn FnOnce()>),
}

impl Held {
    fn release(self) {
        match self {
            Held::Deliver(to, deliver) => to.do_send(deliver),
            Held::Answer(answer) => answer(),
        }
    }
}

/// The session's outbound FIFO, gated by durable step numbers.
#[derive(Default)]
pub(crate) struct Outbox {
    held: VecDeque<(u64, Held)>,
    /// The step being handled: what new deliveries depend on.
    head: u64,
    /// The highest step known durable.
    durable: u64,
}

impl Outbox {
    /// Sends now if nothing waits and the current step is durable, else
    /// queues behind what waits.
    pub(crate) fn send(&mut self, to: &TabInbox, deliver: Deliver) {
        if self.open() {
            to.do_send(deliver);
        } else {
            self.held
                .push_back((self.head, Held::Deliver(to.clone(), deliver)));
        }
    }

    /// Runs `answer` (which answers server code) once the current step is
    /// durable, in order with deliveries. Dropped, unanswered, if the
    /// store fails first.
    pub(crate) fn answer(&mut self, answer: impl FnOnce() + 'static) {
        self.hold(Held::Answer(Box::new(answer)));
    }

    fn hold(&mut self, item: Held) {
        if self.open() {
            item.release();
        } else {
            self.held.push_back((self.head, item));
        }
    }

    /// Whether what is sent now may go at once: nothing waits before it,
    /// and the step it depends on is durable.
    fn open(&self) -> bool {
        self.held.is_empty() && self.head <= self.durable
    }

    /// Starts step `step`: deliveries from now on depend on it.
    pub(crate) fn begin(&mut self, step: u64) {
        self.head = self.head.max(step);
    }

    /// Every step up to `step` is durable: sends what waited for them.
    pub(crate) fn durable_to(&mut self, step: u64) {
        self.durable = self.durable.max(step);
        while let Some((needs, _)) = self.held.front() {
            if *needs > self.durable {
                break;
            }
            if let Some((_, item)) = self.held.pop_front() {
                item.release();
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
