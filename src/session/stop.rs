//! Stopping: the supervisor's [`Stop`], answered once the session has
//! done what the mode asks.
//!
//! - `IfIdle` (grace ran out): stops only with no tab, no queued or
//!   unsynced event, no running task and nothing waiting for the disk;
//!   else answers `Busy` at once.
//! - `Now` (server code asked): tabs and watchers are told to rejoin at
//!   once; the answer waits until the session has drained (every queued
//!   event handled, every step durable), checked whenever a step closes or
//!   becomes durable, so the supervisor asks once.
//! - `Shutdown`: stops whatever runs, saving what it can.
//!
//! [`Disown`] is not a stop: the key is another node's now (a shared
//! store), and the session ends as after a store failure.
//!
//! Stopping saves the session whole on the blocking pool (or, with
//! nothing changed, stamps it active) and then releases it in the store
//! (a store shared by several nodes gives up this node's lease), while the
//! mailbox waits, then stops the actor.
//!
//! Field written here: `draining`.

use actix::{ActorContext, ActorFutureExt, AsyncContext, Handler, ResponseFuture, WrapFuture};
use tokio::sync::oneshot;

use super::{Ctx, Phase, SessionActor};
use crate::app::App;
use crate::messages::{Disown, Stop, StopMode, StopOutcome};
use crate::store::blocking;

/// A `Stop` waiting for the session to drain.
pub(super) struct Draining {
    save: bool,
    answer: oneshot::Sender<StopOutcome>,
}

impl<A: App> SessionActor<A> {
    /// Whether every queued event is handled and every step durable.
    fn drained(&self) -> bool {
        self.durable.queue().is_empty() && !self.durable.committing()
    }

    /// Finishes a `Stop` that waits for the session to drain, if it has
    /// (called whenever a step closes or becomes durable).
    pub(super) fn stop_if_drained(&mut self, ctx: &mut Ctx<A>) {
        if self.draining.is_some() && self.drained() {
            if let Some(Draining { save, answer }) = self.draining.take() {
                self.finish_stop(StopMode::Now { save }, answer, ctx);
            }
        }
    }

    /// Saves (as `mode` allows) and stops; `answer` gets the outcome.
    fn finish_stop(
        &mut self,
        mode: StopMode,
        answer: oneshot::Sender<StopOutcome>,
        ctx: &mut Ctx<A>,
    ) {
        let stopped = |act: &mut Self, answer: oneshot::Sender<StopOutcome>, ctx: &mut Ctx<A>| {
            ctx.stop();
            let _ = answer.send(StopOutcome::Stopped(act.hand_back_watchers()));
        };
        self.app.session_stopping(&self.key, &self.state);
        if self.durable.writes_steps() && self.durable.committing() {
            // Shutdown with steps still being committed: they are the
            // record; a whole-session save now could race them. The hub
            // flushes the committer before it returns.
            tracing::info!(key = %self.key, seq = self.seq, "session stopped; its last steps are being committed");
            return stopped(self, answer, ctx);
        }
        if mode == (StopMode::Now { save: false }) {
            tracing::info!(key = %self.key, seq = self.seq, "session stopped unsaved; its key is being deleted");
            return stopped(self, answer, ctx);
        }
        let store = self.store.clone();
        let key = self.key.clone();
        let unsaved = self.durable.unsaved();
        let saved = unsaved.then(|| self.saved());
        // Saved, or stamped as active now (nothing changed since the last
        // save, which is not written again; retention counts from here).
        // Then a store shared by several nodes lets the key go (its lease).
        let saving = blocking(Some(&self.key), move || {
            let done = match saved {
                Some(saved) => store.save(&key, &saved),
                None => store.touch(&key),
            };
            if done.is_ok() {
                store.release(&key);
            }
            done
        });
        let force = mode == StopMode::Shutdown;
        ctx.wait(saving.into_actor(self).map(move |saved, act, ctx| {
            let outcome = match saved {
                Ok(()) => {
                    act.durable.saved();
                    if unsaved {
                        tracing::info!(key = %act.key, seq = act.seq, journal = act.journal.len(), "session saved and stopped");
                    } else {
                        tracing::info!(key = %act.key, seq = act.seq, "session stopped; nothing changed since its last save");
                    }
                    ctx.stop();
                    StopOutcome::Stopped(act.hand_back_watchers())
                }
                Err(e) if !force => {
                    tracing::error!(key = %act.key, error = %e, "could not save the session; keeping it running");
                    StopOutcome::SaveFailed
                }
                Err(e) => {
                    tracing::error!(key = %act.key, error = %e, "could not save the session at shutdown");
                    ctx.stop();
                    StopOutcome::Stopped(act.hand_back_watchers())
                }
            };
            let _ = answer.send(outcome);
        }));
    }
}

impl<A: App> Handler<Stop> for SessionActor<A> {
    type Result = ResponseFuture<StopOutcome>;

    fn handle(&mut self, msg: Stop, ctx: &mut Self::Context) -> Self::Result {
        let now = |outcome| -> ResponseFuture<StopOutcome> { Box::pin(async move { outcome }) };
        if self.phase != Phase::Ready {
            // Nothing of a failed session is the store's to keep.
            ctx.stop();
            return now(StopOutcome::Stopped(self.hand_back_watchers()));
        }
        let (answer, answered) = oneshot::channel();
        let none = self.watchers.empty_like();
        match msg.mode {
            StopMode::IfIdle => {
                if !self.members.is_empty() || !self.tasks.is_empty() || !self.drained() {
                    return now(StopOutcome::Busy);
                }
                self.finish_stop(msg.mode, answer, ctx);
            }
            StopMode::Now { save } => {
                self.send_everyone_to_rejoin();
                self.draining = Some(Draining { save, answer });
                self.stop_if_drained(ctx);
            }
            StopMode::Shutdown => self.finish_stop(msg.mode, answer, ctx),
        }
        // Unanswered only if the actor stopped first (a shutdown, or its
        // store failed): it is stopped either way.
        Box::pin(async move { answered.await.unwrap_or(StopOutcome::Stopped(none)) })
    }
}

impl<A: App> Handler<Disown> for SessionActor<A> {
    type Result = ();

    fn handle(&mut self, _msg: Disown, _ctx: &mut Self::Context) {
        if self.phase == Phase::Ready {
            tracing::warn!(key = %self.key, "another node owns the session now; giving it up");
            self.disown();
        }
    }
}
