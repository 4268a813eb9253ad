//! Faults stay local: when the durable store refuses one session's steps,
//! only that session's tabs are told to rejoin; other sessions committed
//! in the same batches carry on without a hitch. When the store takes the
//! key's steps again, the session reloads and accepts events by itself,
//! and nothing acknowledged is lost.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::node::TempDir;
use common::stores::FailsFor;
use common::{new_key, start_server, Client, WAIT};
use serde_json::{json, Value};
use tabhub::demo::Demo;
use tabhub::Config;

/// Pushes `add_todo {text}`; the reply, or `None` if the join was dropped
/// first (`phx_error`) and no reply came.
async fn add(tab: &mut Client, key: &str, text: &str) -> Option<Value> {
    let topic = format!("session:{key}");
    let r = tab
        .push(
            &topic,
            "event",
            json!({"id": text, "name": "add_todo", "payload": {"text": text}}),
        )
        .await;
    let r2 = r.clone();
    let t2 = topic.clone();
    let m = tab
        .wait_for(move |m| {
            (m.event == "phx_reply" && m.reference.as_deref() == Some(&r2))
                || (m.event == "phx_error" && m.topic == t2)
        })
        .await;
    (m.event == "phx_reply").then_some(m.payload)
}

/// Joins until the join is accepted (a failed session may refuse joins
/// with `store_error` until it is replaced).
async fn rejoin(tab: &mut Client, key: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let reply = tab.join_with(key, json!({"cursor": null})).await;
        if reply["status"] == "ok" {
            return reply["response"].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never rejoined: {reply}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_rt::test]
async fn one_sessions_failing_steps_never_fail_anothers_and_it_recovers_by_itself() {
    let dir = TempDir::new("tabhub-faults");
    let store = Arc::new(FailsFor::open(&dir.0));
    let mut config = Config::default();
    // Batches gather steps of both sessions.
    config.commit_window = Duration::from_millis(2);
    let server = start_server(Demo::default(), config, store.clone());
    let (ka, kb) = (new_key(), new_key());
    let mut ta = Client::connect(&server, "ta").await;
    let mut tb = Client::connect(&server, "tb").await;
    ta.join(&ka, None).await;
    tb.join(&kb, None).await;
    let mut acked: HashMap<&str, Vec<String>> = HashMap::new();

    for round in 0..60 {
        if round == 20 {
            *store.key.lock().unwrap() = Some(ka.clone());
        }
        if round == 40 {
            *store.key.lock().unwrap() = None;
        }
        // Both sessions push in the same instant, so their steps share
        // commits.
        let (ra, rb) = (format!("a{round}"), format!("b{round}"));
        let topic_b = format!("session:{kb}");
        let pb = tb
            .push(
                &topic_b,
                "event",
                json!({"id": rb, "name": "add_todo", "payload": {"text": rb}}),
            )
            .await;
        match add(&mut ta, &ka, &ra).await {
            Some(reply) if reply["status"] == "ok" => acked.entry("a").or_default().push(ra),
            Some(reply) => panic!("a refused: {reply}"),
            None => {
                assert!(
                    (20..40).contains(&round) || round == 40,
                    "a failed at round {round}"
                );
                rejoin(&mut ta, &ka).await;
            }
        }
        let reply = tb.reply(&pb).await;
        assert_eq!(
            reply["status"], "ok",
            "b never fails (round {round}): {reply}"
        );
        acked.entry("b").or_default().push(rb);
    }
    assert!(
        tb.drain_buffer().iter().all(|m| m.event != "phx_error"),
        "b was never told to rejoin"
    );
    assert!(
        acked["a"].len() >= 39,
        "a accepted events again: {:?}",
        acked["a"].len()
    );

    // Everything acknowledged is in each state, nothing else of a's.
    let state_a = rejoin(&mut ta, &ka).await;
    let texts = |state: &Value| -> Vec<String> {
        state["state"]["todos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["text"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(texts(&state_a), acked["a"]);
    let state_b = tb.join(&kb, None).await;
    assert_eq!(texts(&state_b), acked["b"]);
}
