//! The app proxy's wire: what tabhub sends to the backend and what it
//! accepts back, as `docs/app-proxy.md` specifies them. Only shapes live
//! here; what an answer does to a session is in `answer.rs`.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A `T` read from a JSON object only. serde's derive reads a struct from
/// an array too, by position (`[{"x": 1}]` as an [`Answer`] whose `state`
/// is `{"x": 1}`); every answer, and every object inside one, must be an
/// object (`docs/app-proxy.md`), so each is read through this: anything
/// else is an invalid answer.
pub(super) struct Object<T>(pub(super) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor(PhantomData))
    }
}

impl<T: Default> Default for Object<T> {
    fn default() -> Self {
        Self(T::default())
    }
}

/// Accepts a map and nothing else, and reads `T` from it.
struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = Object<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Object)
    }
}

/// `POST URL/event`.
#[derive(Serialize)]
pub(super) struct EventCall<'a> {
    pub(super) key: &'a str,
    /// `null` for an event submitted by server code.
    pub(super) tab_id: Option<&'a str>,
    pub(super) event: EventBody<'a>,
    pub(super) seq: u64,
    /// Absent with `--app-no-state`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) state: Option<&'a Value>,
    /// The submitting connection's forwarded headers, as `URL/join` got
    /// them (absent when none are forwarded, and for server events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) headers: Option<&'a BTreeMap<String, String>>,
    /// Its peer address, with `--app-forward-peer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) peer: Option<&'a str>,
}

/// The event inside an [`EventCall`].
#[derive(Serialize)]
pub(super) struct EventBody<'a> {
    pub(super) id: &'a str,
    pub(super) name: &'a str,
    pub(super) payload: &'a Value,
    pub(super) chain: Option<&'a str>,
}

/// `POST URL/join`.
#[derive(Serialize)]
pub(super) struct JoinCall<'a> {
    pub(super) key: &'a str,
    pub(super) tab_id: &'a str,
    pub(super) params: &'a Map<String, Value>,
    pub(super) connect_params: &'a BTreeMap<String, String>,
    pub(super) headers: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) peer: Option<&'a str>,
}

/// The answer to a [`JoinCall`].
#[derive(Deserialize)]
pub(super) struct JoinAnswer {
    pub(super) allow: bool,
    #[serde(default)]
    pub(super) message: Option<String>,
}

/// `POST URL/initial_state`.
#[derive(Serialize)]
pub(super) struct InitialStateCall<'a> {
    pub(super) key: &'a str,
}

/// The answer to an [`InitialStateCall`].
#[derive(Deserialize)]
pub(super) struct InitialStateAnswer {
    pub(super) state: Value,
}

/// `POST URL/cancel`.
#[derive(Serialize)]
pub(super) struct CancelCall<'a> {
    pub(super) key: &'a str,
    pub(super) task: &'a str,
    pub(super) seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) state: Option<&'a Value>,
}

/// `POST URL/presence` (with `--app-presence`): a tab joined, left, or
/// was shown or hidden.
#[derive(Serialize)]
pub(super) struct PresenceCall<'a> {
    pub(super) key: &'a str,
    /// `joined`, `left` or `visibility`.
    pub(super) change: crate::app::PresenceChange,
    /// The tab it is about, with its connection's forwarded headers and
    /// peer as `URL/join` got them.
    pub(super) tab: PresenceTab<'a>,
    /// Every tab joined after the change, in join order.
    pub(super) tabs: Vec<PresenceTab<'a>>,
    pub(super) seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) state: Option<&'a Value>,
}

/// One tab in a [`PresenceCall`].
#[derive(Serialize)]
pub(super) struct PresenceTab<'a> {
    pub(super) tab_id: &'a str,
    pub(super) visible: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) headers: Option<&'a BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) peer: Option<&'a str>,
}

/// What the backend answers to an event (and, in part, to a cancel).
/// Every member is optional; unknown members are ignored.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct Answer {
    /// The new state, whole.
    pub(super) state: Option<Value>,
    /// Or the RFC 6902 change to the state the call carried (each
    /// operation an object: the patch crate's own reading takes an array
    /// as `[op, path, ...]`).
    pub(super) patch: Option<Vec<Object<json_patch::PatchOperation>>>,
    pub(super) effects: Vec<Object<EffectOut>>,
    pub(super) chains: Vec<Object<ChainOut>>,
    pub(super) reply: Option<Value>,
    pub(super) tasks: Object<TasksOut>,
    pub(super) summary: Option<Value>,
    /// A refusal: nothing else of the answer counts.
    pub(super) error: Option<Object<ErrorOut>>,
}

/// An effect the backend asks for.
#[derive(Deserialize)]
pub(super) struct EffectOut {
    pub(super) kind: String,
    #[serde(default)]
    pub(super) data: Value,
    #[serde(default)]
    pub(super) to: Option<To>,
}

/// Which tabs an [`EffectOut`] goes to: `"origin"`, `"all"`, or
/// `{"tab": "<tab id>"}`.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum To {
    Named(String),
    Tab(Object<TabTo>),
}

/// The `{"tab": "<tab id>"}` of a [`To`].
#[derive(Deserialize)]
pub(super) struct TabTo {
    pub(super) tab: String,
}

/// A chained event the backend asks for.
#[derive(Deserialize)]
pub(super) struct ChainOut {
    pub(super) name: String,
    #[serde(default = "empty_object")]
    pub(super) payload: Value,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// Background tasks the backend starts or cancels.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct TasksOut {
    pub(super) start: Vec<String>,
    pub(super) cancel: Vec<String>,
}

/// The backend's refusal of an event.
#[derive(Deserialize)]
pub(super) struct ErrorOut {
    pub(super) reason: String,
    #[serde(default)]
    pub(super) message: String,
    #[serde(default)]
    pub(super) data: Option<Value>,
}
