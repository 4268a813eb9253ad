//! Joins: authorization on every join, limits per session and per
//! connection, leaving, rejoining, and idempotent events.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{joined_pair, new_key, start_demo, start_server, Client};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tabhub::{App, AppError, AuthorizeError, Config, Context, JoinRequest, MemoryStore};

#[actix_rt::test]
async fn a_session_refuses_tabs_beyond_its_limit_and_a_connection_joins_beyond_its_limit() {
    let mut config = Config::default();
    config.max_tabs_per_session = 2;
    config.max_joins_per_connection = 2;
    let (server, _store) = start_demo(config);
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    let mut b = Client::connect(&server, "b").await;
    let mut c = Client::connect(&server, "c").await;
    a.join(&key, None).await;
    b.join(&key, None).await;
    let r = c.join_with(&key, json!({})).await;
    assert_eq!(r["response"]["reason"], "too_many_tabs");

    a.join(&new_key(), None).await;
    let r = a.join_with(&new_key(), json!({})).await;
    assert_eq!(r["response"]["reason"], "too_many_joins");
    // Re-joining a topic already joined replaces it and is not a new join.
    assert_eq!(a.join(&key, None).await["tabs"], 2);
}

#[actix_rt::test]
async fn a_rejoin_on_the_same_connection_replaces_the_join_and_drops_the_old_join_ref() {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = Client::connect(&server, "a").await;
    a.join(&key, None).await;
    let first_ref = a.join_refs[&topic].clone();
    let r = a.join(&key, None).await;
    assert_eq!(r["tabs"], 1);
    let second_ref = a.join_refs[&topic].clone();
    assert_ne!(first_ref, second_ref);
    a.event(&key, "add_todo", json!({"text": "x"})).await;
    let d = a.wait_event(&topic, "delta").await;
    assert_eq!(d.join_ref.as_deref(), Some(second_ref.as_str()));
}

#[actix_rt::test]
async fn after_phx_leave_nothing_more_of_that_join_is_sent() {
    let (server, _store) = start_demo(Config::default());
    let (key, mut a, mut b) = joined_pair(&server).await;
    let topic = format!("session:{key}");
    assert_eq!(a.wait_event(&topic, "tabs").await.payload["tabs"], 2);
    let leave = a.push(&topic, "phx_leave", json!({})).await;
    assert_eq!(
        a.reply(&leave).await,
        json!({"status": "ok", "response": {}})
    );
    b.event(&key, "add_todo", json!({"text": "x"})).await;
    // A heartbeat round trip: anything sent to A before its reply is buffered.
    a.send_text(r#"[null,"hb","phoenix","heartbeat",{}]"#).await;
    a.reply("hb").await;
    let after: Vec<String> = a.drain_buffer().into_iter().map(|m| m.event).collect();
    assert!(after.is_empty(), "sent after leave: {after:?}");
    let r = a
        .push(
            &topic,
            "event",
            json!({"id": "1", "name": "add_todo", "payload": {"text": "y"}}),
        )
        .await;
    assert_eq!(a.reply(&r).await["response"]["reason"], "unmatched topic");
}

#[actix_rt::test]
async fn an_event_id_is_handled_once_and_a_repeat_gets_the_first_reply() {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = Client::connect(&server, "a").await;
    a.join(&key, None).await;
    let first = a
        .event_with_id(&key, "same", "add_todo", json!({"text": "once"}))
        .await;
    let again = a
        .event_with_id(&key, "same", "add_todo", json!({"text": "once"}))
        .await;
    assert_eq!(first, again);
    let bad = a
        .event_with_id(&key, "bad", "toggle_todo", json!({"id": "nope"}))
        .await;
    let bad_again = a
        .event_with_id(&key, "bad", "toggle_todo", json!({"id": "nope"}))
        .await;
    assert_eq!(bad["response"]["reason"], "handler_error");
    assert_eq!(bad, bad_again, "errors are remembered too");
    let r = a.event(&key, "add_todo", json!({"text": "next"})).await;
    assert_eq!(r["response"]["seq"], 2, "the repeat made no delta");
    let deltas = a
        .drain_buffer()
        .into_iter()
        .filter(|m| m.topic == topic && m.event == "delta")
        .count();
    assert_eq!(deltas, 2);
}

/// An app that only lets joins with `{"token": "let-me-in"}` in, and whose
/// `half` event changes state and then fails. Its authorize cannot decide
/// on the tokens `db-down` (it says so), `panic` (it panics) and `hang`
/// (it never answers).
struct Guarded;

#[derive(Default, Serialize, Deserialize)]
struct Pair {
    a: u32,
    b: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "name", content = "payload", rename_all = "snake_case")]
enum PairEvent {
    Half {},
}

impl App for Guarded {
    type State = Pair;
    type Event = PairEvent;
    type Identity = ();
    async fn authorize(&self, join: &JoinRequest<'_>) -> Result<(), AuthorizeError> {
        let by_join = join.params.get("token").and_then(|t| t.as_str()) == Some("let-me-in");
        let by_socket = join.connect_params.get("token").map(String::as_str) == Some("let-me-in");
        match join.params.get("token").and_then(|t| t.as_str()) {
            Some("db-down") => {
                return Err(AuthorizeError::unavailable("the user database is down"))
            }
            Some("panic") => panic!("authorize panicked, as the test asked"),
            Some("hang") => std::future::pending().await,
            _ => {}
        }
        if by_join || by_socket {
            Ok(())
        } else {
            Err(AuthorizeError::refused("no token"))
        }
    }
    async fn handle(
        &self,
        state: &mut Pair,
        _event: PairEvent,
        cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        state.a += 1;
        cx.effect("toast", json!({"text": "never sent"}));
        Err(AppError::handler("refused after a change"))
    }
}

#[actix_rt::test]
async fn joins_are_authorized_every_time_and_a_failed_handler_changes_nothing() {
    let server = start_server(Guarded, Config::default(), Arc::new(MemoryStore::new()));
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    let r = a.join_with(&key, json!({"token": "wrong"})).await;
    assert_eq!(r["response"]["reason"], "unauthorized");
    let r = a.join_with(&key, json!({"token": "let-me-in"})).await;
    assert_eq!(r["status"], "ok");
    assert_eq!(r["response"]["state"], json!({"a": 0, "b": 0}));

    let r = a.event(&key, "half", json!({})).await;
    assert_eq!(r["response"]["reason"], "handler_error");
    let seen: Vec<String> = a.drain_buffer().into_iter().map(|m| m.event).collect();
    assert!(
        seen.is_empty(),
        "no delta and no effect from a failed handler: {seen:?}"
    );
    let mut b = Client::connect_query(&server, "vsn=2.0.0&tab_id=b&token=let-me-in", "b").await;
    let r = b.join(&key, None).await;
    assert_eq!(r["state"], json!({"a": 0, "b": 0}), "rolled back");
    assert_eq!(r["seq"], 0);

    // A takeover is a join too: it is re-authorized.
    let mut again = Client::connect(&server, "a").await;
    let r = again.join_with(&key, json!({"token": "stolen?"})).await;
    assert_eq!(r["response"]["reason"], "unauthorized");
}

#[actix_rt::test]
async fn a_join_whose_authorize_cannot_decide_gets_the_retryable_unavailable() {
    let mut config = Config::default();
    config.handler_timeout = std::time::Duration::from_millis(300);
    let server = start_server(Guarded, config, Arc::new(MemoryStore::new()));
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    for token in ["db-down", "panic", "hang"] {
        let r = a.join_with(&key, json!({"token": token})).await;
        assert_eq!(
            r,
            json!({"status": "error", "response": {
                "reason": "unavailable",
                "message": "the app could not decide on this join now; retry later"}}),
            "{token}"
        );
    }
    // A decision is still final, and the app's next answer lets it in.
    let r = a.join_with(&key, json!({"token": "wrong"})).await;
    assert_eq!(r["response"]["reason"], "unauthorized");
    let r = a.join_with(&key, json!({"token": "let-me-in"})).await;
    assert_eq!(r["status"], "ok", "{r}");
}
