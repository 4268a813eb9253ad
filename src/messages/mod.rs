//! Messages that cross actors, grouped by the actor that receives them.
//!
//! They live below every actor, so no actor module imports another: a tab
//! reaches its sessions and the supervisor through the [`Recipient`]s of
//! [`SessionLink`] and [`SupervisorLink`], sessions reach tabs through
//! [`TabAddr`], and the supervisor (generic over the app) holds sessions'
//! addresses. Each message says who sends it, when, and what it replies.
//!
//! - `to_tab.rs`: what sessions and the supervisor deliver to a connection.
//! - `inbox.rs`: the queue those deliveries go through, one wake-up per
//!   batch.
//! - `to_session.rs`: the data plane's inputs (events, cancels, and the
//!   supervisor's decisions: attach, detach, leader, watch, stop).
//! - `to_supervisor.rs`: the control plane's inputs (joins, leaves,
//!   visibility, connection life, a session's end).
//! - `activity.rs`: the activity stamps the election reads.
//! - `queue.rs`: a session's queue depth, shared with its tabs.
//! - `watchers.rs`: summary joins, and the list that moves between the
//!   supervisor and a key's live session.
//!
//! [`Recipient`]: actix::Recipient

mod activity;
mod inbox;
mod queue;
#[cfg(test)]
pub(crate) mod testing;
mod to_session;
mod to_supervisor;
mod to_tab;
mod watchers;

pub(crate) use activity::{ActivityClock, ActivityStamp};
pub(crate) use inbox::{Drain, InboxReader, TabInbox};
pub(crate) use queue::QueueDepth;
pub(crate) use to_session::{
    Attach, Cancel, Detach, Disown, SessionLink, SetLeader, Stop, StopMode, StopOutcome, Submit,
    TabShown, Unwatch, Watch,
};
pub(crate) use to_supervisor::{
    Join, Leave, SessionEnded, SessionIdle, SetVisibility, SupervisorLink, TabGone, TabStarted,
};
pub(crate) use to_tab::{CloseConnection, Deliver, Outgoing, TabAddr};
pub(crate) use watchers::{Watcher, Watchers};

/// A connection's identity as [`crate::App::connect`] decided it, with its
/// type erased: tabs are not generic over the app. Code that knows the app
/// (the session, the service's hooks) downcasts it to `A::Identity`.
pub(crate) type Identity = std::sync::Arc<dyn std::any::Any + Send + Sync>;
