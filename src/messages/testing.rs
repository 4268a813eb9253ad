//! Test doubles for the in-process actor tests (`session/tests.rs`,
//! `supervisor/tests.rs`): a recorder that stands in for a tab's connection,
//! and patience that waits without moving tokio's paused clock.

use std::time::Duration;

use actix::{Actor, Context, Handler, Message};
use serde_json::Value;
use tokio::sync::mpsc;

use super::{CloseConnection, Deliver, Outgoing, SessionLink};

/// Waits for what actors and the blocking pool do without moving the
/// paused clock: a yield keeps the runtime busy, and only an idle runtime
/// auto-advances. Gives up (panics) after ten real seconds.
pub(crate) struct Patience {
    what: &'static str,
    deadline: std::time::Instant,
}

impl Patience {
    pub(crate) fn new(what: &'static str) -> Self {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        Self { what, deadline }
    }

    pub(crate) async fn wait(&self) {
        assert!(
            std::time::Instant::now() < self.deadline,
            "gave up waiting for {}",
            self.what
        );
        tokio::task::yield_now().await;
    }
}

/// What a tab was sent, as the tests look at it.
pub(crate) enum Seen {
    /// A join's reply: the session link (none for a summary join) and
    /// the reply's `response`.
    Joined(Option<SessionLink>, Value),
    Reply(Option<String>, Value),
    Push(&'static str, Value),
    Other,
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Answered once everything sent to the recorder before it is recorded.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Flush;

/// Stands in for a tab's connection: records every delivery (and a close
/// as `Other`).
pub(crate) struct Recorder(pub(crate) mpsc::UnboundedSender<Seen>);

impl Actor for Recorder {
    type Context = Context<Self>;
}

impl Handler<Deliver> for Recorder {
    type Result = ();

    fn handle(&mut self, msg: Deliver, _ctx: &mut Self::Context) {
        let seen = match msg.item {
            Outgoing::Joined { link, response, .. } => {
                let reply = json_of(&response);
                Seen::Joined(link, reply["response"].clone())
            }
            Outgoing::Reply {
                reply_ref,
                response,
            } => Seen::Reply(reply_ref, json_of(&response)),
            Outgoing::Push {
                event,
                payload,
                frame,
            } => {
                if let Some(frame) = frame {
                    let own = crate::protocol::frame::encode(
                        Some(&msg.join_ref),
                        None,
                        &msg.topic,
                        event,
                        payload.get(),
                    );
                    assert_eq!(&*frame, own, "a shared frame is this join's own");
                }
                Seen::Push(event, json_of(payload.get()))
            }
            Outgoing::Refused { .. } | Outgoing::Rejoin => Seen::Other,
        };
        let _ = self.0.send(seen);
    }
}

impl Handler<Flush> for Recorder {
    type Result = ();

    fn handle(&mut self, _msg: Flush, _ctx: &mut Self::Context) {}
}

impl Handler<CloseConnection> for Recorder {
    type Result = ();

    fn handle(&mut self, _msg: CloseConnection, _ctx: &mut Self::Context) {
        let _ = self.0.send(Seen::Other);
    }
}
