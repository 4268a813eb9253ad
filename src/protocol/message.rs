//! What travels inside frames: client join params and event objects, and
//! the payloads the server sends; docs/protocol.md sections 5 (joins),
//! 6 (client pushes) and 7 (server pushes).
//!
//! Server payloads are typed structs serialized with serde; golden tests at
//! the bottom pin their exact JSON.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{ChainId, Epoch};

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

/// What a join receives: docs/protocol.md section 5.8 (summary joins).
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
/// Serialized when a node forwards it to the session's owner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventPayload {
    /// Client-unique id; makes the submission idempotent.
    pub id: String,
    /// The app's event name.
    pub name: String,
    /// The event's payload object (absent = `{}`).
    #[serde(default = "empty_object")]
    pub payload: Value,
    /// Set when re-submitting a chained event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

/// The `tabs` payload: how many tabs are joined now (sent to the other
/// tabs when the count changes; a joining tab has it in its reply).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct TabsPayload {
    /// Tabs joined to the session.
    pub tabs: usize,
}

/// The `leader` payload, sent to a tab whose leader role changed.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct LeaderPayload {
    /// Whether this tab is now the elected tab.
    pub leader: bool,
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
    fn golden_delta_effect_chain_task_summary_tabs_and_leader() {
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

        let summary = json!({"todos": 2});
        let s = to_json(&SummaryPayload { summary: &summary });
        assert_eq!(parse(&s), json!({"summary": {"todos": 2}}));
        assert_eq!(
            parse(&to_json(&TabsPayload { tabs: 3 })),
            json!({"tabs": 3})
        );
        assert_eq!(
            parse(&to_json(&LeaderPayload { leader: true })),
            json!({"leader": true})
        );
    }
}
