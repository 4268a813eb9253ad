//! The supervisor's decisions about a session's tabs, applied: attach (the
//! join reply in the same handler), detach, and the leader. The delivery
//! list changes only here: when told, and emptied when the session ends
//! (it then tells every tab and summary join to rejoin).
//!
//! Fields written here: `members` and `leader`.

use actix::{AsyncContext, Handler};

use super::journal::Catchup;
use super::{Ctx, Phase, SessionActor};
use crate::app::{App, PresenceChange};
use crate::ids::TabId;
use crate::messages::{Attach, Deliver, Detach, Outgoing, SessionLink};
use crate::protocol::event;
use crate::protocol::message::{self, Cursor, LeaderPayload, TabsPayload};
use crate::protocol::reply::{error_reply, ok_reply, ErrorResponse, JoinReply, Resume};
use crate::protocol::Reason;

use super::members::Member;

impl<A: App> SessionActor<A> {
    /// Applies a leader decided by the supervisor; every tab whose role
    /// changed, except `skip` (a joining tab learns it from its reply), gets
    /// a `leader` message.
    pub(super) fn set_leader(&mut self, leader: Option<TabId>, skip: Option<&TabId>) {
        let old = std::mem::replace(&mut self.leader, leader);
        if old == self.leader {
            return;
        }
        for m in self.members.iter() {
            let was = old.as_ref() == Some(&m.tab);
            let is = self.leader.as_ref() == Some(&m.tab);
            if was != is && Some(&m.tab) != skip {
                let payload = message::to_raw(&LeaderPayload { leader: is });
                self.send_to(
                    m,
                    Outgoing::Push {
                        event: event::LEADER,
                        payload,
                        frame: None,
                    },
                );
            }
        }
    }

    /// Tells every tab but `skip` (a joining tab, whose reply has the
    /// count) that `tabs` are joined now (the supervisor's count).
    fn broadcast_tabs(&self, tabs: usize, skip: Option<&TabId>) {
        let payload = message::to_raw(&TabsPayload { tabs });
        for m in self.members.iter().filter(|m| Some(&m.tab) != skip) {
            self.send_to(
                m,
                Outgoing::Push {
                    event: event::TABS,
                    payload: payload.clone(),
                    frame: None,
                },
            );
        }
    }

    /// Tells every member and watcher to rejoin (`phx_error`) after every
    /// delivery the disk has or will have, and empties both lists: the
    /// session is being stopped on purpose.
    pub(super) fn send_everyone_to_rejoin(&mut self) {
        for m in self.members.take_all() {
            self.send_to(&m, Outgoing::Rejoin);
        }
        for w in self.drain_watchers() {
            self.deliver(&w.addr, w.join_ref, Outgoing::Rejoin);
        }
    }

    /// Tells every member and watcher to rejoin at once, past the outbox,
    /// and empties both lists: the session failed, and a reply or delta
    /// held for a step that failed is gone. Tabs rejoin with cursors that
    /// only ever saw durable deltas; the supervisor answers watchers'
    /// rejoins from the store.
    pub(super) fn send_everyone_to_rejoin_now(&mut self) {
        let members = self.members.take_all();
        let joins = members.iter().map(|m| (&m.addr, &m.join_ref));
        let watchers = self.drain_watchers();
        let joins = joins.chain(watchers.iter().map(|w| (&w.addr, &w.join_ref)));
        for (addr, join_ref) in joins {
            addr.do_send(Deliver {
                topic: self.topic.clone(),
                join_ref: join_ref.clone(),
                item: Outgoing::Rejoin,
            });
        }
    }

    fn link(&self, ctx: &mut Ctx<A>) -> SessionLink {
        let addr = ctx.address();
        SessionLink {
            submit: addr.clone().recipient(),
            cancel: addr.recipient(),
            queue: self.durable.queue().clone(),
        }
    }

    fn join_reply(&self, tab: &TabId, cursor: Option<&Cursor>, tabs: usize) -> String {
        self.journal
            .catchup(cursor, &self.epoch, self.seq, |catchup| {
                let (resume, deltas, state) = match catchup {
                    Catchup::Current => (Resume::Current, None, None),
                    Catchup::Replay(deltas) => (Resume::Replay, Some(deltas), None),
                    Catchup::Snapshot => (Resume::Snapshot, None, Some(&self.state_json)),
                };
                self.control.metrics.joined(resume);
                ok_reply(&JoinReply {
                    tab_id: tab,
                    epoch: &self.epoch,
                    seq: self.seq,
                    resume,
                    leader: self.leader.as_ref() == Some(tab),
                    tabs,
                    deltas,
                    state,
                })
            })
    }
}

impl<A: App> Handler<Attach> for SessionActor<A> {
    type Result = ();

    fn handle(&mut self, msg: Attach, ctx: &mut Self::Context) {
        let _span = self.control.span.clone().entered();
        if self.phase == Phase::Failed {
            let response = error_reply(&ErrorResponse::new(
                Reason::StoreError,
                "the session could not be loaded from the store",
            ));
            msg.tab_addr.do_send(crate::messages::Deliver {
                topic: self.topic.clone(),
                join_ref: msg.join_ref,
                item: Outgoing::Refused {
                    reply_ref: msg.reply_ref,
                    response,
                    reason: Reason::StoreError,
                },
            });
            return;
        }
        let is_new = self.members.upsert(Member {
            tab: msg.tab.clone(),
            conn: msg.conn,
            addr: msg.tab_addr,
            join_ref: msg.join_ref,
            identity: msg.identity,
            visibility: msg.visibility,
        });
        self.set_leader(msg.leader, Some(&msg.tab));
        let response = self.join_reply(&msg.tab, msg.cursor.as_ref(), msg.tabs);
        let link = self.link(ctx);
        if let Some(m) = self.members.find(&msg.tab, msg.conn) {
            self.send_to(
                m,
                Outgoing::Joined {
                    reply_ref: msg.reply_ref,
                    link: Some(link),
                    response,
                },
            );
        }
        if is_new {
            self.broadcast_tabs(msg.tabs, Some(&msg.tab));
        }
        // After the reply: chains this tab held before a takeover or
        // rejoin, and chains that waited for any tab.
        self.resend_chains_on_join(&msg.tab, ctx);
        // Then the app hears who is here (a step like an event's).
        if is_new {
            if let Some(m) = self.members.find(&msg.tab, msg.conn) {
                let tab = super::presence::present::<A>(m);
                self.presence_changed(PresenceChange::Joined, tab, ctx);
            }
        }
    }
}

impl<A: App> Handler<Detach> for SessionActor<A> {
    type Result = ();

    fn handle(&mut self, msg: Detach, ctx: &mut Self::Context) {
        let _span = self.control.span.clone().entered();
        let removed = self.members.remove(&msg.tab, msg.conn);
        self.set_leader(msg.leader, None);
        let Some(removed) = removed else {
            return;
        };
        self.broadcast_tabs(msg.tabs, None);
        self.reroute_chains_held_by(&msg.tab, ctx);
        if msg.tabs == 0 {
            self.app.last_tab_left(&self.key, &self.state);
        }
        let tab = super::presence::present_as::<A>(&removed, false);
        self.presence_changed(PresenceChange::Left, tab, ctx);
    }
}
