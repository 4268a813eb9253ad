//! Handling events and task updates: apply, compute the delta, fan out,
//! reply. The hot path of tabhub.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;

use actix::{Handler, Recipient};

use super::{Ctx, Phase, SessionActor};
use crate::app::{App, AppError, Context, DecodeError, Origin, Target, TaskGone, TaskUpdate};
use crate::delta;
use crate::ids::TabId;
use crate::messages::{Cancel, Deliver, Outgoing, Submit};
use crate::protocol::event;
use crate::protocol::message::{self, DeltaPayload, EffectPayload};
use crate::protocol::reply::{ok_reply, CancelReply, Outcome};
use crate::protocol::Reason;
use crate::store::{SavedDelta, Step};

impl<A: App> SessionActor<A> {
    /// Runs `f` on the state as one step of the queue. On success the delta
    /// (if the state's JSON changed) gets the next seq, is journaled and sent
    /// to every tab, then the handler's requests (effects, task starts and
    /// cancels, chains) are carried out. On failure the state is rolled back
    /// to its JSON at the current seq and no request is carried out
    /// (ARCHITECTURE invariant 4). Returns the seq after the step.
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
        let mut cx = Context::new(&self.key, origin.clone(), &is_running);
        let state_json = &self.state_json;
        // A panicking handler is the app's bug, not the session's: it fails
        // this one step (rolled back like an error) instead of taking down
        // the thread and every session on it.
        let handled =
            panic::catch_unwind(AssertUnwindSafe(|| f(&self.app, &mut self.state, &mut cx)))
                .unwrap_or_else(|_| Err(AppError::handler("the handler panicked")));
        let changed = handled.and_then(|()| {
            delta::diff_state(state_json, &self.state)
                .map_err(|e| AppError::handler(format!("state did not serialize: {e}")))
        });
        let requests = cx.into_requests();
        let (after, patch) = match changed {
            Ok(changed) => changed,
            Err(e) => {
                self.roll_back();
                return Err(e);
            }
        };
        self.state_json = after;
        if !patch.0.is_empty() {
            self.seq += 1;
            let payload = message::to_raw(&DeltaPayload {
                seq: self.seq,
                patch: &patch,
                event_id,
            });
            self.journal.push(self.seq, payload.clone());
            self.record_delta(
                step,
                SavedDelta {
                    seq: self.seq,
                    payload: payload.clone(),
                },
            );
            self.members.broadcast(event::DELTA, payload);
        }

        for effect in requests.effects {
            let payload = message::to_raw(&EffectPayload {
                kind: &effect.kind,
                data: &effect.data,
            });
            match (&effect.target, &origin) {
                (Target::Origin, Origin::Tab(tab)) | (Target::Tab(tab), _) => {
                    self.members.push_to(tab, event::EFFECT, payload)
                }
                (Target::Origin, Origin::Task(_)) | (Target::All, _) => {
                    self.members.broadcast(event::EFFECT, payload)
                }
            }
        }
        for key in requests.cancels {
            self.cancel_task(step, &key, ctx);
        }
        for (key, body, input) in requests.spawns {
            self.start_task(step, key, body, input, ctx);
        }
        let chain_origin = match &origin {
            Origin::Tab(tab) => Some(tab.clone()),
            Origin::Task(_) => None,
        };
        for (name, payload) in requests.chains {
            self.create_chain(step, name, payload, chain_origin.clone(), ctx);
        }
        if let Some(summary) = requests.summary {
            self.set_summary(step, summary);
        }
        Ok(self.seq)
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

    /// Decodes and handles one event from `tab`.
    fn handle_event(
        &mut self,
        step: &mut Step,
        tab: TabId,
        id: &str,
        name: &str,
        payload: serde_json::Value,
        ctx: &mut Ctx<A>,
    ) -> Outcome {
        let event = match self.app.decode(name, payload) {
            Ok(event) => event,
            Err(DecodeError::UnknownEvent) => {
                return Outcome::error(
                    Reason::UnknownEvent,
                    format!("the app has no event {name:?}"),
                )
            }
            Err(DecodeError::InvalidPayload(why)) => {
                return Outcome::error(Reason::InvalidPayload, why)
            }
        };
        match self.apply(step, Origin::Tab(tab), Some(id), ctx, |app, state, cx| {
            app.handle(state, event, cx)
        }) {
            Ok(seq) => Outcome::Ok { seq },
            Err(e) => Outcome::error(e.reason(), e.message),
        }
    }

    /// An `event` push: idempotent by event id, and for chains by chain id.
    fn submit(&mut self, step: &mut Step, msg: &mut Submit, ctx: &mut Ctx<A>) -> Outcome {
        let ev = &mut msg.event;
        if let Some(first) = self.recent_events.get(&ev.id) {
            return first.clone();
        }
        let payload = std::mem::take(&mut ev.payload);
        let outcome = match ev.chain.clone() {
            None => self.handle_event(step, msg.tab.clone(), &ev.id, &ev.name, payload, ctx),
            Some(chain) => match self.recent_chains.get(chain.as_str()) {
                Some(first) => first.clone(),
                None => match self.chains.take(&chain) {
                    // The chain's own name is used: a tab may add data to
                    // the payload, not turn the chain into another event.
                    Some(pending) => {
                        let outcome = self.handle_event(
                            step,
                            msg.tab.clone(),
                            &ev.id,
                            &pending.name,
                            payload,
                            ctx,
                        );
                        self.recent_chains
                            .insert(chain.as_str().to_owned(), outcome.clone());
                        step.chains_removed.push(chain.clone());
                        step.chain = Some((chain.as_str().to_owned(), outcome.clone()));
                        outcome
                    }
                    None => Outcome::error(
                        Reason::InvalidPayload,
                        format!("no pending chain {:?} in this session", chain.as_str()),
                    ),
                },
            },
        };
        self.recent_events.insert(ev.id.clone(), outcome.clone());
        step.event = Some((ev.id.clone(), outcome.clone()));
        outcome
    }

    /// Sends a `phx_reply` to one join.
    fn reply(
        &self,
        to: &Recipient<Deliver>,
        join_ref: std::sync::Arc<str>,
        reply_ref: Option<String>,
        response: String,
    ) {
        self.members.deliver(
            to,
            join_ref,
            Outgoing::Reply {
                reply_ref,
                response,
            },
        );
    }
}

fn not_joined() -> Outcome {
    Outcome::error(
        Reason::UnmatchedTopic,
        "this connection is no longer joined to the session",
    )
}

impl<A: App> Handler<Submit> for SessionActor<A> {
    type Result = ();

    fn handle(&mut self, mut msg: Submit, ctx: &mut Self::Context) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
        self.step(ctx, |session, step, ctx| {
            let outcome = if session.members.find(&msg.tab, msg.conn).is_some() {
                session.submit(step, &mut msg, ctx)
            } else {
                not_joined()
            };
            session.reply(&msg.reply_to, msg.join_ref, msg.reply_ref, outcome.reply());
        });
    }
}

impl<A: App> Handler<Cancel> for SessionActor<A> {
    type Result = ();

    fn handle(&mut self, msg: Cancel, ctx: &mut Self::Context) {
        self.step(ctx, |session, step, ctx| {
            let response = if session.members.find(&msg.tab, msg.conn).is_some() {
                let cancelled = session.cancel_task(step, &msg.task, ctx);
                ok_reply(&CancelReply { cancelled })
            } else {
                not_joined().reply()
            };
            session.reply(&msg.reply_to, msg.join_ref, msg.reply_ref, response);
        });
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
