//! Server code stops and deletes sessions through their handle
//! (`hub.session(key).stop()` / `.delete()`), with or without tabs joined:
//! joined tabs get `phx_error` after every delta they were owed and rejoin;
//! after a stop they find the same state (loaded from the store), after a
//! delete the app's initial state in a new epoch, by snapshot; a deleted
//! key is gone from the store.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{new_key, start_demo, start_server, until_no_session, Client, Server};
use serde_json::json;
use tabhub::demo::{Demo, DemoEvent};
use tabhub::{Config, MemoryStore, Outcome, SavedSession, SessionKey, Store, StoreError};

fn handle(server: &Server<Demo>, key: &str) -> tabhub::SessionHandle<Demo> {
    server.hub.session(&SessionKey::parse(key).unwrap())
}

#[actix_rt::test]
async fn stop_sends_joined_tabs_to_rejoin_and_they_find_the_same_state() {
    let (server, store) = start_demo(Config::default());
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = Client::connect(&server, "a").await;
    let (mut m, first) = a.join_mirror(&key, None).await;
    assert_eq!(
        a.event(&key, "add_todo", json!({"text": "kept"})).await["status"],
        "ok"
    );
    a.catch_up(&key, &mut m, 1).await;

    assert!(handle(&server, &key).stop().await.unwrap(), "it was live");
    let error = a.wait_event(&topic, "phx_error").await;
    assert_eq!(
        error.join_ref.as_deref(),
        Some(a.join_refs[&topic].as_str())
    );
    assert_eq!(server.hub.stats().await.unwrap().sessions, 0);
    assert_eq!(store.len(), 1, "saved as it stopped");

    // The rejoin loads it again: same epoch, nothing missed.
    let (m2, response) = a.join_mirror(&key, Some(&m)).await;
    assert_eq!(response["resume"], "current");
    assert_eq!(response["epoch"], first["epoch"]);
    assert_eq!(m2.state["todos"][0]["text"], "kept");
    assert_eq!(
        a.event(&key, "add_todo", json!({"text": "after"})).await["status"],
        "ok"
    );
}

#[actix_rt::test]
async fn stop_of_a_key_with_no_live_session_does_nothing() {
    let (server, store) = start_demo(Config::default());
    let key = new_key();
    assert!(!handle(&server, &key).stop().await.unwrap());
    assert_eq!(server.hub.stats().await.unwrap().sessions, 0);
    assert!(store.is_empty());
}

#[actix_rt::test]
async fn stop_stops_a_session_with_a_running_task_and_its_tab_rejoins() {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = Client::connect(&server, "a").await;
    a.join(&key, None).await;
    let job = json!({"key": "j", "steps": 10_000, "step_ms": 5});
    assert_eq!(a.event(&key, "start_job", job).await["status"], "ok");
    a.wait_event(&topic, "task").await;

    assert!(handle(&server, &key).stop().await.unwrap());
    a.wait_event(&topic, "phx_error").await;
    assert_eq!(server.hub.stats().await.unwrap().sessions, 0);
    let response = a.join(&key, None).await;
    assert_eq!(response["resume"], "snapshot");
}

#[actix_rt::test]
async fn delete_sends_tabs_to_rejoin_and_they_start_over_in_a_new_epoch() {
    let (server, store) = start_demo(Config::default());
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = Client::connect(&server, "a").await;
    let mut b = Client::connect(&server, "b").await;
    let (mut m, first) = a.join_mirror(&key, None).await;
    b.join(&key, None).await;
    a.event(&key, "add_todo", json!({"text": "gone soon"}))
        .await;
    a.catch_up(&key, &mut m, 1).await;

    let deleted = handle(&server, &key).delete().await.unwrap();
    assert!(!deleted, "never saved: the store held nothing of it");
    a.wait_event(&topic, "phx_error").await;
    b.wait_event(&topic, "phx_error").await;
    assert!(store.is_empty(), "nothing was saved on the way out");

    // The old cursor names an epoch that no longer exists: a snapshot of
    // the initial state.
    let response = a.join(&key, Some(m.cursor())).await;
    assert_eq!(response["resume"], "snapshot");
    assert_eq!(response["seq"], 0);
    assert_eq!(response["state"]["todos"], json!([]));
    assert_ne!(response["epoch"], first["epoch"]);
    let again = a.event(&key, "add_todo", json!({"text": "new"})).await;
    assert_eq!(again["response"]["seq"], 1);
}

#[actix_rt::test]
async fn delete_of_a_stopped_session_removes_it_from_the_store() {
    let (server, store) = start_demo({
        let mut config = Config::default();
        config.grace = Duration::from_millis(20);
        config
    });
    let key = new_key();
    let h = handle(&server, &key);
    let add = DemoEvent::AddTodo {
        text: "saved".into(),
    };
    assert_eq!(h.submit("e1", add).await.unwrap(), Outcome::ok(1, None));
    until_no_session(&server.hub).await;
    let parsed = SessionKey::parse(&key).unwrap();
    assert_eq!(store.load(&parsed).unwrap().map(|s| s.seq), Some(1));

    assert!(h.delete().await.unwrap(), "the store held it");
    assert!(store.load(&parsed).unwrap().is_none());
    assert!(!h.delete().await.unwrap(), "nothing left to delete");

    // Reached again, it is a new session: the initial state at seq 0, and
    // the old event id is forgotten with it.
    let view = h.state().await.unwrap();
    assert_eq!((view.seq, view.state.todos.len()), (0, 0));
    let add = DemoEvent::AddTodo {
        text: "anew".into(),
    };
    assert_eq!(h.submit("e1", add).await.unwrap(), Outcome::ok(1, None));
}

/// A memory store whose deletes wait at a gate the test opens, telling it
/// first that one has begun.
struct GatedDeletes {
    inner: MemoryStore,
    begun: Mutex<SyncSender<()>>,
    gate: Mutex<Receiver<()>>,
}

impl Store for GatedDeletes {
    fn load(&self, key: &SessionKey) -> Result<Option<SavedSession>, StoreError> {
        self.inner.load(key)
    }
    fn save(&self, key: &SessionKey, session: &SavedSession) -> Result<(), StoreError> {
        self.inner.save(key, session)
    }
    fn delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let _ = self.begun.lock().unwrap().send(());
        let _ = self.gate.lock().unwrap().recv();
        self.inner.delete(key)
    }
}

#[actix_rt::test]
async fn calls_made_while_a_delete_runs_wait_for_it_and_see_the_fresh_session() {
    let (begun_tx, begun_rx) = sync_channel(1);
    let (gate_tx, gate_rx) = sync_channel(1);
    let store = Arc::new(GatedDeletes {
        inner: MemoryStore::new(),
        begun: Mutex::new(begun_tx),
        gate: Mutex::new(gate_rx),
    });
    let server = start_server(Demo::default(), Config::default(), store);
    let key = new_key();
    let h = handle(&server, &key);
    for i in 0..5 {
        let add = DemoEvent::AddTodo {
            text: format!("t{i}"),
        };
        h.submit(&format!("e{i}"), add).await.unwrap();
    }
    let deleting = actix_rt::spawn({
        let h = h.clone();
        async move { h.delete().await }
    });
    // The key is fenced while the store deletes it.
    tokio::task::spawn_blocking(move || begun_rx.recv())
        .await
        .unwrap()
        .unwrap();
    let reading = actix_rt::spawn({
        let h = h.clone();
        async move { h.state().await }
    });
    let mut a = Client::connect(&server, "a").await;
    let join = a.send_join(&key, json!({"cursor": null})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!reading.is_finished(), "a read waits for the delete");
    assert!(a.drain_buffer().is_empty(), "a join waits for the delete");
    gate_tx.send(()).unwrap();

    deleting.await.unwrap().unwrap();
    let view = reading.await.unwrap().unwrap();
    assert_eq!((view.seq, view.state.todos.len()), (0, 0));
    let joined = a.reply(&join).await;
    assert_eq!(joined["response"]["seq"], 0, "{joined}");
}
