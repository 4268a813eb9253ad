//! Steps: what one handled message changed, handed to the committer when
//! the store is durable, and the acknowledgements that release the outbox.
//!
//! A step begins with each message that may change state (an event, a
//! cancel, a task's update or end) and ends when its handler returns. With a
//! durable store its record goes to the committer; otherwise it counts as
//! durable at once.

use actix::{ActorContext, AsyncContext, Handler};

use super::{Ctx, SessionActor};
use crate::app::App;
use crate::store::committer::Committed;
use crate::store::{SavedDelta, Step};
use crate::tab::{Deliver, Outgoing};

/// A checkpoint (the whole state) is written every this many deltas, so a
/// load replays at most this many.
pub(crate) const CHECKPOINT_EVERY: u64 = 256;

impl<A: App> SessionActor<A> {
    /// Starts a step: deliveries from now on wait for it to be durable.
    pub(super) fn begin_step(&mut self) {
        self.steps += 1;
        if self.committer.is_some() {
            self.members.outbox().begin(self.steps);
        }
        self.step = Some(Step::new(self.key.clone(), self.epoch.clone(), self.seq));
    }

    /// The record of the step in progress, if one is.
    pub(super) fn step_record(&mut self) -> Option<&mut Step> {
        self.step.as_mut()
    }

    /// Notes a new delta in the step in progress.
    pub(super) fn record_delta(&mut self, delta: SavedDelta) {
        self.deltas_since_checkpoint += 1;
        if let Some(step) = self.step.as_mut() {
            step.deltas.push(delta);
        }
    }

    /// Ends the step: hands it to the committer (with no durable store,
    /// nothing was held and there is nothing to do).
    pub(super) fn end_step(&mut self, ctx: &mut Ctx<A>) {
        let Some(mut step) = self.step.take() else {
            return;
        };
        let Some(committer) = &self.committer else {
            return;
        };
        step.seq = self.seq;
        step.journal_from = self.journal.first_seq().unwrap_or(self.seq + 1);
        if self.needs_checkpoint || self.deltas_since_checkpoint >= CHECKPOINT_EVERY {
            step.checkpoint = Some(self.state_json.clone());
            self.needs_checkpoint = false;
            self.deltas_since_checkpoint = 0;
        }
        committer.submit(step, self.steps, ctx.address().recipient());
    }
}

impl<A: App> Handler<Committed> for SessionActor<A> {
    type Result = ();

    fn handle(&mut self, msg: Committed, ctx: &mut Self::Context) {
        match msg.result {
            Ok(step) => self.members.outbox().durable_to(step),
            Err(e) => {
                // The state in memory is ahead of the store and may never be
                // written: drop it. Tabs rejoin with their cursors (which only
                // ever saw durable deltas) and the session reloads from the
                // store, as after a crash.
                tracing::error!(key = %self.key, error = %e, held = self.members.outbox().held(), "store failed; restarting the session from the store");
                for m in self.members.iter() {
                    m.addr.do_send(Deliver {
                        topic: self.topic.clone(),
                        join_ref: m.join_ref.clone(),
                        item: Outgoing::Rejoin,
                    });
                }
                ctx.stop();
            }
        }
    }
}
