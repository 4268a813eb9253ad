//! What a `SessionActor` receives: events and cancels from its tabs (the
//! hot path), and the supervisor's decisions about its tabs and its life.
//! The session's list of tabs to deliver to is a projection of these
//! decisions; it never changes it on its own.

use std::sync::Arc;

use actix::{Message, Recipient};

use super::{TabInbox, Watcher, Watchers};
use crate::ids::{ConnId, SessionKey, TabId};
use crate::protocol::message::{Cursor, EventPayload, Visibility};

/// What a joined tab holds to reach its session on the hot path, without
/// the supervisor: where to submit events and cancels, and the queue gauge
/// it checks before submitting (`queue_full`).
#[derive(Clone)]
pub(crate) struct SessionLink {
    pub(crate) submit: Recipient<Submit>,
    pub(crate) cancel: Recipient<Cancel>,
    /// The session's queue depth, checked before submitting.
    pub(crate) queue: Arc<super::QueueDepth>,
}

/// Sent by a tab to its session for each `event` push; the session replies
/// to `reply_to` with a `phx_reply` after the event's delta (if any) went to
/// every tab.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Submit {
    /// The session's key: a node forwarding the push to the session's
    /// owner on another node routes by it; the session ignores it.
    pub(crate) key: SessionKey,
    pub(crate) tab: TabId,
    pub(crate) conn: ConnId,
    /// The connection's identity, for the handler's `Context::identity`.
    pub(crate) identity: super::Identity,
    pub(crate) join_ref: Arc<str>,
    pub(crate) reply_to: TabInbox,
    pub(crate) reply_ref: Option<String>,
    pub(crate) event: EventPayload,
}

/// Sent by a tab for a `cancel` push; replies `{"cancelled": bool}`.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Cancel {
    /// The session's key (as [`Submit::key`]).
    pub(crate) key: SessionKey,
    pub(crate) tab: TabId,
    pub(crate) conn: ConnId,
    pub(crate) join_ref: Arc<str>,
    pub(crate) reply_to: TabInbox,
    pub(crate) reply_ref: Option<String>,
    pub(crate) task: String,
}

/// Sent by the supervisor when it registered a tab (first join, rejoin on
/// the same connection, or takeover by a newer connection of the same
/// `tab_id`). The session adds the tab to its delivery list and sends it
/// its join reply in the same handler, so no delta can fall between the two
/// (docs/architecture.md invariant 2). A session still loading handles it
/// once loaded, in arrival order; one whose load failed refuses it with
/// `store_error`.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Attach {
    pub(crate) tab: TabId,
    pub(crate) conn: ConnId,
    pub(crate) tab_addr: TabInbox,
    pub(crate) join_ref: Arc<str>,
    pub(crate) reply_ref: Option<String>,
    pub(crate) cursor: Option<Cursor>,
    /// The leader after this join, as elected by the supervisor.
    pub(crate) leader: Option<TabId>,
    /// Tabs joined to the session after this join, as the supervisor's
    /// registry counts them: the one count the join reply and `tabs`
    /// pushes carry.
    pub(crate) tabs: usize,
    /// The connection's identity (for the presence hooks).
    pub(crate) identity: super::Identity,
    /// Whether the tab's page is shown, as it joined.
    pub(crate) visibility: Visibility,
}

/// Sent by the supervisor for a summary join to the key's live session.
/// A serving session adds the watcher to its list and sends its reply
/// `{tab_id, summary}` in the same handler, so no summary change falls
/// between the two. A session whose store failed tells it to rejoin
/// (`phx_error`) instead: its summary is not the store's, and the rejoin
/// reaches the supervisor after it forgot the session.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Watch {
    pub(crate) watcher: Watcher,
}

/// Sent by the supervisor when a summary join ends.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Unwatch {
    pub(crate) tab: TabId,
    pub(crate) conn: ConnId,
}

/// Sent by the supervisor when a tab left (leave, close, timeout, or a
/// takeover's older connection). Ignored for delivery if `conn` is no
/// longer the tab's connection; the leader is applied either way.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Detach {
    pub(crate) tab: TabId,
    pub(crate) conn: ConnId,
    pub(crate) leader: Option<TabId>,
    /// Tabs joined after this leave, as the supervisor's registry counts
    /// them (for the `tabs` push).
    pub(crate) tabs: usize,
}

/// Sent by the supervisor when a joined tab's visibility changed (after
/// the [`SetLeader`] it may have caused), for the session's presence list.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct TabShown {
    pub(crate) tab: TabId,
    pub(crate) conn: ConnId,
    pub(crate) visibility: Visibility,
}

/// Sent by the supervisor when an election not caused by a join or leave
/// (a visibility change) moved the leader.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct SetLeader {
    pub(crate) leader: Option<TabId>,
}

/// Sent by the supervisor when the store says this node no longer owns
/// the session's key (a shared store: its lease ran out and another node
/// took it). The session gives it up as after a store failure: its tabs
/// and summary joins are told to rejoin, and it reports `SessionEnded`
/// (without asking for its tasks to restart here).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Disown;

/// Sent by the supervisor to stop a session; see [`StopMode`] for when.
/// The session saves itself to the store (off its thread) and stops.
#[derive(Message)]
#[rtype(result = "StopOutcome")]
pub(crate) struct Stop {
    pub(crate) mode: StopMode,
}

/// Why a session is asked to stop, and so what may keep it running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopMode {
    /// The grace time ran out: it stops only with no tab, no queued event,
    /// no running task and no delivery waiting for the disk (else `Busy`).
    IfIdle,
    /// Server code asked (a session handle's `stop` or `delete`): its tabs
    /// and summary joins are told to rejoin (`phx_error`, after every
    /// delivery the disk already has), running tasks are stopped (the
    /// restartable ones restart at the next load), and it stops, and
    /// answers, once its queued events are handled and its steps are
    /// committed (never `Busy`). `save: false` when the key is about to be
    /// deleted.
    Now { save: bool },
    /// The service shuts down, or the session reported its end: it stops
    /// whatever runs, saving what it can.
    Shutdown,
}

/// What a [`Stop`] did.
#[derive(Debug)]
pub(crate) enum StopOutcome {
    /// Saved (or nothing to save) and stopping. Carries the session's
    /// summary joins back to the supervisor, which keeps them while the
    /// key has no live session (empty after a stop `Now`: they were told
    /// to rejoin).
    Stopped(Watchers),
    /// Still has tabs, queued events or running tasks; nothing done
    /// (mode `IfIdle` only).
    Busy,
    /// The store refused the save; the session keeps running.
    SaveFailed,
}
