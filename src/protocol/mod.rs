//! The wire, in one place, as types. `docs/protocol.md` describes it in
//! words, frame by frame.
//!
//! - [`frame`]: the Phoenix Channels V2 JSON array
//!   `[join_ref, ref, topic, event, payload]`, decode and encode.
//! - [`message`]: what clients send inside frames (join params, event
//!   objects) and the payloads of the server's pushes.
//! - [`reply`]: `phx_reply` payloads (join replies, event outcomes) and
//!   error replies with a [`Reason`] (`reason.rs`: every reason, one enum).
//! - [`close`]: WebSocket close codes and what a client should do on each.
//!
//! Reserved names live here as constants and nowhere else; actors build
//! the typed values of this module and never JSON of their own.

pub mod close;
pub mod frame;
pub mod message;
mod reason;
pub mod reply;

pub use reason::{AppReason, ErrorReason, Reason};

/// Topic prefix of a session: `session:<KEY>`.
pub const SESSION_TOPIC_PREFIX: &str = crate::ids::SessionKey::TOPIC_PREFIX;
/// Phoenix's own topic, used for heartbeats.
pub const PHOENIX_TOPIC: &str = "phoenix";

/// Frame event names (Phoenix's reserved ones and tabhub's).
pub mod event {
    /// Client: join a topic.
    pub const JOIN: &str = "phx_join";
    /// Client: leave a topic.
    pub const LEAVE: &str = "phx_leave";
    /// Server: reply to a push.
    pub const REPLY: &str = "phx_reply";
    /// Server: the join failed; rejoin with the cursor.
    pub const ERROR: &str = "phx_error";
    /// Server: the join was ended by the server.
    pub const CLOSE: &str = "phx_close";
    /// Client: keep-alive on the `phoenix` topic.
    pub const HEARTBEAT: &str = "heartbeat";
    /// Client: an app event for the session's queue.
    pub const EVENT: &str = "event";
    /// Client: this tab's visibility changed.
    pub const VISIBILITY: &str = "visibility";
    /// Client: cancel a background task.
    pub const CANCEL: &str = "cancel";
    /// Server: a state change.
    pub const DELTA: &str = "delta";
    /// Server: a frontend-only effect.
    pub const EFFECT: &str = "effect";
    /// Server: a chained event to re-submit.
    pub const CHAIN: &str = "chain";
    /// Server: a background task's life.
    pub const TASK: &str = "task";
    /// Server: the session's tab count changed.
    pub const TABS: &str = "tabs";
    /// Server: this tab's leader role changed.
    pub const LEADER: &str = "leader";
    /// Server: the session's summary changed (summary joins only).
    pub const SUMMARY: &str = "summary";
}
