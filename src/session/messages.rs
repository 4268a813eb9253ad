//! Messages a [`super::SessionActor`] handles, and the link a tab keeps to it.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use actix::{Message, Recipient};

use crate::app::{App, AppError, Context, TaskGone};
use crate::ids::{ConnId, SessionKey, TabId};
use crate::protocol::message::{Cursor, EventPayload};
use crate::tab::Deliver;

/// What a joined tab holds to reach its session on the hot path, without
/// the supervisor: where to submit events and cancels, and the queue gauge
/// it checks before submitting (`queue_full`).
#[derive(Clone)]
pub(crate) struct SessionLink {
    pub(crate) submit: Recipient<Submit>,
    pub(crate) cancel: Recipient<Cancel>,
    /// Events submitted and not yet taken by the session. The tab adds one
    /// before sending, the session takes one off when it starts handling.
    pub(crate) queued: Arc<AtomicUsize>,
}

/// Sent by a tab to its session for each `event` push; the session replies
/// to `reply_to` with a `phx_reply` after the event's delta (if any) went to
/// every tab.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Submit {
    pub(crate) tab: TabId,
    pub(crate) conn: ConnId,
    pub(crate) join_ref: Arc<str>,
    pub(crate) reply_to: Recipient<Deliver>,
    pub(crate) reply_ref: Option<String>,
    pub(crate) event: EventPayload,
}

/// Sent by a tab for a `cancel` push; replies `{"cancelled": bool}`.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Cancel {
    pub(crate) tab: TabId,
    pub(crate) conn: ConnId,
    pub(crate) join_ref: Arc<str>,
    pub(crate) reply_to: Recipient<Deliver>,
    pub(crate) reply_ref: Option<String>,
    pub(crate) task: String,
}

/// Sent by the supervisor when a tab joins (first join, rejoin on the same
/// connection, or takeover by a new connection of the same `tab_id`). The
/// session registers the tab and sends it its join reply in the same step,
/// so no delta can fall between the two (ARCHITECTURE invariant 2).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Attach {
    pub(crate) tab: TabId,
    pub(crate) conn: ConnId,
    pub(crate) tab_addr: Recipient<Deliver>,
    pub(crate) join_ref: Arc<str>,
    pub(crate) reply_ref: Option<String>,
    pub(crate) cursor: Option<Cursor>,
    /// The leader after this join, as elected by the supervisor.
    pub(crate) leader: Option<TabId>,
}

/// A summary join (PROTOCOL section 3a): where to send `summary` messages.
#[derive(Clone)]
pub(crate) struct Watcher {
    pub(crate) tab: TabId,
    pub(crate) conn: ConnId,
    pub(crate) addr: Recipient<Deliver>,
    pub(crate) join_ref: Arc<str>,
}

/// Sent by the supervisor for a summary join to a live session. The
/// session registers the watcher and sends its reply `{tab_id, summary}`
/// in the same step, so no summary change falls between the two.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Watch {
    pub(crate) watcher: Watcher,
    pub(crate) reply_ref: Option<String>,
}

/// Sent by the supervisor when a summary join ends.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Unwatch {
    pub(crate) tab: TabId,
    pub(crate) conn: ConnId,
}

/// Sent by the supervisor when a tab leaves (leave, close, timeout). Ignored
/// for membership if `conn` is no longer the tab's connection (a takeover
/// already replaced it); the leader is applied either way.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Detach {
    pub(crate) tab: TabId,
    pub(crate) conn: ConnId,
    pub(crate) leader: Option<TabId>,
}

/// Sent by the supervisor when an election not caused by a join or leave
/// (a visibility change) moved the leader.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct SetLeader {
    pub(crate) leader: Option<TabId>,
}

/// Sent by the supervisor when the grace time ran out (`force: false`) or
/// the service shuts down (`force: true`). The session saves itself to the
/// store and stops, unless (without force) it has tabs, queued events or
/// running tasks.
#[derive(Message)]
#[rtype(result = "StopOutcome")]
pub(crate) struct Stop {
    pub(crate) force: bool,
}

/// What a [`Stop`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopOutcome {
    /// Saved and stopping.
    Stopped,
    /// Still has tabs, queued events or running tasks; nothing done.
    Busy,
    /// The store refused the save; the session keeps running.
    SaveFailed,
}

/// Sent by a session to the supervisor when its last running task ended, so
/// a session with no tabs can start its grace time.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct SessionIdle {
    pub(crate) key: SessionKey,
}

/// A state change from a background task, applied in the session's queue.
pub(crate) type TaskUpdateFn<A> = Box<
    dyn for<'c> FnOnce(&mut <A as App>::State, &mut Context<'c, A>) -> Result<(), AppError> + Send,
>;

/// Sent by a [`crate::TaskHandle`]; replies with the seq after the update,
/// or [`TaskGone`] if that task is no longer running.
pub struct TaskUpdate<A: App> {
    pub(crate) key: String,
    pub(crate) generation: u64,
    pub(crate) apply: TaskUpdateFn<A>,
}

impl<A: App> Message for TaskUpdate<A> {
    type Result = Result<Result<u64, AppError>, TaskGone>;
}
