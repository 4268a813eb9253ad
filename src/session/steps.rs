//! Steps: what one handled message changed, handed to the committer when
//! the store is durable, and the acknowledgements that release the outbox.
//!
//! A step is scoped: [`SessionActor::step`] opens it, runs the handling,
//! and closes it. Everything that must become durable (deltas, event and
//! chain outcomes, chain and task changes, the summary) is recorded on the
//! `&mut Step` the scope lends, so a record outside a step cannot be made
//! at all. With a durable store the closed step goes to the committer and
//! what the handling sent waits in the outbox until it is on disk;
//! otherwise it counts as durable at once.

use actix::{AsyncContext, Handler};

use super::{Ctx, SessionActor};
use crate::app::App;
use crate::store::committer::Committed;
use crate::store::{SavedDelta, Step};

/// A checkpoint (the whole state) is written every this many deltas, so a
/// load replays at most this many.
pub(crate) const CHECKPOINT_EVERY: u64 = 256;

impl<A: App> SessionActor<A> {
    /// Runs `handle` as one step: deliveries it makes depend on the step,
    /// and what it records on the step is handed to the committer when it
    /// returns.
    pub(super) fn step<R>(
        &mut self,
        ctx: &mut Ctx<A>,
        handle: impl FnOnce(&mut Self, &mut Step, &mut Ctx<A>) -> R,
    ) -> R {
        self.steps += 1;
        if self.committer.is_some() {
            self.members.outbox().begin(self.steps);
        }
        let mut step = Step::new(self.key.clone(), self.epoch.clone(), self.seq);
        let result = handle(self, &mut step, ctx);
        // With a durable store the committed steps are the record, and a
        // stop has nothing to write again; without one, the stop saves.
        self.unsaved |= self.committer.is_none() && !step.is_empty();
        self.close_step(step, ctx);
        result
    }

    /// The event handled in the current step counts against the queue
    /// again until its step is durable (no-op without a durable store): a
    /// slow disk then pushes back on tabs (`queue_full`) instead of piling
    /// up deliveries held for it.
    pub(super) fn hold_slot_until_durable(&mut self) {
        if self.committer.is_some() {
            self.queued
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            self.held_slots.push_back(self.steps);
        }
    }

    /// Gives back the queue slots of events whose steps, up to `step`, are
    /// durable (all of them when the store failed).
    pub(super) fn free_held_slots(&mut self, step: u64) {
        let mut freed = 0;
        while self.held_slots.front().is_some_and(|s| *s <= step) {
            self.held_slots.pop_front();
            freed += 1;
        }
        if freed > 0 {
            self.queued
                .fetch_sub(freed, std::sync::atomic::Ordering::AcqRel);
        }
    }

    /// Notes a new delta in `step`.
    pub(super) fn record_delta(&mut self, step: &mut Step, delta: SavedDelta) {
        self.deltas_since_checkpoint += 1;
        step.deltas.push(delta);
    }

    /// Hands the step to the committer (with no durable store, nothing was
    /// held and there is nothing to do).
    fn close_step(&mut self, mut step: Step, ctx: &mut Ctx<A>) {
        let Some(committer) = &self.committer else {
            return;
        };
        step.seq = self.seq;
        step.journal_from = self.journal.first_seq().unwrap_or(self.seq + 1);
        if self.needs_checkpoint || self.deltas_since_checkpoint >= CHECKPOINT_EVERY {
            step.checkpoint = Some(self.state_json.clone());
            self.needs_checkpoint = false;
            self.deltas_since_checkpoint = 0;
            // A never-saved session is on record once this step is (or,
            // if its commit fails, the session fails and saves nothing).
            self.unsaved = false;
        }
        committer.submit(
            step,
            self.steps,
            self.incarnation,
            ctx.address().recipient(),
        );
    }
}

impl<A: App> Handler<Committed> for SessionActor<A> {
    type Result = ();

    fn handle(&mut self, msg: Committed, _ctx: &mut Self::Context) {
        match msg.result {
            Ok(step) => {
                self.members.outbox().durable_to(step);
                self.free_held_slots(step);
            }
            Err(e) => {
                // The state in memory is ahead of the store and may never be
                // written: drop it. Tabs rejoin with their cursors (which only
                // ever saw durable deltas) and a fresh session reloads from
                // the store, as after a crash.
                if self.phase == super::Phase::Ready {
                    tracing::error!(key = %self.key, error = %e, held = self.members.outbox().held(), "store failed; restarting the session from the store");
                    self.fail();
                }
            }
        }
    }
}
