//! Summary joins of a session (docs/protocol.md section 5.8 (summary joins)): watchers that get the
//! app's summary and its changes, nothing else. They are not tabs: no
//! election, no `tabs` count, no cursor.
//!
//! Fields written here: `watchers` and `summary`.

use actix::Handler;
use serde_json::Value;

use super::{Phase, SessionActor};
use crate::app::App;
use crate::messages::{Outgoing, Unwatch, Watch, WatchOutcome, Watcher};
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
        for w in &self.watchers {
            self.deliver_to_watcher(
                w,
                Outgoing::Push {
                    event: event::SUMMARY,
                    payload: payload.clone(),
                },
            );
        }
    }

    /// Empties the summary joins (the session ends; they are told to
    /// rejoin, and the supervisor answers them from then on).
    pub(super) fn take_watchers(&mut self) -> Vec<Watcher> {
        std::mem::take(&mut self.watchers)
    }

    fn deliver_to_watcher(&self, w: &Watcher, item: Outgoing) {
        self.deliver(&w.addr, w.join_ref.clone(), item);
    }
}

impl<A: App> Handler<Watch> for SessionActor<A> {
    type Result = actix::MessageResult<Watch>;

    fn handle(&mut self, msg: Watch, _ctx: &mut Self::Context) -> Self::Result {
        if self.phase != Phase::Ready {
            return actix::MessageResult(WatchOutcome::Declined);
        }
        let w = msg.watcher;
        self.watchers
            .retain(|o| !(o.tab == w.tab && o.conn == w.conn));
        let response = ok_reply(&SummaryReply {
            tab_id: &w.tab,
            summary: &self.summary,
        });
        self.deliver_to_watcher(
            &w,
            Outgoing::Joined {
                reply_ref: msg.reply_ref,
                link: None,
                response,
            },
        );
        self.watchers.push(w);
        actix::MessageResult(WatchOutcome::Answered)
    }
}

impl<A: App> Handler<Unwatch> for SessionActor<A> {
    type Result = ();

    fn handle(&mut self, msg: Unwatch, _ctx: &mut Self::Context) {
        self.watchers
            .retain(|w| !(w.tab == msg.tab && w.conn == msg.conn));
    }
}
