//! Decoding an event object's `name` + `payload` into an app's event enum.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Why an event did not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The app has no event of this name (reply `unknown_event`).
    UnknownEvent,
    /// The payload does not fit the event (reply `invalid_payload`), with
    /// serde's explanation.
    InvalidPayload(String),
}

impl DecodeError {
    /// The answer to an event named `name` that did not decode:
    /// `unknown_event` or `invalid_payload` (docs/protocol.md section 6.2),
    /// whichever way it was submitted.
    pub fn into_outcome(self, name: &str) -> crate::protocol::reply::Outcome {
        use crate::protocol::{reply::Outcome, Reason};
        match self {
            Self::UnknownEvent => Outcome::error(
                Reason::UnknownEvent,
                format!("the app has no event {name:?}"),
            ),
            Self::InvalidPayload(why) => Outcome::error(Reason::InvalidPayload, why),
        }
    }
}

/// Decodes `{"name": name, "payload": payload}` into an adjacently tagged
/// serde enum (`#[serde(tag = "name", content = "payload")]`).
///
/// serde reports an unknown tag with `Error::unknown_variant`, whose text
/// starts with "unknown variant `<name>`". A payload's own errors can read
/// the same (an enum inside it given a value equal to the event's name), so
/// when decoding fails, the tag is decoded again alone: only an unknown name
/// fails that way then. A unit test pins this against the serde version in
/// use.
///
/// # Errors
/// See [`DecodeError`].
pub fn decode_tagged<E: DeserializeOwned>(name: &str, payload: Value) -> Result<E, DecodeError> {
    let tagged = |payload: Option<Value>| {
        let mut tagged = serde_json::Map::with_capacity(2);
        tagged.insert("name".to_owned(), Value::from(name));
        if let Some(payload) = payload {
            tagged.insert("payload".to_owned(), payload);
        }
        Value::Object(tagged)
    };
    serde_json::from_value(tagged(Some(payload))).map_err(|e| {
        let unknown = format!("unknown variant `{name}`");
        match serde_json::from_value::<E>(tagged(None)) {
            Err(alone) if alone.to_string().starts_with(&unknown) => DecodeError::UnknownEvent,
            _ => DecodeError::InvalidPayload(e.to_string()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(tag = "name", content = "payload", rename_all = "snake_case")]
    enum Ev {
        AddTodo { text: String },
        Kind { kind: Inner },
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Inner {
        A,
    }

    #[test]
    fn decodes_a_known_event() {
        let ev: Ev =
            decode_tagged("add_todo", json!({"text": "x"})).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(ev, Ev::AddTodo { text: "x".into() });
    }

    #[test]
    fn an_unknown_name_is_unknown_event() {
        assert_eq!(
            decode_tagged::<Ev>("nope", json!({})),
            Err(DecodeError::UnknownEvent)
        );
    }

    #[test]
    fn a_bad_payload_is_invalid_payload_even_with_unknown_inner_variants() {
        assert!(matches!(
            decode_tagged::<Ev>("add_todo", json!({"text": 5})),
            Err(DecodeError::InvalidPayload(_))
        ));
        assert!(matches!(
            decode_tagged::<Ev>("kind", json!({"kind": "zzz"})),
            Err(DecodeError::InvalidPayload(_))
        ));
    }

    /// docs/fuzzing.md, finding 2: an inner enum's unknown value that
    /// equals the event's name read as an unknown event.
    #[test]
    fn an_inner_value_equal_to_the_event_name_is_still_invalid_payload() {
        assert!(matches!(
            decode_tagged::<Ev>("kind", json!({"kind": "kind"})),
            Err(DecodeError::InvalidPayload(_))
        ));
        assert_eq!(
            decode_tagged::<Ev>("a", json!({"kind": "a"})),
            Err(DecodeError::UnknownEvent)
        );
    }
}
