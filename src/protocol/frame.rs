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

/// Decodes one text frame.
///
/// # Errors
/// [`MalformedFrame`] when the text is not a JSON array of exactly five
/// members of the types above, or the payload is not an object.
pub fn decode(text: &str) -> Result<Frame, MalformedFrame> {
    type Wire = (Option<String>, Option<String>, String, String, Value);
    let (join_ref, reference, topic, event, payload): Wire =
        serde_json::from_str(text).map_err(|e| {
            MalformedFrame(format!(
                "expected [join_ref, ref, topic, event, payload]: {e}"
            ))
        })?;
    let Value::Object(payload) = payload else {
        return Err(MalformedFrame(
            "expected the payload to be an object".into(),
        ));
    };
    Ok(Frame {
        join_ref,
        reference,
        topic,
        event,
        payload,
    })
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
        // serde_json escapes exactly as JSON requires; a String never fails.
        out.push_str(&Value::from(s).to_string());
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

    #[test]
    fn encodes_with_escaping_and_raw_payload() {
        let s = encode(Some("j\"1"), None, "session:k", "delta", r#"{"seq":1}"#);
        assert_eq!(s, r#"["j\"1",null,"session:k","delta",{"seq":1}]"#);
        let v: Value = serde_json::from_str(&s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v[0], "j\"1");
    }
}
