//! Tabs of one session share one state: same deltas, same seqs, same order;
//! late joiners get a snapshot; effects reach only their target.

#![allow(clippy::unwrap_used)]

mod common;

use common::{new_key, start_demo, Client, Mirror};
use serde_json::json;
use tabhub::Config;

#[actix_rt::test]
async fn two_tabs_see_the_same_deltas_in_the_same_order_and_a_late_tab_gets_an_equal_snapshot() {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let mut a = Client::connect(&server, "tab-a").await;
    let mut b = Client::connect(&server, "tab-b").await;
    let (mut ma, ra) = a.join_mirror(&key, None).await;
    let (mut mb, _) = b.join_mirror(&key, None).await;
    assert_eq!(ra["resume"], "snapshot");
    assert_eq!(ma.state, json!({"todos": [], "jobs": {}, "chain_count": 0}));

    // Both tabs push, interleaved; each reply's seq is where its effect shows.
    let mut seqs = Vec::new();
    for i in 0..5 {
        let r = a
            .event(&key, "add_todo", json!({"text": format!("a{i}")}))
            .await;
        assert_eq!(r["status"], "ok", "{r}");
        seqs.push(r["response"]["seq"].as_u64().unwrap());
        let r = b
            .event(&key, "add_todo", json!({"text": format!("b{i}")}))
            .await;
        seqs.push(r["response"]["seq"].as_u64().unwrap());
    }
    assert_eq!(seqs, (1..=10).collect::<Vec<u64>>());

    a.catch_up(&key, &mut ma, 10).await;
    b.catch_up(&key, &mut mb, 10).await;
    assert_eq!(ma.seqs, (1..=10).collect::<Vec<u64>>());
    assert_eq!(mb.seqs, ma.seqs);
    assert_eq!(ma.state, mb.state);
    let texts = ma.todo_texts();
    assert_eq!(
        texts,
        ["a0", "b0", "a1", "b1", "a2", "b2", "a3", "b3", "a4", "b4"]
    );

    let mut c = Client::connect(&server, "tab-c").await;
    let (mc, rc) = c.join_mirror(&key, None).await;
    assert_eq!(rc["resume"], "snapshot");
    assert_eq!(rc["seq"], 10);
    assert_eq!(mc.state, ma.state);
    assert_eq!(rc["tabs"], 3);
}

#[actix_rt::test]
async fn the_submitter_gets_its_delta_before_its_reply() {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let mut a = Client::connect(&server, "tab-a").await;
    a.join(&key, None).await;
    let topic = format!("session:{key}");
    let r = a
        .push(
            &topic,
            "event",
            json!({"id": "e1", "name": "add_todo", "payload": {"text": "x"}}),
        )
        .await;
    let first = a.next_msg().await;
    assert_eq!(first.event, "delta");
    assert_eq!(first.payload["seq"], 1);
    assert_eq!(first.payload["event_id"], "e1");
    let second = a.next_msg().await;
    assert_eq!(second.event, "phx_reply");
    assert_eq!(second.reference.as_deref(), Some(r.as_str()));
    assert_eq!(
        second.payload,
        json!({"status": "ok", "response": {"seq": 1}})
    );
}

#[actix_rt::test]
async fn every_server_message_of_a_join_carries_its_join_ref() {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let mut a = Client::connect(&server, "tab-a").await;
    a.join(&key, None).await;
    let topic = format!("session:{key}");
    let join_ref = a.join_refs[&topic].clone();
    a.event(&key, "add_todo", json!({"text": "x"})).await;
    let d = a.wait_event(&topic, "delta").await;
    assert_eq!(d.join_ref.as_deref(), Some(join_ref.as_str()));
}

#[actix_rt::test]
async fn effects_reach_only_the_originating_tab_and_tab_counts_reach_all() {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = Client::connect(&server, "tab-a").await;
    let mut b = Client::connect(&server, "tab-b").await;
    let ra = a.join(&key, None).await;
    assert_eq!(ra["tabs"], 1);
    let rb = b.join(&key, None).await;
    assert_eq!(rb["tabs"], 2);
    // A learns of B; B's own count came with its reply.
    assert_eq!(
        a.wait_event(&topic, "tabs").await.payload,
        json!({"tabs": 2})
    );

    let r = b.event(&key, "toast", json!({"text": "hello"})).await;
    assert_eq!(r["status"], "ok");
    let effect = b.wait_event(&topic, "effect").await;
    assert_eq!(
        effect.payload,
        json!({"kind": "toast", "data": {"text": "hello"}})
    );
    // A toast changes no state: the reply carries the unchanged seq.
    assert_eq!(r["response"]["seq"], 0);

    // A sees no effect: a marker event from A arrives with nothing before it
    // but the tabs count.
    let r = a.event(&key, "add_todo", json!({"text": "marker"})).await;
    assert_eq!(r["status"], "ok");
    let seen: Vec<String> = a.drain_buffer().into_iter().map(|m| m.event).collect();
    assert!(
        !seen.contains(&"effect".to_owned()),
        "tab A got an effect: {seen:?}"
    );

    // When B leaves, A is told the new count.
    let leave = b.push(&topic, "phx_leave", json!({})).await;
    assert_eq!(b.reply(&leave).await["status"], "ok");
    assert_eq!(
        a.wait_event(&topic, "tabs").await.payload,
        json!({"tabs": 1})
    );
    let mut m = Mirror::default();
    m.apply_join(&a.join(&key, None).await);
    assert_eq!(m.seq, 1);
}
