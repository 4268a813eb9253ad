//! Handlers may await (a database, an HTTP call): the session still handles
//! one event at a time in arrival order, other sessions go on meanwhile,
//! and a handler that runs past `--handler-timeout-ms` fails with
//! `handler_error` and changes nothing.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{new_key, start_demo, Client};
use serde_json::json;
use tabhub::Config;

#[actix_rt::test]
async fn events_keep_their_arrival_order_while_a_handler_awaits_and_other_sessions_go_on() {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = Client::connect(&server, "a").await;
    let mut b = Client::connect(&server, "b").await;
    let (mut ma, _) = a.join_mirror(&key, None).await;
    let (mut mb, _) = b.join_mirror(&key, None).await;
    a.wait_event(&topic, "tabs").await;

    let slow = a
        .push(
            &topic,
            "event",
            json!({"id": "slow", "name": "add_todo_after", "payload": {"text": "first", "delay_ms": 300}}),
        )
        .await;
    // Make sure the slow event is in the session before the fast one.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let fast = b
        .push(
            &topic,
            "event",
            json!({"id": "fast", "name": "add_todo", "payload": {"text": "second"}}),
        )
        .await;

    // Another session is served while the first one's handler awaits.
    let other = new_key();
    let mut c = Client::connect(&server, "c").await;
    c.join(&other, None).await;
    let r = c
        .event(&other, "add_todo", json!({"text": "elsewhere"}))
        .await;
    assert_eq!(r["response"]["seq"], 1);
    let pending: Vec<String> = a.drain_buffer().into_iter().map(|m| m.event).collect();
    assert!(
        !pending.contains(&"delta".to_owned()),
        "the slow handler has not finished yet: {pending:?}"
    );

    assert_eq!(a.reply(&slow).await["response"]["seq"], 1);
    assert_eq!(b.reply(&fast).await["response"]["seq"], 2);
    a.catch_up(&key, &mut ma, 2).await;
    b.catch_up(&key, &mut mb, 2).await;
    for m in [&ma, &mb] {
        assert_eq!(
            m.todo_texts(),
            ["first", "second"],
            "arrival order, on every tab"
        );
    }
}

#[actix_rt::test]
async fn a_handler_past_the_timeout_fails_with_handler_error_and_changes_nothing() {
    let (server, _store) = start_demo({
        let mut config = Config::default();
        config.handler_timeout = Duration::from_millis(200);
        config
    });
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = Client::connect(&server, "a").await;
    let (mut m, _) = a.join_mirror(&key, None).await;
    let r = a
        .event(
            &key,
            "add_todo_after",
            json!({"text": "too late", "delay_ms": 3000}),
        )
        .await;
    assert_eq!(r["status"], "error", "{r}");
    assert_eq!(r["response"]["reason"], "handler_error");
    assert!(
        r["response"]["message"]
            .as_str()
            .unwrap()
            .contains("ran past its 200 ms limit"),
        "{r}"
    );
    let next = a.event(&key, "add_todo", json!({"text": "on time"})).await;
    assert_eq!(
        next["response"]["seq"], 1,
        "the timed-out event made no delta"
    );
    a.catch_up(&key, &mut m, 1).await;
    assert_eq!(m.state["todos"].as_array().unwrap().len(), 1);
    let late: Vec<String> = a
        .drain_buffer()
        .into_iter()
        .filter(|m| m.topic == topic && m.event == "delta")
        .map(|m| m.payload.to_string())
        .collect();
    assert!(late.is_empty(), "no delta of the timed-out event: {late:?}");
}
