//! Every client-controlled value tabhub keeps is bounded: ids, names, task
//! keys, join params and JSON depth get `invalid_payload` past their bound
//! (routing members past theirs close with 1007), pending chains are
//! capped and paced, and a slow disk pushes back on tabs (`queue_full`).
//! A bystander tab of the same session carries on through all of it.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::stores::GatedStore;
use common::{
    bystander_unaffected, new_key, start_demo, start_server, with_bystander, Client, Msg,
};
use serde_json::{json, Value};
use tabhub::demo::Demo;
use tabhub::Config;

fn reason(reply: &Value) -> &str {
    reply["response"]["reason"].as_str().unwrap_or_default()
}

#[actix_rt::test]
async fn ids_names_and_task_keys_longer_than_their_bound_get_invalid_payload() {
    let (server, key, mut b) = with_bystander(Config::default()).await;
    let topic = format!("session:{key}");
    let mut a = Client::connect(&server, "attacker").await;
    a.join(&key, None).await;
    let long = "x".repeat(129);
    let exact = "y".repeat(128);

    let r = a
        .event_with_id(&key, &long, "add_todo", json!({"text": "t"}))
        .await;
    assert_eq!(reason(&r), "invalid_payload", "{r}");
    assert!(r["response"]["message"]
        .as_str()
        .unwrap()
        .contains("at most 128"));
    let r = a.event(&key, &long, json!({})).await;
    assert_eq!(reason(&r), "invalid_payload", "{r}");
    let chained = json!({"id": "c", "name": "chain_step", "payload": {"n": 1}, "chain": long});
    let r = a.push(&topic, "event", chained).await;
    assert_eq!(reason(&a.reply(&r).await), "invalid_payload");
    let r = a.push(&topic, "cancel", json!({"task": long})).await;
    assert_eq!(reason(&a.reply(&r).await), "invalid_payload");
    // A task key the app takes from the client is bounded too.
    let job = json!({"key": long, "steps": 1, "step_ms": 1});
    let r = a.event(&key, "start_job", job).await;
    assert_eq!(reason(&r), "handler_error", "{r}");

    // At the bound it is accepted.
    let r = a
        .event_with_id(&key, &exact, "add_todo", json!({"text": "ok"}))
        .await;
    assert_eq!(r["status"], "ok", "{r}");
    bystander_unaffected(&mut b, &key, 3).await;
}

#[actix_rt::test]
async fn join_params_larger_than_their_bound_refuse_the_join() {
    let (server, key, mut b) = with_bystander(Config::default()).await;
    let mut a = Client::connect(&server, "attacker").await;
    let reply = a
        .join_with(&key, json!({"cursor": null, "blob": "z".repeat(5000)}))
        .await;
    assert_eq!(reply["status"], "error");
    assert_eq!(reason(&reply), "invalid_payload");
    let reply = a
        .join_with(&key, json!({"cursor": null, "blob": "z".repeat(1000)}))
        .await;
    assert_eq!(reply["status"], "ok", "{reply}");
    bystander_unaffected(&mut b, &key, 2).await;
}

#[actix_rt::test]
async fn payloads_nested_too_deep_get_invalid_payload_and_the_connection_stays_open() {
    let (server, key, mut b) = with_bystander(Config::default()).await;
    let topic = format!("session:{key}");
    let mut a = Client::connect(&server, "attacker").await;
    a.join(&key, None).await;
    for levels in [40, 500, 20_000] {
        let mut nested = String::from("0");
        for _ in 0..levels {
            nested = format!("[{nested}]");
        }
        let frame = format!(
            r#"["{r}","{levels}","{topic}","event",{{"id":"d{levels}","name":"add_todo","payload":{{"text":{nested}}}}}]"#,
            r = a.join_refs[&topic],
        );
        a.send_text(&frame).await;
        let reply = a.reply(&levels.to_string()).await;
        assert_eq!(
            reason(&reply),
            "invalid_payload",
            "{levels} levels: {reply}"
        );
    }
    // Still open and joined.
    let r = a.event(&key, "add_todo", json!({"text": "fine"})).await;
    assert_eq!(r["response"]["seq"], 2);
    bystander_unaffected(&mut b, &key, 3).await;
}

#[actix_rt::test]
async fn an_over_long_ref_or_topic_is_a_malformed_frame_closed_with_1007() {
    let (server, key, mut b) = with_bystander(Config::default()).await;
    let long = "r".repeat(200);
    for frame in [
        format!(r#"[null,"{long}","phoenix","heartbeat",{{}}]"#),
        format!(r#"[null,"1","{}","phx_join",{{}}]"#, "t".repeat(300)),
    ] {
        let mut a = Client::connect(&server, "attacker").await;
        a.send_text(&frame).await;
        assert_eq!(a.expect_close().await, 1007);
    }
    bystander_unaffected(&mut b, &key, 2).await;
}

/// Chain messages that arrive within `ms`.
async fn chains_within(client: &mut Client, ms: u64) -> Vec<Msg> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    while let Ok(Some(m)) = tokio::time::timeout_at(deadline, client.try_next_msg()).await {
        if m.event == "chain" {
            got.push(m);
        }
    }
    got
}

#[actix_rt::test]
async fn pending_chains_are_capped_and_a_rejoin_gets_them_paced_not_a_phx_error() {
    let (server, _store) = start_demo({
        let mut config = Config::default();
        config.max_pending_chains = 30;
        // A window of 16 / 4 = 4 chains on the wire per tab.
        config.outbound_max_messages = 16;
        config.chain_timeout = Duration::from_secs(60);
        config
    });
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = Client::connect(&server, "a").await;
    a.join(&key, None).await;
    // Thirty chains the tab never re-submits; the thirty-first is refused.
    for i in 0..30 {
        let r = a.event(&key, "chain_demo", json!({"n": 1})).await;
        assert_eq!(r["status"], "ok", "chain {i}: {r}");
    }
    let r = a.event(&key, "chain_demo", json!({"n": 1})).await;
    assert_eq!(reason(&r), "handler_error", "{r}");
    assert!(r["response"]["message"]
        .as_str()
        .unwrap()
        .contains("at most 30"));

    // A new connection of the same tab: four chains, then one more for
    // each it re-submits, never an overflow.
    let mut a2 = Client::connect(&server, "a").await;
    a2.join(&key, None).await;
    let first = chains_within(&mut a2, 300).await;
    assert_eq!(first.len(), 4, "one window of chains");
    let mut handled = 0;
    let mut waiting = first;
    while let Some(chain) = waiting.pop() {
        let p = &chain.payload;
        let r = a2
            .push(
                &topic,
                "event",
                json!({"id": format!("re{handled}"), "name": p["name"], "payload": p["payload"], "chain": p["chain"]}),
            )
            .await;
        let reply = a2.reply(&r).await;
        assert_eq!(reply["status"], "ok", "{reply}");
        handled += 1;
        waiting.extend(chains_within(&mut a2, 100).await);
        assert!(waiting.len() <= 4, "at most a window on the wire");
    }
    assert_eq!(handled, 30, "every chain came, paced");
    assert!(a2.drain_buffer().iter().all(|m| m.event != "phx_error"));
}

#[actix_rt::test]
async fn events_waiting_for_a_stalled_disk_count_against_the_queue() {
    let store = Arc::new(GatedStore::default());
    store.set_open(true);
    let mut config = Config::default();
    config.queue_len = 4;
    let server = start_server(Demo::default(), config, store.clone());
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = Client::connect(&server, "a").await;
    a.join(&key, None).await;

    store.set_open(false);
    let mut refs = Vec::new();
    for i in 0..12 {
        let ev = json!({"id": format!("e{i}"), "name": "add_todo", "payload": {"text": "t"}});
        refs.push(a.push(&topic, "event", ev).await);
    }
    // The session handles events as they come, but what they send waits
    // for the disk; the queue bound counts them, so the rest are refused
    // instead of piling up.
    let mut refused = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    while let Ok(Some(m)) = tokio::time::timeout_at(deadline, a.try_next_msg()).await {
        if m.event == "phx_reply" {
            assert_eq!(m.payload["response"]["reason"], "queue_full", "{m:?}");
            refused.extend(m.reference);
        }
    }
    assert!(
        refused.len() >= 12 - 4 - 1,
        "only about a queue's worth waits: {} refused",
        refused.len()
    );
    store.set_open(true);
    let mut ok = 0;
    for r in refs.iter().filter(|r| !refused.contains(r)) {
        let reply = a.reply(r).await;
        assert_eq!(reply["status"], "ok", "{reply}");
        ok += 1;
    }
    assert_eq!(ok + refused.len(), 12);
    let r = a
        .event(&key, "add_todo", json!({"text": "flowing again"}))
        .await;
    assert_eq!(r["response"]["seq"], ok + 1, "{r}");
}
