//! The wire, in one place: PROTOCOL.md as types.
//!
//! - [`frame`]: the Phoenix Channels V2 JSON array
//!   `[join_ref, ref, topic, event, payload]`, decode and encode.
//! - [`message`]: what clients send inside frames (join params, event
//!   objects) and the payloads the server sends back.
//! - [`close`]: WebSocket close codes and what a client should do on each.
//!
//! Reserved names live here as constants and nowhere else.

pub mod close;
pub mod frame;
pub mod message;

/// Topic prefix of a session: `session:<KEY>`.
pub const SESSION_TOPIC_PREFIX: &str = "session:";
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

/// Error reply reasons (PROTOCOL sections 3 and 4).
pub mod reason {
    /// The app's authorize hook refused the join.
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// A `session:` topic with a malformed key.
    pub const INVALID_KEY: &str = "invalid_key";
    /// The session already has the maximum number of tabs.
    pub const TOO_MANY_TABS: &str = "too_many_tabs";
    /// The connection already has the maximum number of joins.
    pub const TOO_MANY_JOINS: &str = "too_many_joins";
    /// The service is at its session limit.
    pub const CAPACITY: &str = "capacity";
    /// Legacy duplicate-tab mode: join the key in `new_key` instead.
    pub const NEW_KEY: &str = "new_key";
    /// The store could not load this session.
    pub const STORE_ERROR: &str = "store_error";
    /// A topic that is not joined or not served (Phoenix's wording).
    pub const UNMATCHED_TOPIC: &str = "unmatched topic";
    /// An unknown frame event, or an event name the app does not know.
    pub const UNKNOWN_EVENT: &str = "unknown_event";
    /// The event's payload does not fit its event.
    pub const INVALID_PAYLOAD: &str = "invalid_payload";
    /// The app's handler refused the event.
    pub const HANDLER_ERROR: &str = "handler_error";
    /// The session's queue is full; retry later.
    pub const QUEUE_FULL: &str = "queue_full";
    /// This tab exceeded its event rate; retry later.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// A push other than `phx_leave` on a summary join.
    pub const SUMMARY_ONLY: &str = "summary_only";
}
