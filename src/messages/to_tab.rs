//! What a connection's `TabActor` receives from sessions and the supervisor.

use std::sync::Arc;

use actix::{Message, Recipient};
use bytestring::ByteString;
use serde_json::value::RawValue;

use super::{SessionLink, TabInbox};
use crate::protocol::close::CloseCode;
use crate::protocol::Reason;

/// Sent by a session (or, for refused joins, the supervisor or the tab's own
/// authorization) to a tab: something to write on one join. Dropped by the
/// tab unless `join_ref` is the topic's current join, so nothing of an old
/// join leaks into a new one and nothing follows a leave's reply.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Deliver {
    pub(crate) topic: Arc<str>,
    pub(crate) join_ref: Arc<str>,
    pub(crate) item: Outgoing,
}

/// What a [`Deliver`] carries. Payloads are already encoded JSON, built by
/// `crate::protocol` from typed values.
pub(crate) enum Outgoing {
    /// The join succeeded: its ok reply, and (for full joins) the link for
    /// pushing events.
    Joined {
        reply_ref: Option<String>,
        link: Option<SessionLink>,
        response: String,
    },
    /// The join was refused: its error reply, and its reason (which the
    /// tab counts). The tab forgets the join.
    Refused {
        reply_ref: Option<String>,
        response: String,
        reason: Reason,
    },
    /// A reply to a push on this join.
    Reply {
        reply_ref: Option<String>,
        response: String,
    },
    /// The session dropped this join (its state fell behind the store):
    /// the tab sends `phx_error` so the client rejoins with its cursor.
    Rejoin,
    /// A server push (`delta`, `effect`, `chain`, `task`, `tabs`, `leader`,
    /// `summary`), its payload encoded once for all tabs.
    Push {
        event: &'static str,
        payload: Arc<RawValue>,
        /// The whole frame for this delivery's join and topic, if the
        /// sender encoded it: a broadcast encodes one per distinct
        /// `join_ref` and every tab sharing it writes the same bytes.
        /// A session always frames its pushes (`session/deliver.rs`);
        /// `None` (a push that came from another node) the tab encodes.
        frame: Option<ByteString>,
    },
}

/// Sent by the supervisor to close a whole connection: 4001 when a newer
/// connection of the same tab took over, 1012 on shutdown.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct CloseConnection {
    pub(crate) code: CloseCode,
}

/// How the other actors reach one connection.
#[derive(Clone)]
pub(crate) struct TabAddr {
    pub(crate) deliver: TabInbox,
    pub(crate) close: Recipient<CloseConnection>,
}
