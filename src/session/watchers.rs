//! Summary joins of a session (docs/protocol.md section 5.8 (summary
//! joins)): watchers that get the app's summary and its changes, nothing
//! else. They are not tabs: no election, no `tabs` count, no cursor.
//!
//! While the session is live it is the one place its key's summary joins
//! are kept: it gets the supervisor's list at its start (answering, once
//! loaded, those still waiting for their reply), adds and ends joins as the
//! supervisor forwards them (`Watch`, `Unwatch`), and hands the list back
//! in its answer to a grace stop. Stopped on request or failed, it tells
//! them to rejoin instead (`attach.rs`).
//!
//! Fields written here: `watchers` and `summary`.

use actix::Handler;
use serde_json::Value;

use super::{Phase, SessionActor};
use crate::app::App;
use crate::messages::{Deliver, Outgoing, Unwatch, Watch, Watcher, Watchers};
use crate::protocol::event;
use crate::protocol::message::{self, SummaryPayload};
use crate::protocol::reply::{ok_reply, SummaryReply};
use crate::store::Step;

impl<A: App> SessionActor<A> {
    /// Stores a summary set by a handler; watchers hear of it if it changed.
    pub(super) fn set_summary(&mut self, step: &mut Step, summary: Value) {
        if summary == self.summary {
            return;
        }
        self.summary = summary;
        step.summary = Some(self.summary.clone());
        let payload = message::to_raw(&SummaryPayload {
            summary: &self.summary,
        });
        for w in self.watchers.iter() {
            self.deliver(
                &w.addr,
                w.join_ref.clone(),
                Outgoing::Push {
                    event: event::SUMMARY,
                    payload: payload.clone(),
                    frame: None,
                },
            );
        }
    }

    /// Answers the summary joins the session got at its start that were
    /// still waiting for the store's summary: the loaded one is as new.
    pub(super) fn answer_waiting_watchers(&mut self) {
        for w in self.watchers.answer_all() {
            self.answer_watcher(&w);
        }
    }

    /// Empties the summary joins, which no longer count: the session ends
    /// and they are told to rejoin.
    pub(super) fn drain_watchers(&mut self) -> Vec<Watcher> {
        self.watchers.drain()
    }

    /// Gives the summary joins up, as they are, to whoever keeps them next
    /// (the supervisor, once this session has stopped).
    pub(super) fn hand_back_watchers(&mut self) -> Watchers {
        self.watchers.take()
    }

    fn answer_watcher(&self, w: &Watcher) {
        let response = ok_reply(&SummaryReply {
            tab_id: &w.tab,
            summary: &self.summary,
        });
        self.deliver(
            &w.addr,
            w.join_ref.clone(),
            Outgoing::Joined {
                reply_ref: w.reply_ref.clone(),
                link: None,
                response,
            },
        );
    }
}

impl<A: App> Handler<Watch> for SessionActor<A> {
    type Result = ();

    fn handle(&mut self, msg: Watch, _ctx: &mut Self::Context) {
        let mut w = msg.watcher;
        if self.phase != Phase::Ready {
            // Failed: past the outbox, as its other joins were told.
            w.addr.do_send(Deliver {
                topic: self.topic.clone(),
                join_ref: w.join_ref,
                item: Outgoing::Rejoin,
            });
            return;
        }
        w.answered = true;
        self.answer_watcher(&w);
        self.watchers.upsert(w);
    }
}

impl<A: App> Handler<Unwatch> for SessionActor<A> {
    type Result = ();

    fn handle(&mut self, msg: Unwatch, _ctx: &mut Self::Context) {
        self.watchers.remove(&msg.tab, msg.conn);
    }
}
