//! Replies (`phx_reply` payloads `{"status", "response"}`), typed: join
//! replies, event outcomes, cancel and empty replies, and error replies
//! with a [`Reason`](super::Reason); docs/protocol.md sections 5.3 (the ok
//! reply), 5.5 (join refusals) and 6.2 (the event reply). Actors build
//! these values; [`ok_reply`] and [`error_reply`] encode them.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use super::message::to_json;
use super::ErrorReason;
use crate::ids::{Epoch, TabId};

/// How a join catches up (the join reply's `resume`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resume {
    /// The cursor is up to date; nothing else is sent.
    Current,
    /// `deltas` holds every delta after the cursor, in order.
    Replay,
    /// `state` is the whole current state.
    Snapshot,
}

/// An ok join reply's `response`.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct JoinReply<'a> {
    /// The connection's tab id (server-assigned if the client sent none).
    pub tab_id: &'a TabId,
    /// The session's epoch.
    pub epoch: &'a Epoch,
    /// The session's seq now.
    pub seq: u64,
    /// How the client catches up.
    pub resume: Resume,
    /// Whether this tab is the elected tab.
    pub leader: bool,
    /// Tabs joined to the session, this one included.
    pub tabs: usize,
    /// With `replay`: every delta after the cursor, as `delta` payloads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deltas: Option<Vec<&'a RawValue>>,
    /// With `snapshot`: the whole state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'a Value>,
}

/// An ok summary-join reply's `response`.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct SummaryReply<'a> {
    /// The connection's tab id.
    pub tab_id: &'a TabId,
    /// The session's summary, `null` if the app never set one.
    pub summary: &'a Value,
}

/// An empty ok `response` `{}` (heartbeat, `visibility`, `phx_leave`).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Empty {}

/// The ok `response` to a `cancel` push.
#[derive(Clone, Copy, Debug, Serialize)]
#[non_exhaustive]
pub struct CancelReply {
    /// Whether a task with that key was running (and is now cancelled).
    pub cancelled: bool,
}

/// The first outcome of an event, repeated to every re-submission of its
/// id (docs/protocol.md section 6.3 (idempotency)) and kept by the store
/// with the id.
///
/// Its variants may gain fields: build one with [`Outcome::ok`] or
/// [`Outcome::error`], and match with `..` (`Outcome::Ok { seq, .. }`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    /// Handled; its effects are visible at `seq`.
    #[non_exhaustive]
    Ok {
        /// The seq at which the event's effects are visible.
        seq: u64,
        /// The handler's result value (`Context::reply`), if it gave one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<Value>,
    },
    /// Refused.
    #[non_exhaustive]
    Error {
        /// Why.
        reason: ErrorReason,
        /// A human explanation.
        message: String,
        /// The app's data about the refusal, if it gave any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<Value>,
    },
}

impl Outcome {
    /// Handled, visible at `seq`, with the handler's result `data`.
    pub fn ok(seq: u64, data: Option<Value>) -> Self {
        Self::Ok { seq, data }
    }

    /// A refusal with `reason` and `message`.
    pub fn error(reason: impl Into<ErrorReason>, message: impl Into<String>) -> Self {
        Self::Error {
            reason: reason.into(),
            message: message.into(),
            data: None,
        }
    }

    /// The `phx_reply` payload: ok `{"seq", "data"?}` or the error
    /// `{"reason", "message", "data"?}`.
    pub fn reply(&self) -> String {
        #[derive(Serialize)]
        struct EventReply<'a> {
            seq: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            data: Option<&'a Value>,
        }
        match self {
            Outcome::Ok { seq, data } => ok_reply(&EventReply {
                seq: *seq,
                data: data.as_ref(),
            }),
            Outcome::Error {
                reason,
                message,
                data,
            } => error_reply(&ErrorResponse {
                reason: reason.clone(),
                message: Some(message),
                new_key: None,
                data: data.as_ref(),
            }),
        }
    }
}

/// An error reply's `response`: `{"reason", "message"?, "new_key"?,
/// "data"?}`.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct ErrorResponse<'a> {
    /// Why.
    pub reason: ErrorReason,
    /// A human explanation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'a str>,
    /// With `new_key`: the key to join instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_key: Option<&'a str>,
    /// An app's data about its refusal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<&'a Value>,
}

impl<'a> ErrorResponse<'a> {
    /// An error with a reason and a message.
    pub fn new(reason: impl Into<ErrorReason>, message: &'a str) -> Self {
        Self {
            reason: reason.into(),
            message: Some(message),
            new_key: None,
            data: None,
        }
    }
}

/// Builds a `phx_reply` payload `{"status": "ok", "response": R}` as JSON text.
pub fn ok_reply(response: &impl Serialize) -> String {
    reply_json("ok", response)
}

/// Builds a `phx_reply` payload `{"status": "error", "response": R}` as JSON text.
pub fn error_reply(response: &ErrorResponse<'_>) -> String {
    reply_json("error", response)
}

fn reply_json(status: &str, response: &impl Serialize) -> String {
    #[derive(Serialize)]
    struct Reply<'a, R> {
        status: &'a str,
        response: &'a R,
    }
    to_json(&Reply { status, response })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{AppReason, Reason};
    use serde_json::json;

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
    }

    #[test]
    fn golden_join_reply_snapshot() {
        let tab = TabId::parse("t1").unwrap_or_else(|e| panic!("{e}"));
        let epoch = Epoch::new("e1");
        let state = json!({"todos": []});
        let r = ok_reply(&JoinReply {
            tab_id: &tab,
            epoch: &epoch,
            seq: 3,
            resume: Resume::Snapshot,
            leader: true,
            tabs: 2,
            deltas: None,
            state: Some(&state),
        });
        assert_eq!(
            parse(&r),
            json!({"status": "ok", "response": {"tab_id": "t1", "epoch": "e1", "seq": 3,
                "resume": "snapshot", "leader": true, "tabs": 2, "state": {"todos": []}}})
        );
    }

    #[test]
    fn golden_join_reply_replay_and_current() {
        let tab = TabId::parse("t1").unwrap_or_else(|e| panic!("{e}"));
        let epoch = Epoch::new("e1");
        let d = RawValue::from_string(r#"{"seq":4,"patch":[],"event_id":null}"#.to_owned())
            .unwrap_or_else(|e| panic!("{e}"));
        let r = ok_reply(&JoinReply {
            tab_id: &tab,
            epoch: &epoch,
            seq: 4,
            resume: Resume::Replay,
            leader: false,
            tabs: 1,
            deltas: Some(vec![&d]),
            state: None,
        });
        assert_eq!(
            parse(&r),
            json!({"status": "ok", "response": {"tab_id": "t1", "epoch": "e1", "seq": 4,
                "resume": "replay", "leader": false, "tabs": 1,
                "deltas": [{"seq": 4, "patch": [], "event_id": null}]}})
        );
        let r = ok_reply(&JoinReply {
            tab_id: &tab,
            epoch: &epoch,
            seq: 4,
            resume: Resume::Current,
            leader: false,
            tabs: 1,
            deltas: None,
            state: None,
        });
        assert_eq!(parse(&r)["response"]["resume"], "current");
        assert!(parse(&r)["response"].get("state").is_none());
    }

    #[test]
    fn golden_summary_empty_and_cancel_replies() {
        let tab = TabId::parse("t1").unwrap_or_else(|e| panic!("{e}"));
        let summary = json!({"todos": 2});
        let r = ok_reply(&SummaryReply {
            tab_id: &tab,
            summary: &summary,
        });
        assert_eq!(
            parse(&r),
            json!({"status": "ok", "response": {"tab_id": "t1", "summary": {"todos": 2}}})
        );
        assert_eq!(
            parse(&ok_reply(&Empty {})),
            json!({"status": "ok", "response": {}})
        );
        assert_eq!(
            parse(&ok_reply(&CancelReply { cancelled: true })),
            json!({"status": "ok", "response": {"cancelled": true}})
        );
    }

    #[test]
    fn golden_event_outcomes_and_errors() {
        assert_eq!(
            parse(&Outcome::Ok { seq: 7, data: None }.reply()),
            json!({"status": "ok", "response": {"seq": 7}})
        );
        assert_eq!(
            parse(&Outcome::error(Reason::QueueFull, "the queue is full").reply()),
            json!({"status": "error", "response": {"reason": "queue_full", "message": "the queue is full"}})
        );
        let new_key = error_reply(&ErrorResponse {
            reason: Reason::NewKey.into(),
            message: Some("open in another tab"),
            new_key: Some("k2"),
            data: None,
        });
        assert_eq!(
            parse(&new_key),
            json!({"status": "error", "response": {"reason": "new_key",
                "message": "open in another tab", "new_key": "k2"}})
        );
    }

    #[test]
    fn golden_reply_data_and_an_apps_own_reason() {
        let ok = Outcome::Ok {
            seq: 3,
            data: Some(json!({"order": 12})),
        };
        assert_eq!(
            parse(&ok.reply()),
            json!({"status": "ok", "response": {"seq": 3, "data": {"order": 12}}})
        );
        let refused = Outcome::Error {
            reason: ErrorReason::App(
                AppReason::parse("out_of_stock").unwrap_or_else(|e| panic!("{e}")),
            ),
            message: "sold out".into(),
            data: Some(json!({"restock_in_days": 3})),
        };
        assert_eq!(
            parse(&refused.reply()),
            json!({"status": "error", "response": {"reason": "out_of_stock",
                "message": "sold out", "data": {"restock_in_days": 3}}})
        );
        let stored = serde_json::to_value(&refused).unwrap_or_else(|e| panic!("{e}"));
        let back: Outcome = serde_json::from_value(stored).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            back, refused,
            "an app's reason round-trips through the store"
        );
    }

    #[test]
    fn an_outcome_round_trips_as_the_store_keeps_it() {
        let o = Outcome::error(Reason::UnmatchedTopic, "gone");
        let json = serde_json::to_value(&o).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            json,
            json!({"status": "error", "reason": "unmatched topic", "message": "gone"})
        );
        let back: Outcome = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, o);
    }
}
