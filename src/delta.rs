//! Deltas: the RFC 6902 JSON Patch that turns the state's JSON at seq N-1
//! into its JSON at seq N.
//!
//! Today the cost is O(state): the whole state is serialized and diffed per
//! event (measured in `benches/hot_path.rs`). An O(change) design, where the
//! app or the state reports what it touched, is the long-term target.

use serde::Serialize;
use serde_json::Value;

/// The state's new JSON and the patch from `before` to it. The patch is
/// empty when nothing changed.
///
/// # Errors
/// When `state` does not serialize to JSON (a map with non-string keys, a
/// failing `Serialize` impl).
pub fn diff_state<S: Serialize>(
    before: &Value,
    state: &S,
) -> Result<(Value, json_patch::Patch), serde_json::Error> {
    let after = serde_json::to_value(state)?;
    let patch = json_patch::diff(before, &after);
    Ok((after, patch))
}

/// A change of a session's state pushed by server code (the server API, a
/// [`crate::SessionHandle`]) rather than made by a handler: an RFC 6902
/// patch to the state's JSON at the current seq, or a whole new state.
#[derive(Clone, Debug, PartialEq)]
pub enum StateChange {
    /// Operations applied in order to the current state's JSON (RFC 6902;
    /// all or nothing).
    Patch(json_patch::Patch),
    /// The new state's JSON, whole.
    Replace(Value),
}

impl StateChange {
    /// The JSON after the change, from the JSON `before` it.
    ///
    /// # Errors
    /// Why the patch does not apply (a missing path, a failed `test`).
    pub fn apply_to(&self, before: &Value) -> Result<Value, String> {
        match self {
            StateChange::Replace(after) => Ok(after.clone()),
            StateChange::Patch(patch) => {
                let mut after = before.clone();
                json_patch::patch(&mut after, patch).map_err(|e| e.to_string())?;
                Ok(after)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_patch_turns_before_into_after() {
        let before = json!({"todos": [{"id": "1", "done": false}], "n": 1});
        let state =
            json!({"todos": [{"id": "1", "done": true}, {"id": "2", "done": false}], "n": 1});
        let (after, patch) = diff_state(&before, &state).unwrap_or_else(|e| panic!("{e}"));
        let mut doc = before.clone();
        json_patch::patch(&mut doc, &patch).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(doc, after);
        assert!(!patch.0.is_empty());
    }

    #[test]
    fn a_pushed_patch_applies_whole_or_not_at_all() {
        let before = json!({"n": 1, "todos": []});
        let patch: json_patch::Patch = serde_json::from_value(json!([
            {"op": "replace", "path": "/n", "value": 2},
            {"op": "test", "path": "/todos", "value": [1]},
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        let refused = StateChange::Patch(patch).apply_to(&before);
        assert!(refused.is_err(), "a failed test fails the whole patch");
        let replace = StateChange::Replace(json!({"n": 5}));
        assert_eq!(replace.apply_to(&before), Ok(json!({"n": 5})));
    }

    #[test]
    fn no_change_is_an_empty_patch() {
        let before = json!({"a": [1, 2]});
        let (_, patch) = diff_state(&before, &before.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert!(patch.0.is_empty());
    }
}
