//! What nodes send each other over the bus (JSON): a tab's joins, leaves,
//! visibility changes, events and cancels go to the session's owner; what
//! the owner's session delivers to the tab comes back. Every message is
//! numbered per (sender, receiver), so a receiver notices one it missed.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::ids::{SessionKey, TabId};
use crate::messages::Outgoing;
use crate::protocol::message::{Cursor, EventPayload, JoinMode, Visibility};
use crate::protocol::{event, Reason};

/// One message from one node to another.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Envelope {
    /// The sender's node id.
    pub(crate) from: String,
    /// 1 for the sender's first message to this receiver, then one more
    /// each time: a receiver that sees a number skipped lost a message.
    pub(crate) n: u64,
    pub(crate) body: Body,
}

/// What a message says. `conn` is always the connection's id on the
/// tab's node. Externally tagged (`{"submit": {...}}`): serde_json's
/// `RawValue` payloads decode only there, not under an internal tag.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Body {
    /// To the owner: a tab's join (authorized on its node).
    Join(Box<RemoteJoin>),
    /// To the owner: a join ended.
    Leave { conn: u64, key: SessionKey },
    /// To the owner: a `visibility` push.
    Visibility {
        conn: u64,
        key: SessionKey,
        visibility: Visibility,
    },
    /// To the owner: an `event` push.
    Submit {
        conn: u64,
        key: SessionKey,
        join_ref: Arc<str>,
        reply_ref: Option<String>,
        event: EventPayload,
    },
    /// To the owner: a `cancel` push.
    Cancel {
        conn: u64,
        key: SessionKey,
        join_ref: Arc<str>,
        reply_ref: Option<String>,
        task: String,
    },
    /// To the tab's node: something for one join of a connection.
    Deliver {
        conn: u64,
        topic: Arc<str>,
        join_ref: Arc<str>,
        item: Item,
    },
    /// To the tab's node: the owner closes the connection (its WebSocket
    /// close code). 1012 (the owner shuts down) asks only its joins to
    /// rejoin: the connection itself is this node's.
    Close { conn: u64, code: u16 },
    /// To the owner: a session handle's call (`calls.rs`), numbered by
    /// the caller's node; `call` is the handle's own JSON.
    Call {
        id: u64,
        key: SessionKey,
        call: Value,
    },
    /// To the caller's node: the answer to call `id`, the handle's own
    /// JSON for its result or its error.
    Answer {
        id: u64,
        answer: Result<Value, Value>,
    },
}

/// A join as the owner needs it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RemoteJoin {
    pub(crate) conn: u64,
    pub(crate) key: SessionKey,
    pub(crate) tab: TabId,
    /// The connection's identity as the app's `Identity` serializes it.
    pub(crate) identity: Value,
    pub(crate) join_ref: Arc<str>,
    pub(crate) reply_ref: Option<String>,
    pub(crate) mode: JoinMode,
    pub(crate) cursor: Option<Cursor>,
    pub(crate) visibility: Visibility,
}

/// An [`Outgoing`] on the wire. A full join's ok reply carries no link:
/// the tab's node makes one that forwards to the owner.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Item {
    Joined {
        reply_ref: Option<String>,
        full: bool,
        response: String,
    },
    Refused {
        reply_ref: Option<String>,
        response: String,
        reason: Reason,
    },
    Reply {
        reply_ref: Option<String>,
        response: String,
    },
    Rejoin,
    Push {
        event: String,
        payload: Box<RawValue>,
    },
}

impl Item {
    /// `item` as it goes on the wire.
    pub(crate) fn from_outgoing(item: &Outgoing) -> Self {
        match item {
            Outgoing::Joined {
                reply_ref,
                link,
                response,
            } => Self::Joined {
                reply_ref: reply_ref.clone(),
                full: link.is_some(),
                response: response.clone(),
            },
            Outgoing::Refused {
                reply_ref,
                response,
                reason,
            } => Self::Refused {
                reply_ref: reply_ref.clone(),
                response: response.clone(),
                reason: *reason,
            },
            Outgoing::Reply {
                reply_ref,
                response,
            } => Self::Reply {
                reply_ref: reply_ref.clone(),
                response: response.clone(),
            },
            Outgoing::Rejoin => Self::Rejoin,
            // The frame is for this node's join_ref and topic; the tab's
            // node frames the payload again for its own.
            Outgoing::Push { event, payload, .. } => Self::Push {
                event: (*event).to_owned(),
                payload: RawValue::from_string(payload.get().to_owned()).unwrap_or_else(|_| null()),
            },
        }
    }

    /// The [`Outgoing`] this item stands for on the tab's node; `link` is
    /// what a full join's ok reply hands the tab. `None` for a push of an
    /// event this build does not know (a newer node's).
    pub(crate) fn into_outgoing(
        self,
        link: impl FnOnce() -> crate::messages::SessionLink,
    ) -> Option<Outgoing> {
        Some(match self {
            Self::Joined {
                reply_ref,
                full,
                response,
            } => Outgoing::Joined {
                reply_ref,
                link: full.then(link),
                response,
            },
            Self::Refused {
                reply_ref,
                response,
                reason,
            } => Outgoing::Refused {
                reply_ref,
                response,
                reason,
            },
            Self::Reply {
                reply_ref,
                response,
            } => Outgoing::Reply {
                reply_ref,
                response,
            },
            Self::Rejoin => Outgoing::Rejoin,
            Self::Push { event, payload } => Outgoing::Push {
                event: known_push(&event)?,
                payload: Arc::from(payload),
                frame: None,
            },
        })
    }
}

/// The server pushes a session delivers, by name.
fn known_push(name: &str) -> Option<&'static str> {
    [
        event::DELTA,
        event::EFFECT,
        event::CHAIN,
        event::TASK,
        event::TABS,
        event::LEADER,
        event::SUMMARY,
    ]
    .into_iter()
    .find(|known| *known == name)
}

fn null() -> Box<RawValue> {
    RawValue::from_string("null".to_owned()).unwrap_or_else(|_| unreachable!("null is JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_crosses_the_wire_with_its_payload_and_name_intact() {
        let payload: Arc<RawValue> =
            Arc::from(RawValue::from_string(r#"{"seq":7,"ops":[]}"#.to_owned()).expect("json"));
        let item = Item::from_outgoing(&Outgoing::Push {
            event: event::DELTA,
            payload,
            frame: None,
        });
        let envelope = Envelope {
            from: "a".into(),
            n: 3,
            body: Body::Deliver {
                conn: 9,
                topic: Arc::from("session:k"),
                join_ref: Arc::from("1"),
                item,
            },
        };
        let bytes = serde_json::to_vec(&envelope).expect("encodes");
        let back: Envelope = serde_json::from_slice(&bytes).expect("decodes");
        assert_eq!((back.from.as_str(), back.n), ("a", 3));
        let Body::Deliver { item, conn, .. } = back.body else {
            panic!("a delivery");
        };
        assert_eq!(conn, 9);
        let Some(Outgoing::Push { event, payload, .. }) = item.into_outgoing(|| unreachable!())
        else {
            panic!("a push");
        };
        assert_eq!(event, "delta");
        assert_eq!(payload.get(), r#"{"seq":7,"ops":[]}"#);
    }

    #[test]
    fn a_push_of_an_unknown_event_is_dropped_not_invented() {
        let item = Item::Push {
            event: "from_the_future".into(),
            payload: null(),
        };
        assert!(item.into_outgoing(|| unreachable!()).is_none());
    }
}
