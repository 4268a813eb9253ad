//! The one event path: a tab's event, its re-submission of a chain, and a
//! server's event (a session handle, the server API) all go through
//! [`SessionActor::submit`], one at a time in arrival order: membership,
//! repeats of an event or chain id (a repeat gets the first answer),
//! decoding, the app's handler (which may await), then the delta, the
//! recorded outcome and the answer in one step. Every answer waits, like
//! everything the step sends, until the step is durable. Also `cancel`
//! pushes.
//!
//! While a handler awaits, the session's mailbox waits too (see
//! `SessionActor::after`), so the next event starts only when this one has
//! finished and the order of deltas is the order of arrival.
//!
//! Fields written here: `recent_events` and `recent_chains` (`conclude`).

use std::sync::Arc;

use actix::Handler;
use serde_json::Value;
use tokio::sync::oneshot;

use super::apply::{Handled, Lent};
use super::{Ctx, SessionActor};
use crate::app::{guarded, App, Context, EventMeta, Origin};
use crate::ids::{ChainId, ConnId, TabId};
use crate::messages::{Cancel, Identity, Outgoing, Submit, TabInbox};
use crate::protocol::reply::{ok_reply, CancelReply, Outcome};
use crate::protocol::Reason;
use crate::store::Step;

/// One event, from any source, as the session takes it up.
pub(super) struct Incoming<A: App> {
    /// Its id: client-unique, so a repeat gets the first answer
    /// (docs/protocol.md section 6.3).
    pub(super) id: String,
    pub(super) body: Body<A>,
    pub(super) from: Submitter,
}

/// What the event is.
pub(super) enum Body<A: App> {
    /// By name and payload, decoded by the app: a tab's event (`chain` if
    /// it re-submits a pending chain) or the server API's.
    Named {
        name: String,
        payload: Value,
        chain: Option<ChainId>,
    },
    /// Typed by server code.
    Typed(A::Event),
}

/// Who submitted the event, and where its answer goes.
pub(super) enum Submitter {
    /// A joined tab: it must still be a member; its answer is a
    /// `phx_reply`, and the event holds its queue place until durable.
    Tab {
        tab: TabId,
        conn: ConnId,
        identity: Identity,
        reply: ReplyTo,
    },
    /// Server code: its answer is the outcome itself.
    Server(oneshot::Sender<Outcome>),
}

/// Where a tab's reply goes.
pub(super) struct ReplyTo {
    pub(super) to: TabInbox,
    pub(super) join_ref: Arc<str>,
    pub(super) reply_ref: Option<String>,
}

/// Where an event's answer goes, once its submitter was checked.
enum Answer {
    Tab(ReplyTo),
    Server(oneshot::Sender<Outcome>),
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
    /// Takes up one event: answers it without the app (not joined, a
    /// repeat, a chain not pending, not decodable), or runs the app's
    /// handler and settles it; the outcome is recorded and answered in the
    /// same step.
    pub(super) fn submit(&mut self, incoming: Incoming<A>, ctx: &mut Ctx<A>) {
        let Incoming { id, body, from } = incoming;
        // The event's own span (its trace, with `otel`), under the
        // session's in the logs; its handler and backend call run in it.
        let span = tracing::info_span!(
            parent: &self.control.span,
            "event",
            id = %id,
            event = tracing::field::Empty,
        );
        if let Body::Named { name, .. } = &body {
            span.record("event", name.as_str());
        }
        #[cfg(feature = "otel")]
        crate::otel::new_trace(&span, &self.control.span, &[("key", &self.key)]);
        let _entered = span.clone().entered();
        // A chain's holder gets room for its next chain once it is taken.
        let holder = match &body {
            Body::Named {
                chain: Some(chain), ..
            } => self.chains.holder_of(chain),
            _ => None,
        };
        let prepared = self.prepare(&id, body, &from);
        if let Some(tab) = holder {
            self.fill_chain_window(&tab, ctx);
        }
        let (origin, identity, answer) = match from {
            Submitter::Tab {
                tab,
                identity,
                reply,
                ..
            } => (Origin::Tab(tab), Some(identity), Answer::Tab(reply)),
            Submitter::Server(tx) => (Origin::Server, None, Answer::Server(tx)),
        };
        match prepared {
            Prepared::Answered {
                outcome,
                record,
                chain,
            } => self.step(ctx, |session, step, _| {
                if record {
                    session.conclude(step, &id, chain, &outcome);
                }
                session.answer(answer, outcome);
            }),
            Prepared::Run { event, chain } => {
                let mut lent = self.lend(origin.clone(), identity);
                lent.span = span.clone();
                lent.event = Some(EventMeta {
                    id: id.clone(),
                    chain: chain.as_ref().map(|c| c.as_str().to_owned()),
                });
                let running = run_handle(lent, event);
                self.after(running, ctx, move |session, handled, ctx| {
                    let _entered = span.entered();
                    session.step(ctx, |session, step, ctx| {
                        let outcome = session
                            .settle(step, handled, &origin, Some(&id), ctx)
                            .map_or_else(Outcome::from, |(seq, data)| Outcome::Ok { seq, data });
                        session.conclude(step, &id, chain, &outcome);
                        session.answer(answer, outcome);
                    });
                });
            }
        }
    }

    /// Everything about an event that needs no app code: membership,
    /// repeats of an event or chain id, the chain's own name, decoding.
    fn prepare(&mut self, id: &str, body: Body<A>, from: &Submitter) -> Prepared<A> {
        let answered = |outcome, record, chain| Prepared::Answered {
            outcome,
            record,
            chain,
        };
        if let Submitter::Tab { tab, conn, .. } = from {
            if self.members.find(tab, *conn).is_none() {
                return answered(not_joined(), false, None);
            }
        }
        if let Some(first) = self.recent_events.get(id) {
            return answered(first.clone(), false, None);
        }
        let (name, payload, chain) = match body {
            Body::Typed(event) => return Prepared::Run { event, chain: None },
            Body::Named {
                name,
                payload,
                chain: None,
            } => (name, payload, None),
            Body::Named {
                payload,
                chain: Some(chain),
                ..
            } => {
                if let Some(first) = self.recent_chains.get(chain.as_str()) {
                    return answered(first.clone(), true, None);
                }
                match self.chains.take(&chain) {
                    // The chain's own name is used: a tab may add data to
                    // the payload, not turn the chain into another event.
                    Some(pending) => (pending.name, payload, Some(chain)),
                    None => {
                        let why = format!("no pending chain {:?} in this session", chain.as_str());
                        return answered(Outcome::error(Reason::InvalidPayload, why), true, None);
                    }
                }
            }
        };
        match self.app.decode(&name, payload) {
            Ok(event) => Prepared::Run { event, chain },
            Err(e) => answered(e.into_outcome(&name), true, chain),
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

    /// Answers an event once its step is durable: a tab's reply (counted,
    /// and its queue place held until then), or server code's outcome.
    fn answer(&mut self, answer: Answer, outcome: Outcome) {
        match answer {
            Answer::Tab(r) => {
                let metrics = &self.control.metrics;
                match &outcome {
                    Outcome::Ok { .. } => metrics.event(true),
                    Outcome::Error { reason, .. } => {
                        metrics.event(false);
                        metrics.refused_with(reason);
                    }
                }
                self.reply(&r.to, r.join_ref, r.reply_ref, outcome.reply());
                self.durable.hold_queue_place();
            }
            Answer::Server(tx) => self.durable.answer(move || {
                let _ = tx.send(outcome);
            }),
        }
    }

    /// Sends a `phx_reply` to one join.
    pub(super) fn reply(
        &self,
        to: &TabInbox,
        join_ref: Arc<str>,
        reply_ref: Option<String>,
        response: String,
    ) {
        let item = Outgoing::Reply {
            reply_ref,
            response,
        };
        self.deliver(to, join_ref, item);
    }
}

/// The app's handler for one event, with the state lent to it. It runs
/// inside the event's span, under the session's, so what the app logs
/// names the session (by its short key).
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

    fn handle(&mut self, msg: Submit, ctx: &mut Self::Context) {
        self.durable.queue().taken();
        let Submit {
            key: _,
            tab,
            conn,
            identity,
            join_ref,
            reply_to,
            reply_ref,
            event,
        } = msg;
        let incoming = Incoming {
            id: event.id,
            body: Body::Named {
                name: event.name,
                payload: event.payload,
                chain: event.chain,
            },
            from: Submitter::Tab {
                tab,
                conn,
                identity,
                reply: ReplyTo {
                    to: reply_to,
                    join_ref,
                    reply_ref,
                },
            },
        };
        self.submit(incoming, ctx);
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
