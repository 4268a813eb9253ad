//! What sessions deliver to this connection, written out in order: join
//! replies and refusals, event replies, pushes (through the bounded
//! outbound buffer), and rejoin requests; and what happens when a join's
//! pushes no longer fit: docs/protocol.md section 11 (backpressure).

use std::sync::Arc;

use actix::{ActorContext, AsyncContext, Handler};
use bytestring::ByteString;

use super::TabActor;
use crate::messages::{Deliver, Drain, Outgoing};
use crate::protocol::close::CloseCode;
use crate::protocol::event;
use crate::protocol::frame;
use crate::protocol::reply::Empty;

impl TabActor {
    /// Drops a join the session can no longer feed in order (its outbound
    /// buffer overflowed): the client gets `phx_error` and rejoins with its
    /// cursor, catching up by replay or snapshot.
    pub(super) fn error_join(&mut self, topic: &Arc<str>, ctx: &mut actix::Context<Self>) {
        if let Some(join) = self.joins.remove(topic) {
            let _span = self.span.clone().entered();
            tracing::info!(tab = %self.tab, key = %join.key, "join errored (outbound buffer full, or its session stopped); the client should rejoin");
            self.leave_session(&join);
            let r = Some(&*join.join_ref);
            let payload = crate::protocol::message::to_json(&Empty {});
            self.write(r, r, topic, event::ERROR, &payload, ctx);
        }
    }

    /// The outbound buffer has no room for a push of the join on `topic`:
    /// its pushes still queued are dropped (the journal can replay the
    /// deltas) and the join gets one `phx_error`; if the socket then takes
    /// no write within the slow-client timeout, the connection is cut with
    /// 1013. `effect`: whether the push that did not fit is an effect.
    fn overflow(&mut self, topic: &Arc<str>, effect: bool, ctx: &mut actix::Context<Self>) {
        let _span = self.span.clone().entered();
        let dropped = self.out.drop_pushes(topic);
        // The queued pushes, and the one that did not fit.
        let m = &self.metrics;
        m.outbound_overflows.inc();
        m.pushes_dropped.inc_by(dropped.pushes as u64 + 1);
        m.effects_dropped
            .inc_by(dropped.effects as u64 + u64::from(effect));
        let dropped = dropped.pushes;
        tracing::info!(tab = %self.tab, dropped, "outbound buffer full; dropping the join's queued pushes");
        self.error_join(topic, ctx);
        if self.stall_watch.is_none() {
            let writes = self.out.writes();
            let wait = self.config.slow_client_timeout;
            self.stall_watch = Some(ctx.run_later(wait, move |act, ctx| {
                act.stall_watch = None;
                if act.out.writes() == writes && act.out.waiting() {
                    let _span = act.span.clone().entered();
                    act.metrics.slow_clients_cut.inc();
                    act.metrics.closed(CloseCode::Overloaded.code());
                    tracing::warn!(tab = %act.tab, wait_ms = wait.as_millis(), "the socket took no write since its buffer overflowed; cutting the connection");
                    act.closed = true;
                    act.out.cut(CloseCode::Overloaded);
                    ctx.stop();
                }
            }));
        }
    }
}

impl Handler<Drain> for TabActor {
    type Result = ();

    /// Handles everything the inbox holds, in order.
    fn handle(&mut self, _: Drain, ctx: &mut Self::Context) {
        let mut taken = self.reader.take();
        let mut deltas = 0;
        for deliver in taken.drain(..) {
            deltas += u64::from(self.deliver(deliver, ctx));
        }
        self.reader.recycle(taken);
        if deltas > 0 {
            self.metrics.deltas_sent.inc_by(deltas);
        }
    }
}

impl TabActor {
    /// Writes out one delivery, if it is for a current join. Returns
    /// whether it was a delta that went into the outbound buffer.
    fn deliver(&mut self, msg: Deliver, ctx: &mut actix::Context<Self>) -> bool {
        if let Outgoing::Refused { reason, .. } = &msg.item {
            // Decided by the supervisor or the session: counted here, where
            // every refused join arrives, whether or not it is still current.
            self.metrics.refused(*reason);
        }
        let Some(join) = self.joins.get_mut(&msg.topic) else {
            return false;
        };
        if join.join_ref != msg.join_ref {
            return false;
        }
        let join_ref = join.join_ref.clone();
        let r = Some(&*join_ref);
        match msg.item {
            Outgoing::Joined {
                reply_ref,
                link,
                response,
            } => {
                if link.is_none() {
                    // Full joins are counted by their session, by resume.
                    self.metrics.summary_joined();
                }
                join.joined = true;
                join.session = link;
                self.reply(r, reply_ref.as_deref(), &msg.topic, &response, ctx);
            }
            Outgoing::Refused {
                reply_ref,
                response,
                ..
            } => {
                if let Some(join) = self.joins.remove(&msg.topic) {
                    // A refused rejoin must also end the old membership.
                    self.leave_session(&join);
                }
                self.reply(r, reply_ref.as_deref(), &msg.topic, &response, ctx);
            }
            Outgoing::Reply {
                reply_ref,
                response,
            } => {
                if join.joined {
                    self.reply(r, reply_ref.as_deref(), &msg.topic, &response, ctx);
                }
            }
            Outgoing::Rejoin => self.error_join(&msg.topic, ctx),
            Outgoing::Push {
                event,
                payload,
                frame,
            } => {
                if !join.joined || self.closed {
                    return false;
                }
                let effect = event == event::EFFECT;
                if self.out.has_room(payload.get().len()) {
                    let text = frame.unwrap_or_else(|| {
                        ByteString::from(frame::encode(r, None, &msg.topic, event, payload.get()))
                    });
                    self.out.push(&msg.topic, text, effect);
                    return event == event::DELTA;
                }
                self.overflow(&msg.topic, effect, ctx);
            }
        }
        false
    }
}
