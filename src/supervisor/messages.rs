//! What the [`crate::Hub`] asks of the supervisor (the actors' messages to
//! it are in `crate::messages`).

use actix::Message;

/// Sent by [`crate::Hub::shutdown`]: close every connection with 1012, save
/// and stop every session. Resolves when all sessions are saved.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Shutdown;

/// Sent by the hub's ownership watcher (`service/ownership.rs`): the
/// store says this node no longer owns these keys (a store shared by
/// several nodes; another node took them over). Each live session of them
/// is told to give its key up ([`crate::messages::Disown`]).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Disowned {
    pub(crate) keys: Vec<crate::ids::SessionKey>,
}

/// Sent by [`crate::Hub::stats`]; replies with the registry's counts.
#[derive(Message)]
#[rtype(result = "HubStats")]
pub(crate) struct Stats;

/// What the supervisor's registry holds right now (summary joins: as
/// counted by whoever keeps them, a live session or the supervisor; a
/// summary join's leave counts once its session has handled it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HubStats {
    /// Live sessions (started and not yet stopped).
    pub sessions: usize,
    /// Open WebSocket connections.
    pub connections: usize,
    /// Tabs joined to live sessions, over all sessions.
    pub tabs: usize,
    /// Summary joins, over all keys (live sessions or not).
    pub summary_joins: usize,
}
