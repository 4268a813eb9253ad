//! Code that states its change (`Context::changed`, an RFC 6902 patch)
//! gives the session its delta: the patch as stated is what tabs get, with
//! no diff of the whole state. A stated patch that does not apply, that
//! grows the state past `--max-state-bytes`, or (in debug builds) that
//! does not match what the handler did to the state fails the event:
//! rolled back, no delta. An app proxy's `patch` answer is such a stated
//! change.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::fault_backend::{answering, proxy_state, start_proxy, FaultBackend};
use common::{joined_pair, new_key, start_server, Client, Server};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tabhub::{App, AppError, Config, Context, MemoryStore};

/// An app whose events say what to do to the state and which patch to
/// state for it, so a test can make them agree or not.
struct Stating;

#[derive(Default, Serialize, Deserialize)]
struct Counter {
    n: i64,
    notes: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "name", content = "payload", rename_all = "snake_case")]
enum CounterEvent {
    /// Sets `n`, and states `patch` as the change.
    Set { n: i64, patch: json_patch::Patch },
    /// Appends a note, and states `patch` as the change.
    NoteStated {
        text: String,
        patch: json_patch::Patch,
    },
    /// Appends a note, stating nothing: the delta is the diff.
    Note { text: String },
}

impl App for Stating {
    type State = Counter;
    type Event = CounterEvent;
    type Identity = ();
    async fn handle(
        &self,
        state: &mut Counter,
        event: CounterEvent,
        cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        match event {
            CounterEvent::Set { n, patch } => {
                state.n = n;
                cx.changed(patch);
            }
            CounterEvent::NoteStated { text, patch } => {
                state.notes.push(text);
                cx.changed(patch);
            }
            CounterEvent::Note { text } => state.notes.push(text),
        }
        Ok(())
    }
}

fn start(max_state_bytes: usize) -> Server<Stating> {
    let mut config = Config::default();
    config.max_state_bytes = max_state_bytes;
    start_server(Stating, config, Arc::new(MemoryStore::new()))
}

/// The next delta tab `tab` sees on `key`: its seq and patch.
async fn next_delta(tab: &mut Client, key: &str) -> (Value, Value) {
    let d = tab.wait_event(&format!("session:{key}"), "delta").await;
    (d.payload["seq"].clone(), d.payload["patch"].clone())
}

/// A refused event changed nothing: the next change, a note the session
/// diffs, is seq 1 and its delta holds the note alone (a typed state
/// left changed would show in that diff), and a tab joining now sees the
/// state with only that note.
async fn nothing_changed(server: &Server<Stating>, tab: &mut Client, key: &str) {
    let r = tab.event(key, "note", json!({"text": "after"})).await;
    assert_eq!(r, json!({"status": "ok", "response": {"seq": 1}}));
    assert_eq!(
        next_delta(tab, key).await,
        (
            json!(1),
            json!([{"op": "add", "path": "/notes/0", "value": "after"}])
        )
    );
    let mut late = Client::connect(server, "late").await;
    let joined = late.join(key, None).await;
    assert_eq!(
        joined["state"],
        json!({"n": 0, "notes": ["after"]}),
        "{joined}"
    );
}

#[actix_rt::test]
async fn a_stated_patch_is_the_delta_exactly_as_stated() {
    let server = start(Config::default().max_state_bytes);
    let (key, mut a, mut b) = joined_pair(&server).await;
    // A diff would give one `replace`; the stated `test` shows the delta
    // is the patch as stated.
    let stated = json!([
        {"op": "test", "path": "/n", "value": 0},
        {"op": "replace", "path": "/n", "value": 5},
    ]);
    let r = a
        .event(&key, "set", json!({"n": 5, "patch": stated.clone()}))
        .await;
    assert_eq!(r, json!({"status": "ok", "response": {"seq": 1}}));
    assert_eq!(next_delta(&mut a, &key).await, (json!(1), stated.clone()));
    assert_eq!(next_delta(&mut b, &key).await, (json!(1), stated));

    // The stated JSON is the session's: the next diff starts from it.
    let r = a.event(&key, "note", json!({"text": "x"})).await;
    assert_eq!(r["response"]["seq"], 2);
    assert_eq!(
        next_delta(&mut a, &key).await,
        (
            json!(2),
            json!([{"op": "add", "path": "/notes/0", "value": "x"}])
        )
    );
}

#[actix_rt::test]
async fn a_stated_patch_that_does_not_apply_fails_the_event_and_changes_nothing() {
    let server = start(Config::default().max_state_bytes);
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    a.join(&key, None).await;
    let stated = json!([
        {"op": "replace", "path": "/n", "value": 5},
        {"op": "remove", "path": "/missing"},
    ]);
    let r = a.event(&key, "set", json!({"n": 5, "patch": stated})).await;
    assert_eq!(r["status"], "error", "{r}");
    assert_eq!(r["response"]["reason"], "handler_error", "{r}");
    let message = r["response"]["message"].as_str().unwrap();
    assert!(message.contains("does not apply"), "{message}");
    nothing_changed(&server, &mut a, &key).await;
}

#[cfg(debug_assertions)]
#[actix_rt::test]
async fn in_debug_builds_a_stated_patch_that_disagrees_with_the_state_fails_the_event() {
    let server = start(Config::default().max_state_bytes);
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    a.join(&key, None).await;
    // The handler sets 7 but states 8.
    let stated = json!([{"op": "replace", "path": "/n", "value": 8}]);
    let r = a.event(&key, "set", json!({"n": 7, "patch": stated})).await;
    assert_eq!(r["response"]["reason"], "handler_error", "{r}");
    let message = r["response"]["message"].as_str().unwrap();
    assert!(message.contains("does not match"), "{message}");
    nothing_changed(&server, &mut a, &key).await;
}

#[actix_rt::test]
async fn a_stated_patch_that_grows_the_state_past_the_bound_is_refused() {
    let server = start(256);
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    a.join(&key, None).await;
    let big = "x".repeat(1000);
    let stated = json!([{"op": "add", "path": "/notes/0", "value": big}]);
    let r = a
        .event(&key, "note_stated", json!({"text": big, "patch": stated}))
        .await;
    assert_eq!(r["response"]["reason"], "handler_error", "{r}");
    let message = r["response"]["message"].as_str().unwrap();
    assert!(message.contains("--max-state-bytes"), "{message}");
    nothing_changed(&server, &mut a, &key).await;
}

#[actix_rt::test]
async fn an_app_proxys_patch_answer_is_the_delta_as_the_backend_sent_it() {
    let backend = FaultBackend::start();
    let server = start_proxy(&backend, |_| {});
    let (key, mut a, _b) = joined_pair(&server).await;
    // A diff would give one `add` of 2.
    let sent = json!([
        {"op": "add", "path": "/n", "value": 1},
        {"op": "test", "path": "/n", "value": 1},
        {"op": "replace", "path": "/n", "value": 2},
    ]);
    let r = a
        .event(&key, "answer", answering(json!({ "patch": sent.clone() })))
        .await;
    assert_eq!(r, json!({"status": "ok", "response": {"seq": 1}}));
    let d = a.wait_event(&format!("session:{key}"), "delta").await;
    assert_eq!(
        (d.payload["seq"].clone(), d.payload["patch"].clone()),
        (json!(1), sent)
    );
    assert_eq!(proxy_state(&server, &key).await, json!({"n": 2}));
}
