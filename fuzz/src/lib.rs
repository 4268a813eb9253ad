//! The invariants the fuzz targets check on every input, beyond "no panic".
//!
//! `fuzz_targets/*.rs` call these; `tests/fuzz_regressions.rs` includes
//! this file (`#[path]`), so `cargo test` builds the same checks and runs
//! them on every saved input. Each `check_*` panics when an invariant
//! breaks. Only tabhub's public API is used: the payload decoding repeats
//! the server's one line (`decode_payload` in `src/tab/inbound.rs`).
//!
//! Inputs of the join and event targets are a whole text frame (as the
//! socket receives it) or, failing that, the bare payload object; inputs
//! that are neither, or not UTF-8 (the server closes those with 1007
//! before any parsing), are skipped.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tabhub::app::{decode_tagged, DecodeError};
use tabhub::demo::{Demo, DemoEvent};
use tabhub::ids::{ChainId, Epoch, SessionKey};
use tabhub::protocol::frame::{self, Frame, FrameError};
use tabhub::protocol::message::{Cursor, EventPayload, JoinMode, JoinPayload, Visibility};
use tabhub::protocol::SESSION_TOPIC_PREFIX;
use tabhub::App;

/// The demo's event names (`DemoEvent`, snake_case).
pub const DEMO_EVENTS: &[&str] = &[
    "add_todo",
    "add_todo_after",
    "toggle_todo",
    "remove_todo",
    "toast",
    "start_job",
    "chain_demo",
    "chain_step",
];

/// The names of [`ProbeEvent`].
pub const PROBE_EVENTS: &[&str] = &["paint", "batch", "rename"];

/// An app event type as apps write them, with an enum inside a payload
/// (the demo's events hold none): [`decode_tagged`] must tell an unknown
/// event name from a bad payload for it too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", content = "payload", rename_all = "snake_case")]
pub enum ProbeEvent {
    /// A payload with an enum member.
    Paint {
        /// One of the colours.
        color: Color,
    },
    /// A newtype payload: a list of enums.
    Batch(Vec<Color>),
    /// Plain members.
    Rename {
        /// The new name.
        to: String,
        /// A number.
        n: u32,
    },
}

/// An enum inside [`ProbeEvent`]'s payloads.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Color {
    /// Red.
    Red,
    /// Blue.
    Blue,
}

/// The topic for inputs that are a bare payload object.
pub const BARE_PAYLOAD_TOPIC: &str = "session:fuzzfuzzfuzzfuzzfuzz0";

/// Decodes a frame payload as the server does (`src/tab/inbound.rs`,
/// `decode_payload`).
pub fn decode_payload<T: DeserializeOwned>(payload: &Map<String, Value>) -> Result<T, String> {
    T::deserialize(Value::Object(payload.clone())).map_err(|e| format!("invalid payload: {e}"))
}

/// The input as a frame's topic and payload: a whole frame, or a bare
/// payload object under [`BARE_PAYLOAD_TOPIC`].
fn topic_and_payload(data: &[u8]) -> Option<(String, Map<String, Value>)> {
    let text = std::str::from_utf8(data).ok()?;
    match frame::decode(text) {
        Ok(f) => Some((f.topic, f.payload)),
        Err(_) => serde_json::from_str::<Map<String, Value>>(text)
            .ok()
            .map(|payload| (BARE_PAYLOAD_TOPIC.to_owned(), payload)),
    }
}

/// Whether two JSON values are equal, floats within 2 ulps: serde_json's
/// default float parsing is not correctly rounded (no `float_roundtrip`
/// feature), so a float printed and parsed again may move by one ulp.
pub fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() && y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x.signum() == y.signum() && x.to_bits().abs_diff(y.to_bits()) <= 2)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// The frame that docs/protocol.md section 3 (frames) says `v` is, if it is
/// one: an array of exactly five members, two refs (string or null), topic
/// and event strings, an object payload.
fn documented_frame(v: &Value) -> Option<Frame> {
    let [join_ref, reference, topic, event, payload] = v.as_array()?.as_slice() else {
        return None;
    };
    let opt = |v: &Value| match v {
        Value::Null => Some(None),
        Value::String(s) => Some(Some(s.clone())),
        _ => None,
    };
    Some(Frame {
        join_ref: opt(join_ref)?,
        reference: opt(reference)?,
        topic: topic.as_str()?.to_owned(),
        event: event.as_str()?.to_owned(),
        payload: payload.as_object()?.clone(),
    })
}

/// Whether the routing members are within their bounds
/// (`frame::MAX_REF_BYTES`, `MAX_TOPIC_BYTES`, `MAX_EVENT_BYTES`).
fn routing_within_bounds(
    join_ref: Option<&str>,
    reference: Option<&str>,
    topic: &str,
    event: &str,
) -> bool {
    [join_ref, reference]
        .iter()
        .all(|r| r.is_none_or(|r| r.len() <= frame::MAX_REF_BYTES))
        && topic.len() <= frame::MAX_TOPIC_BYTES
        && event.len() <= frame::MAX_EVENT_BYTES
}

/// How deep a value nests, counted independently of the decoder: a scalar
/// is 0, an array or object 1 more than its deepest member (so the payload
/// object of scalars is 1).
fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The frame decoder, as the server calls it (`frame::decode_bounded` with
/// the default `max_json_depth`), checked against a separate parse of the
/// text as any JSON value:
///
/// - not the five-member array of section 3, or a routing member over its
///   bound: malformed (close 1007), with a reason;
/// - else a payload nested deeper than the limit: refused (an
///   `invalid_payload` reply) with the frame's own routing members;
/// - else decoded, with exactly the text's members;
/// - text too deep for the JSON parser itself is never decoded, and if it is
///   answered, the members echoed are within their bounds;
/// - `frame::decode` (the default depth) agrees on what it accepts;
/// - a decoded frame, encoded again with `frame::encode` (as the server
///   echoes topics and refs), is valid JSON that decodes to the same frame.
pub fn check_frame(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let max_depth = tabhub::Config::default().max_json_depth;
    let decoded = frame::decode_bounded(text, max_depth);
    assert_eq!(
        frame::decode(text).ok(),
        decoded.as_ref().ok().cloned(),
        "decode and decode_bounded at the default depth disagree on {text:?}"
    );
    let parsed = serde_json::from_str::<Value>(text);
    let f = match (decoded, parsed) {
        (Ok(f), Ok(v)) => {
            let expected = documented_frame(&v)
                .unwrap_or_else(|| panic!("accepted {text:?}, which section 3 does not"));
            assert_eq!(f, expected, "decoded members differ from the text's");
            assert!(
                routing_within_bounds(
                    f.join_ref.as_deref(),
                    f.reference.as_deref(),
                    &f.topic,
                    &f.event
                ),
                "accepted over-long routing members in {text:?}"
            );
            assert!(
                depth(&v[4]) <= max_depth,
                "accepted a payload nested too deep"
            );
            f
        }
        (Ok(f), Err(e)) => panic!("decoded {text:?}, which is not JSON ({e}), as {f:?}"),
        (Err(FrameError::Malformed(e)), Ok(v)) => {
            assert!(!e.0.is_empty(), "a refusal says why");
            if let Some(f) = documented_frame(&v) {
                assert!(
                    !routing_within_bounds(
                        f.join_ref.as_deref(),
                        f.reference.as_deref(),
                        &f.topic,
                        &f.event
                    ),
                    "called the valid frame {text:?} malformed: {e}"
                );
            }
            return;
        }
        (Err(FrameError::Refused(r)), Ok(v)) => {
            let f = documented_frame(&v)
                .unwrap_or_else(|| panic!("answered {text:?}, which section 3 does not accept"));
            assert!(
                depth(&v[4]) > max_depth,
                "refused a payload within the depth"
            );
            assert_eq!(
                (&r.join_ref, &r.reference, &r.topic),
                (&f.join_ref, &f.reference, &f.topic),
                "a refusal answers with the frame's own members"
            );
            assert!(
                routing_within_bounds(
                    f.join_ref.as_deref(),
                    f.reference.as_deref(),
                    &f.topic,
                    &f.event
                ),
                "answered a frame with over-long routing members: {r:?}"
            );
            return;
        }
        (Err(FrameError::Malformed(e)), Err(_)) => {
            assert!(!e.0.is_empty(), "a refusal says why");
            return;
        }
        (Err(FrameError::Refused(r)), Err(e)) => {
            assert!(
                e.to_string().starts_with("recursion limit exceeded"),
                "answered {text:?}, which is not JSON ({e}), with {r:?}"
            );
            assert!(
                routing_within_bounds(r.join_ref.as_deref(), r.reference.as_deref(), &r.topic, ""),
                "answered a frame with over-long routing members: {r:?}"
            );
            return;
        }
    };
    let payload_json = serde_json::to_string(&f.payload)
        .unwrap_or_else(|e| panic!("a decoded payload does not serialize: {e}"));
    let encoded = frame::encode(
        f.join_ref.as_deref(),
        f.reference.as_deref(),
        &f.topic,
        &f.event,
        &payload_json,
    );
    let again = frame::decode_bounded(&encoded, max_depth)
        .unwrap_or_else(|e| panic!("re-encoded frame {encoded:?} does not decode: {e:?}"));
    assert_eq!(
        (
            &again.join_ref,
            &again.reference,
            &again.topic,
            &again.event
        ),
        (&f.join_ref, &f.reference, &f.topic, &f.event),
        "round trip through encode"
    );
    assert!(
        same_json(&Value::Object(again.payload), &Value::Object(f.payload)),
        "payload round trip through encode: {encoded}"
    );
}

/// Whether `key` is a key by docs/protocol.md section 5.1 (topics and
/// keys): 22 to 128 characters of `[A-Za-z0-9_-]`.
fn documented_key(key: &str) -> bool {
    (22..=128).contains(&key.chars().count())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The join section 5.2 documents for `payload`, if it is one, exactly:
/// `cursor` absent, `null` or `{"epoch": string, "seq": integer >= 0}`;
/// `visibility` absent, `"visible"` or `"hidden"`; `mode` absent, `"full"`
/// or `"summary"`; any other member an app param. `None` makes no claim
/// (serde accepts a few more spellings, e.g. a cursor `[epoch, seq]`).
fn documented_join(payload: &Map<String, Value>) -> Option<JoinPayload> {
    let mode = match payload.get("mode") {
        None => JoinMode::Full,
        Some(v) if v == "full" => JoinMode::Full,
        Some(v) if v == "summary" => JoinMode::Summary,
        Some(_) => return None,
    };
    let visibility = match payload.get("visibility") {
        None => Visibility::Visible,
        Some(v) if v == "visible" => Visibility::Visible,
        Some(v) if v == "hidden" => Visibility::Hidden,
        Some(_) => return None,
    };
    let cursor = match payload.get("cursor") {
        None | Some(Value::Null) => None,
        Some(Value::Object(c)) if c.len() == 2 => Some(Cursor {
            epoch: Epoch::new(c.get("epoch")?.as_str()?),
            seq: c.get("seq")?.as_u64()?,
        }),
        Some(_) => return None,
    };
    Some(JoinPayload {
        mode,
        cursor,
        visibility,
        params: app_params(payload),
    })
}

/// The members of a join payload other than the reserved three.
fn app_params(payload: &Map<String, Value>) -> Map<String, Value> {
    payload
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "cursor" | "visibility" | "mode"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The join parser, as `src/tab/join.rs` runs it: the topic's key
/// (`SessionKey::parse`), then the payload (`JoinPayload`):
///
/// - a key is accepted exactly when section 5.1 allows it, and keeps its
///   text and topic;
/// - every documented join payload is accepted, with exactly its values;
/// - whatever is accepted: the app params are exactly the members other
///   than `cursor`, `visibility` and `mode`, and the join written back as
///   JSON decodes to the same join.
pub fn check_join(data: &[u8]) {
    let Some((topic, payload)) = topic_and_payload(data) else {
        return;
    };
    if let Some(key) = topic.strip_prefix(SESSION_TOPIC_PREFIX) {
        match SessionKey::parse(key) {
            Ok(parsed) => {
                assert!(documented_key(key), "accepted the key {key:?}");
                assert_eq!(parsed.as_str(), key);
                assert_eq!(parsed.topic(), topic);
            }
            Err(e) => {
                assert!(!documented_key(key), "refused the valid key {key:?}: {e}");
                assert_eq!(e.len, key.len());
            }
        }
    }
    let decoded: Result<JoinPayload, String> = decode_payload(&payload);
    match (&decoded, documented_join(&payload)) {
        (Ok(p), Some(expected)) => assert_eq!(p, &expected, "for {payload:?}"),
        (Err(e), Some(_)) => panic!("refused the documented join payload {payload:?}: {e}"),
        _ => {}
    }
    let Ok(p) = decoded else {
        return;
    };
    assert_eq!(p.params, app_params(&payload), "app params of {payload:?}");
    let mut written = p.params.clone();
    written.insert("mode".into(), to_value(&p.mode));
    written.insert("visibility".into(), to_value(&p.visibility));
    written.insert("cursor".into(), to_value(&p.cursor));
    let again: JoinPayload = decode_payload(&written)
        .unwrap_or_else(|e| panic!("the join written back, {written:?}, does not decode: {e}"));
    assert_eq!(again, p, "join round trip");
}

/// `serde_json::to_value` for the join members written back above.
fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value)
        .unwrap_or_else(|e| panic!("a decoded join member does not serialize: {e}"))
}

/// The event section 6.1 documents for `payload`, if it is one, exactly:
/// `id` and `name` strings, `payload` any JSON (absent: `{}`), `chain`
/// absent, `null` or a string, and nothing else.
fn documented_event(payload: &Map<String, Value>) -> Option<EventPayload> {
    if payload
        .keys()
        .any(|k| !matches!(k.as_str(), "id" | "name" | "payload" | "chain"))
    {
        return None;
    }
    Some(EventPayload {
        id: payload.get("id")?.as_str()?.to_owned(),
        name: payload.get("name")?.as_str()?.to_owned(),
        payload: payload
            .get("payload")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new())),
        chain: match payload.get("chain") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(ChainId::new(s)),
            Some(_) => return None,
        },
    })
}

/// The event parser: the event object (`EventPayload`, as
/// `src/tab/inbound.rs` decodes it), then the app's decoding of its name
/// and payload (the demo's `App::decode`, and [`decode_tagged`] for
/// [`ProbeEvent`]):
///
/// - every documented event object is accepted, with exactly its values,
///   and whatever is accepted has the `id` and `name` strings it was sent;
/// - an app replies `unknown_event` exactly for names it does not have, and
///   `invalid_payload` only for names it has;
/// - a decoded app event, serialized again, carries the same name and
///   decodes to the same event.
pub fn check_event(data: &[u8]) {
    let Some((_topic, payload)) = topic_and_payload(data) else {
        return;
    };
    let decoded: Result<EventPayload, String> = decode_payload(&payload);
    match (&decoded, documented_event(&payload)) {
        (Ok(ev), Some(expected)) => assert_eq!(ev, &expected, "for {payload:?}"),
        (Err(e), Some(_)) => panic!("refused the documented event {payload:?}: {e}"),
        _ => {}
    }
    let Ok(ev) = decoded else {
        return;
    };
    assert_eq!(payload.get("id").and_then(Value::as_str), Some(&*ev.id));
    assert_eq!(payload.get("name").and_then(Value::as_str), Some(&*ev.name));
    check_app_decode::<DemoEvent>(
        |name, p| Demo::default().decode(name, p),
        DEMO_EVENTS,
        &ev.name,
        &ev.payload,
    );
    check_app_decode::<ProbeEvent>(decode_tagged, PROBE_EVENTS, &ev.name, &ev.payload);
}

fn check_app_decode<E: Serialize + DeserializeOwned>(
    decode: impl Fn(&str, Value) -> Result<E, DecodeError>,
    names: &[&str],
    name: &str,
    payload: &Value,
) {
    let known = names.contains(&name);
    match decode(name, payload.clone()) {
        Err(DecodeError::UnknownEvent) => assert!(
            !known,
            "the known event {name:?} with payload {payload} was called unknown_event"
        ),
        Err(DecodeError::InvalidPayload(why)) => assert!(
            known,
            "the unknown event {name:?} was called invalid_payload: {why}"
        ),
        Ok(event) => {
            assert!(known, "the unknown event {name:?} decoded");
            let written = serde_json::to_value(&event)
                .unwrap_or_else(|e| panic!("a decoded event does not serialize: {e}"));
            assert_eq!(written["name"], name, "the event keeps its name");
            let content = written.get("payload").cloned().unwrap_or(Value::Null);
            let again = decode(name, content)
                .unwrap_or_else(|e| panic!("the event written back, {written}, fails: {e:?}"));
            let again = serde_json::to_value(&again)
                .unwrap_or_else(|e| panic!("a decoded event does not serialize: {e}"));
            assert_eq!(again, written, "event round trip");
        }
    }
}
