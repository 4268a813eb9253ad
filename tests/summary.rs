//! Summary joins (docs/protocol.md section 5.8 (summary joins)): a page
//! watching many sessions gets each one's summary and its changes, nothing
//! else; a summary join is not a tab and neither starts nor keeps alive a
//! session.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{eventually, new_key, start_demo, Client};
use serde_json::{json, Value};
use tabhub::{Config, HubStats};

async fn summary_join(client: &mut Client, key: &str) -> Value {
    let r = client.join_with(key, json!({"mode": "summary"})).await;
    assert_eq!(r["status"], "ok", "{r}");
    r["response"].clone()
}

async fn next_summary(client: &mut Client, key: &str) -> Value {
    client
        .wait_event(&format!("session:{key}"), "summary")
        .await
        .payload["summary"]
        .clone()
}

#[actix_rt::test]
async fn a_summary_join_gets_the_summary_and_its_changes_and_nothing_else() {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let mut tab = Client::connect(&server, "tab").await;
    tab.join(&key, None).await;
    tab.event(&key, "add_todo", json!({"text": "one"})).await;

    let mut watcher = Client::connect(&server, "watcher").await;
    let r = summary_join(&mut watcher, &key).await;
    assert_eq!(
        r,
        json!({"tab_id": "watcher", "summary": {"todos": 1, "open": 1, "jobs_running": 0}})
    );

    let r = tab.event(&key, "add_todo", json!({"text": "two"})).await;
    assert_eq!(r["status"], "ok");
    assert_eq!(
        next_summary(&mut watcher, &key).await,
        json!({"todos": 2, "open": 2, "jobs_running": 0})
    );
    tab.event(&key, "toast", json!({"text": "only for tabs"}))
        .await;
    let r = tab
        .event(
            &key,
            "start_job",
            json!({"key": "j", "steps": 1, "step_ms": 1}),
        )
        .await;
    assert_eq!(r["status"], "ok");
    assert_eq!(next_summary(&mut watcher, &key).await["jobs_running"], 1);
    assert_eq!(next_summary(&mut watcher, &key).await["jobs_running"], 0);
    let seen: Vec<String> = watcher
        .drain_buffer()
        .into_iter()
        .map(|m| m.event)
        .collect();
    assert!(
        seen.iter().all(|e| e == "summary"),
        "a summary join gets only summaries: {seen:?}"
    );

    // Not a tab: a second tab sees a count of 2 with the watcher connected.
    let mut second = Client::connect(&server, "second").await;
    assert_eq!(second.join(&key, None).await["tabs"], 2);
}

#[actix_rt::test]
async fn a_push_on_a_summary_join_gets_summary_only_and_leave_works() {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let topic = format!("session:{key}");
    let mut watcher = Client::connect(&server, "watcher").await;
    summary_join(&mut watcher, &key).await;
    let r = watcher.event(&key, "add_todo", json!({"text": "x"})).await;
    assert_eq!(r["response"]["reason"], "summary_only");
    let r = watcher
        .push(&topic, "visibility", json!({"visibility": "hidden"}))
        .await;
    assert_eq!(
        watcher.reply(&r).await["response"]["reason"],
        "summary_only"
    );
    let r = watcher.push(&topic, "phx_leave", json!({})).await;
    assert_eq!(watcher.reply(&r).await["status"], "ok");
    assert_eq!(server.hub.stats().await.unwrap().summary_joins, 0);
}

#[actix_rt::test]
async fn a_summary_join_neither_starts_nor_keeps_alive_a_session_and_is_served_from_the_store() {
    let mut config = Config::default();
    config.grace = Duration::from_millis(50);
    let (server, store) = start_demo(config);
    let key = new_key();

    // A key never seen: summary null, no session started.
    let mut watcher = Client::connect(&server, "watcher").await;
    assert_eq!(
        summary_join(&mut watcher, &key).await["summary"],
        Value::Null
    );
    assert_eq!(
        server.hub.stats().await.unwrap(),
        HubStats {
            connections: 1,
            summary_joins: 1,
            ..HubStats::default()
        }
    );

    // A tab starts the session, changes it and leaves: the watcher does
    // not keep the session alive past its grace time.
    let mut tab = Client::connect(&server, "tab").await;
    tab.join(&key, None).await;
    tab.event(&key, "add_todo", json!({"text": "saved"})).await;
    assert_eq!(next_summary(&mut watcher, &key).await["todos"], 1);
    drop(tab);
    eventually("the session to be stopped and saved", async || {
        !store.is_empty()
    })
    .await;
    assert_eq!(server.hub.stats().await.unwrap().sessions, 0);

    // A new summary join is served the saved summary without a start.
    let mut late = Client::connect(&server, "late").await;
    assert_eq!(summary_join(&mut late, &key).await["summary"]["todos"], 1);
    assert_eq!(server.hub.stats().await.unwrap().sessions, 0);

    // When a tab starts the session again, both watchers hear of changes.
    let mut tab = Client::connect(&server, "tab2").await;
    tab.join(&key, None).await;
    tab.event(&key, "add_todo", json!({"text": "more"})).await;
    assert_eq!(next_summary(&mut watcher, &key).await["todos"], 2);
    assert_eq!(next_summary(&mut late, &key).await["todos"], 2);
}

#[actix_rt::test]
async fn switching_a_topic_from_full_to_summary_leaves_the_session_as_a_tab() {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = Client::connect(&server, "a").await;
    let mut b = Client::connect(&server, "b").await;
    a.join(&key, None).await;
    b.join(&key, None).await;
    assert_eq!(a.wait_event(&topic, "tabs").await.payload["tabs"], 2);
    let r = summary_join(&mut b, &key).await;
    assert_eq!(r["summary"], Value::Null);
    assert_eq!(a.wait_event(&topic, "tabs").await.payload["tabs"], 1);
    a.event(&key, "add_todo", json!({"text": "x"})).await;
    assert_eq!(next_summary(&mut b, &key).await["todos"], 1);
    let seen: Vec<String> = b.drain_buffer().into_iter().map(|m| m.event).collect();
    assert!(!seen.contains(&"delta".to_owned()), "{seen:?}");
    // And back to full: a snapshot, as a new tab.
    let r = b.join(&key, None).await;
    assert_eq!(r["resume"], "snapshot");
    assert_eq!(r["tabs"], 2);
}
