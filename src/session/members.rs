//! The tabs joined to a session and the fan-out to them.

use std::sync::Arc;

use actix::Recipient;
use serde_json::value::RawValue;

use crate::ids::{ConnId, TabId};
use crate::tab::{Deliver, Outgoing};

/// One joined tab as the session sees it: where to deliver, and under which
/// `join_ref` (every message of a join carries it; PROTOCOL section 1).
pub(crate) struct Member {
    pub(crate) tab: TabId,
    pub(crate) conn: ConnId,
    pub(crate) addr: Recipient<Deliver>,
    pub(crate) join_ref: Arc<str>,
}

/// Joined tabs, in join order. At most `max_tabs_per_session` (64 by
/// default), so a vector with linear lookups beats a map.
pub(crate) struct Members {
    topic: Arc<str>,
    list: Vec<Member>,
}

impl Members {
    pub(crate) fn new(topic: Arc<str>) -> Self {
        Self {
            topic,
            list: Vec::new(),
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

    /// Delivers one item to one member.
    pub(crate) fn send(&self, member: &Member, item: Outgoing) {
        member.addr.do_send(Deliver {
            topic: self.topic.clone(),
            join_ref: member.join_ref.clone(),
            item,
        });
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
