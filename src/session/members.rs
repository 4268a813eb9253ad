//! The session's delivery list: the tabs joined to it, as the supervisor
//! decided (attach, detach). A projection, not a second registry: the
//! session never adds or removes a member on its own, except to drop them
//! all when it fails or stops. Sending to them is `deliver.rs`'s job.

use std::sync::Arc;

use crate::ids::{ConnId, TabId};
use crate::messages::TabInbox;

/// One joined tab as the session sees it: where to deliver, and under which
/// `join_ref` (every message of a join carries it: docs/protocol.md section 3 (frames)).
pub(crate) struct Member {
    pub(crate) tab: TabId,
    pub(crate) conn: ConnId,
    pub(crate) addr: TabInbox,
    pub(crate) join_ref: Arc<str>,
    /// Its connection's identity, for the presence hooks.
    pub(crate) identity: crate::messages::Identity,
    /// Whether its page is shown (`presence.rs` keeps it current).
    pub(crate) visibility: crate::protocol::message::Visibility,
}

/// Joined tabs, in join order. At most `max_tabs_per_session` (64 by
/// default), so a vector with linear lookups beats a map.
#[derive(Default)]
pub(crate) struct Members {
    list: Vec<Member>,
}

impl Members {
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

    /// The member with this tab id and connection, to change.
    pub(crate) fn find_mut(&mut self, tab: &TabId, conn: ConnId) -> Option<&mut Member> {
        self.list
            .iter_mut()
            .find(|m| &m.tab == tab && m.conn == conn)
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

    /// Removes the tab if it is joined on `conn`, and returns it.
    pub(crate) fn remove(&mut self, tab: &TabId, conn: ConnId) -> Option<Member> {
        let i = self
            .list
            .iter()
            .position(|m| &m.tab == tab && m.conn == conn)?;
        Some(self.list.remove(i))
    }

    /// The member with this tab id, on whichever connection.
    pub(crate) fn get(&self, tab: &TabId) -> Option<&Member> {
        self.list.iter().find(|m| &m.tab == tab)
    }

    /// Empties the list, returning who was on it (the session fails or
    /// stops, and tells them all to rejoin).
    pub(crate) fn take_all(&mut self) -> Vec<Member> {
        std::mem::take(&mut self.list)
    }
}
