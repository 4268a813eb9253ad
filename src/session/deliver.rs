//! Sending: every message a session sends to a join of its topic (a
//! member, a summary watcher, a submitter that left) goes through here,
//! into the durability's outbox, so it waits for the step it depends on
//! and keeps its order. The one exception is the rejoin a failed session
//! sends (`attach.rs`), which goes past the outbox (what the outbox held
//! was never durable).

use std::sync::Arc;

use actix::Recipient;
use serde_json::value::RawValue;

use super::members::Member;
use super::SessionActor;
use crate::app::App;
use crate::ids::TabId;
use crate::messages::{Deliver, Outgoing};

impl<A: App> SessionActor<A> {
    /// Delivers one item to any join of this session's topic.
    pub(super) fn deliver(&self, to: &Recipient<Deliver>, join_ref: Arc<str>, item: Outgoing) {
        let deliver = Deliver {
            topic: self.topic.clone(),
            join_ref,
            item,
        };
        self.durable.send(to, deliver);
    }

    /// Delivers one item to one member.
    pub(super) fn send_to(&self, member: &Member, item: Outgoing) {
        self.deliver(&member.addr, member.join_ref.clone(), item);
    }

    /// Pushes `event` to one tab, if joined.
    pub(super) fn push_to(&self, tab: &TabId, event: &'static str, payload: Arc<RawValue>) {
        if let Some(m) = self.members.get(tab) {
            self.send_to(m, Outgoing::Push { event, payload });
        }
    }

    /// Pushes `event` to every tab. The payload is encoded once and shared.
    pub(super) fn broadcast(&self, event: &'static str, payload: Arc<RawValue>) {
        for m in self.members.iter() {
            let item = Outgoing::Push {
                event,
                payload: payload.clone(),
            };
            self.send_to(m, item);
        }
    }
}
