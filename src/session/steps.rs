//! Steps, as the actor runs them: [`SessionActor::step`] opens one on the
//! session's [`super::durable::Durability`], runs the handling, and closes
//! it; the committer's confirmation (`Committed`) releases what waited.
//!
//! A step is scoped: everything that must become durable (deltas, event
//! and chain outcomes, chain and task changes, the summary) is recorded on
//! the `&mut Step` the scope lends, so a record outside a step cannot be
//! made at all.

use actix::{AsyncContext, Handler};

use super::durable::StepEnd;
use super::{Ctx, SessionActor};
use crate::app::App;
use crate::store::committer::Committed;
use crate::store::Step;

impl<A: App> SessionActor<A> {
    /// Runs `handle` as one step: deliveries it makes depend on the step,
    /// and what it records on the step is handed to the committer when it
    /// returns.
    pub(super) fn step<R>(
        &mut self,
        ctx: &mut Ctx<A>,
        handle: impl FnOnce(&mut Self, &mut Step, &mut Ctx<A>) -> R,
    ) -> R {
        let mut step = self
            .durable
            .open(self.key.clone(), self.epoch.clone(), self.seq);
        let seq_before = self.seq;
        let result = handle(self, &mut step, ctx);
        if self.seq != seq_before {
            self.changed_at = std::time::SystemTime::now();
        }
        let end = StepEnd {
            seq: self.seq,
            journal_from: self.journal.first_seq().unwrap_or(self.seq + 1),
            state: &self.state_json,
            incarnation: self.incarnation,
            // Only a store that writes steps confirms them: no address
            // is taken on the memory store's hot path.
            confirm: self
                .durable
                .writes_steps()
                .then(|| ctx.address().recipient()),
        };
        self.durable.close(step, end);
        self.stop_if_drained(ctx);
        result
    }
}

impl<A: App> Handler<Committed> for SessionActor<A> {
    type Result = ();

    fn handle(&mut self, msg: Committed, ctx: &mut Self::Context) {
        match msg.result {
            Ok(step) => {
                self.durable.durable_to(step);
                self.stop_if_drained(ctx);
            }
            Err(e) => {
                // The state in memory is ahead of the store and may never be
                // written: drop it. Tabs rejoin with their cursors (which only
                // ever saw durable deltas) and a fresh session reloads from
                // the store, as after a crash.
                if self.phase != super::Phase::Ready {
                    return;
                }
                if matches!(e.cause, crate::store::StoreCause::Fenced(_)) {
                    tracing::warn!(key = %self.key, error = %e, held = self.durable.held(), "another node owns the session now; giving it up");
                    self.disown();
                } else {
                    tracing::error!(key = %self.key, error = %e, held = self.durable.held(), "store failed; restarting the session from the store");
                    self.fail();
                }
            }
        }
    }
}
