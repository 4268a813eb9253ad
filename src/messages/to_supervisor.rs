//! What the `Supervisor` (the control plane) receives from tabs and
//! sessions. Every one of these is handled in memory, at once.

use std::sync::Arc;

use actix::{Message, Recipient};

use super::{ActivityStamp, CloseConnection, TabAddr};
use crate::ids::{ConnId, SessionKey, TabId};
use crate::protocol::message::{Cursor, JoinMode, Visibility};

/// Sent by a tab for each `phx_join` on a session topic, after the app
/// authorized it (on the tab's side, so a slow authorize holds up only its
/// own join). The outcome comes back to `tab_addr` as a [`super::Deliver`]:
/// the join reply from the session, or a refusal from the supervisor.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Join {
    pub(crate) key: SessionKey,
    pub(crate) tab: TabId,
    /// The connection's id: ids only grow, so a larger id is a newer
    /// connection (takeovers are fenced by it).
    pub(crate) conn: ConnId,
    /// The connection's identity (for listing the session's tabs).
    pub(crate) identity: super::Identity,
    pub(crate) tab_addr: TabAddr,
    pub(crate) join_ref: Arc<str>,
    pub(crate) reply_ref: Option<String>,
    /// A full join (a tab) or a summary join (a watcher).
    pub(crate) mode: JoinMode,
    pub(crate) cursor: Option<Cursor>,
    pub(crate) visibility: Visibility,
    /// This join's activity: the tab stamps it on every event, the
    /// election reads it.
    pub(crate) activity: ActivityStamp,
}

/// Sent by a tab when one of its joins ends (leave, refusal of a rejoin,
/// `phx_error`, or the connection's end).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Leave {
    pub(crate) key: SessionKey,
    pub(crate) tab: TabId,
    pub(crate) conn: ConnId,
}

/// Sent by a tab for a `visibility` push.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct SetVisibility {
    pub(crate) key: SessionKey,
    pub(crate) tab: TabId,
    pub(crate) conn: ConnId,
    pub(crate) visibility: Visibility,
}

/// Sent by a tab when its connection starts, so shutdown can close it.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct TabStarted {
    pub(crate) conn: ConnId,
    pub(crate) close: Recipient<CloseConnection>,
}

/// Sent by a tab when its connection ends.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct TabGone {
    pub(crate) conn: ConnId,
}

/// Sent by a session when its last running task ended, so a session with
/// no tabs starts its grace time afresh (docs/protocol.md section 12.1
/// (lifetime)).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct SessionIdle {
    pub(crate) key: SessionKey,
}

/// Sent by a session that can no longer serve its key: its load failed, or
/// a commit failed and its state is ahead of the store. The supervisor
/// forgets it (the next join starts a fresh one, which loads from the
/// store) and then stops it; until the stop the session refuses joins with
/// `store_error` and tells summary joins to rejoin, so every join gets an
/// answer.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct SessionEnded {
    pub(crate) key: SessionKey,
    /// Which start of the key's session this was (the supervisor's count),
    /// so a late report never retires a newer session of the same key.
    pub(crate) incarnation: u64,
    /// Whether background tasks were running (or waiting to restart): with
    /// no tab joined the supervisor starts the session again, with backoff,
    /// so they go on once the store works again.
    pub(crate) had_tasks: bool,
}

/// The supervisor as a tab sees it (the supervisor is generic over the app;
/// tabs are not).
#[derive(Clone)]
pub(crate) struct SupervisorLink {
    pub(crate) join: Recipient<Join>,
    pub(crate) leave: Recipient<Leave>,
    pub(crate) visibility: Recipient<SetVisibility>,
    pub(crate) started: Recipient<TabStarted>,
    pub(crate) gone: Recipient<TabGone>,
}
