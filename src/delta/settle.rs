//! The delta of one settled change, as the session computes it: by diff
//! (O(state)) when the code stated nothing, or from the patch the code
//! stated (O(change)). The session calls [`settle`] for every change, so
//! `benches/delta.rs` measures what it runs.

use json_patch::{Patch, PatchOperation};
use serde::Serialize;
use serde_json::Value;

use super::{json_len_within, over_bound, patch_growth, ChangeError, StateChange};

/// Moves the state's JSON `json` (of at most `bytes` bytes as compact
/// JSON) on to the typed `state` the code left, and returns the delta:
/// the RFC 6902 patch from the old JSON to the new (empty when nothing
/// changed). `bytes` becomes an upper bound of the new JSON's size, which
/// is measured (up to `max_bytes`) only when that bound passes
/// `max_bytes`.
///
/// - `stated: None`: `state` is serialized whole and diffed against
///   `json` (O(state)).
/// - `stated: Some(patch)` (what the code stated with
///   [`crate::Context::changed`]): the patch is applied to `json` in
///   place and is the delta as stated, unless every operation leaves
///   the JSON as it was (a `test`, an `add` or `replace` of an equal
///   value): then the delta is empty, as a diff would be. `state` is not
///   serialized
///   (O(change)). A patch with a `copy` is applied to a copy of `json`,
///   measured as it goes (O(state)), as a pushed patch is
///   ([`StateChange::apply_within`]). In debug builds
///   (`debug_assertions`) `state` is serialized anyway and must equal the
///   patched JSON; release builds trust the patch.
///
/// # Errors
/// On any error `json` and `bytes` are left as they were.
/// [`ChangeError::Unserializable`] when `state` does not serialize;
/// [`ChangeError::DoesNotApply`] when the stated patch does not apply to
/// `json` (RFC 6902: all or nothing); [`ChangeError::TooLarge`] when the
/// new JSON takes more than `max_bytes`; [`ChangeError::Mismatch`] (debug
/// builds) when the patched JSON is not `state`'s.
pub fn settle<S: Serialize>(
    json: &mut Value,
    bytes: &mut usize,
    state: &S,
    stated: Option<Patch>,
    max_bytes: usize,
) -> Result<Patch, ChangeError> {
    let Some(patch) = stated else {
        let after = to_json(state)?;
        let patch = json_patch::diff(json, &after);
        let bound = bytes.saturating_add(patch_growth(&patch, &after, max_bytes));
        *bytes = measured_over(bound, &after, max_bytes)?;
        *json = after;
        return Ok(patch);
    };
    #[cfg(debug_assertions)]
    let before = json.clone();
    let unchanged = patch.0.iter().all(|op| changes_nothing(json, op));
    let bound = apply_stated(json, *bytes, &patch, max_bytes)?;
    #[cfg(debug_assertions)]
    if let Err(e) = same_as(json, state) {
        *json = before;
        return Err(e);
    }
    #[cfg(not(debug_assertions))]
    let _ = state;
    *bytes = bound;
    Ok(if unchanged { Patch(Vec::new()) } else { patch })
}

/// Whether `op` leaves `doc` as it is: a `test`, or an `add` (to an
/// object member or the root) or `replace` of a value equal to what is
/// there. Costs a lookup and a comparison of the value, O(op).
fn changes_nothing(doc: &Value, op: &PatchOperation) -> bool {
    match op {
        PatchOperation::Test(_) => true,
        PatchOperation::Replace(op) => doc.pointer(op.path.as_str()) == Some(&op.value),
        PatchOperation::Add(op) => {
            let member = op
                .path
                .parent()
                .is_none_or(|parent| doc.pointer(parent.as_str()).is_some_and(Value::is_object));
            member && doc.pointer(op.path.as_str()) == Some(&op.value)
        }
        PatchOperation::Remove(_) | PatchOperation::Move(_) | PatchOperation::Copy(_) => false,
    }
}

/// `state` as JSON.
fn to_json<S: Serialize>(state: &S) -> Result<Value, ChangeError> {
    serde_json::to_value(state)
        .map_err(|e| ChangeError::Unserializable(format!("state did not serialize: {e}")))
}

/// `bound` when it is within `max_bytes`; else `after`'s size, measured,
/// if that is.
fn measured_over(bound: usize, after: &Value, max_bytes: usize) -> Result<usize, ChangeError> {
    if bound <= max_bytes {
        return Ok(bound);
    }
    json_len_within(after, max_bytes)
        .ok_or_else(|| ChangeError::TooLarge(over_bound(max_bytes, "")))
}

/// Applies `patch` to `json` (of at most `bytes` bytes) all or nothing,
/// and returns an upper bound of its new size. Without a `copy`, what
/// each operation adds is known before it applies, so the patch applies
/// in place; a copy of the JSON is made only near the bound, where a
/// refusal must leave `json` as it was.
fn apply_stated(
    json: &mut Value,
    bytes: usize,
    patch: &Patch,
    max_bytes: usize,
) -> Result<usize, ChangeError> {
    let does_not_apply = |e: json_patch::PatchError| {
        ChangeError::DoesNotApply(format!("the stated patch does not apply: {e}"))
    };
    if patch
        .0
        .iter()
        .any(|op| matches!(op, PatchOperation::Copy(_)))
    {
        let after = StateChange::Patch(patch.clone()).apply_within(json, max_bytes)?;
        let measured = json_len_within(&after, max_bytes)
            .ok_or_else(|| ChangeError::TooLarge(over_bound(max_bytes, "")))?;
        *json = after;
        return Ok(measured);
    }
    // No copy: the growth does not depend on the document.
    let bound = bytes.saturating_add(patch_growth(patch, json, max_bytes));
    if bound <= max_bytes {
        json_patch::patch(json, &patch.0).map_err(does_not_apply)?;
        return Ok(bound);
    }
    let mut after = json.clone();
    json_patch::patch(&mut after, &patch.0).map_err(does_not_apply)?;
    let measured = measured_over(bound, &after, max_bytes)?;
    *json = after;
    Ok(measured)
}

/// Whether the stated patch gave `json` what `state` serializes to; if
/// not, the error says where they differ (as a patch from the stated JSON
/// to the state's, cut short).
#[cfg(debug_assertions)]
fn same_as<S: Serialize>(json: &Value, state: &S) -> Result<(), ChangeError> {
    let typed = to_json(state)?;
    if *json == typed {
        return Ok(());
    }
    let mut differs = serde_json::to_string(&json_patch::diff(json, &typed)).unwrap_or_default();
    if differs.len() > 300 {
        let mut end = 300;
        while !differs.is_char_boundary(end) {
            end -= 1;
        }
        differs.truncate(end);
        differs.push_str("...");
    }
    Err(ChangeError::Mismatch(format!(
        "the stated change does not match the state the code left; from the stated JSON to \
         the state's: {differs}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(ops: Value) -> Patch {
        serde_json::from_value(ops).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_stated_patch_is_the_delta_and_moves_the_json() {
        let mut json = json!({"todos": [{"done": false}]});
        let mut bytes = json.to_string().len();
        let state = json!({"todos": [{"done": true}]});
        let stated = patch(json!([{"op": "replace", "path": "/todos/0/done", "value": true}]));
        let delta = settle(&mut json, &mut bytes, &state, Some(stated.clone()), 1000);
        assert_eq!(delta, Ok(stated));
        assert_eq!(json, state);
        assert!(bytes >= json.to_string().len());
    }

    #[test]
    fn without_a_stated_patch_the_delta_is_the_diff() {
        let mut json = json!({"n": 1});
        let mut bytes = 7;
        let delta = settle(&mut json, &mut bytes, &json!({"n": 2}), None, 1000);
        let expected = patch(json!([{"op": "replace", "path": "/n", "value": 2}]));
        assert_eq!(delta, Ok(expected));
        assert_eq!(json, json!({"n": 2}));
    }

    #[test]
    fn a_stated_patch_that_does_not_apply_changes_nothing() {
        let mut json = json!({"n": 1});
        let mut bytes = 7;
        let stated = patch(json!([
            {"op": "replace", "path": "/n", "value": 2},
            {"op": "remove", "path": "/missing"},
        ]));
        let refused = settle(&mut json, &mut bytes, &json!({"n": 2}), Some(stated), 1000);
        assert!(
            matches!(refused, Err(ChangeError::DoesNotApply(_))),
            "{refused:?}"
        );
        assert_eq!((json, bytes), (json!({"n": 1}), 7));
    }

    #[test]
    fn a_stated_patch_past_the_bound_is_refused() {
        let mut json = json!({"n": 1});
        let mut bytes = 7;
        let big = "x".repeat(100);
        let state = json!({"n": 1, "big": big});
        let stated = patch(json!([{"op": "add", "path": "/big", "value": big}]));
        let refused = settle(&mut json, &mut bytes, &state, Some(stated.clone()), 50);
        assert!(
            matches!(refused, Err(ChangeError::TooLarge(_))),
            "{refused:?}"
        );
        assert_eq!((&json, bytes), (&json!({"n": 1}), 7));
        let copies = patch(json!([{"op": "copy", "from": "", "path": "/c"}]));
        let state = json!({"n": 1, "c": {"n": 1}});
        assert!(settle(&mut json, &mut bytes, &state, Some(copies), 10).is_err());
        assert_eq!(json, json!({"n": 1}));
    }

    #[test]
    fn a_stated_patch_that_changes_nothing_makes_an_empty_delta() {
        let mut json = json!({"here": ["a"], "n": 1});
        let mut bytes = json.to_string().len();
        let state = json.clone();
        let same = patch(json!([
            {"op": "test", "path": "/n", "value": 1},
            {"op": "add", "path": "/here", "value": ["a"]},
            {"op": "replace", "path": "/n", "value": 1},
        ]));
        let delta = settle(&mut json, &mut bytes, &state, Some(same), 1000);
        assert_eq!(delta, Ok(Patch(Vec::new())));
        // An add into an array inserts, even an equal value.
        let insert = patch(json!([{"op": "add", "path": "/here/0", "value": "a"}]));
        let state = json!({"here": ["a", "a"], "n": 1});
        let delta = settle(&mut json, &mut bytes, &state, Some(insert.clone()), 1000);
        assert_eq!(delta, Ok(insert));
    }

    #[cfg(debug_assertions)]
    #[test]
    fn in_debug_builds_a_stated_patch_must_match_the_state() {
        let mut json = json!({"n": 1});
        let mut bytes = 7;
        let stated = patch(json!([{"op": "replace", "path": "/n", "value": 2}]));
        let refused = settle(&mut json, &mut bytes, &json!({"n": 3}), Some(stated), 1000);
        assert!(matches!(&refused, Err(ChangeError::Mismatch(why)) if why.contains("/n")));
        assert_eq!((json, bytes), (json!({"n": 1}), 7));
    }
}
