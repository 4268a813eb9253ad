//! Deltas: the RFC 6902 JSON Patch that turns the state's JSON at seq N-1
//! into its JSON at seq N.
//!
//! Code that states its change ([`crate::Context::changed`]) gives the
//! delta itself, applied to the state's JSON in place: O(change). Code
//! that does not is diffed: the whole state is serialized and compared
//! with its JSON before (O(state)). Both go through [`settle`], measured
//! in `benches/delta.rs`.

use serde::Serialize;
use serde_json::Value;

mod settle;

pub use settle::settle;

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
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
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
        self.apply_within(before, usize::MAX)
            .map_err(|e| e.to_string())
    }

    /// As [`Self::apply_to`], refusing a result that takes more than
    /// `max_bytes` serialized as compact JSON. A patch is applied one
    /// operation at a time, with an upper bound of the document's size
    /// kept as it goes (an `add`, `replace` or `copy` adds what it
    /// inserts), so a patch that grows the state (a `copy` of the root
    /// doubles it) is stopped once it passes the bound, not after: no
    /// document between two operations may pass it either.
    ///
    /// # Errors
    /// [`ChangeError::DoesNotApply`] with why the patch does not apply;
    /// [`ChangeError::TooLarge`] when the result (or a document between two
    /// operations) is over `max_bytes`.
    pub fn apply_within(&self, before: &Value, max_bytes: usize) -> Result<Value, ChangeError> {
        let over = |at: &str| ChangeError::TooLarge(over_bound(max_bytes, at));
        match self {
            StateChange::Replace(after) => match json_len_within(after, max_bytes) {
                Some(_) => Ok(after.clone()),
                None => Err(over("")),
            },
            StateChange::Patch(patch) => {
                let mut after = before.clone();
                let mut bound =
                    json_len_within(&after, max_bytes).ok_or_else(|| over(" before the patch"))?;
                for (i, op) in patch.0.iter().enumerate() {
                    bound = bound.saturating_add(growth(&after, op, max_bytes));
                    json_patch::patch(&mut after, std::slice::from_ref(op))
                        .map_err(|e| ChangeError::DoesNotApply(format!("operation {i}: {e}")))?;
                    if bound > max_bytes {
                        bound = json_len_within(&after, max_bytes)
                            .ok_or_else(|| over(&format!(" after operation {i}")))?;
                    }
                }
                Ok(after)
            }
        }
    }
}

/// Why [`StateChange::apply_within`] refused a change; the message says
/// what was expected and what arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeError {
    /// A patch operation does not apply (a missing path, a failed `test`).
    DoesNotApply(String),
    /// The state would take more bytes as JSON than the bound allows.
    TooLarge(String),
    /// The typed state did not serialize to JSON ([`settle`]).
    Unserializable(String),
    /// A stated patch does not give the typed state's JSON ([`settle`],
    /// checked in debug builds only).
    Mismatch(String),
}

impl std::fmt::Display for ChangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::DoesNotApply(why)
            | Self::TooLarge(why)
            | Self::Unserializable(why)
            | Self::Mismatch(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ChangeError {}

/// Why a change was refused: the state would pass `max_bytes` (`at`: where
/// in a patch, or empty).
pub(crate) fn over_bound(max_bytes: usize, at: &str) -> String {
    format!(
        "the state would take more than {max_bytes} bytes as JSON{at}; at most {max_bytes} \
         are kept (--max-state-bytes)"
    )
}

/// At most how many bytes `patch` adds to a document's compact JSON
/// (`doc`: where a `copy` takes its value from), counted up to a little
/// over `max_bytes` per operation.
pub(crate) fn patch_growth(patch: &json_patch::Patch, doc: &Value, max_bytes: usize) -> usize {
    patch.0.iter().fold(0, |sum: usize, op| {
        sum.saturating_add(growth(doc, op, max_bytes))
    })
}

/// At most how many bytes `op` adds to `doc`'s compact JSON (a path's
/// bytes, separators and what it inserts), counted up to a little over
/// `max_bytes`.
fn growth(doc: &Value, op: &json_patch::PatchOperation, max_bytes: usize) -> usize {
    use json_patch::PatchOperation as Op;
    let over = max_bytes.saturating_add(1);
    let inserted = |path: &str, value: Option<&Value>| {
        let value = value.map_or(0, |v| json_len_within(v, max_bytes).unwrap_or(over));
        // A new member: its key (a byte of the path escapes to at most 6
        // bytes of JSON), its quotes, `:` and `,`.
        value
            .saturating_add(path.len().saturating_mul(6))
            .saturating_add(4)
    };
    match op {
        Op::Add(op) => inserted(op.path.as_str(), Some(&op.value)),
        Op::Replace(op) => inserted(op.path.as_str(), Some(&op.value)),
        Op::Copy(op) => inserted(
            op.path.as_str(),
            Some(doc.pointer(op.from.as_str()).unwrap_or(&Value::Null)),
        ),
        Op::Move(op) => inserted(op.path.as_str(), None),
        Op::Remove(_) | Op::Test(_) => 0,
    }
}

/// How many bytes `value` takes serialized as compact JSON (as deltas and
/// snapshots carry it), or `None` when it is more than `max_bytes`; the
/// count stops there, so it costs at most `max_bytes` of writing.
pub fn json_len_within(value: &Value, max_bytes: usize) -> Option<usize> {
    /// Counts what is written and refuses to go past the bound.
    struct Counter {
        written: usize,
        max: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.written = self.written.saturating_add(buf.len());
            if self.written > self.max {
                return Err(std::io::Error::other("over the bound"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter {
        written: 0,
        max: max_bytes,
    };
    // A `Value` always serializes; an error here is the counter's bound.
    serde_json::to_writer(&mut counter, value).ok()?;
    Some(counter.written)
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
    fn json_len_is_the_compact_lengths_and_stops_past_the_bound() {
        let v = json!({"a": [1, "x\"y"], "b": null});
        let len = v.to_string().len();
        assert_eq!(json_len_within(&v, len), Some(len));
        assert_eq!(json_len_within(&v, len - 1), None);
    }

    #[test]
    fn a_patch_that_would_grow_the_state_past_the_bound_stops_early() {
        let before = json!({"blob": "x".repeat(1000)});
        let doubling: Vec<Value> = (0..40)
            .map(|i| json!({"op": "copy", "from": "", "path": format!("/c{i}")}))
            .collect();
        let patch: json_patch::Patch =
            serde_json::from_value(Value::Array(doubling)).unwrap_or_else(|e| panic!("{e}"));
        let refused = StateChange::Patch(patch.clone()).apply_within(&before, 64 * 1024);
        assert!(
            refused.as_ref().is_err_and(
                |e| matches!(e, ChangeError::TooLarge(why) if why.contains("more than 65536 bytes"))
            ),
            "{refused:?}"
        );
        let small: json_patch::Patch = serde_json::from_value(json!([
            {"op": "copy", "from": "/blob", "path": "/b2"},
            {"op": "remove", "path": "/blob"},
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        let after = StateChange::Patch(small.clone()).apply_within(&before, 2100);
        assert_eq!(after, Ok(json!({"b2": "x".repeat(1000)})));
        // The document between the two operations passes 1,100 bytes.
        assert!(StateChange::Patch(small)
            .apply_within(&before, 1100)
            .is_err());
        let whole = StateChange::Replace(json!({"n": "x".repeat(100)}));
        assert!(whole.apply_within(&before, 50).is_err());
    }

    #[test]
    fn no_change_is_an_empty_patch() {
        let before = json!({"a": [1, 2]});
        let (_, patch) = diff_state(&before, &before.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert!(patch.0.is_empty());
    }
}
