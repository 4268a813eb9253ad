//! proptest strategies: the hostile moves, and the JSON they carry.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::moves::*;

/// Object keys: the protocol's and the demo's names, or anything short.
pub(crate) fn key_name() -> impl Strategy<Value = String> {
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
pub(crate) fn json_value() -> impl Strategy<Value = Value> {
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
pub(crate) fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(key_name(), json_value(), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// A demo event that decodes (it may still fail in its handler).
pub(crate) fn demo_event() -> impl Strategy<Value = (String, Value)> {
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
pub(crate) fn event_spec() -> impl Strategy<Value = EventSpec> {
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
pub(crate) fn number() -> impl Strategy<Value = String> {
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
pub(crate) fn other_topic() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_-]{0,140}".prop_map(|k| format!("session:{k}")),
        Just("phoenix".to_owned()),
        Just("room:lobby".to_owned()),
        "\\PC{0,20}",
    ]
}

/// One hostile message.
pub(crate) fn hostile_move() -> impl Strategy<Value = Move> {
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
