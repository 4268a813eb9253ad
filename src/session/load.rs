//! A session loads itself and saves itself, off every actor thread.
//!
//! Loading: when the actor starts, the store's `load` runs on the blocking
//! pool while the actor waits (`ctx.wait`), so its mailbox holds what
//! arrives meanwhile (joins, in order) without any thread being held. A
//! failed load refuses every waiting join with `store_error`.
//!
//! Saving at stop is `stop.rs`'s; it runs the store's `save` the same way.
//!
//! Fields written here: `epoch` (only here), and, before the session serves,
//! what the store had of the others.

use actix::{ActorFutureExt, AsyncContext, WrapFuture};

use super::{Ctx, SessionActor};
use crate::app::App;
use crate::ids::Epoch;
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
        // From now on the journal's bytes count in the hub's budget.
        self.journal.count_in(self.control.journals.clone());
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
                    act.ready();
                    tracing::debug!(key = %act.key, seq = act.seq, epoch = act.epoch.as_str(), "session loaded");
                    if act.durable.needs_first_step() {
                        // A new key's epoch goes out in its join replies:
                        // its first step (the initial state at seq 0) is
                        // written first, so no reply names an epoch that a
                        // crash could take back.
                        act.step(ctx, |_, _, _| ());
                    }
                    let saved_tasks = act.take_tasks_to_restart();
                    act.restart_tasks(saved_tasks, ctx);
                }
                Err(e) if matches!(e.cause, crate::store::StoreCause::Fenced(_)) => {
                    // Another node took it first (a shared store); not a fault.
                    tracing::info!(key = %act.key, error = %e, "the session is owned by another node; not loaded here");
                    act.fail();
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
                // Never saved: with a durable store its first step writes
                // it at once (see `load`), else its first stop does (its
                // epoch then survives, so a cursor resumes by `current`).
                self.durable.never_saved();
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
