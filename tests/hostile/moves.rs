//! The hostile connection's moves: what one message of it is, and the
//! bytes it puts on the wire.

use actix_ws::Item;
use awc::ws::{CloseCode, CloseReason, Message};
use serde_json::{json, Map, Value};
use tabhub::Config;

/// The largest client message the server takes (the default config).
pub(crate) fn max_frame_bytes() -> usize {
    Config::default().max_frame_bytes
}

/// Which `join_ref` an event or push carries.
#[derive(Clone, Debug)]
pub(crate) enum RefKind {
    /// The join's own.
    Own,
    /// `null` (allowed for pushes).
    Null,
    /// Some other join's.
    Wrong,
}

/// An `event` push: well-formed or not in any of its members.
#[derive(Clone, Debug)]
pub(crate) struct EventSpec {
    pub(crate) join_ref: RefKind,
    pub(crate) id: Value,
    pub(crate) name: Value,
    /// `None`: no `payload` member.
    pub(crate) payload: Option<Value>,
    /// `None`: no `chain` member.
    pub(crate) chain: Option<Value>,
}

impl EventSpec {
    pub(crate) fn text(&self, topic: &str, join_ref: &str) -> String {
        let mut payload = Map::new();
        payload.insert("id".into(), self.id.clone());
        payload.insert("name".into(), self.name.clone());
        if let Some(p) = &self.payload {
            payload.insert("payload".into(), p.clone());
        }
        if let Some(c) = &self.chain {
            payload.insert("chain".into(), c.clone());
        }
        let join_ref = match self.join_ref {
            RefKind::Own => json!(join_ref),
            RefKind::Null => Value::Null,
            RefKind::Wrong => json!("no-such-join"),
        };
        json!([join_ref, "e", topic, "event", payload]).to_string()
    }
}

/// One message of the hostile connection.
#[derive(Clone, Debug)]
pub(crate) enum Move {
    /// Any text.
    Text(String),
    /// A valid event frame, cut short.
    Truncated { event: EventSpec, cut: usize },
    /// A JSON array of other than five members.
    Arity(Vec<Value>),
    /// The five members of a valid event frame, one replaced.
    WrongMember { at: usize, value: Value },
    /// An odd number spliced, as text, into a place of an event frame.
    Number { place: usize, number: String },
    /// A payload nesting `depth` levels of arrays or objects.
    Nested { depth: usize, arrays: bool },
    /// An `event` push.
    Event(EventSpec),
    /// A `phx_join`, to its own topic or another.
    Join {
        topic: Option<String>,
        payload: Value,
    },
    /// A `phx_leave`, of its own topic or another.
    Leave { topic: Option<String> },
    /// A heartbeat, on `phoenix` or on the session's topic.
    Heartbeat { on_session: bool },
    /// Another push on the session's topic (`visibility`, `cancel`, ...).
    Push { event: String, payload: Value },
    /// A binary message.
    Binary(Vec<u8>),
    /// A text message `extra` bytes over the size limit.
    Oversize { extra: usize },
    /// A fragmented message of raw chunks (maybe not UTF-8), maybe
    /// starting binary, maybe never finished.
    Fragments {
        binary: bool,
        chunks: Vec<Vec<u8>>,
        finish: bool,
    },
    /// A valid event frame in `pieces` fragments.
    FragmentedEvent { event: EventSpec, pieces: usize },
    /// A continuation with nothing to continue (a raw frame: the client
    /// codec refuses to send one).
    Stray { last: bool, chunk: Vec<u8> },
    /// Any raw WebSocket frame: FIN, RSV bits and opcode from `first`,
    /// masked as a client's must be, or not.
    Raw {
        first: u8,
        payload: Vec<u8>,
        masked: bool,
    },
    /// A WebSocket ping.
    Ping(Vec<u8>),
    /// A close from the client.
    Close { code: Option<u16> },
}

/// What a move puts on the wire.
pub(crate) enum Out {
    /// A message, through the client's codec.
    Message(Message),
    /// Raw bytes: frames the client codec would refuse to send.
    Raw(Vec<u8>),
}

/// One WebSocket frame as bytes: `first` is FIN, RSV and opcode; a
/// client's frames are masked.
pub(crate) fn raw_frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![first];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(mask_bit | 126);
            out.extend((n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend((n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        out.extend(key);
        out.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
    } else {
        out.extend(payload);
    }
    out
}

impl Move {
    /// The WebSocket messages of this move, for the session `topic` that
    /// the connection joined with `join_ref`.
    pub(crate) fn render(&self, topic: &str, join_ref: &str) -> Vec<Out> {
        let text = |s: String| vec![Out::Message(Message::Text(s.into()))];
        match self {
            Move::Text(s) => text(s.clone()),
            Move::Truncated { event, cut } => {
                let s = event.text(topic, join_ref);
                let mut at = cut % s.len();
                while !s.is_char_boundary(at) {
                    at -= 1;
                }
                text(s[..at].to_owned())
            }
            Move::Arity(items) => text(Value::Array(items.clone()).to_string()),
            Move::WrongMember { at, value } => {
                let mut frame = json!([join_ref, "w", topic, "event",
                    {"id": "w", "name": "add_todo", "payload": {"text": "w"}}]);
                frame[*at] = value.clone();
                text(frame.to_string())
            }
            Move::Number { place, number } => text(match place % 5 {
                0 => format!(r#"["{join_ref}",{number},"{topic}","event",{{}}]"#),
                1 => format!(
                    r#"["{join_ref}","n","{topic}","event",{{"id":{number},"name":"toast","payload":{{"text":"n"}}}}]"#
                ),
                2 => format!(
                    r#"["{join_ref}","n","{topic}","event",{{"id":"n","name":"add_todo","payload":{{"text":{number}}}}}]"#
                ),
                3 => format!(
                    r#"["{join_ref}","n","{topic}","event",{{"id":"n2","name":"chain_demo","payload":{{"n":{number}}}}}]"#
                ),
                _ => format!(
                    r#"["{join_ref}","n","{topic}","event",{{"id":"n3","name":"start_job","payload":{{"key":"nj","steps":{number},"step_ms":1}}}}]"#
                ),
            }),
            Move::Nested { depth, arrays } => {
                let (open, close) = if *arrays {
                    ("[", "]")
                } else {
                    (r#"{"a":"#, "}")
                };
                text(format!(
                    r#"["{join_ref}","d","{topic}","event",{{"id":"d","name":"add_todo","payload":{{"text":{}1{}}}}}]"#,
                    open.repeat(*depth),
                    close.repeat(*depth)
                ))
            }
            Move::Event(event) => text(event.text(topic, join_ref)),
            Move::Join {
                topic: other,
                payload,
            } => {
                let t = other.as_deref().unwrap_or(topic);
                text(json!(["j", "j", t, "phx_join", payload]).to_string())
            }
            Move::Leave { topic: other } => {
                let t = other.as_deref().unwrap_or(topic);
                text(json!([join_ref, "l", t, "phx_leave", {}]).to_string())
            }
            Move::Heartbeat { on_session } => {
                let t = if *on_session { topic } else { "phoenix" };
                text(json!([null, "h", t, "heartbeat", {}]).to_string())
            }
            Move::Push { event, payload } => {
                text(json!([join_ref, "p", topic, event, payload]).to_string())
            }
            Move::Binary(bytes) => vec![Out::Message(Message::Binary(bytes.clone().into()))],
            Move::Oversize { extra } => {
                let head = format!(
                    r#"["{join_ref}","o","{topic}","event",{{"id":"o","name":"add_todo","payload":{{"text":""#
                );
                let tail = r#""}}]"#;
                let pad = (max_frame_bytes() + extra).saturating_sub(head.len() + tail.len());
                text(format!("{head}{}{tail}", "x".repeat(pad)))
            }
            Move::Fragments {
                binary,
                chunks,
                finish,
            } => {
                let mut out = Vec::new();
                for (i, chunk) in chunks.iter().enumerate() {
                    let bytes = chunk.clone().into();
                    let item = match (i, *binary) {
                        (0, true) => Item::FirstBinary(bytes),
                        (0, false) => Item::FirstText(bytes),
                        (i, _) if i + 1 == chunks.len() && *finish => Item::Last(bytes),
                        _ => Item::Continue(bytes),
                    };
                    out.push(Out::Message(Message::Continuation(item)));
                }
                if *finish && chunks.len() == 1 {
                    out.push(Out::Message(Message::Continuation(Item::Last(
                        Vec::new().into(),
                    ))));
                }
                out
            }
            Move::FragmentedEvent { event, pieces } => {
                let bytes = event.text(topic, join_ref).into_bytes();
                let size = bytes.len().div_ceil(*pieces).max(1);
                let chunks: Vec<&[u8]> = bytes.chunks(size).collect();
                let mut out = Vec::new();
                for (i, chunk) in chunks.iter().enumerate() {
                    let bytes = chunk.to_vec().into();
                    out.push(Out::Message(Message::Continuation(match i {
                        0 => Item::FirstText(bytes),
                        i if i + 1 == chunks.len() => Item::Last(bytes),
                        _ => Item::Continue(bytes),
                    })));
                }
                if chunks.len() == 1 {
                    out.push(Out::Message(Message::Continuation(Item::Last(
                        Vec::new().into(),
                    ))));
                }
                out
            }
            Move::Stray { last, chunk } => {
                let fin = if *last { 0x80 } else { 0 };
                vec![Out::Raw(raw_frame(fin, chunk, true))]
            }
            Move::Raw {
                first,
                payload,
                masked,
            } => vec![Out::Raw(raw_frame(*first, payload, *masked))],
            Move::Ping(bytes) => vec![Out::Message(Message::Ping(bytes.clone().into()))],
            Move::Close { code } => vec![Out::Message(Message::Close(code.map(|c| CloseReason {
                code: CloseCode::from(c),
                description: None,
            })))],
        }
    }
}
