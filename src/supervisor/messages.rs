//! Messages the [`super::Supervisor`] handles, and the link tabs keep to it.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use actix::{Addr, Message, Recipient};
use serde_json::{Map, Value};

use crate::ids::{ConnId, SessionKey, TabId};
use crate::protocol::message::{Cursor, JoinMode, Visibility};
use crate::tab::TabActor;

/// Sent by a tab for each `phx_join` on a session topic. The outcome comes
/// back to `tab_addr` as a `Deliver`: the join reply from the session, or a
/// refusal from the supervisor.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Join {
    pub(crate) key: SessionKey,
    pub(crate) tab: TabId,
    pub(crate) conn: ConnId,
    pub(crate) tab_addr: Addr<TabActor>,
    pub(crate) join_ref: Arc<str>,
    pub(crate) reply_ref: Option<String>,
    /// A full join (a tab) or a summary join (a watcher).
    pub(crate) mode: JoinMode,
    pub(crate) cursor: Option<Cursor>,
    pub(crate) visibility: Visibility,
    pub(crate) params: Map<String, Value>,
    pub(crate) connect_params: Arc<BTreeMap<String, String>>,
    /// The tab's activity stamp for this join; the tab updates it on every
    /// event, the election reads it.
    pub(crate) activity: Arc<AtomicU64>,
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
    pub(crate) addr: Addr<TabActor>,
}

/// Sent by a tab when its connection ends.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct TabGone {
    pub(crate) conn: ConnId,
}

/// Sent by [`crate::Hub::shutdown`]: close every connection with 1012, save
/// and stop every session. Resolves when all sessions are saved.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Shutdown;

/// Sent by [`crate::Hub::stats`]; replies with the registry's counts.
#[derive(Message)]
#[rtype(result = "HubStats")]
pub(crate) struct Stats;

/// What the supervisor's registry holds right now.
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
