//! Heartbeats are answered; a silent connection is closed after the client
//! timeout and its tab leaves the session.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use awc::ws::{Frame, Message};
use common::{new_key, start_demo, Client};
use serde_json::json;
use tabhub::Config;

#[actix_rt::test]
async fn a_heartbeat_is_answered_on_the_phoenix_topic() {
    let (server, _store) = start_demo(Config::default());
    let mut c = Client::connect(&server, "a").await;
    c.send_text(r#"[null,"42","phoenix","heartbeat",{}]"#).await;
    let m = c.next_msg().await;
    assert_eq!(
        (
            m.join_ref,
            m.reference.as_deref(),
            m.topic.as_str(),
            m.event.as_str(),
            m.payload
        ),
        (
            None,
            Some("42"),
            "phoenix",
            "phx_reply",
            json!({"status": "ok", "response": {}})
        )
    );
}

#[actix_rt::test]
async fn a_silent_connection_is_closed_with_1001_and_its_tab_leaves_the_session() {
    let mut config = Config::default();
    config.client_timeout = Duration::from_millis(400);
    let (server, _store) = start_demo(config);
    let key = new_key();
    let topic = format!("session:{key}");
    let mut lively = Client::connect(&server, "lively").await;
    lively.join(&key, None).await;
    let mut silent = Client::connect(&server, "silent").await;
    silent.join(&key, None).await;
    assert_eq!(
        lively.wait_event(&topic, "tabs").await.payload,
        json!({"tabs": 2})
    );

    // `silent` never answers pings nor sends anything: the server gives up.
    // Meanwhile `lively` sends heartbeats, as phoenix.js does, and stays.
    let mut beats = 0;
    let code = loop {
        match tokio::time::timeout(Duration::from_millis(100), silent.next_frame()).await {
            Ok(Some(Frame::Close(reason))) => break reason.map(|r| u16::from(r.code)),
            Ok(Some(_)) => continue,
            Ok(None) => panic!("ended without a close frame"),
            Err(_) => {
                beats += 1;
                lively
                    .send_text(&format!(r#"[null,"hb{beats}","phoenix","heartbeat",{{}}]"#))
                    .await;
            }
        }
    };
    assert_eq!(code, Some(1001));
    assert_eq!(
        lively.wait_event(&topic, "tabs").await.payload,
        json!({"tabs": 1})
    );
    let r = lively
        .event(&key, "add_todo", json!({"text": "still here"}))
        .await;
    assert_eq!(r["status"], "ok");
}

#[actix_rt::test]
async fn a_client_that_only_answers_pings_stays_connected() {
    let mut config = Config::default();
    config.client_timeout = Duration::from_millis(300);
    let (server, _store) = start_demo(config);
    let mut c = Client::connect(&server, "quiet").await;
    let until = tokio::time::Instant::now() + Duration::from_millis(1200);
    let mut pings = 0;
    while tokio::time::Instant::now() < until {
        match tokio::time::timeout(Duration::from_millis(100), c.next_frame()).await {
            Ok(Some(Frame::Ping(p))) => {
                pings += 1;
                c.send_message(Message::Pong(p)).await;
            }
            Ok(Some(Frame::Close(r))) => panic!("closed although pongs were sent: {r:?}"),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => {}
        }
    }
    assert!(
        pings >= 3,
        "the server pings a quiet client ({pings} pings)"
    );
    c.send_text(r#"[null,"1","phoenix","heartbeat",{}]"#).await;
    assert_eq!(c.next_msg().await.payload["status"], "ok");
}
