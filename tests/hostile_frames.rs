//! A property, over real sockets (issue 14): any sequence of frames from one
//! connection never panics the server, never stops the session, and never
//! changes what another tab of the session sees.
//!
//! One demo server serves every case. In each, a well-behaved tab B joins a
//! fresh session, then a hostile connection A, joined to the same key,
//! sends a generated sequence: random text, truncated JSON, arrays of the
//! wrong arity or member types, huge and odd numbers, deep nesting, valid
//! and invalid events with random names, payloads, ids and chains, joins,
//! leaves, heartbeats, visibility and cancel pushes, binary, fragmented,
//! oversized, ping and close messages. After every message A sends a
//! heartbeat and reads until its reply (A is alive) or a close; a closed A
//! reconnects and rejoins for the rest of the sequence. Then:
//!
//! - A's connection was only ever closed with a code PROTOCOL section 14
//!   gives for client faults (1000 echo, 1002, 1003, 1007, 1009), and every
//!   text message it got was a well-formed frame;
//! - B is still joined and gets the delta of a probe event it pushes;
//! - B's mirror (its join's state plus every delta since) equals a fresh
//!   join's snapshot at the same seq, and B got nothing a tab of another
//!   tab's session should not (no effect of A's, no `phx_error`/`phx_close`);
//! - the server still answers `/healthz`.
//!
//! 32 cases by default; `PROPTEST_CASES=N` runs more.

#![allow(clippy::unwrap_used)]

mod common;

use actix_codec::Framed;
use actix_ws::Item;
use awc::ws::{CloseCode, CloseReason, Codec, Frame, Message};
use awc::BoxedSocket;
use common::{new_key, start_demo, Client, Mirror, Server, WAIT};
use futures_util::{SinkExt, StreamExt};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};
use tabhub::demo::Demo;
use tabhub::Config;

/// The largest client message the server takes (the default config).
fn max_frame_bytes() -> usize {
    Config::default().max_frame_bytes
}

/// Which `join_ref` an event or push carries.
#[derive(Clone, Debug)]
enum RefKind {
    /// The join's own.
    Own,
    /// `null` (allowed for pushes).
    Null,
    /// Some other join's.
    Wrong,
}

/// An `event` push: well-formed or not in any of its members.
#[derive(Clone, Debug)]
struct EventSpec {
    join_ref: RefKind,
    id: Value,
    name: Value,
    /// `None`: no `payload` member.
    payload: Option<Value>,
    /// `None`: no `chain` member.
    chain: Option<Value>,
}

impl EventSpec {
    fn text(&self, topic: &str, join_ref: &str) -> String {
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
enum Move {
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
enum Out {
    /// A message, through the client's codec.
    Message(Message),
    /// Raw bytes: frames the client codec would refuse to send.
    Raw(Vec<u8>),
}

/// One WebSocket frame as bytes: `first` is FIN, RSV and opcode; a
/// client's frames are masked.
fn raw_frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
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
    fn render(&self, topic: &str, join_ref: &str) -> Vec<Out> {
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

/// Object keys: the protocol's and the demo's names, or anything short.
fn key_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "id",
            "name",
            "payload",
            "chain",
            "text",
            "n",
            "key",
            "steps",
            "step_ms",
            "delay_ms",
            "task",
            "visibility",
            "cursor",
            "mode",
            "epoch",
            "seq",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,8}",
    ]
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        "\\PC{0,16}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key_name(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON object of random members.
fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(key_name(), json_value(), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// A demo event that decodes (it may still fail in its handler).
fn demo_event() -> impl Strategy<Value = (String, Value)> {
    let text = "\\PC{0,24}";
    prop_oneof![
        text.prop_map(|t| ("add_todo".to_owned(), json!({ "text": t }))),
        (text, 0u64..30).prop_map(|(t, d)| (
            "add_todo_after".to_owned(),
            json!({"text": t, "delay_ms": d})
        )),
        "[a-f0-9-]{0,8}".prop_map(|id| ("toggle_todo".to_owned(), json!({ "id": id }))),
        "[a-f0-9-]{0,8}".prop_map(|id| ("remove_todo".to_owned(), json!({ "id": id }))),
        text.prop_map(|t| ("toast".to_owned(), json!({ "text": t }))),
        ("[a-c]{1,2}", 0u32..=3, 0u64..=20).prop_map(|(k, s, ms)| (
            "start_job".to_owned(),
            json!({"key": k, "steps": s, "step_ms": ms})
        )),
        (0u32..=3).prop_map(|n| ("chain_demo".to_owned(), json!({ "n": n }))),
        (0u32..=3).prop_map(|n| ("chain_step".to_owned(), json!({ "n": n }))),
    ]
}

/// An event push: mostly well-formed demo events, else random members.
fn event_spec() -> impl Strategy<Value = EventSpec> {
    let join_ref = prop_oneof![
        6 => Just(RefKind::Own),
        1 => Just(RefKind::Null),
        1 => Just(RefKind::Wrong),
    ];
    let id = prop_oneof![
        6 => "[a-d]{1,2}".prop_map(Value::from),
        1 => "[a-z]{100,300}".prop_map(Value::from),
        1 => json_value(),
    ];
    let demo_names: Vec<&str> = vec![
        "add_todo",
        "add_todo_after",
        "toggle_todo",
        "remove_todo",
        "toast",
        "start_job",
        "chain_demo",
        "chain_step",
    ];
    let name_payload = prop_oneof![
        6 => demo_event().prop_map(|(n, p)| (Value::from(n), Some(p))),
        2 => (
            prop_oneof![
                prop::sample::select(demo_names).prop_map(Value::from),
                "\\PC{0,12}".prop_map(Value::from),
                json_value(),
            ],
            prop::option::of(json_value())
        ),
    ];
    let chain = prop_oneof![
        8 => Just(None),
        1 => "[a-f0-9]{0,32}".prop_map(|c| Some(Value::from(c))),
        1 => json_value().prop_map(Some),
    ];
    (join_ref, id, name_payload, chain).prop_map(|(join_ref, id, (name, payload), chain)| {
        EventSpec {
            join_ref,
            id,
            name,
            payload,
            chain,
        }
    })
}

/// Odd numbers, as JSON text (some of them not valid JSON).
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "1e400",
            "-1e400",
            "1e-400",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775809",
            "4294967296",
            "1.7976931348623157e308",
            "-0",
            "1E+2",
            "0.1",
            "00",
            "NaN",
            "Infinity",
            ".5",
            "1e",
        ])
        .prop_map(str::to_owned),
        (1usize..2000).prop_map(|n| "9".repeat(n)),
        (1usize..400).prop_map(|n| format!("0.{}1", "0".repeat(n))),
        any::<f64>().prop_map(|f| format!("{f:e}")),
    ]
}

/// Topics other than the case's own.
fn other_topic() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_-]{0,140}".prop_map(|k| format!("session:{k}")),
        Just("phoenix".to_owned()),
        Just("room:lobby".to_owned()),
        "\\PC{0,20}",
    ]
}

/// One hostile message.
fn hostile_move() -> impl Strategy<Value = Move> {
    let join_payload = prop_oneof![
        Just(json!({})),
        ("\\PC{0,40}", any::<u64>()).prop_map(|(e, s)| json!({"cursor": {"epoch": e, "seq": s}})),
        Just(json!({"mode": "summary"})),
        Just(json!({"mode": "full", "visibility": "hidden"})),
        json_value().prop_map(|v| json!({ "visibility": v })),
        json_value().prop_map(|v| json!({ "cursor": v })),
        json_object(),
    ];
    let push = (
        prop::sample::select(vec![
            "visibility",
            "cancel",
            "heartbeat",
            "frobnicate",
            "phx_reply",
            "delta",
            "",
        ]),
        prop_oneof![
            Just(json!({"visibility": "hidden"})),
            Just(json!({"visibility": "visible"})),
            "[a-c]{1,2}".prop_map(|t| json!({ "task": t })),
            json_object(),
        ],
    )
        .prop_map(|(event, payload)| Move::Push {
            event: event.to_owned(),
            payload,
        });
    let bytes = |n: usize| prop::collection::vec(any::<u8>(), 0..n);
    prop_oneof![
        3 => prop_oneof!["\\PC{0,64}", "[\\[\\]{}\",:0-9a-z_ ]{0,64}"].prop_map(Move::Text),
        2 => (event_spec(), any::<usize>())
            .prop_map(|(event, cut)| Move::Truncated { event, cut }),
        2 => prop::collection::vec(json_value(), 0..9)
            .prop_filter("not five", |v| v.len() != 5)
            .prop_map(Move::Arity),
        2 => (0usize..5, json_value()).prop_map(|(at, value)| Move::WrongMember { at, value }),
        2 => (0usize..5, number()).prop_map(|(place, number)| Move::Number { place, number }),
        2 => (1usize..300, any::<bool>())
            .prop_map(|(depth, arrays)| Move::Nested { depth, arrays }),
        16 => event_spec().prop_map(Move::Event),
        2 => (prop::option::weighted(0.3, other_topic()), join_payload)
            .prop_map(|(topic, payload)| Move::Join { topic, payload }),
        1 => prop::option::weighted(0.3, other_topic()).prop_map(|topic| Move::Leave { topic }),
        1 => any::<bool>().prop_map(|on_session| Move::Heartbeat { on_session }),
        2 => push,
        1 => bytes(64).prop_map(Move::Binary),
        1 => (1usize..2000).prop_map(|extra| Move::Oversize { extra }),
        1 => (any::<bool>(), prop::collection::vec(bytes(16), 1..4), any::<bool>())
            .prop_map(|(binary, chunks, finish)| Move::Fragments { binary, chunks, finish }),
        1 => (event_spec(), 1usize..5)
            .prop_map(|(event, pieces)| Move::FragmentedEvent { event, pieces }),
        1 => (any::<bool>(), bytes(16)).prop_map(|(last, chunk)| Move::Stray { last, chunk }),
        1 => (any::<u8>(), bytes(200), prop::bool::weighted(0.9)).prop_map(
            |(first, payload, masked)| Move::Raw { first, payload, masked }
        ),
        1 => bytes(125).prop_map(Move::Ping),
        1 => prop::option::of(prop::sample::select(vec![1000u16, 1001, 3000, 4999]))
            .prop_map(|code| Move::Close { code }),
    ]
}

/// The close codes a client fault may get (PROTOCOL section 14), and 1000,
/// the echo of the client's own close.
const CLIENT_FAULT_CLOSES: &[u16] = &[1000, 1002, 1003, 1007, 1009];

/// The hostile connection A: reconnects and rejoins after every close.
struct Hostile {
    url: String,
    topic: String,
    socket: Option<Framed<BoxedSocket, Codec>>,
    join_ref: String,
    joins: u64,
    heartbeats: u64,
    /// Close codes received, in order.
    closes: Vec<u16>,
}

impl Hostile {
    fn new(url: String, topic: String) -> Self {
        Hostile {
            url,
            topic,
            socket: None,
            join_ref: String::new(),
            joins: 0,
            heartbeats: 0,
            closes: Vec::new(),
        }
    }

    /// Connects and joins the case's session, unless connected.
    async fn ensure_joined(&mut self) -> Result<(), TestCaseError> {
        if self.socket.is_some() {
            return Ok(());
        }
        let (_resp, socket) = awc::Client::default()
            .ws(self.url.as_str())
            .max_frame_size(64 * 1024 * 1024)
            .connect()
            .await
            .map_err(|e| TestCaseError::fail(format!("A could not reconnect: {e}")))?;
        self.socket = Some(socket);
        self.joins += 1;
        self.join_ref = format!("a{}", self.joins);
        let join = json!([self.join_ref, self.join_ref, self.topic, "phx_join", {}]);
        self.send(vec![Out::Message(Message::Text(join.to_string().into()))])
            .await?;
        let reply = self.read_until_reply(&self.join_ref.clone()).await?;
        match reply {
            Some(r) if r["status"] == "ok" => Ok(()),
            other => Err(TestCaseError::fail(format!("A's rejoin failed: {other:?}"))),
        }
    }

    /// Sends a move's messages; a failed send means the server closed A,
    /// so A then reads what is left, up to the close.
    async fn send(&mut self, outs: Vec<Out>) -> Result<(), TestCaseError> {
        for out in outs {
            let Some(mut socket) = self.socket.take() else {
                return Ok(());
            };
            let sent = match out {
                Out::Message(m) => socket.send(m).await.is_ok(),
                Out::Raw(bytes) => {
                    let mut parts = socket.into_parts();
                    parts.write_buf.extend_from_slice(&bytes);
                    socket = Framed::from_parts(parts);
                    SinkExt::<Message>::flush(&mut socket).await.is_ok()
                }
            };
            self.socket = Some(socket);
            if !sent {
                self.read_until_reply("\u{0}").await?;
                self.socket = None;
            }
        }
        Ok(())
    }

    /// Waits until the server has handled everything sent so far: a
    /// heartbeat's reply (A is alive) or a close (A is gone).
    async fn sync(&mut self) -> Result<(), TestCaseError> {
        if self.socket.is_none() {
            return Ok(());
        }
        self.heartbeats += 1;
        let r = format!("hb{}", self.heartbeats);
        let hb = json!([null, r, "phoenix", "heartbeat", {}]);
        self.send(vec![Out::Message(Message::Text(hb.to_string().into()))])
            .await?;
        self.read_until_reply(&r).await.map(|_| ())
    }

    /// Reads until the reply to `reference` (returned), or a close (`None`,
    /// A is gone). Fails on silence, a close code no client fault gets, or
    /// a text message that is not a frame.
    async fn read_until_reply(&mut self, reference: &str) -> Result<Option<Value>, TestCaseError> {
        loop {
            let Some(socket) = self.socket.as_mut() else {
                return Ok(None);
            };
            let next = tokio::time::timeout(WAIT, socket.next())
                .await
                .map_err(|_| TestCaseError::fail("A got neither its reply nor a close"))?;
            match next {
                Some(Ok(Frame::Text(bytes))) => {
                    let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
                        TestCaseError::fail(format!("A got a message that is not JSON: {e}"))
                    })?;
                    let well_formed = v.as_array().is_some_and(|a| {
                        a.len() == 5
                            && (a[0].is_null() || a[0].is_string())
                            && (a[1].is_null() || a[1].is_string())
                            && a[2].is_string()
                            && a[3].is_string()
                            && a[4].is_object()
                    });
                    prop_assert!(well_formed, "A got a malformed frame: {}", v);
                    if v[3] == "phx_reply" && v[1] == reference {
                        return Ok(Some(v[4].clone()));
                    }
                }
                Some(Ok(Frame::Ping(p))) => {
                    let _ = socket.send(Message::Pong(p)).await;
                }
                Some(Ok(Frame::Close(reason))) => {
                    let code = reason.map_or(1005, |r| u16::from(r.code));
                    self.closes.push(code);
                    self.socket = None;
                    prop_assert!(
                        CLIENT_FAULT_CLOSES.contains(&code),
                        "A was closed with {}, which no client fault gets",
                        code
                    );
                    return Ok(None);
                }
                Some(Ok(_)) => {}
                // The connection ended (after a close the client started,
                // or a framing error the codec refused to read on).
                Some(Err(_)) | None => {
                    self.socket = None;
                    return Ok(None);
                }
            }
        }
    }
}

/// What B, the well-behaved tab, may receive on its session's topic while
/// another connection misbehaves.
const ALLOWED_FOR_B: &[&str] = &["delta", "tabs", "leader", "chain", "task", "phx_reply"];

/// Applies B's deltas up to `seq`; returns the event ids they carried.
async fn catch_up(b: &mut Client, topic: &str, mirror: &mut Mirror, seq: u64) -> Vec<Value> {
    let mut ids = Vec::new();
    while mirror.seq < seq {
        let d = b.wait_event(topic, "delta").await;
        ids.push(d.payload["event_id"].clone());
        mirror.apply_delta(&d.payload);
    }
    ids
}

/// One case: B joins, A plays `moves`, then B and the server are checked.
async fn one_case(server: &Server<Demo>, moves: Vec<Move>) -> Result<(), TestCaseError> {
    let key = new_key();
    let topic = format!("session:{key}");
    let mut b = Client::connect(server, "bystander").await;
    let (mut mirror, _) = b.join_mirror(&key, None).await;
    let r = b.event(&key, "add_todo", json!({"text": "before"})).await;
    prop_assert_eq!(&r["status"], "ok", "{}", r);
    catch_up(&mut b, &topic, &mut mirror, 1).await;

    let url = server.srv.url("/socket/websocket?vsn=2.0.0&tab_id=hostile");
    let mut a = Hostile::new(url, topic.clone());
    for m in &moves {
        a.ensure_joined().await?;
        let messages = m.render(&topic, &a.join_ref);
        a.send(messages).await?;
        a.sync().await?;
    }
    drop(a);

    // B is still joined: its probe is handled, and its delta reaches B.
    let probe = uuid::Uuid::new_v4().to_string();
    let r = b
        .event_with_id(&key, &probe, "add_todo", json!({"text": "probe"}))
        .await;
    prop_assert_eq!(&r["status"], "ok", "B's probe: {}", r);
    let seq = r["response"]["seq"].as_u64().unwrap();
    let ids = catch_up(&mut b, &topic, &mut mirror, seq).await;
    prop_assert!(
        ids.contains(&json!(probe)),
        "B did not get its probe's delta"
    );

    // B's view is the session's: a fresh join's snapshot at the same seq.
    let mut c = Client::connect(server, "checker").await;
    let fresh = c.join(&key, None).await;
    prop_assert_eq!(&fresh["resume"], "snapshot");
    catch_up(&mut b, &topic, &mut mirror, fresh["seq"].as_u64().unwrap()).await;
    prop_assert_eq!(
        &mirror.state,
        &fresh["state"],
        "B's mirror vs a fresh snapshot"
    );
    prop_assert_eq!(fresh["epoch"].as_str(), Some(mirror.epoch.as_str()));
    for m in b.drain_buffer() {
        prop_assert!(
            m.topic == topic && ALLOWED_FOR_B.contains(&m.event.as_str()),
            "B got {:?} while another connection misbehaved",
            m
        );
    }

    // The server still serves.
    let health = awc::Client::default()
        .get(server.srv.url("/healthz"))
        .send()
        .await
        .map_err(|e| TestCaseError::fail(format!("/healthz: {e}")))?
        .status();
    prop_assert_eq!(health.as_u16(), 200);
    Ok(())
}

#[test]
fn any_frames_from_one_connection_leave_other_tabs_and_the_server_untouched() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(32);
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 256,
        ..ProptestConfig::default()
    };
    let system = actix_rt::System::new();
    let (server, _store) = system.block_on(async { start_demo(Config::default()) });
    let mut runner = TestRunner::new(config);
    let result = runner.run(&prop::collection::vec(hostile_move(), 1..=24), |moves| {
        system.block_on(one_case(&server, moves))
    });
    system.block_on(async move { drop(server) });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The heartbeat sync really waits: a hostile connection that sends only
/// heartbeats stays connected and each gets its reply.
#[actix_rt::test]
async fn the_hostile_connection_syncs_on_heartbeats() {
    let (server, _store) = start_demo(Config::default());
    let topic = format!("session:{}", new_key());
    let url = server.srv.url("/socket/websocket?vsn=2.0.0&tab_id=hostile");
    let mut a = Hostile::new(url, topic);
    for _ in 0..3 {
        a.ensure_joined().await.unwrap();
        a.sync().await.unwrap();
    }
    assert_eq!((a.joins, a.heartbeats), (1, 3));
    assert!(a.closes.is_empty());
}
