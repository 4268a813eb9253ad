//! A session loads itself and saves itself, off every actor thread.
//!
//! Loading: when the actor starts, the store's `load` runs on the blocking
//! pool while the actor waits (`ctx.wait`), so its mailbox holds what
//! arrives meanwhile (joins, in order) without any thread being held. A
//! failed load refuses every waiting join with `store_error`.
//!
//! Saving: a `Stop` runs the store's `save` on the blocking pool the same
//! way, and stops the actor when it returns.

use actix::{ActorContext, ActorFutureExt, AsyncContext, Handler, WrapFuture};

use super::{Ctx, Phase, SessionActor};
use crate::app::App;
use crate::ids::Epoch;
use crate::messages::{Outgoing, Stop, StopMode, StopOutcome};
use crate::store::{blocking, SavedSession, StoreCause, StoreError};

/// What a session's load found.
enum Loaded<A: App> {
    /// A key never seen, with the app's initial state.
    New(A::State),
    /// A saved session.
    Saved(Box<SavedSession>),
}

impl<A: App> SessionActor<A> {
    /// Starts loading (from `started`): nothing else is handled until the
    /// load is done.
    pub(super) fn load(&mut self, ctx: &mut Ctx<A>) {
        // From now on the journal's bytes count in the hub's total.
        self.journal
            .count_in(self.control.metrics.journal_bytes.clone());
        let store = self.store.clone();
        let key = self.key.clone();
        let app = self.app.clone();
        let limit = self.config.handler_timeout;
        let loading = async move {
            let load_key = key.clone();
            let saved = blocking(Some(&key), move || store.load(&load_key)).await?;
            // A key never seen starts from the app's initial state, which
            // may await too.
            Ok(match saved {
                Some(saved) => Loaded::Saved(Box::new(saved)),
                None => {
                    let initial =
                        crate::app::guarded("initial_state hook", limit, app.initial_state(&key))
                            .await
                            .map_err(|e| {
                                StoreError::new(StoreCause::App(format!(
                                    "no initial state: {}",
                                    e.message
                                )))
                                .for_key(&key)
                            })?;
                    Loaded::New(initial)
                }
            })
        };
        ctx.wait(loading.into_actor(self).map(|loaded, act, ctx| {
            match loaded.and_then(|loaded| act.install(loaded)) {
                Ok(()) => {
                    act.phase = Phase::Ready;
                    tracing::debug!(key = %act.key, seq = act.seq, epoch = act.epoch.as_str(), "session loaded");
                    if act.needs_checkpoint && act.committer.is_some() {
                        // A new key's epoch goes out in its join replies:
                        // its first step (the initial state at seq 0) is
                        // written first, so no reply names an epoch that a
                        // crash could take back.
                        act.step(ctx, |_, _, _| ());
                    }
                    let saved_tasks = act.take_tasks_to_restart();
                    act.restart_tasks(saved_tasks, ctx);
                }
                Err(e) => {
                    tracing::error!(key = %act.key, error = %e, "could not load the session; its joins get store_error");
                    act.fail();
                }
            }
        }));
    }

    /// Takes what the load found: a new session (the app's initial state,
    /// seq 0, a new epoch) or a saved one. A saved session keeps its epoch
    /// and journal if the store kept them, and otherwise starts a new epoch
    /// at the saved seq; seq never goes back.
    ///
    /// # Errors
    /// [`StoreError`] when the saved state does not decode as `A::State`.
    fn install(&mut self, loaded: Loaded<A>) -> Result<(), StoreError> {
        let key = &self.key;
        match loaded {
            Loaded::New(state) => {
                self.state = state;
                self.needs_checkpoint = true;
                // Never saved: with a durable store its first step writes
                // it at once (see `load`), else its first stop does (its
                // epoch then survives, so a cursor resumes by `current`).
                self.unsaved = true;
            }
            Loaded::Saved(saved) => {
                let saved = *saved;
                self.state = serde_json::from_value(saved.state).map_err(|e| {
                    StoreError::new(StoreCause::App(format!(
                        "the saved state does not decode as the app's state: {e}"
                    )))
                    .for_key(key)
                })?;
                self.seq = saved.seq;
                self.epoch = match saved.epoch {
                    Some(epoch) => {
                        self.journal.restore(saved.journal);
                        epoch
                    }
                    None => Epoch::random(),
                };
                for (id, outcome) in saved.recent {
                    self.recent_events.insert(id, outcome);
                }
                for (id, outcome) in saved.recent_chains {
                    self.recent_chains.insert(id, outcome);
                }
                self.summary = saved.summary;
                self.tasks.to_restart = saved.tasks;
                for c in saved.pending_chains {
                    self.chains.restore(c.chain, c.name, c.payload);
                }
            }
        }
        self.state_json = serde_json::to_value(&self.state).map_err(|e| {
            StoreError::new(StoreCause::App(format!(
                "the state does not serialize: {e}"
            )))
            .for_key(key)
        })?;
        self.state_bytes = crate::delta::json_len_within(&self.state_json, usize::MAX).unwrap_or(0);
        Ok(())
    }

    fn take_tasks_to_restart(&mut self) -> Vec<crate::store::SavedTask> {
        std::mem::take(&mut self.tasks.to_restart)
    }
}

impl<A: App> Handler<Stop> for SessionActor<A> {
    type Result = actix::AtomicResponse<Self, StopOutcome>;

    fn handle(&mut self, msg: Stop, ctx: &mut Self::Context) -> Self::Result {
        let done = |outcome| actix::AtomicResponse::new(Box::pin(actix::fut::ready(outcome)));
        if self.phase != Phase::Ready {
            // Nothing of a failed session is the store's to keep.
            ctx.stop();
            return done(StopOutcome::Stopped);
        }
        let queued = self.queued.load(std::sync::atomic::Ordering::Acquire) > 0;
        let committing = self.members.outbox().pending();
        match msg.mode {
            StopMode::IfIdle => {
                if !self.members.is_empty() || !self.tasks.is_empty() || queued || committing {
                    return done(StopOutcome::Busy);
                }
            }
            StopMode::Now { .. } => {
                self.send_everyone_to_rejoin();
                if queued || committing {
                    return done(StopOutcome::Busy);
                }
            }
            StopMode::Shutdown => {}
        }
        self.app.session_stopping(&self.key, &self.state);
        if self.committer.is_some() && committing {
            // Shutdown with steps still being committed: they are the
            // record; a whole-session save now could race them. The hub
            // flushes the committer before it returns.
            tracing::info!(key = %self.key, seq = self.seq, "session stopped; its last steps are being committed");
            ctx.stop();
            return done(StopOutcome::Stopped);
        }
        if msg.mode == (StopMode::Now { save: false }) {
            tracing::info!(key = %self.key, seq = self.seq, "session stopped unsaved; its key is being deleted");
            ctx.stop();
            return done(StopOutcome::Stopped);
        }
        let store = self.store.clone();
        let key = self.key.clone();
        let unsaved = self.unsaved;
        let saved = unsaved.then(|| self.saved());
        // Saved, or stamped as active now (nothing changed since the last
        // save, which is not written again; retention counts from here).
        let saving = blocking(Some(&self.key), move || match saved {
            Some(saved) => store.save(&key, &saved),
            None => store.touch(&key),
        });
        let force = msg.mode == StopMode::Shutdown;
        actix::AtomicResponse::new(Box::pin(saving.into_actor(self).map(
            move |saved, act, ctx| match saved {
                Ok(()) => {
                    act.unsaved = false;
                    if unsaved {
                        tracing::info!(key = %act.key, seq = act.seq, journal = act.journal.len(), "session saved and stopped");
                    } else {
                        tracing::info!(key = %act.key, seq = act.seq, "session stopped; nothing changed since its last save");
                    }
                    ctx.stop();
                    StopOutcome::Stopped
                }
                Err(e) if !force => {
                    tracing::error!(key = %act.key, error = %e, "could not save the session; keeping it running");
                    StopOutcome::SaveFailed
                }
                Err(e) => {
                    tracing::error!(key = %act.key, error = %e, "could not save the session at shutdown");
                    ctx.stop();
                    StopOutcome::Stopped
                }
            },
        )))
    }
}

impl<A: App> SessionActor<A> {
    /// Stopping on purpose: tabs and summary joins are told to rejoin
    /// (after every delivery the disk has), and running tasks stop (the
    /// restartable ones are saved and restart at the next load).
    fn send_everyone_to_rejoin(&mut self) {
        self.members.rejoin_all_in_order();
        for w in std::mem::take(&mut self.watchers) {
            self.members.deliver(&w.addr, w.join_ref, Outgoing::Rejoin);
        }
    }
}
