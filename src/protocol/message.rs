//! What travels inside frames: client join params and event objects, and
//! the payloads the server sends (PROTOCOL sections 3 to 6).
//!
//! Server payloads are typed structs serialized with serde; golden tests at
//! the bottom pin their exact JSON.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{ChainId, Epoch, TabId};

/// Where a client's state stands: the last `(epoch, seq)` it applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The epoch the seq belongs to.
    pub epoch: Epoch,
    /// The seq of the last delta applied (0 = initial state).
    pub seq: u64,
}

/// Whether a tab is shown; feeds the leader election (section 6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// The page is shown.
    #[default]
    Visible,
    /// The page is in a background tab or minimised.
    Hidden,
}

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

/// What a join receives (PROTOCOL section 3a).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JoinMode {
    /// A tab: state, deltas, effects, chains, tasks, tab counts.
    #[default]
    Full,
    /// A watcher: only the session's summary, and `summary` messages when it
    /// changes. Not a tab; does not start or keep alive a session.
    Summary,
}

/// The `phx_join` payload. Members other than `cursor`, `visibility` and
/// `mode` are app join params, passed to the authorize hook.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct JoinPayload {
    /// `full` (default) or `summary`.
    #[serde(default)]
    pub mode: JoinMode,
    /// The client's cursor, or `null`/absent for none.
    #[serde(default)]
    pub cursor: Option<Cursor>,
    /// `visible` (default) or `hidden`.
    #[serde(default)]
    pub visibility: Visibility,
    /// The app's own join params.
    #[serde(flatten)]
    pub params: Map<String, Value>,
}

/// The `event` push's payload: `{"id", "name", "payload", "chain"?}`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct EventPayload {
    /// Client-unique id; makes the submission idempotent.
    pub id: String,
    /// The app's event name.
    pub name: String,
    /// The event's payload object (absent = `{}`).
    #[serde(default = "empty_object")]
    pub payload: Value,
    /// Set when re-submitting a chained event.
    #[serde(default)]
    pub chain: Option<ChainId>,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// The `visibility` push's payload.
#[derive(Clone, Debug, Deserialize)]
pub struct VisibilityPayload {
    /// The tab's new visibility.
    pub visibility: Visibility,
}

/// The `cancel` push's payload.
#[derive(Clone, Debug, Deserialize)]
pub struct CancelPayload {
    /// The key of the task to cancel.
    pub task: String,
}

/// An ok join reply's `response`.
#[derive(Clone, Debug, Serialize)]
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
    pub deltas: Option<Vec<&'a serde_json::value::RawValue>>,
    /// With `snapshot`: the whole state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'a Value>,
}

/// An ok summary-join reply's `response`.
#[derive(Clone, Debug, Serialize)]
pub struct SummaryReply<'a> {
    /// The connection's tab id.
    pub tab_id: &'a TabId,
    /// The session's summary, `null` if the app never set one.
    pub summary: &'a Value,
}

/// The `summary` payload, sent to summary joins when the summary changes.
#[derive(Clone, Debug, Serialize)]
pub struct SummaryPayload<'a> {
    /// The new summary.
    pub summary: &'a Value,
}

/// The `delta` payload: the RFC 6902 patch from seq-1 to seq.
#[derive(Clone, Debug, Serialize)]
pub struct DeltaPayload<'a> {
    /// The seq this delta produces.
    pub seq: u64,
    /// RFC 6902 operations, paths relative to the state's root.
    pub patch: &'a json_patch::Patch,
    /// Id of the event that made it; `None` for background task updates.
    pub event_id: Option<&'a str>,
}

/// The `effect` payload.
#[derive(Clone, Debug, Serialize)]
pub struct EffectPayload<'a> {
    /// What the frontend should do (`toast`, `redirect`, ...).
    pub kind: &'a str,
    /// Its data.
    pub data: &'a Value,
}

/// The `chain` payload.
#[derive(Clone, Debug, Serialize)]
pub struct ChainPayload<'a> {
    /// The chain's id, to carry in the re-submitted event.
    pub chain: &'a ChainId,
    /// The event name to re-submit.
    pub name: &'a str,
    /// The event payload to re-submit (the client may add to it).
    pub payload: &'a Value,
}

/// A background task's life stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    /// It started.
    Running,
    /// It finished by itself.
    Done,
    /// It returned an error.
    Failed,
    /// It was cancelled.
    Cancelled,
}

/// The `task` payload.
#[derive(Clone, Debug, Serialize)]
pub struct TaskPayload<'a> {
    /// The task's key.
    pub task: &'a str,
    /// Its life stage.
    pub status: TaskStatus,
    /// With `failed`: the error message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}

/// An error reply's `response`: `{"reason", "message"?, ...}`.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorResponse<'a> {
    /// One of [`crate::protocol::reason`].
    pub reason: &'a str,
    /// A human explanation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'a str>,
    /// With `new_key`: the key to join instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_key: Option<&'a str>,
}

impl<'a> ErrorResponse<'a> {
    /// An error with a reason and a message.
    pub fn new(reason: &'a str, message: &'a str) -> Self {
        Self {
            reason,
            message: Some(message),
            new_key: None,
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

/// Serializes a payload. The payload types here hold only strings, numbers
/// and `Value`s with string keys, for which serde_json cannot fail; should it
/// ever, the error is logged and an empty object sent rather than a panic.
pub fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| {
        tracing::error!(error = %e, "payload did not serialize");
        "{}".to_owned()
    })
}

/// Serializes a payload to shared raw JSON, as the fan-out and the journal
/// keep it (encoded once, sent to every tab).
pub fn to_raw(value: &impl Serialize) -> std::sync::Arc<serde_json::value::RawValue> {
    match serde_json::value::to_raw_value(value) {
        Ok(raw) => std::sync::Arc::from(raw),
        Err(e) => {
            tracing::error!(error = %e, "payload did not serialize");
            std::sync::Arc::from(
                serde_json::value::RawValue::from_string("{}".to_owned())
                    .unwrap_or_else(|_| unreachable!("{{}} is valid JSON")),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
    }

    #[test]
    fn join_payload_takes_cursor_visibility_and_app_params() {
        let p: JoinPayload = serde_json::from_value(json!({
            "cursor": {"epoch": "e1", "seq": 4}, "visibility": "hidden", "token": "t"
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            p.cursor,
            Some(Cursor {
                epoch: Epoch::new("e1"),
                seq: 4
            })
        );
        assert_eq!(p.visibility, Visibility::Hidden);
        assert_eq!(p.params.get("token"), Some(&json!("t")));
        let empty: JoinPayload =
            serde_json::from_value(json!({"cursor": null})).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(empty.cursor, None);
        assert_eq!(empty.visibility, Visibility::Visible);
        assert_eq!(empty.mode, JoinMode::Full);
        let summary: JoinPayload =
            serde_json::from_value(json!({"mode": "summary"})).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(summary.mode, JoinMode::Summary);
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
    fn golden_delta_effect_chain_task_and_error() {
        let patch: json_patch::Patch =
            serde_json::from_value(json!([{"op": "add", "path": "/a", "value": 1}]))
                .unwrap_or_else(|e| panic!("{e}"));
        let d = to_json(&DeltaPayload {
            seq: 5,
            patch: &patch,
            event_id: Some("ev1"),
        });
        assert_eq!(
            parse(&d),
            json!({"seq": 5, "patch": [{"op": "add", "path": "/a", "value": 1}], "event_id": "ev1"})
        );
        let d = to_json(&DeltaPayload {
            seq: 6,
            patch: &patch,
            event_id: None,
        });
        assert_eq!(parse(&d)["event_id"], Value::Null);

        let data = json!({"text": "hi"});
        let e = to_json(&EffectPayload {
            kind: "toast",
            data: &data,
        });
        assert_eq!(parse(&e), json!({"kind": "toast", "data": {"text": "hi"}}));

        let c = to_json(&ChainPayload {
            chain: &ChainId::new("c1"),
            name: "step",
            payload: &data,
        });
        assert_eq!(
            parse(&c),
            json!({"chain": "c1", "name": "step", "payload": {"text": "hi"}})
        );

        let t = to_json(&TaskPayload {
            task: "j",
            status: TaskStatus::Failed,
            error: Some("boom"),
        });
        assert_eq!(
            parse(&t),
            json!({"task": "j", "status": "failed", "error": "boom"})
        );

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
        let s = to_json(&SummaryPayload { summary: &summary });
        assert_eq!(parse(&s), json!({"summary": {"todos": 2}}));

        let err = error_reply(&ErrorResponse::new("queue_full", "the queue is full"));
        assert_eq!(
            parse(&err),
            json!({"status": "error", "response": {"reason": "queue_full", "message": "the queue is full"}})
        );
    }
}
