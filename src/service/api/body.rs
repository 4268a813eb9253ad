//! The bodies of server API calls: read whole up to the size limit (413
//! before a byte is read when `Content-Length` is already over it), then
//! parsed as JSON of the route's shape (400 `invalid_body` otherwise).
//! Unknown members are refused, so a misspelt `"patch"` is an error rather
//! than a silent no-op; a body (or a patch operation) must be a JSON
//! object, never an array that serde's derive would read by position.

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::error::ApiError;
use crate::app::TaskEnd;
use crate::delta::StateChange;
use crate::session::Push;

/// A body a route reads: its serde shape, and that shape in words.
pub(super) trait Body: DeserializeOwned {
    /// The shape, as an `invalid_body` message says what was expected.
    const SHAPE: &'static str;

    /// The members whose value is an RFC 6902 patch (an array of
    /// operation objects).
    const PATCHES: &'static [&'static str] = &[];
}

/// Refuses what serde's derive would read by position: a body that is not
/// a JSON object, or a patch operation that is not one (a derived struct
/// takes `["id", "name"]` for `{"id", "name"}`, and a patch operation
/// `["add", "/x", 1]` for `{"op": "add", ...}`).
///
/// # Errors
/// 400 `invalid_body`, saying what arrived.
fn check_objects<T: Body>(body: &Value) -> Result<(), ApiError> {
    let Value::Object(members) = body else {
        return Err(ApiError::invalid_body(format!(
            "expected a JSON object {}; got {}",
            T::SHAPE,
            kind(body)
        )));
    };
    for name in T::PATCHES {
        let Some(Value::Array(ops)) = members.get(*name) else {
            continue;
        };
        if let Some((i, op)) = ops.iter().enumerate().find(|(_, op)| !op.is_object()) {
            return Err(ApiError::invalid_body(format!(
                "expected {name:?} to be an array of operation objects; its operation {i} is {}",
                kind(op)
            )));
        }
    }
    Ok(())
}

/// What kind of JSON value `v` is, for a message.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads the whole body (at most `limit` bytes) and parses it as `T`.
///
/// # Errors
/// 413 `too_large` over `limit`; 400 `invalid_body` when the body cannot
/// be read or is not JSON of `T`'s shape.
pub(super) async fn json<T: Body>(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<T, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(limit));
    }
    let bytes = match payload.to_bytes_limited(limit).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => return Err(ApiError::invalid_body(format!("unreadable body: {e}"))),
        Err(_) => return Err(ApiError::too_large(limit)),
    };
    let expected =
        |e: serde_json::Error| ApiError::invalid_body(format!("expected {}: {e}", T::SHAPE));
    let value: Value = serde_json::from_slice(&bytes).map_err(expected)?;
    check_objects::<T>(&value)?;
    serde_json::from_value(value).map_err(expected)
}

/// `POST .../events`: an event by wire name, as a tab would submit it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventBody {
    /// The event's id: a repeat gets the first outcome.
    pub(super) id: String,
    /// The app's event name.
    pub(super) name: String,
    /// The event's payload (absent = `{}`, as for a tab).
    #[serde(default = "empty_object")]
    pub(super) payload: Value,
}

impl Body for EventBody {
    const SHAPE: &'static str = r#"{"id", "name", "payload"?}"#;
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// `POST .../state`: a change pushed to the state, perhaps as a task's
/// update.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChangeBody {
    /// An RFC 6902 patch to the state now.
    #[serde(default)]
    patch: Option<json_patch::Patch>,
    /// The new state, whole (`null` included).
    #[serde(default, deserialize_with = "present")]
    state: Option<Value>,
    /// The session's new summary, for summary joins.
    #[serde(default)]
    summary: Option<Value>,
    /// The running task this change is an update of.
    #[serde(default)]
    pub(super) task: Option<String>,
}

impl Body for ChangeBody {
    const SHAPE: &'static str = r#"{"patch": [...]} or {"state": ...}, and "summary"? and "task"?"#;
    const PATCHES: &'static [&'static str] = &["patch"];
}

impl ChangeBody {
    /// What it pushes: at most one of `patch` and `state`, and the
    /// summary; at least one of the three.
    ///
    /// # Errors
    /// 400 `invalid_body` with both `patch` and `state`, or none of them.
    pub(super) fn push(&mut self) -> Result<Push, ApiError> {
        let change = one_change(self.patch.take(), self.state.take())?;
        let summary = self.summary.take();
        if change.is_none() && summary.is_none() {
            return Err(ApiError::invalid_body(
                r#"expected "patch" (an RFC 6902 array) or "state", or a "summary""#,
            ));
        }
        Ok(Push { change, summary })
    }
}

/// `POST .../effects`: an effect to every tab, or to one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EffectBody {
    /// The effect's kind, for the frontend.
    pub(super) kind: String,
    /// The effect's data (absent = `null`).
    #[serde(default)]
    pub(super) data: Value,
    /// The one tab to send it to, if joined; absent = every tab.
    #[serde(default)]
    pub(super) tab: Option<String>,
}

impl Body for EffectBody {
    const SHAPE: &'static str = r#"{"kind", "data"?, "tab"?}"#;
}

/// How the backend says a task ended.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum EndStatus {
    Done,
    Failed,
}

/// `POST .../tasks/{task}/end`: the end of a task run by the backend, with
/// its last change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EndBody {
    status: EndStatus,
    /// With `failed`: what went wrong, for the tabs.
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    patch: Option<json_patch::Patch>,
    #[serde(default, deserialize_with = "present")]
    state: Option<Value>,
    #[serde(default)]
    summary: Option<Value>,
}

impl Body for EndBody {
    const SHAPE: &'static str =
        r#"{"status": "done" or "failed", "error"?, "patch"? or "state"?, "summary"?}"#;
    const PATCHES: &'static [&'static str] = &["patch"];
}

impl EndBody {
    /// The end and the change (if any) it asks for.
    ///
    /// # Errors
    /// 400 `invalid_body` with both `patch` and `state`, or an `error`
    /// with status `done`.
    pub(super) fn into_end(self) -> Result<(TaskEnd, Push), ApiError> {
        let end = match (self.status, self.error) {
            (EndStatus::Done, None) => TaskEnd::Done,
            (EndStatus::Done, Some(_)) => {
                return Err(ApiError::invalid_body(
                    r#""error" goes with status "failed", not "done""#,
                ))
            }
            (EndStatus::Failed, error) => {
                TaskEnd::Failed(error.unwrap_or_else(|| "the task failed".to_owned()))
            }
        };
        let push = Push {
            change: one_change(self.patch, self.state)?,
            summary: self.summary,
        };
        Ok((end, push))
    }
}

/// At most one of a patch and a whole state, as a change.
fn one_change(
    patch: Option<json_patch::Patch>,
    state: Option<Value>,
) -> Result<Option<StateChange>, ApiError> {
    match (patch, state) {
        (Some(_), Some(_)) => Err(ApiError::invalid_body(
            r#"expected "patch" or "state", not both"#,
        )),
        (Some(patch), None) => Ok(Some(StateChange::Patch(patch))),
        (None, Some(state)) => Ok(Some(StateChange::Replace(state))),
        (None, None) => Ok(None),
    }
}

/// A member that is present, even as `null` (which `Option` alone would
/// read as absent): a whole state of `null` is a state.
fn present<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(de).map(Some)
}

/// Refuses an id or key that sessions keep when it is empty or longer
/// than `max` bytes (`--max-name-bytes`, as for a tab's).
///
/// # Errors
/// 400 `invalid_body`, naming `what`.
pub(super) fn check_name(what: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(ApiError::invalid_body(format!("{what} is empty")));
    }
    check_len(what, value, max)
}

/// Refuses a name longer than `max` bytes.
///
/// # Errors
/// 400 `invalid_body`, naming `what`.
pub(super) fn check_len(what: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.len() > max {
        return Err(ApiError::invalid_body(format!(
            "{what} is {} bytes long; at most {max} are accepted",
            value.len()
        )));
    }
    Ok(())
}

/// Refuses an event payload nested deeper than `max` levels (the payload
/// itself is level 1), the bound a tab's payload has
/// (`--max-json-depth`).
///
/// # Errors
/// 400 `invalid_body`.
pub(super) fn check_depth(payload: &Value, max: usize) -> Result<(), ApiError> {
    let mut stack = vec![(payload, 1usize)];
    while let Some((value, level)) = stack.pop() {
        let children: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            Value::Object(members) => members.values().collect(),
            _ => continue,
        };
        if level > max {
            return Err(ApiError::invalid_body(format!(
                "the payload nests deeper than {max} levels"
            )));
        }
        stack.extend(children.into_iter().map(|child| (child, level + 1)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse<T: DeserializeOwned>(v: Value) -> Result<T, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn a_change_is_a_patch_or_a_state_never_both_and_a_summary_may_come_alone() {
        let mut patch: ChangeBody = parse(json!({"patch": [{"op": "remove", "path": "/a"}]}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            patch.push(),
            Ok(Push {
                change: Some(StateChange::Patch(_)),
                summary: None
            })
        ));
        let mut null: ChangeBody = parse(json!({"state": null})).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(null.push(), Ok(StateChange::Replace(Value::Null).into()));
        let mut both: ChangeBody =
            parse(json!({"patch": [], "state": {}})).unwrap_or_else(|e| panic!("{e}"));
        assert!(both.push().is_err());
        let mut neither: ChangeBody = parse(json!({"task": "t"})).unwrap_or_else(|e| panic!("{e}"));
        assert!(neither.push().is_err());
        let mut summary: ChangeBody =
            parse(json!({"summary": {"n": 1}})).unwrap_or_else(|e| panic!("{e}"));
        let alone = Push {
            change: None,
            summary: Some(json!({"n": 1})),
        };
        assert_eq!(summary.push(), Ok(alone));
        assert!(parse::<ChangeBody>(json!({"patch": [{"op": "nope"}]})).is_err());
        assert!(parse::<ChangeBody>(json!({"patches": []})).is_err());
    }

    #[test]
    fn an_end_is_done_or_failed_with_an_optional_change() {
        let done: EndBody = parse(json!({"status": "done"})).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(done.into_end(), Ok((TaskEnd::Done, Push::default())));
        let failed: EndBody = parse(json!({"status": "failed", "error": "boom", "state": {}}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            failed.into_end(),
            Ok((
                TaskEnd::Failed("boom".into()),
                StateChange::Replace(json!({})).into()
            ))
        );
        let odd: EndBody =
            parse(json!({"status": "done", "error": "x"})).unwrap_or_else(|e| panic!("{e}"));
        assert!(odd.into_end().is_err());
        assert!(parse::<EndBody>(json!({"status": "cancelled"})).is_err());
    }

    #[test]
    fn names_and_depths_are_bounded() {
        assert!(check_name("id", "", 4).is_err());
        assert!(check_name("id", "abcd", 4).is_ok());
        assert!(check_name("id", "abcde", 4).is_err());
        assert!(check_depth(&json!({"a": [1]}), 2).is_ok());
        assert!(check_depth(&json!({"a": [[1]]}), 2).is_err());
        assert!(check_depth(&json!(3), 0).is_ok());
    }
}
