//! A session's state is bounded (`--max-state-bytes`, `Config::
//! max_state_bytes`): a change that would make it take more, as compact
//! JSON, fails as a whole before anything is kept or sent. A pushed patch
//! is checked as it applies, so a patch of root copies cannot double the
//! state until memory runs out; an embedded handler's change is checked
//! where every change lands, in the session.
#![allow(clippy::unwrap_used)]

mod api_client;
mod common;

use api_client::{get, post, session, start_with_api};
use common::fault_backend::{answering, start_proxy, FaultBackend};
use common::{joined_pair, new_key, Client};
use serde_json::{json, Value};
use tabhub::Config;

/// A tab joined to `key`, and the seq and todo texts of the next delta it
/// sees after the change that was refused: what the next accepted change
/// (a small todo added through the API) made.
async fn next_delta(tab: &mut Client, key: &str) -> (Value, Value) {
    let d = tab.wait_event(&format!("session:{key}"), "delta").await;
    let texts: Vec<Value> = d.payload["patch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| op["value"]["text"].clone())
        .collect();
    (d.payload["seq"].clone(), json!(texts))
}

#[actix_rt::test]
async fn a_patch_of_root_copies_is_refused_and_the_state_is_unchanged() {
    let server = start_with_api(Config::default());
    let key = new_key();
    let mut tab = Client::connect(&server, "a").await;
    tab.join(&key, None).await;
    // Each copy doubles the state: 20 of them would make it a million
    // times larger than it is.
    let copies: Vec<Value> = (0..20)
        .map(|i| json!({"op": "copy", "from": "", "path": format!("/c{i}")}))
        .collect();
    let state = session(&key, "/state");
    let refused = post(&server, &state, json!({ "patch": copies })).await;
    refused.assert_refused(422, "invalid_change");
    let message = refused.body["message"].as_str().unwrap();
    assert!(message.contains("--max-state-bytes"), "{message}");

    let read = get(&server, &session(&key, "")).await;
    assert_eq!(read.body["seq"], 0);
    assert_eq!(
        read.body["state"],
        json!({"todos": [], "jobs": {}, "chain_count": 0})
    );
    let event = json!({"id": "e1", "name": "add_todo", "payload": {"text": "small"}});
    let answer = post(&server, &session(&key, "/events"), event).await;
    assert_eq!(answer.body["response"]["seq"], 1, "{answer:?}");
    assert_eq!(
        next_delta(&mut tab, &key).await,
        (json!(1), json!(["small"]))
    );
}

#[actix_rt::test]
async fn a_whole_state_over_the_bound_is_refused() {
    let server = start_with_api({
        let mut config = Config::default();
        config.max_state_bytes = 1024;
        config
    });
    let key = new_key();
    let with_todo = |text: String| json!({"todos": [{"id": "1", "text": text, "done": false}], "jobs": {}, "chain_count": 0});
    let state = session(&key, "/state");
    let refused = post(
        &server,
        &state,
        json!({ "state": with_todo("x".repeat(2000)) }),
    )
    .await;
    refused.assert_refused(422, "invalid_change");
    let message = refused.body["message"].as_str().unwrap();
    assert!(message.contains("more than 1024 bytes"), "{message}");
    let small = with_todo("x".repeat(500));
    let answer = post(&server, &state, json!({ "state": small })).await;
    assert_eq!((answer.status, &answer.body), (200, &json!({"seq": 1})));
}

#[actix_rt::test]
async fn an_embedded_handler_that_grows_the_state_past_the_bound_gets_an_error_and_tabs_see_no_delta(
) {
    let server = start_with_api({
        let mut config = Config::default();
        config.max_state_bytes = 16 * 1024;
        config
    });
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    let mut b = Client::connect(&server, "b").await;
    a.join(&key, None).await;
    b.join(&key, None).await;

    // The demo's handler takes todos of up to 100,000 characters.
    let r = a
        .event(&key, "add_todo", json!({"text": "x".repeat(20 * 1024)}))
        .await;
    assert_eq!(r["status"], "error", "{r}");
    assert_eq!(r["response"]["reason"], "handler_error", "{r}");
    let message = r["response"]["message"].as_str().unwrap();
    assert!(message.contains("16384"), "{message}");

    let r = a.event(&key, "add_todo", json!({"text": "small"})).await;
    assert_eq!(r["response"]["seq"], 1, "{r}");
    for tab in [&mut a, &mut b] {
        assert_eq!(next_delta(tab, &key).await, (json!(1), json!(["small"])));
    }
    let read = get(&server, &session(&key, "")).await;
    assert_eq!(read.body["state"]["todos"].as_array().unwrap().len(), 1);
}

#[actix_rt::test]
async fn a_backends_patch_of_root_copies_fails_the_event_and_tabs_see_no_delta() {
    let backend = FaultBackend::start();
    let server = start_proxy(&backend, |_| {});
    let (key, mut a, mut b) = joined_pair(&server).await;
    // 40 doublings: far more than any memory holds, were it applied whole.
    let copies: Vec<Value> = (0..40)
        .map(|i| json!({"op": "copy", "from": "", "path": format!("/c{i}")}))
        .collect();
    let r = a
        .event(&key, "answer", answering(json!({ "patch": copies })))
        .await;
    assert_eq!(r["response"]["reason"], "handler_error", "{r}");
    let message = r["response"]["message"].as_str().unwrap();
    assert!(message.contains("--max-state-bytes"), "{message}");

    let small = json!({"patch": [{"op": "add", "path": "/n", "value": 1}]});
    let r = a.event(&key, "answer", answering(small)).await;
    assert_eq!(r["response"]["seq"], 1, "{r}");
    for tab in [&mut a, &mut b] {
        let d = tab.wait_event(&format!("session:{key}"), "delta").await;
        assert_eq!(d.payload["seq"], 1);
        assert_eq!(
            d.payload["patch"],
            json!([{"op": "add", "path": "/n", "value": 1}])
        );
    }
}
