//! A session lives while it has tabs or running tasks; after the grace time
//! it is saved and stopped, and a later join resumes it with nothing lost
//! and a seq that never goes back. Shutdown closes tabs with 1012 and saves.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{eventually, new_key, start_demo, start_server, Client, Mirror, WAIT};
use serde_json::json;
use tabhub::demo::Demo;
use tabhub::{Config, MemoryStore, SessionKey, Store};

fn short_grace() -> Config {
    let mut config = Config::default();
    config.grace = Duration::from_millis(100);
    config
}

/// Polls the store until `key` is saved (the session stopped).
async fn saved(store: &dyn Store, key: &str) -> tabhub::SavedSession {
    let key = SessionKey::parse(key).unwrap();
    let mut saved = None;
    eventually("the session to be saved", async || {
        saved = store.load(&key).unwrap();
        saved.is_some()
    })
    .await;
    saved.expect("eventually returns once it is saved")
}

async fn session_with_two_todos(client: &mut Client, key: &str) -> Mirror {
    let (mut m, _) = client.join_mirror(key, None).await;
    client.event(key, "add_todo", json!({"text": "one"})).await;
    client.event(key, "add_todo", json!({"text": "two"})).await;
    client.catch_up(key, &mut m, 2).await;
    m
}

#[actix_rt::test]
async fn after_the_last_tab_leaves_and_the_grace_time_the_session_is_saved_and_resumes_by_replay() {
    let (server, store) = start_demo(short_grace());
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    let (mut at_one, _) = a.join_mirror(&key, None).await;
    a.event(&key, "add_todo", json!({"text": "one"})).await;
    a.catch_up(&key, &mut at_one, 1).await;
    let mut at_two = at_one.clone();
    a.event(&key, "add_todo", json!({"text": "two"})).await;
    a.catch_up(&key, &mut at_two, 2).await;
    drop(a);

    let s = saved(&*store, &key).await;
    assert_eq!(s.seq, 2);
    assert_eq!(s.state, at_two.state);

    // This store keeps the journal: same epoch, cursors replay.
    let mut b = Client::connect(&server, "b").await;
    let r = b.join(&key, Some(at_one.cursor())).await;
    assert_eq!(r["resume"], "replay");
    assert_eq!(r["epoch"].as_str(), Some(at_one.epoch.as_str()));
    at_one.apply_join(&r);
    assert_eq!(at_one.state, at_two.state);
    let r = b.event(&key, "add_todo", json!({"text": "three"})).await;
    assert_eq!(r["response"]["seq"], 3, "seq goes on from where it was");
}

#[actix_rt::test]
async fn a_store_without_the_journal_resumes_by_snapshot_under_a_new_epoch_with_seq_kept() {
    let store = Arc::new(MemoryStore::state_only());
    let server = start_server(Demo::default(), short_grace(), store.clone());
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    let m = session_with_two_todos(&mut a, &key).await;
    drop(a);
    saved(&*store, &key).await;

    let mut b = Client::connect(&server, "b").await;
    let r = b.join(&key, Some(m.cursor())).await;
    assert_eq!(r["resume"], "snapshot");
    assert_ne!(r["epoch"].as_str(), Some(m.epoch.as_str()), "a new epoch");
    assert_eq!(r["seq"], 2, "seq never goes back");
    assert_eq!(r["state"], m.state);
}

#[actix_rt::test]
async fn a_join_during_the_grace_time_keeps_the_session_alive() {
    let mut config = Config::default();
    config.grace = Duration::from_millis(300);
    let (server, store) = start_demo(config);
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    let m = session_with_two_todos(&mut a, &key).await;
    let topic = format!("session:{key}");
    let leave = a.push(&topic, "phx_leave", json!({})).await;
    a.reply(&leave).await;
    let r = a.join(&key, Some(m.cursor())).await;
    assert_eq!(r["resume"], "current");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(store.is_empty(), "a joined session is not stopped");
}

#[actix_rt::test]
async fn a_running_task_keeps_the_session_alive_past_the_grace_time() {
    let (server, store) = start_demo(short_grace());
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    a.join(&key, None).await;
    let r = a
        .event(
            &key,
            "start_job",
            json!({"key": "bg", "steps": 5, "step_ms": 60}),
        )
        .await;
    assert_eq!(r["status"], "ok");
    drop(a);
    // The job needs ~300 ms; the session may only stop after it ended.
    let s = saved(&*store, &key).await;
    assert_eq!(
        s.state["jobs"]["bg"],
        json!({"progress": 5, "steps": 5, "status": "done"})
    );
}

#[actix_rt::test]
async fn the_grace_time_starts_afresh_when_the_last_task_ends_with_no_tab_joined() {
    // docs/protocol.md section 12.1 (lifetime): the last tab leaving arms
    // the grace timer; the last task ending later re-arms it, so the
    // session lives for a whole grace time after the task's end, not after
    // the tab's leave.
    let mut config = Config::default();
    config.grace = Duration::from_millis(1000);
    let (server, store) = start_demo(config);
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    a.join(&key, None).await;
    let r = a
        .event(
            &key,
            "start_job",
            json!({"key": "bg", "steps": 6, "step_ms": 100}),
        )
        .await;
    assert_eq!(r["status"], "ok");
    let topic = format!("session:{key}");
    let leave = a.push(&topic, "phx_leave", json!({})).await;
    a.reply(&leave).await;
    let left = std::time::Instant::now();
    // The job ends ~600 ms after the leave; the first timer would stop the
    // session at ~1000 ms, the re-armed one at ~1600 ms.
    tokio::time::sleep(Duration::from_millis(1300).saturating_sub(left.elapsed())).await;
    assert_eq!(
        server.hub.stats().await.unwrap().sessions,
        1,
        "the session outlives the grace time counted from the leave"
    );
    assert!(store.is_empty(), "and was not saved and stopped yet");
    let s = saved(&*store, &key).await;
    assert_eq!(s.state["jobs"]["bg"]["status"], "done");
}

#[actix_rt::test]
async fn shutdown_closes_every_tab_with_1012_and_saves_every_session() {
    let (server, store) = start_demo(Config::default());
    let (k1, k2) = (new_key(), new_key());
    let mut a = Client::connect(&server, "a").await;
    let mut b = Client::connect(&server, "b").await;
    let ma = session_with_two_todos(&mut a, &k1).await;
    let mb = session_with_two_todos(&mut b, &k2).await;
    let idle = Client::connect(&server, "idle").await;

    server.hub.shutdown().await;
    assert_eq!(a.expect_close().await, 1012);
    assert_eq!(b.expect_close().await, 1012);
    let mut idle = idle;
    assert_eq!(
        idle.expect_close().await,
        1012,
        "connections without joins are closed too"
    );
    for (key, m) in [(&k1, &ma), (&k2, &mb)] {
        let s = store
            .load(&SessionKey::parse(key).unwrap())
            .unwrap()
            .expect("saved at shutdown");
        assert_eq!((s.seq, &s.state), (m.seq, &m.state));
    }
}

#[actix_rt::test]
async fn every_join_close_takeover_and_timeout_is_unregistered_so_nothing_leaks() {
    let mut config = short_grace();
    config.client_timeout = Duration::from_millis(300);
    let (server, _store) = start_demo(config);
    let keys: Vec<String> = (0..5).map(|_| new_key()).collect();
    let mut clients = Vec::new();
    for (i, key) in keys.iter().cycle().take(20).enumerate() {
        let mut c = Client::connect(&server, &format!("t{i}")).await;
        c.join(key, None).await;
        clients.push(c);
    }
    // One takeover, one leave, one silent connection, the rest just close.
    let mut again = Client::connect(&server, "t0").await;
    again.join(&keys[0], None).await;
    let stats = server.hub.stats().await.unwrap();
    assert_eq!((stats.sessions, stats.tabs), (5, 20));
    let topic = format!("session:{}", keys[1]);
    let leave = clients[1].push(&topic, "phx_leave", json!({})).await;
    clients[1].reply(&leave).await;
    let silent = clients.pop();
    drop(clients);
    drop(again);

    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let stats = server.hub.stats().await.unwrap();
        if stats == tabhub::HubStats::default() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still registered: {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(silent);
}
