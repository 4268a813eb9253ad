//! Durable before visible: with a durable store, no tab sees a delta and no
//! event is acknowledged before the store has written its step; events keep
//! being handled while a commit is in flight; a store failure makes tabs
//! rejoin (the session restarts from the store).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::stores::GatedStore;
use common::{new_key, start_server, Client};
use serde_json::json;
use tabhub::demo::Demo;
use tabhub::{Config, MemoryStore, SavedSession, SessionKey, Store, StoreError};

/// Reads for `ms` and returns every message event seen (none expected).
async fn quiet_for(client: &mut Client, ms: u64) -> Vec<String> {
    let mut seen = Vec::new();
    while let Ok(m) = tokio::time::timeout(Duration::from_millis(ms), client.next_msg()).await {
        seen.push(m.event);
    }
    seen
}

#[actix_rt::test]
async fn no_delta_and_no_reply_is_visible_before_the_step_is_written() {
    let store = Arc::new(GatedStore::default());
    store.set_open(true);
    let server = start_server(Demo::default(), Config::default(), store.clone());
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = Client::connect(&server, "a").await;
    let mut b = Client::connect(&server, "b").await;
    a.join(&key, None).await;
    b.join(&key, None).await;
    a.wait_event(&topic, "tabs").await;

    store.set_open(false);
    let r = a
        .push(
            &topic,
            "event",
            json!({"id": "e1", "name": "add_todo", "payload": {"text": "durable"}}),
        )
        .await;
    assert!(
        quiet_for(&mut a, 300).await.is_empty(),
        "nothing before the commit"
    );
    assert!(
        quiet_for(&mut b, 50).await.is_empty(),
        "nothing before the commit"
    );
    store.set_open(true);
    let d = a.next_msg().await;
    assert_eq!(
        (d.event.as_str(), d.payload["seq"].as_u64()),
        ("delta", Some(1))
    );
    assert_eq!(
        a.reply(&r).await,
        json!({"status": "ok", "response": {"seq": 1}})
    );
    assert_eq!(b.wait_event(&topic, "delta").await.payload["seq"], 1);

    let batches = store.batches.lock().unwrap().clone();
    let step = batches
        .iter()
        .flatten()
        .find(|s| s.event.as_ref().is_some_and(|(id, _)| id == "e1"))
        .unwrap();
    assert_eq!(step.seq, 1);
    assert_eq!(
        step.deltas.iter().map(|d| d.seq).collect::<Vec<_>>(),
        vec![1]
    );
    assert!(
        step.checkpoint.is_none(),
        "the key was on record before the event"
    );
    let first = batches.iter().flatten().next().unwrap();
    assert_eq!((first.seq, first.deltas.len()), (0, 0));
    assert!(
        first.checkpoint.is_some(),
        "a new key's first step, written before its join reply, carries its initial state"
    );
}

#[actix_rt::test]
async fn events_keep_being_handled_while_a_commit_is_in_flight_and_commits_group() {
    let store = Arc::new(GatedStore::default());
    let server = start_server(Demo::default(), Config::default(), store.clone());
    let (k1, k2) = (new_key(), new_key());
    let mut a = Client::connect(&server, "a").await;
    let mut b = Client::connect(&server, "b").await;
    store.set_open(true);
    a.join(&k1, None).await;
    b.join(&k2, None).await;
    // Each new key's first step (written before its join reply) is done.
    store.batches.lock().unwrap().clear();
    store.set_open(false);
    // The gate holds the first commit; the sessions go on handling.
    let mut refs = Vec::new();
    for i in 0..5 {
        refs.push(
            a.push(
                &format!("session:{k1}"),
                "event",
                json!({"id": format!("a{i}"), "name": "add_todo", "payload": {"text": "x"}}),
            )
            .await,
        );
    }
    let rb = b
        .push(
            &format!("session:{k2}"),
            "event",
            json!({"id": "b0", "name": "add_todo", "payload": {"text": "y"}}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    store.set_open(true);
    for (i, r) in refs.iter().enumerate() {
        assert_eq!(a.reply(r).await["response"]["seq"], i + 1);
    }
    assert_eq!(b.reply(&rb).await["response"]["seq"], 1);
    let batches = store.batches.lock().unwrap().clone();
    let steps: usize = batches.iter().map(Vec::len).sum();
    assert_eq!(steps, 6);
    assert!(
        batches.len() < 6,
        "steps that arrived during a commit share the next one ({} batches)",
        batches.len()
    );
    assert!(
        batches
            .iter()
            .any(|b| b.iter().any(|s| s.key.as_str() == k1)
                && b.iter().any(|s| s.key.as_str() == k2)),
        "one batch holds steps of both sessions"
    );
}

#[actix_rt::test]
async fn when_the_store_fails_the_step_is_never_visible_and_tabs_are_told_to_rejoin() {
    let store = Arc::new(GatedStore::default());
    store.set_open(true);
    let server = start_server(Demo::default(), Config::default(), store.clone());
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = Client::connect(&server, "a").await;
    let (mut m, _) = a.join_mirror(&key, None).await;
    assert_eq!(
        a.event(&key, "add_todo", json!({"text": "kept"})).await["status"],
        "ok"
    );
    a.catch_up(&key, &mut m, 1).await;

    *store.fail.lock().unwrap() = true;
    a.push(
        &topic,
        "event",
        json!({"id": "lost", "name": "add_todo", "payload": {"text": "lost"}}),
    )
    .await;
    let err = a.wait_event(&topic, "phx_error").await;
    assert_eq!(err.topic, topic);
    let seen: Vec<String> = a.drain_buffer().into_iter().map(|m| m.event).collect();
    assert!(
        !seen.contains(&"delta".to_owned()),
        "the failed step was never visible: {seen:?}"
    );
    // The session restarted from the store; the rejoin is answered.
    *store.fail.lock().unwrap() = false;
    let r = a.join_with(&key, json!({"cursor": m.cursor()})).await;
    assert_eq!(r["status"], "ok", "{r}");
}

#[actix_rt::test]
async fn a_summary_join_is_answered_also_for_a_session_that_stopped_after_a_store_failure() {
    let store = Arc::new(GatedStore::default());
    store.set_open(true);
    let server = start_server(Demo::default(), Config::default(), store.clone());
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = Client::connect(&server, "a").await;
    a.join(&key, None).await;
    *store.fail.lock().unwrap() = true;
    a.push(
        &topic,
        "event",
        json!({"id": "lost", "name": "add_todo", "payload": {"text": "lost"}}),
    )
    .await;
    // Summary joins race the failure: each one is answered, by the session
    // or from the store, or (if its reply was held for the failed step)
    // told to rejoin, and its rejoin is answered.
    let mut w = Client::connect(&server, "w").await;
    for _ in 0..5 {
        let r = w.send_join(&key, json!({"mode": "summary"})).await;
        let got = w
            .wait_for(|m| {
                m.join_ref.as_deref() == Some(&r)
                    && (m.event == "phx_error" || m.reference.as_deref() == Some(&r))
            })
            .await;
        let reply = if got.event == "phx_error" {
            w.join_with(&key, json!({"mode": "summary"})).await
        } else {
            got.payload
        };
        assert_eq!(reply["status"], "ok", "{reply}");
        assert_eq!(reply["response"]["tab_id"], "w");
    }
    a.wait_event(&topic, "phx_error").await;
    let r = w.join_with(&key, json!({"mode": "summary"})).await;
    assert_eq!(r["status"], "ok", "{r}");
}

/// A store in which one key's record cannot be read.
struct OneBadKey {
    inner: MemoryStore,
    bad: SessionKey,
}

impl Store for OneBadKey {
    fn load(&self, key: &SessionKey) -> Result<Option<SavedSession>, StoreError> {
        if key == &self.bad {
            return Err(StoreError::corrupt("meta of this key does not decode").for_key(key));
        }
        self.inner.load(key)
    }
    fn save(&self, key: &SessionKey, session: &SavedSession) -> Result<(), StoreError> {
        self.inner.save(key, session)
    }
}

#[actix_rt::test]
async fn an_unreadable_key_gets_store_error_and_every_other_session_carries_on() {
    let bad = new_key();
    let store = Arc::new(OneBadKey {
        inner: MemoryStore::new(),
        bad: SessionKey::parse(&bad).unwrap(),
    });
    let server = start_server(Demo::default(), Config::default(), store);
    let good = new_key();
    let mut a = Client::connect(&server, "a").await;
    a.join(&good, None).await;
    let r = a.join_with(&bad, json!({"cursor": null})).await;
    assert_eq!(r["status"], "error");
    assert_eq!(r["response"]["reason"], "store_error");
    let r = a.event(&good, "add_todo", json!({"text": "fine"})).await;
    assert_eq!(r, json!({"status": "ok", "response": {"seq": 1}}));
    let mut b = Client::connect(&server, "b").await;
    assert_eq!(b.join(&good, None).await["seq"], 1);
}

#[actix_rt::test]
async fn server_codes_calls_are_answered_only_once_their_step_is_durable() {
    let store = Arc::new(GatedStore::default());
    store.set_open(true);
    let server = start_server(Demo::default(), Config::default(), store.clone());
    let key = SessionKey::parse(&new_key()).unwrap();
    let handle = server.hub.session(&key);
    handle.state().await.unwrap();

    store.set_open(false);
    let submitted = actix_rt::spawn({
        let handle = handle.clone();
        async move {
            let event = tabhub::demo::DemoEvent::AddTodo {
                text: "held".into(),
            };
            handle.submit("e1", event).await
        }
    });
    // The event is handled first (its step waits at the gate), so it is
    // seq 1 and the pushed change seq 2.
    store.wait_arrival_of("e1").await;
    let pushed = actix_rt::spawn({
        let handle = handle.clone();
        async move {
            let patch = serde_json::from_value(
                json!([{"op": "replace", "path": "/chain_count", "value": 7}]),
            );
            handle
                .change_state(tabhub::StateChange::Patch(patch.unwrap()))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !submitted.is_finished(),
        "an event is not acknowledged before its step is on disk"
    );
    assert!(!pushed.is_finished(), "nor is a pushed change");

    store.set_open(true);
    let outcome = submitted.await.unwrap().unwrap();
    assert_eq!(outcome, tabhub::Outcome::ok(1, None));
    assert_eq!(pushed.await.unwrap(), Ok(2));
}
