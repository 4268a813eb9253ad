//! [`Inspect`]: what `GET /api/sessions` shows of a live session (its seq,
//! epoch and last change), read at once from the actor's fields, outside
//! the queue's steps: inspection, not a read of the state, so it neither
//! waits for the disk nor holds anything up.

use std::time::SystemTime;

use actix::{Handler, Message, MessageResult};

use super::SessionActor;
use crate::app::App;
use crate::ids::Epoch;

/// Sent by the server API's listing; replies with an [`Inspection`].
pub(crate) struct Inspect;

impl Message for Inspect {
    type Result = Inspection;
}

/// A live session at a glance.
#[derive(Debug, Clone)]
pub(crate) struct Inspection {
    /// The seq reached in memory (its last delta may still be on its way
    /// to the disk).
    pub(crate) seq: u64,
    /// The session's epoch.
    pub(crate) epoch: Epoch,
    /// When the seq last moved on this node, or the session started.
    pub(crate) changed_at: SystemTime,
    /// Whether it has loaded and serves (false while loading, or after a
    /// store failure until it is stopped).
    pub(crate) ready: bool,
}

impl<A: App> Handler<Inspect> for SessionActor<A> {
    type Result = MessageResult<Inspect>;

    fn handle(&mut self, _msg: Inspect, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(Inspection {
            seq: self.seq,
            epoch: self.epoch.clone(),
            changed_at: self.changed_at,
            ready: self.phase == super::Phase::Ready,
        })
    }
}
