//! Applying what app code did to the state: compute the delta, journal
//! and fan it out, then carry out the code's requests; or roll back. The
//! core of the hot path, shared by events (`events.rs`), task updates and
//! task ends.
//!
//! Fields written here, and only here once loaded: `state`, `state_json`,
//! `state_bytes`, `seq` and the `journal`'s entries.

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};

use actix::{ActorFutureExt, AsyncContext, Handler, WrapFuture};

use super::{Ctx, Phase, SessionActor};
use crate::app::{App, AppError, Context, Origin, Requests, Target, TaskGone, TaskUpdate};
use crate::delta;
use crate::protocol::event;
use crate::protocol::message::{self, DeltaPayload, EffectPayload};
use crate::store::{SavedDelta, Step};

/// What app code that may await produced: the state it was lent, the
/// requests it made, and its result. The session settles it in a step.
pub(super) struct Handled<A: App> {
    pub(super) state: A::State,
    pub(super) requests: Requests<A>,
    pub(super) result: Result<(), AppError>,
}

/// App code running with the state moved in, so the session is free of
/// borrows while it awaits.
pub(super) type Running<A> = std::pin::Pin<Box<dyn std::future::Future<Output = Handled<A>>>>;

/// What a handler needs besides the state: who runs it, for which key, and
/// which tasks run now (for `Context::is_task_running`).
pub(super) struct Lent<A: App> {
    pub(super) app: std::sync::Arc<A>,
    pub(super) key: crate::ids::SessionKey,
    pub(super) origin: Origin,
    /// The submitting connection's identity (erased), for events.
    pub(super) identity: Option<crate::messages::Identity>,
    pub(super) running: HashSet<String>,
    pub(super) state: A::State,
    pub(super) limit: std::time::Duration,
    /// The session's span, for the app code's own logs.
    pub(super) span: tracing::Span,
    /// The seq the code runs at.
    pub(super) seq: u64,
    /// The event it handles, if any (set by the caller).
    pub(super) event: Option<crate::app::EventMeta>,
    /// `--max-state-bytes`, for the code's [`Context`].
    pub(super) max_state_bytes: usize,
}

impl<A: App> SessionActor<A> {
    /// Lends the state out for app code that may await (the session's
    /// mailbox waits until it comes back; see [`SessionActor::after`]).
    pub(super) fn lend(
        &mut self,
        origin: Origin,
        identity: Option<crate::messages::Identity>,
    ) -> Lent<A> {
        Lent {
            app: self.app.clone(),
            key: self.key.clone(),
            origin,
            identity,
            running: self.tasks.running_keys(),
            state: std::mem::take(&mut self.state),
            limit: self.config.handler_timeout,
            span: self.control.span.clone(),
            seq: self.seq,
            event: None,
            max_state_bytes: self.config.max_state_bytes,
        }
    }

    /// Runs `fut` to its end, then `then` on the session. A future that is
    /// ready at once (app code that did not await) is finished in the same
    /// handler; otherwise the session's mailbox waits for it (`ctx.wait`),
    /// so the next message starts only when this one has finished.
    pub(super) fn after<T: 'static>(
        &mut self,
        mut fut: std::pin::Pin<Box<dyn std::future::Future<Output = T>>>,
        ctx: &mut Ctx<A>,
        then: impl FnOnce(&mut Self, T, &mut Ctx<A>) + 'static,
    ) {
        let mut first = std::task::Context::from_waker(std::task::Waker::noop());
        match fut.as_mut().poll(&mut first) {
            std::task::Poll::Ready(out) => then(self, out, ctx),
            std::task::Poll::Pending => {
                ctx.wait(
                    fut.into_actor(self)
                        .map(move |out, act, ctx| then(act, out, ctx)),
                );
            }
        }
    }

    /// Settles app code that ran: takes the state back, then on success the
    /// delta (the change the code stated, else the diff; if not empty)
    /// gets the next seq, is journaled and sent to every tab, and the
    /// code's requests (effects, task starts and cancels, chains, summary)
    /// are carried out. On failure the state is rolled back to its JSON at
    /// the current seq and no request is carried out (docs/architecture.md
    /// invariant 4). Returns the seq after it and the code's reply value,
    /// if any.
    pub(super) fn settle(
        &mut self,
        step: &mut Step,
        handled: Handled<A>,
        origin: &Origin,
        event_id: Option<&str>,
        ctx: &mut Ctx<A>,
    ) -> Result<(u64, Option<serde_json::Value>), AppError> {
        self.state = handled.state;
        let mut requests = handled.requests;
        let allowed = self.check_requests(&requests);
        let stated = requests.stated.take();
        let changed = handled
            .result
            .and(allowed)
            .and_then(|()| self.next_json(stated));
        let patch = match changed {
            Ok(patch) => patch,
            Err(e) => {
                self.roll_back();
                return Err(e);
            }
        };
        if !patch.0.is_empty() {
            self.seq += 1;
            let payload = message::to_raw(&DeltaPayload {
                seq: self.seq,
                patch: &patch,
                event_id,
            });
            self.journal.push(self.seq, payload.clone());
            self.durable.record_delta(
                step,
                SavedDelta {
                    seq: self.seq,
                    payload: payload.clone(),
                },
            );
            self.broadcast(event::DELTA, payload);
        }
        let reply = requests.reply.take();
        self.carry_out(step, requests, origin, ctx);
        Ok((self.seq, reply))
    }

    /// Runs synchronous app code `f` (a task's update, a task's end) and
    /// settles it, in the caller's step.
    pub(super) fn apply<F>(
        &mut self,
        step: &mut Step,
        origin: Origin,
        event_id: Option<&str>,
        ctx: &mut Ctx<A>,
        f: F,
    ) -> Result<u64, AppError>
    where
        F: FnOnce(&A, &mut A::State, &mut Context<'_, A>) -> Result<(), AppError>,
    {
        let tasks = &self.tasks;
        let is_running = |key: &str| tasks.is_running(key);
        let mut cx = Context::new(&self.key, origin.clone(), None, &is_running)
            .at(self.seq, None)
            .bounded(self.config.max_state_bytes);
        // A panicking handler is the app's bug, not the session's: it fails
        // this one step (rolled back like an error) instead of taking down
        // the thread and every session on it.
        let mut state = std::mem::take(&mut self.state);
        let result = panic::catch_unwind(AssertUnwindSafe(|| f(&self.app, &mut state, &mut cx)))
            .unwrap_or_else(|_| Err(AppError::handler("the handler panicked")));
        let handled = Handled {
            state,
            requests: cx.into_requests(),
            result,
        };
        self.settle(step, handled, &origin, event_id, ctx)
            .map(|(seq, _)| seq)
    }

    fn carry_out(
        &mut self,
        step: &mut Step,
        requests: Requests<A>,
        origin: &Origin,
        ctx: &mut Ctx<A>,
    ) {
        for effect in requests.effects {
            let payload = message::to_raw(&EffectPayload {
                kind: &effect.kind,
                data: &effect.data,
            });
            match (&effect.target, origin) {
                (Target::Origin, Origin::Tab(tab)) | (Target::Tab(tab), _) => {
                    self.push_to(tab, event::EFFECT, payload)
                }
                (Target::Origin, Origin::Task(_) | Origin::Server) | (Target::All, _) => {
                    self.broadcast(event::EFFECT, payload)
                }
            }
        }
        for key in requests.cancels {
            self.cancel_task(step, &key, ctx);
        }
        for (key, body, input) in requests.spawns {
            self.start_task(step, key, body, input, ctx);
        }
        let chain_origin = match origin {
            Origin::Tab(tab) => Some(tab.clone()),
            Origin::Task(_) | Origin::Server => None,
        };
        for (name, payload) in requests.chains {
            self.create_chain(step, name, payload, chain_origin.clone(), ctx);
        }
        if let Some(summary) = requests.summary {
            self.set_summary(step, summary);
        }
        for work in requests.follow_ups {
            // What the work sends (the proxy's `URL/cancel`) goes out only
            // once this step is durable, like the step's deliveries: the
            // outbox releases it then, or drops it if the store fails
            // first, and the work never starts.
            let (durable, is_durable) = tokio::sync::oneshot::channel::<()>();
            self.durable.answer(move || {
                let _ = durable.send(());
            });
            let work = async move {
                is_durable.await.ok()?;
                work.await
            };
            ctx.spawn(work.into_actor(self).map(|update, session, ctx| {
                let Some(update) = update else { return };
                if session.phase != Phase::Ready {
                    return;
                }
                session.step(ctx, |session, step, ctx| {
                    if let Err(e) = session.apply(step, Origin::Server, None, ctx, |_, state, cx| {
                        update(state, cx)
                    }) {
                        tracing::warn!(key = %session.key, error = %e, "a follow-up's change was refused");
                    }
                });
            }));
        }
    }

    /// Moves `state_json` and `state_bytes` on to the typed state and
    /// returns the delta: the patch the code `stated`, applied in place
    /// (O(change)), or else the diff of the serialized state (O(state));
    /// see [`delta::settle`]. Refused (nothing moved) when the state would
    /// take more than `--max-state-bytes`, or a stated patch does not
    /// apply (or, in debug builds, does not match the state).
    fn next_json(
        &mut self,
        stated: Option<json_patch::Patch>,
    ) -> Result<json_patch::Patch, AppError> {
        delta::settle(
            &mut self.state_json,
            &mut self.state_bytes,
            &self.state,
            stated,
            self.config.max_state_bytes,
        )
        .map_err(|e| AppError::handler(e.to_string()))
    }

    /// Whether the code's requests fit the session's bounds: task keys of
    /// at most `--max-name-bytes`, pending chains within
    /// `--max-pending-chains`. If not, the event fails as a whole.
    fn check_requests(&self, requests: &Requests<A>) -> Result<(), AppError> {
        let max = self.config.max_name_bytes;
        if let Some((key, _, _)) = requests.spawns.iter().find(|(k, _, _)| k.len() > max) {
            return Err(AppError::handler(format!(
                "a task key of {} bytes; at most {max} are accepted",
                key.len()
            )));
        }
        let chains = self.chains.len() + requests.chains.len();
        if !requests.chains.is_empty() && chains > self.config.max_pending_chains {
            return Err(AppError::handler(format!(
                "the session would hold {chains} chains waiting for a tab; at most {}",
                self.config.max_pending_chains
            )));
        }
        Ok(())
    }

    /// Restores the typed state from its JSON at the current seq.
    fn roll_back(&mut self) {
        match serde_json::from_value(self.state_json.clone()) {
            Ok(state) => self.state = state,
            // Only a State that does not round-trip through serde gets here;
            // App's docs require that it does.
            Err(e) => {
                tracing::error!(key = %self.key, error = %e, "could not roll back: State does not round-trip through serde")
            }
        }
    }
}

impl<A: App> Handler<TaskUpdate<A>> for SessionActor<A> {
    type Result = Result<Result<u64, AppError>, TaskGone>;

    fn handle(&mut self, msg: TaskUpdate<A>, ctx: &mut Self::Context) -> Self::Result {
        if self.phase != Phase::Ready || !self.tasks.is_current(&msg.key, msg.generation) {
            return Err(TaskGone);
        }
        let apply = msg.apply;
        Ok(self.step(ctx, |session, step, ctx| {
            session.apply(step, Origin::Task(msg.key), None, ctx, |_, state, cx| {
                apply(state, cx)
            })
        }))
    }
}
