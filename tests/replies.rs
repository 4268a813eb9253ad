//! Replies with data and reasons of the app's own: an ok reply carries the
//! handler's result value (`{"seq", "data"}`), a refusal the app's reason,
//! message and data; both are remembered for a repeated event id like any
//! other outcome.
#![allow(clippy::unwrap_used)]

mod common;

use common::{new_key, start_demo, Client};
use serde_json::json;
use tabhub::Config;

#[actix_rt::test]
async fn an_ok_reply_carries_the_handlers_result_value_and_a_repeat_gets_it_again() {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    let (mut m, _) = a.join_mirror(&key, None).await;
    let payload = json!({"text": "later", "delay_ms": 5});
    let r = a
        .event_with_id(&key, "e1", "add_todo_after", payload.clone())
        .await;
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(r["response"]["seq"], 1);
    a.catch_up(&key, &mut m, 1).await;
    assert_eq!(r["response"]["data"]["id"], m.state["todos"][0]["id"]);
    let again = a.event_with_id(&key, "e1", "add_todo_after", payload).await;
    assert_eq!(again, r, "the first reply, data included");
    let plain = a.event(&key, "add_todo", json!({"text": "plain"})).await;
    assert_eq!(plain, json!({"status": "ok", "response": {"seq": 2}}));
}

#[actix_rt::test]
async fn a_refusal_carries_the_apps_own_reason_message_and_data_and_changes_nothing() {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    a.join(&key, None).await;
    let long = json!({"text": "x".repeat(100_001)});
    let r = a
        .event_with_id(&key, "long", "add_todo", long.clone())
        .await;
    assert_eq!(
        r,
        json!({"status": "error", "response": {"reason": "too_long",
            "message": "a todo has at most 100000 characters", "data": {"max": 100000}}})
    );
    assert_eq!(a.event_with_id(&key, "long", "add_todo", long).await, r);
    let next = a.event(&key, "add_todo", json!({"text": "short"})).await;
    assert_eq!(next["response"]["seq"], 1, "the refusal made no delta");
}
