//! Events from tabs, one at a time in arrival order: idempotency by event
//! id (and chain id), decoding, the app's handler (which may await), then
//! the delta and the reply in one step. Also `cancel` pushes.
//!
//! While a handler awaits, the session's mailbox waits too (see
//! `SessionActor::after`), so the next event starts only when this one has
//! finished and the order of deltas is the order of arrival.

use std::sync::Arc;

use actix::{Handler, Recipient};

use super::apply::{Handled, Lent};
use super::SessionActor;
use crate::app::{guarded, App, Context, DecodeError, Origin};
use crate::ids::ChainId;
use crate::messages::{Cancel, Deliver, Outgoing, Submit};
use crate::protocol::reply::{ok_reply, CancelReply, Outcome};
use crate::protocol::Reason;
use crate::store::Step;

/// Where an event's reply goes.
struct ReplyTo {
    to: Recipient<Deliver>,
    join_ref: Arc<str>,
    reply_ref: Option<String>,
}

/// An event before the app runs: answered already, or ready to run.
enum Prepared<A: App> {
    /// Answered without the app: `record` unless it repeats a known id;
    /// `chain` if it consumed a pending chain (its decoding failed).
    Answered {
        outcome: Outcome,
        record: bool,
        chain: Option<ChainId>,
    },
    /// Decoded; `chain` is the pending chain it re-submits, now taken.
    Run {
        event: A::Event,
        chain: Option<ChainId>,
    },
}

fn not_joined() -> Outcome {
    Outcome::error(
        Reason::UnmatchedTopic,
        "this connection is no longer joined to the session",
    )
}

impl<A: App> SessionActor<A> {
    /// Everything about an event that needs no app code: membership,
    /// repeats of an event or chain id, the chain's own name, decoding.
    fn prepare(&mut self, msg: &mut Submit) -> Prepared<A> {
        if self.members.find(&msg.tab, msg.conn).is_none() {
            return Prepared::Answered {
                outcome: not_joined(),
                record: false,
                chain: None,
            };
        }
        let ev = &mut msg.event;
        if let Some(first) = self.recent_events.get(&ev.id) {
            return Prepared::Answered {
                outcome: first.clone(),
                record: false,
                chain: None,
            };
        }
        let payload = std::mem::take(&mut ev.payload);
        let (name, chain) = match ev.chain.clone() {
            None => (ev.name.clone(), None),
            Some(chain) => {
                if let Some(first) = self.recent_chains.get(chain.as_str()) {
                    return Prepared::Answered {
                        outcome: first.clone(),
                        record: true,
                        chain: None,
                    };
                }
                match self.chains.take(&chain) {
                    // The chain's own name is used: a tab may add data to
                    // the payload, not turn the chain into another event.
                    Some(pending) => (pending.name, Some(chain)),
                    None => {
                        let why = format!("no pending chain {:?} in this session", chain.as_str());
                        return Prepared::Answered {
                            outcome: Outcome::error(Reason::InvalidPayload, why),
                            record: true,
                            chain: None,
                        };
                    }
                }
            }
        };
        let refused = |outcome| Prepared::Answered {
            outcome,
            record: true,
            chain: chain.clone(),
        };
        match self.app.decode(&name, payload) {
            Ok(event) => Prepared::Run {
                event,
                chain: chain.clone(),
            },
            Err(DecodeError::UnknownEvent) => refused(Outcome::error(
                Reason::UnknownEvent,
                format!("the app has no event {name:?}"),
            )),
            Err(DecodeError::InvalidPayload(why)) => {
                refused(Outcome::error(Reason::InvalidPayload, why))
            }
        }
    }

    /// Remembers an event's (and its chain's) first outcome, in the step.
    pub(super) fn conclude(
        &mut self,
        step: &mut Step,
        id: &str,
        chain: Option<ChainId>,
        outcome: &Outcome,
    ) {
        if let Some(chain) = chain {
            self.recent_chains
                .insert(chain.as_str().to_owned(), outcome.clone());
            step.chain = Some((chain.as_str().to_owned(), outcome.clone()));
            step.chains_removed.push(chain);
        }
        self.recent_events.insert(id.to_owned(), outcome.clone());
        step.event = Some((id.to_owned(), outcome.clone()));
    }

    /// Sends a `phx_reply` to one join.
    pub(super) fn reply(
        &self,
        to: &Recipient<Deliver>,
        join_ref: Arc<str>,
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

    /// Answers an event (and counts its outcome).
    fn send_reply(&self, r: ReplyTo, outcome: &Outcome) {
        let metrics = &self.control.metrics;
        match outcome {
            Outcome::Ok { .. } => metrics.event(true),
            Outcome::Error { reason, .. } => {
                metrics.event(false);
                metrics.refused_with(reason);
            }
        }
        self.reply(&r.to, r.join_ref, r.reply_ref, outcome.reply());
    }
}

/// The app's handler for one event, with the state lent to it. It runs
/// inside the session's span, so what the app logs names the session (by
/// its short key).
pub(super) fn run_handle<A: App>(lent: Lent<A>, event: A::Event) -> super::apply::Running<A> {
    let Lent {
        app,
        key,
        origin,
        identity,
        running,
        mut state,
        limit,
        span,
        seq,
        event: meta,
        max_state_bytes,
    } = lent;
    Box::pin(tracing::Instrument::instrument(
        async move {
            let is_running = |task: &str| running.contains(task);
            let identity = identity
                .as_ref()
                .and_then(|i| i.downcast_ref::<A::Identity>());
            let mut cx = Context::new(&key, origin, identity, &is_running)
                .at(seq, meta)
                .bounded(max_state_bytes);
            let result = guarded("handler", limit, app.handle(&mut state, event, &mut cx)).await;
            Handled {
                state,
                requests: cx.into_requests(),
                result,
            }
        },
        span,
    ))
}

impl<A: App> Handler<Submit> for SessionActor<A> {
    type Result = ();

    fn handle(&mut self, mut msg: Submit, ctx: &mut Self::Context) {
        self.queued
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        // A chain's holder gets room for its next chain once it is taken.
        let holder = msg
            .event
            .chain
            .as_ref()
            .and_then(|c| self.chains.holder_of(c));
        let reply = ReplyTo {
            to: msg.reply_to.clone(),
            join_ref: msg.join_ref.clone(),
            reply_ref: msg.reply_ref.take(),
        };
        let prepared = self.prepare(&mut msg);
        if let Some(tab) = holder {
            self.fill_chain_window(&tab, ctx);
        }
        let id = std::mem::take(&mut msg.event.id);
        match prepared {
            Prepared::Answered {
                outcome,
                record,
                chain,
            } => self.step(ctx, |session, step, _| {
                if record {
                    session.conclude(step, &id, chain, &outcome);
                }
                session.send_reply(reply, &outcome);
                session.hold_slot_until_durable();
            }),
            Prepared::Run { event, chain } => {
                let origin = Origin::Tab(msg.tab);
                let mut lent = self.lend(origin.clone(), Some(msg.identity.clone()));
                lent.event = Some(crate::app::EventMeta {
                    id: id.clone(),
                    chain: chain.as_ref().map(|c| c.as_str().to_owned()),
                });
                let running = run_handle(lent, event);
                self.after(running, ctx, move |session, handled, ctx| {
                    session.step(ctx, |session, step, ctx| {
                        let outcome = match session.settle(step, handled, &origin, Some(&id), ctx) {
                            Ok((seq, data)) => Outcome::Ok { seq, data },
                            Err(e) => Outcome::Error {
                                reason: e.reason(),
                                message: e.message,
                                data: e.data,
                            },
                        };
                        session.conclude(step, &id, chain, &outcome);
                        session.send_reply(reply, &outcome);
                        session.hold_slot_until_durable();
                    });
                });
            }
        }
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
                session.control.metrics.refused(Reason::UnmatchedTopic);
                not_joined().reply()
            };
            session.reply(&msg.reply_to, msg.join_ref, msg.reply_ref, response);
        });
    }
}
