//! The session's delivery list: the tabs joined to it, as the supervisor
//! decided (attach, detach), and the fan-out to them through the outbox.
//! A projection, not a second registry: the session never adds or removes
//! a member on its own, except to drop them all when it fails.

use std::cell::RefCell;
use std::sync::Arc;

use actix::Recipient;
use serde_json::value::RawValue;

use super::outbox::Outbox;
use crate::ids::{ConnId, TabId};
use crate::messages::{Deliver, Outgoing};

/// One joined tab as the session sees it: where to deliver, and under which
/// `join_ref` (every message of a join carries it: docs/protocol.md section 3 (frames)).
pub(crate) struct Member {
    pub(crate) tab: TabId,
    pub(crate) conn: ConnId,
    pub(crate) addr: Recipient<Deliver>,
    pub(crate) join_ref: Arc<str>,
}

/// Joined tabs, in join order. At most `max_tabs_per_session` (64 by
/// default), so a vector with linear lookups beats a map. Every delivery of
/// the session, to tabs or watchers, goes through its [`Outbox`].
pub(crate) struct Members {
    topic: Arc<str>,
    list: Vec<Member>,
    /// Interior mutability keeps sending a `&self` call while iterating
    /// members; the actor is single-threaded, so no borrow can overlap.
    outbox: RefCell<Outbox>,
}

impl Members {
    pub(crate) fn new(topic: Arc<str>) -> Self {
        Self {
            topic,
            list: Vec::new(),
            outbox: RefCell::new(Outbox::default()),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Member> {
        self.list.iter()
    }

    /// The member with this tab id and connection.
    pub(crate) fn find(&self, tab: &TabId, conn: ConnId) -> Option<&Member> {
        self.list.iter().find(|m| &m.tab == tab && m.conn == conn)
    }

    /// Whether this tab id is joined (on any connection).
    pub(crate) fn contains(&self, tab: &TabId) -> bool {
        self.list.iter().any(|m| &m.tab == tab)
    }

    /// Adds a member, or replaces the one with the same tab id (a rejoin or
    /// a takeover). Returns whether the tab is new to the session.
    pub(crate) fn upsert(&mut self, member: Member) -> bool {
        match self.list.iter_mut().find(|m| m.tab == member.tab) {
            Some(existing) => {
                *existing = member;
                false
            }
            None => {
                self.list.push(member);
                true
            }
        }
    }

    /// Removes the tab if it is joined on `conn`. Returns whether it was.
    pub(crate) fn remove(&mut self, tab: &TabId, conn: ConnId) -> bool {
        let before = self.list.len();
        self.list.retain(|m| !(&m.tab == tab && m.conn == conn));
        self.list.len() != before
    }

    /// Tells every member to rejoin (`phx_error`) at once, past the outbox
    /// (what it holds was never durable), and empties the list.
    pub(crate) fn rejoin_all(&mut self) {
        self.outbox.borrow_mut().clear();
        for m in self.list.drain(..) {
            m.addr.do_send(Deliver {
                topic: self.topic.clone(),
                join_ref: m.join_ref.clone(),
                item: Outgoing::Rejoin,
            });
        }
    }

    /// Tells every member to rejoin (`phx_error`) through the outbox, so
    /// each gets every delivery the disk already has (or will have) first,
    /// and empties the list: the session is being stopped on purpose.
    pub(crate) fn rejoin_all_in_order(&mut self) {
        for m in std::mem::take(&mut self.list) {
            self.send(&m, Outgoing::Rejoin);
        }
    }

    /// Delivers one item to one member (through the outbox).
    pub(crate) fn send(&self, member: &Member, item: Outgoing) {
        self.deliver(&member.addr, member.join_ref.clone(), item);
    }

    /// Delivers one item to any join of this session's topic (a member, a
    /// watcher, or a submitter that is no longer a member).
    pub(crate) fn deliver(&self, to: &Recipient<Deliver>, join_ref: Arc<str>, item: Outgoing) {
        let deliver = Deliver {
            topic: self.topic.clone(),
            join_ref,
            item,
        };
        self.outbox.borrow_mut().send(to, deliver);
    }

    /// The session's outbox, to start steps and release durable ones.
    pub(crate) fn outbox(&self) -> std::cell::RefMut<'_, Outbox> {
        self.outbox.borrow_mut()
    }

    /// Pushes `event` to one tab, if joined.
    pub(crate) fn push_to(&self, tab: &TabId, event: &'static str, payload: Arc<RawValue>) {
        if let Some(m) = self.list.iter().find(|m| &m.tab == tab) {
            self.send(m, Outgoing::Push { event, payload });
        }
    }

    /// Pushes `event` to every tab. The payload is encoded once and shared.
    pub(crate) fn broadcast(&self, event: &'static str, payload: Arc<RawValue>) {
        for m in &self.list {
            self.send(
                m,
                Outgoing::Push {
                    event,
                    payload: payload.clone(),
                },
            );
        }
    }
}
