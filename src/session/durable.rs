//! [`Durability`]: everything a session knows about what is on disk, in
//! one place: the committer it hands steps to, the step numbers, what it
//! sent that waits for a step (the [`Outbox`]), the queue places held by
//! events whose step is not durable yet, when the next checkpoint is due,
//! and whether the store lacks something (for the save at stop).
//!
//! Its API follows a step's life: [`Durability::open`] a step,
//! [`Durability::record_delta`] (and the step's own fields) while handling,
//! [`Durability::close`] it, and [`Durability::durable_to`] when the
//! committer confirms it, which releases what waited. With a store that
//! keeps sessions whole (no committer) every step counts as durable at
//! once and nothing waits.
//!
//! Field written here: the session's `durable` (through its methods).

use std::cell::{RefCell, RefMut};
use std::collections::VecDeque;
use std::sync::Arc;

use actix::Recipient;
use serde_json::Value;

use super::outbox::Outbox;
use crate::ids::{Epoch, SessionKey};
use crate::messages::{Deliver, QueueDepth, TabInbox};
use crate::store::committer::{Committed, Committer};
use crate::store::{SavedDelta, Step};

/// A checkpoint (the whole state) is written every this many deltas, so a
/// load replays at most this many.
pub(crate) const CHECKPOINT_EVERY: u64 = 256;

/// Where a closed step stands: the session's seq and journal after it, and
/// its state's JSON (written whole when a checkpoint is due).
pub(super) struct StepEnd<'a> {
    pub(super) seq: u64,
    /// The oldest seq the journal holds (`seq + 1` when it is empty).
    pub(super) journal_from: u64,
    pub(super) state: &'a Value,
    /// Which start of the key's session this is (the committer reports a
    /// failure to this incarnation only).
    pub(super) incarnation: u64,
    /// Where the committer confirms the step; `None` when the store writes
    /// no steps (nothing is confirmed then).
    pub(super) confirm: Option<Recipient<Committed>>,
}

/// A session's durability. See the module docs.
pub(super) struct Durability {
    /// Where closed steps go to be written; `None` when the store keeps
    /// sessions whole (saved at stop).
    committer: Option<Committer>,
    /// The number of the last step opened.
    opened: u64,
    /// Deliveries and answers held until their step is durable. A cell, so
    /// fan-out can send while iterating the session's members (the actor
    /// is single-threaded: no two borrows overlap).
    outbox: RefCell<Outbox>,
    /// The session's queue depth, shared with its tabs.
    queue: Arc<QueueDepth>,
    /// Steps whose event holds a queue place (`unsynced`) until durable.
    held: VecDeque<u64>,
    /// Deltas recorded since the last checkpoint.
    deltas_since_checkpoint: u64,
    /// The next closed step carries a checkpoint (a new key's base state).
    checkpoint_due: bool,
    /// Whether the store lacks something of this session: a step changed
    /// anything since it was loaded or last saved, or it was never saved.
    unsaved: bool,
}

impl Durability {
    /// With `committer`, steps are written one by one; without, the
    /// session is saved whole at stop.
    pub(super) fn new(committer: Option<Committer>) -> Self {
        Self {
            committer,
            opened: 0,
            outbox: RefCell::new(Outbox::default()),
            queue: Arc::new(QueueDepth::default()),
            held: VecDeque::new(),
            deltas_since_checkpoint: 0,
            checkpoint_due: false,
            unsaved: false,
        }
    }

    /// Whether steps are written as they close (a durable store).
    pub(super) fn writes_steps(&self) -> bool {
        self.committer.is_some()
    }

    /// The queue depth to share with the session's tabs.
    pub(super) fn queue(&self) -> &Arc<QueueDepth> {
        &self.queue
    }

    /// A key never saved: its first closed step carries its whole state,
    /// and until then the store lacks it.
    pub(super) fn never_saved(&mut self) {
        self.checkpoint_due = true;
        self.unsaved = true;
    }

    /// Whether a step must be written before anything of the session is
    /// sent (a new key's epoch, with a durable store).
    pub(super) fn needs_first_step(&self) -> bool {
        self.checkpoint_due && self.writes_steps()
    }

    /// Opens the next step, of `key` at `seq`: what is sent from now on
    /// waits for it.
    pub(super) fn open(&mut self, key: SessionKey, epoch: Epoch, seq: u64) -> Step {
        self.opened += 1;
        if self.writes_steps() {
            self.outbox.get_mut().begin(self.opened);
        }
        Step::new(key, epoch, seq)
    }

    /// Records a new delta in `step`.
    pub(super) fn record_delta(&mut self, step: &mut Step, delta: SavedDelta) {
        self.deltas_since_checkpoint += 1;
        step.deltas.push(delta);
    }

    /// The event handled in the open step holds its queue place until the
    /// step is durable (nothing without a durable store).
    pub(super) fn hold_queue_place(&mut self) {
        if self.writes_steps() {
            self.queue.hold_unsynced();
            self.held.push_back(self.opened);
        }
    }

    /// Closes the open step: hands it to the committer with a checkpoint
    /// when one is due; without a committer only notes that the store now
    /// lacks what it changed.
    pub(super) fn close(&mut self, mut step: Step, end: StepEnd<'_>) {
        let (Some(committer), Some(confirm)) = (&self.committer, end.confirm) else {
            self.unsaved |= !step.is_empty();
            return;
        };
        step.seq = end.seq;
        step.journal_from = end.journal_from;
        if self.checkpoint_due || self.deltas_since_checkpoint >= CHECKPOINT_EVERY {
            step.checkpoint = Some(end.state.clone());
            self.checkpoint_due = false;
            self.deltas_since_checkpoint = 0;
            // A never-saved session is on record once this step is (or,
            // if its commit fails, the session fails and saves nothing).
            self.unsaved = false;
        }
        committer.submit(step, self.opened, end.incarnation, confirm);
    }

    /// Every step up to `step` is durable: sends what waited for them and
    /// gives back their events' queue places.
    pub(super) fn durable_to(&mut self, step: u64) {
        self.outbox.get_mut().durable_to(step);
        self.release_queue_places(step);
    }

    /// The store failed: what waited is dropped (it depended on steps that
    /// will never be durable) and every held queue place is given back.
    pub(super) fn failed(&mut self) {
        self.outbox.get_mut().clear();
        self.release_queue_places(u64::MAX);
    }

    fn release_queue_places(&mut self, step: u64) {
        let mut released = 0;
        while self.held.front().is_some_and(|s| *s <= step) {
            self.held.pop_front();
            released += 1;
        }
        self.queue.release_unsynced(released);
    }

    /// Sends `deliver` once the open step is durable, in order with
    /// everything else the session sent.
    pub(super) fn send(&self, to: &TabInbox, deliver: Deliver) {
        self.outbox().send(to, deliver);
    }

    /// Runs `answer` (it answers server code or starts follow-up work)
    /// once the open step is durable, in order with deliveries; dropped,
    /// never run, if the store fails first.
    pub(super) fn answer(&self, answer: impl FnOnce() + 'static) {
        self.outbox().answer(answer);
    }

    fn outbox(&self) -> RefMut<'_, Outbox> {
        self.outbox.borrow_mut()
    }

    /// Whether some step is not durable yet.
    pub(super) fn committing(&self) -> bool {
        self.outbox.borrow().pending()
    }

    /// Deliveries and answers waiting for durability (for the log).
    pub(super) fn held(&self) -> usize {
        self.outbox.borrow().held()
    }

    /// Whether the store lacks something of this session (a stop saves it).
    pub(super) fn unsaved(&self) -> bool {
        self.unsaved
    }

    /// The session was saved whole.
    pub(super) fn saved(&mut self) {
        self.unsaved = false;
    }
}
