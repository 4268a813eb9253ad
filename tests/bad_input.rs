//! Bad input gets the protocol's answer (a close code or an error reply),
//! and never hurts another tab of the same session.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use actix_ws::Item;
use awc::ws::Message;
use common::{
    bystander_unaffected, joined_pair, new_key, start_demo, start_server, with_bystander, Client,
    Server,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tabhub::demo::Demo;
use tabhub::{App, AppError, Config, Context, MemoryStore};

async fn joined_attacker(server: &Server<Demo>, key: &str) -> Client {
    let mut a = Client::connect(server, "attacker").await;
    a.join(key, None).await;
    a
}

#[actix_rt::test]
async fn a_binary_frame_is_closed_with_1003() {
    let (server, key, mut b) = with_bystander(Config::default()).await;
    let mut a = joined_attacker(&server, &key).await;
    a.send_message(Message::Binary(vec![1, 2, 3].into())).await;
    assert_eq!(a.expect_close().await, 1003);
    bystander_unaffected(&mut b, &key, 2).await;
}

#[actix_rt::test]
async fn malformed_json_or_a_frame_that_is_not_the_five_member_array_is_closed_with_1007() {
    for junk in [
        "{not json",
        r#"{"topic": "x"}"#,
        r#"["1","1","session:x","event"]"#,
        r#"["1","1","t","e",[]]"#,
    ] {
        let (server, key, mut b) = with_bystander(Config::default()).await;
        let mut a = joined_attacker(&server, &key).await;
        a.send_text(junk).await;
        assert_eq!(a.expect_close().await, 1007, "for {junk}");
        bystander_unaffected(&mut b, &key, 2).await;
    }
}

#[actix_rt::test]
async fn an_oversized_frame_or_fragmented_message_is_closed_with_1009() {
    let mut config = Config::default();
    config.max_frame_bytes = 1024;
    let (server, key, mut b) = with_bystander(config.clone()).await;
    let mut a = joined_attacker(&server, &key).await;
    let text = format!(
        r#"["1","2","session:{key}","event",{{"id":"x","name":"add_todo","payload":{{"text":"{}"}}}}]"#,
        "x".repeat(2000)
    );
    a.send_text(&text).await;
    assert_eq!(a.expect_close().await, 1009);
    bystander_unaffected(&mut b, &key, 2).await;

    // Two fragments of 600 bytes: each fits, the message does not.
    let (server, key, mut b) = with_bystander(config).await;
    let mut a = joined_attacker(&server, &key).await;
    let chunk = "y".repeat(600);
    a.send_message(Message::Continuation(Item::FirstText(chunk.clone().into())))
        .await;
    a.send_message(Message::Continuation(Item::Last(chunk.into())))
        .await;
    assert_eq!(a.expect_close().await, 1009);
    bystander_unaffected(&mut b, &key, 2).await;
}

#[actix_rt::test]
async fn a_fragmented_message_within_the_limit_is_handled_like_one_frame() {
    let (server, key, mut b) = with_bystander(Config::default()).await;
    let mut a = joined_attacker(&server, &key).await;
    let join_ref = a.join_refs[&format!("session:{key}")].clone();
    let text = json!([join_ref, "9", format!("session:{key}"), "event",
        {"id": "frag", "name": "add_todo", "payload": {"text": "in pieces"}}])
    .to_string();
    let (head, tail) = text.split_at(text.len() / 2);
    a.send_message(Message::Continuation(Item::FirstText(
        head.to_owned().into(),
    )))
    .await;
    a.send_message(Message::Continuation(Item::Last(tail.to_owned().into())))
        .await;
    assert_eq!(
        a.reply("9").await,
        json!({"status": "ok", "response": {"seq": 2}})
    );
    let r = b.event(&key, "add_todo", json!({"text": "after"})).await;
    assert_eq!(r["response"]["seq"], 3);
}

#[actix_rt::test]
async fn unknown_topics_get_unmatched_topic_and_bad_keys_get_invalid_key() {
    let (server, key, mut b) = with_bystander(Config::default()).await;
    let mut a = Client::connect(&server, "attacker").await;
    let r = a.push("room:lobby", "phx_join", json!({})).await;
    assert_eq!(a.reply(&r).await["response"]["reason"], "unmatched topic");
    let r = a
        .push(
            &format!("session:{key}"),
            "event",
            json!({"id": "1", "name": "add_todo", "payload": {"text": "x"}}),
        )
        .await;
    assert_eq!(
        a.reply(&r).await["response"]["reason"],
        "unmatched topic",
        "pushing to a topic never joined"
    );
    for bad in [
        "short",
        "has spaces in it, far too many spaces",
        &"k".repeat(129),
    ] {
        let reply = a.join_with(bad, json!({})).await;
        assert_eq!(reply["status"], "error");
        assert_eq!(reply["response"]["reason"], "invalid_key", "for {bad:?}");
    }
    bystander_unaffected(&mut b, &key, 2).await;
}

#[actix_rt::test]
async fn unknown_events_and_invalid_payloads_get_error_replies_and_change_nothing() {
    let (server, key, mut b) = with_bystander(Config::default()).await;
    let mut a = joined_attacker(&server, &key).await;
    let topic = format!("session:{key}");

    let r = a.push(&topic, "frobnicate", json!({})).await;
    assert_eq!(a.reply(&r).await["response"]["reason"], "unknown_event");
    assert_eq!(
        a.event(&key, "no_such_event", json!({})).await["response"]["reason"],
        "unknown_event"
    );
    for bad in [json!({"text": 5}), json!({}), json!({"text": "   "})] {
        let r = a.event(&key, "add_todo", bad.clone()).await;
        assert_eq!(r["status"], "error");
        assert_eq!(r["response"]["reason"], "invalid_payload", "for {bad}");
        assert!(r["response"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let r = a
        .push(
            &topic,
            "event",
            json!({"name": "add_todo", "payload": {"text": "no id"}}),
        )
        .await;
    assert_eq!(a.reply(&r).await["response"]["reason"], "invalid_payload");
    let r = a
        .event(&key, "toggle_todo", json!({"id": "no-such-todo"}))
        .await;
    assert_eq!(r["response"]["reason"], "handler_error");
    let r = a
        .push(&topic, "visibility", json!({"visibility": "sideways"}))
        .await;
    assert_eq!(a.reply(&r).await["response"]["reason"], "invalid_payload");
    let r = a.push(&topic, "cancel", json!({})).await;
    assert_eq!(a.reply(&r).await["response"]["reason"], "invalid_payload");

    let seen: Vec<String> = a.drain_buffer().into_iter().map(|m| m.event).collect();
    assert!(
        !seen.contains(&"delta".to_owned()),
        "no refused event made a delta: {seen:?}"
    );
    bystander_unaffected(&mut b, &key, 2).await;
}

#[actix_rt::test]
async fn the_socket_refuses_a_wrong_vsn_or_tab_id_with_http_400() {
    let (server, _store) = start_demo(Config::default());
    for query in [
        "vsn=1.0.0&tab_id=a",
        "vsn=2.0.0&tab_id=",
        "vsn=2.0.0&tab_id=not%20ok",
        &format!("tab_id={}", "a".repeat(65)),
    ] {
        let url = server.srv.url(&format!("/socket/websocket?{query}"));
        match awc::Client::default().ws(url).connect().await {
            Err(awc::error::WsClientError::InvalidResponseStatus(status)) => {
                assert_eq!(status, 400, "for {query}")
            }
            Err(e) => panic!("unexpected error for {query}: {e}"),
            Ok(_) => panic!("upgrade accepted for {query}"),
        }
    }
    // No vsn means 2.0.0, and no tab_id gets one assigned.
    let mut c = Client::connect_query(&server, "", "").await;
    let r = c.join(&new_key(), None).await;
    assert!(tabhub::TabId::parse(r["tab_id"].as_str().unwrap()).is_ok());
}

#[actix_rt::test]
async fn events_beyond_the_rate_get_rate_limited_and_a_retry_with_the_same_id_succeeds() {
    let mut config = Config::default();
    config.rate_events_per_sec = 10;
    config.rate_burst = 2;
    let (server, key, mut b) = with_bystander(config).await;
    let mut a = joined_attacker(&server, &key).await;
    assert_eq!(
        a.event(&key, "toast", json!({"text": "1"})).await["status"],
        "ok"
    );
    assert_eq!(
        a.event(&key, "toast", json!({"text": "2"})).await["status"],
        "ok"
    );
    let r = a
        .event_with_id(&key, "retry-me", "add_todo", json!({"text": "3"}))
        .await;
    assert_eq!(r["response"]["reason"], "rate_limited");
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    let r = a
        .event_with_id(&key, "retry-me", "add_todo", json!({"text": "3"}))
        .await;
    assert_eq!(
        r,
        json!({"status": "ok", "response": {"seq": 2}}),
        "a refused id is not remembered"
    );
    let r = b.event(&key, "add_todo", json!({"text": "b"})).await;
    assert_eq!(r["response"]["seq"], 3, "the bystander has its own bucket");
}

/// A test app whose `block` event holds the session's thread until released.
struct Gate {
    entered: SyncSender<()>,
    release: Mutex<Receiver<()>>,
}

#[derive(Default, Serialize, Deserialize)]
struct Count {
    n: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "name", content = "payload", rename_all = "snake_case")]
enum GateEvent {
    Block {},
    Bump {},
}

impl App for Gate {
    type State = Count;
    type Event = GateEvent;
    type Identity = ();
    async fn handle(
        &self,
        state: &mut Count,
        event: GateEvent,
        _cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        match event {
            GateEvent::Block {} => {
                self.entered
                    .send(())
                    .map_err(|e| AppError::handler(e.to_string()))?;
                self.release
                    .lock()
                    .unwrap()
                    .recv()
                    .map_err(|e| AppError::handler(e.to_string()))?;
            }
            GateEvent::Bump {} => state.n += 1,
        }
        Ok(())
    }
}

#[actix_rt::test]
async fn events_beyond_the_queue_length_get_queue_full_and_the_queued_ones_are_all_handled() {
    let (entered_tx, entered_rx) = sync_channel(1);
    let (release_tx, release_rx) = sync_channel(1);
    let app = Gate {
        entered: entered_tx,
        release: Mutex::new(release_rx),
    };
    let mut config = Config::default();
    config.queue_len = 3;
    config.session_threads = 1;
    let server = start_server(app, config, Arc::new(MemoryStore::new()));
    let (key, mut a, mut b) = joined_pair(&server).await;
    let topic = format!("session:{key}");

    let block = a
        .push(
            &topic,
            "event",
            json!({"id": "block", "name": "block", "payload": {}}),
        )
        .await;
    tokio::task::spawn_blocking(move || entered_rx.recv())
        .await
        .unwrap()
        .unwrap();
    // The session is busy: three events queue, the rest are refused at once.
    let mut refs = Vec::new();
    for i in 0..5 {
        refs.push(
            a.push(
                &topic,
                "event",
                json!({"id": format!("bump{i}"), "name": "bump", "payload": {}}),
            )
            .await,
        );
    }
    for r in &refs[3..] {
        let reply = a.reply(r).await;
        assert_eq!(reply["response"]["reason"], "queue_full", "{reply}");
    }
    release_tx.send(()).unwrap();
    assert_eq!(
        a.reply(&block).await,
        json!({"status": "ok", "response": {"seq": 0}})
    );
    for (i, r) in refs[..3].iter().enumerate() {
        assert_eq!(
            a.reply(r).await,
            json!({"status": "ok", "response": {"seq": i + 1}})
        );
    }
    // A refused id was not remembered: retrying it now succeeds.
    let r = a
        .push(
            &topic,
            "event",
            json!({"id": "bump3", "name": "bump", "payload": {}}),
        )
        .await;
    assert_eq!(a.reply(&r).await["response"]["seq"], 4);
    let r = b.event(&key, "bump", json!({})).await;
    assert_eq!(r["response"]["seq"], Value::from(5));
}
