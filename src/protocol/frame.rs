//! The Phoenix Channels V2 JSON frame: `[join_ref, ref, topic, event, payload]`.
//!
//! Source: Phoenix's `V2.JSONSerializer` (the framing phoenix.js speaks).
//! `join_ref` and `ref` are strings or `null`; `payload` is an object.

use serde_json::{Map, Value};

/// One decoded client frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The join this frame belongs to (`null` for heartbeats).
    pub join_ref: Option<String>,
    /// The push's ref, echoed in its reply.
    pub reference: Option<String>,
    /// `session:<KEY>` or `phoenix`.
    pub topic: String,
    /// Frame event (`phx_join`, `event`, `heartbeat`, ...).
    pub event: String,
    /// The payload object.
    pub payload: Map<String, Value>,
}

/// Why a text frame was not a protocol frame (answered with close 1007).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedFrame(pub String);

impl std::fmt::Display for MalformedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed frame: {}", self.0)
    }
}

impl std::error::Error for MalformedFrame {}

/// The most a client's frame may carry in its routing members, in bytes:
/// `join_ref` and `ref` are kept per join and echoed in replies, `topic`
/// and `event` name what the frame is for. Longer ones are malformed.
pub const MAX_REF_BYTES: usize = 128;
/// See [`MAX_REF_BYTES`]: the longest topic (`session:` and a key of at
/// most 128 characters fit with room to spare).
pub const MAX_TOPIC_BYTES: usize = 256;
/// See [`MAX_REF_BYTES`]: the longest frame event name.
pub const MAX_EVENT_BYTES: usize = 64;

/// A frame whose routing members are fine but whose payload is refused:
/// what is needed to answer it with an error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The frame's `join_ref`.
    pub join_ref: Option<String>,
    /// The frame's `ref`, for the reply.
    pub reference: Option<String>,
    /// The frame's topic.
    pub topic: String,
    /// Why the payload is refused.
    pub message: String,
}

/// Why a text frame was not decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Not a protocol frame: answered with close 1007.
    Malformed(MalformedFrame),
    /// A frame whose payload nests deeper than allowed: answered with an
    /// `invalid_payload` error reply; the connection stays open.
    Refused(Refused),
}

/// Decodes one text frame, with payloads nested at most 32 levels deep.
///
/// # Errors
/// [`MalformedFrame`] when the text is not a JSON array of exactly five
/// members of the types above, the payload is not an object, a routing
/// member is longer than its bound ([`MAX_REF_BYTES`], [`MAX_TOPIC_BYTES`],
/// [`MAX_EVENT_BYTES`]), or the payload nests too deep.
pub fn decode(text: &str) -> Result<Frame, MalformedFrame> {
    decode_bounded(text, 32).map_err(|e| match e {
        FrameError::Malformed(m) => m,
        FrameError::Refused(r) => MalformedFrame(r.message),
    })
}

/// Decodes one text frame whose payload may nest at most `max_depth`
/// levels (the payload object itself is level 1; at most 120, beyond which
/// the JSON parser refuses any frame).
///
/// # Errors
/// [`FrameError::Malformed`] as [`decode`]; [`FrameError::Refused`], with
/// the frame's routing members, when only the payload's depth is wrong.
pub fn decode_bounded(text: &str, max_depth: usize) -> Result<Frame, FrameError> {
    let mut head = None;
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = serde::Deserializer::deserialize_seq(&mut de, FrameVisitor { head: &mut head })
        .and_then(|payload| de.end().map(|()| payload));
    let too_deep = |head: Head, message: String| {
        FrameError::Refused(Refused {
            join_ref: head.join_ref,
            reference: head.reference,
            topic: head.topic,
            message,
        })
    };
    let payload = match parsed {
        Ok(payload) => payload,
        Err(e) => {
            return Err(match head {
                // The parser's own recursion limit (128): the routing
                // members were read, so the frame can still be answered,
                // unless they are over-long (malformed, as below).
                Some(h) if e.to_string().starts_with("recursion limit exceeded") => {
                    match h.too_long() {
                        Some(bad) => FrameError::Malformed(MalformedFrame(bad)),
                        None => too_deep(
                            h,
                            format!("the payload nests deeper than {max_depth} levels"),
                        ),
                    }
                }
                _ => FrameError::Malformed(MalformedFrame(format!(
                    "expected [join_ref, ref, topic, event, payload]: {e}"
                ))),
            });
        }
    };
    let Some(head) = head else {
        return Err(FrameError::Malformed(MalformedFrame(
            "no routing members".into(),
        )));
    };
    if let Some(bad) = head.too_long() {
        return Err(FrameError::Malformed(MalformedFrame(bad)));
    }
    let Value::Object(payload) = payload else {
        return Err(FrameError::Malformed(MalformedFrame(
            "expected the payload to be an object".into(),
        )));
    };
    if object_depth(&payload) > max_depth {
        let message = format!("the payload nests deeper than {max_depth} levels");
        return Err(too_deep(head, message));
    }
    Ok(Frame {
        join_ref: head.join_ref,
        reference: head.reference,
        topic: head.topic,
        event: head.event,
        payload,
    })
}

/// How deep `object` nests: 1 for an object of scalars.
fn object_depth(object: &Map<String, Value>) -> usize {
    1 + object.values().map(value_depth).max().unwrap_or(0)
}

/// 0 for a scalar, 1 + the deepest member for arrays and objects. The
/// parser already bounds the depth (128), so this recursion is bounded.
fn value_depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(value_depth).max().unwrap_or(0),
        Value::Object(map) => object_depth(map),
        _ => 0,
    }
}

/// The four routing members, read before the payload.
struct Head {
    join_ref: Option<String>,
    reference: Option<String>,
    topic: String,
    event: String,
}

impl Head {
    /// Which member is longer than its bound, if any.
    fn too_long(&self) -> Option<String> {
        let refs = [("join_ref", &self.join_ref), ("ref", &self.reference)];
        for (name, value) in refs {
            if value.as_ref().is_some_and(|v| v.len() > MAX_REF_BYTES) {
                return Some(format!("{name} is longer than {MAX_REF_BYTES} bytes"));
            }
        }
        if self.topic.len() > MAX_TOPIC_BYTES {
            return Some(format!("the topic is longer than {MAX_TOPIC_BYTES} bytes"));
        }
        if self.event.len() > MAX_EVENT_BYTES {
            return Some(format!("the event is longer than {MAX_EVENT_BYTES} bytes"));
        }
        None
    }
}

/// Reads `[join_ref, ref, topic, event, payload]`, leaving the routing
/// members in `head` as soon as they are read (so a frame whose payload
/// the parser refuses can still be answered).
struct FrameVisitor<'h> {
    head: &'h mut Option<Head>,
}

impl<'de> serde::de::Visitor<'de> for FrameVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array [join_ref, ref, topic, event, payload]")
    }

    fn visit_seq<S: serde::de::SeqAccess<'de>>(self, mut seq: S) -> Result<Value, S::Error> {
        use serde::de::Error;
        let missing = |n| S::Error::invalid_length(n, &"five members");
        let join_ref = seq
            .next_element::<Option<String>>()?
            .ok_or_else(|| missing(0))?;
        let reference = seq
            .next_element::<Option<String>>()?
            .ok_or_else(|| missing(1))?;
        let topic = seq.next_element::<String>()?.ok_or_else(|| missing(2))?;
        let event = seq.next_element::<String>()?.ok_or_else(|| missing(3))?;
        *self.head = Some(Head {
            join_ref,
            reference,
            topic,
            event,
        });
        let payload = seq.next_element::<Value>()?.ok_or_else(|| missing(4))?;
        if seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
            return Err(S::Error::invalid_length(6, &"five members"));
        }
        Ok(payload)
    }
}

/// Encodes a server frame whose payload is already JSON text.
///
/// Fan-out encodes a delta's payload once per session and then only this
/// cheap concatenation once per tab. `payload_json` must be one JSON value
/// (the session produces it with serde), which keeps the frame valid.
pub fn encode(
    join_ref: Option<&str>,
    reference: Option<&str>,
    topic: &str,
    event: &str,
    payload_json: &str,
) -> String {
    fn push_opt(out: &mut String, s: Option<&str>) {
        match s {
            Some(s) => push_str(out, s),
            None => out.push_str("null"),
        }
    }
    fn push_str(out: &mut String, s: &str) {
        // Refs, topics and events are almost always plain ASCII: those are
        // copied between quotes; anything else is escaped by serde_json
        // exactly as JSON requires (a String never fails).
        let plain = s
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
        if plain {
            out.push('"');
            out.push_str(s);
            out.push('"');
        } else {
            out.push_str(&Value::from(s).to_string());
        }
    }
    let mut out = String::with_capacity(payload_json.len() + topic.len() + event.len() + 48);
    out.push('[');
    push_opt(&mut out, join_ref);
    out.push(',');
    push_opt(&mut out, reference);
    out.push(',');
    push_str(&mut out, topic);
    out.push(',');
    push_str(&mut out, event);
    out.push(',');
    out.push_str(payload_json);
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_phoenix_v2_join() {
        let f = decode(r#"["1","1","session:k","phx_join",{"cursor":null}]"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.join_ref.as_deref(), Some("1"));
        assert_eq!(f.reference.as_deref(), Some("1"));
        assert_eq!(f.topic, "session:k");
        assert_eq!(f.event, "phx_join");
        assert_eq!(f.payload.get("cursor"), Some(&Value::Null));
    }

    #[test]
    fn decodes_a_heartbeat_with_null_join_ref() {
        let f = decode(r#"[null,"7","phoenix","heartbeat",{}]"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.join_ref, None);
        assert_eq!(f.reference.as_deref(), Some("7"));
    }

    #[test]
    fn refuses_anything_but_a_five_member_array_with_an_object_payload() {
        for bad in [
            "",
            "{}",
            "[]",
            r#"["1","1","t","e"]"#,
            r#"["1","1","t","e",{},1]"#,
            r#"["1","1","t","e",[]]"#,
            r#"[1,"1","t","e",{}]"#,
            r#"["1","1",3,"e",{}]"#,
            "not json",
        ] {
            assert!(decode(bad).is_err(), "accepted {bad:?}");
        }
    }

    fn nested(levels: usize) -> String {
        let mut inner = String::from("1");
        for _ in 0..levels {
            inner = format!("[{inner}]");
        }
        format!(r#"["1","2","session:k","event",{{"p":{inner}}}]"#)
    }

    #[test]
    fn a_payload_nested_too_deep_is_refused_with_its_routing_members() {
        // {"p": [[1]]} is 3 levels deep.
        assert!(decode_bounded(&nested(2), 3).is_ok());
        for levels in [3, 200, 5000] {
            match decode_bounded(&nested(levels), 3) {
                Err(FrameError::Refused(r)) => {
                    assert_eq!(r.reference.as_deref(), Some("2"));
                    assert_eq!(r.topic, "session:k");
                    assert!(r.message.contains("deeper than 3"), "{}", r.message);
                }
                other => panic!("{levels} levels: {other:?}"),
            }
        }
    }

    #[test]
    fn over_long_routing_members_are_malformed() {
        let long = "x".repeat(MAX_REF_BYTES + 1);
        for bad in [
            format!(r#"["{long}","1","t","e",{{}}]"#),
            format!(r#"["1","{long}","t","e",{{}}]"#),
            format!(
                r#"["1","1","{}","e",{{}}]"#,
                "t".repeat(MAX_TOPIC_BYTES + 1)
            ),
            format!(
                r#"["1","1","t","{}",{{}}]"#,
                "e".repeat(MAX_EVENT_BYTES + 1)
            ),
        ] {
            assert!(matches!(
                decode_bounded(&bad, 32),
                Err(FrameError::Malformed(_))
            ));
        }
        let ok = format!(r#"["{}","1","t","e",{{}}]"#, "x".repeat(MAX_REF_BYTES));
        assert!(decode(&ok).is_ok());
    }

    #[test]
    fn encodes_with_escaping_and_raw_payload() {
        let s = encode(Some("j\"1"), None, "session:k", "delta", r#"{"seq":1}"#);
        assert_eq!(s, r#"["j\"1",null,"session:k","delta",{"seq":1}]"#);
        let v: Value = serde_json::from_str(&s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v[0], "j\"1");
    }

    #[test]
    fn every_routing_string_reads_back_as_written() {
        for s in [
            "1",
            "a\\b",
            "tab\u{7f}",
            "line\nbreak",
            "é",
            "\u{1}",
            "</script>",
        ] {
            let text = encode(Some(s), Some(s), s, s, "{}");
            let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{s:?}: {e}"));
            for i in 0..4 {
                assert_eq!(v[i], s, "member {i} of {text}");
            }
        }
    }
}
