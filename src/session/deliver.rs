//! Sending: every message a session sends to a join of its topic (a
//! member, a summary watcher, a submitter that left) goes through here,
//! into the durability's outbox, so it waits for the step it depends on
//! and keeps its order. The one exception is the rejoin a failed session
//! sends (`attach.rs`), which goes past the outbox (what the outbox held
//! was never durable).

use std::sync::Arc;

use bytestring::ByteString;
use serde_json::value::RawValue;

use super::members::Member;
use super::SessionActor;
use crate::app::App;
use crate::ids::TabId;
use crate::messages::{Deliver, Outgoing, TabInbox};
use crate::protocol::frame;

/// Distinct `join_ref`s whose frame a broadcast keeps for the next tab;
/// tabs past them get a frame of their own.
const MAX_FRAMES_KEPT: usize = 8;

impl<A: App> SessionActor<A> {
    /// Delivers one item to any join of this session's topic. A push goes
    /// framed for that join (if the caller has not framed it already).
    pub(super) fn deliver(&self, to: &TabInbox, join_ref: Arc<str>, mut item: Outgoing) {
        if let Outgoing::Push {
            event,
            payload,
            frame: frame @ None,
        } = &mut item
        {
            *frame = Some(self.frame(&join_ref, event, payload));
        }
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
            let frame = None;
            self.send_to(
                m,
                Outgoing::Push {
                    event,
                    payload,
                    frame,
                },
            );
        }
    }

    /// Pushes `event` to every tab. The payload is encoded once, and the
    /// frame once per distinct `join_ref` (tabs of one client library
    /// mostly share theirs): every tab sharing it gets the same bytes.
    pub(super) fn broadcast(&self, event: &'static str, payload: Arc<RawValue>) {
        let mut framed: Vec<(&str, ByteString)> = Vec::new();
        for m in self.members.iter() {
            let frame = match framed.iter().find(|(r, _)| *r == &*m.join_ref) {
                Some((_, frame)) => frame.clone(),
                None => {
                    let frame = self.frame(&m.join_ref, event, &payload);
                    if framed.len() < MAX_FRAMES_KEPT {
                        framed.push((&m.join_ref, frame.clone()));
                    }
                    frame
                }
            };
            let item = Outgoing::Push {
                event,
                payload: payload.clone(),
                frame: Some(frame),
            };
            self.send_to(m, item);
        }
    }

    /// The push frame of `event` for the join `join_ref` of this topic.
    fn frame(&self, join_ref: &str, event: &str, payload: &RawValue) -> ByteString {
        ByteString::from(frame::encode(
            Some(join_ref),
            None,
            &self.topic,
            event,
            payload.get(),
        ))
    }
}
