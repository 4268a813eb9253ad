//! Presence through the app proxy (`--app-presence`): each tab that joins,
//! leaves, or is shown or hidden is told to the backend (`POST
//! URL/presence`) in the session's queue, and its answer's patch and
//! effects are one delta like an event's. Off by default: no call, no
//! delta.
#![allow(clippy::unwrap_used)]

mod common;

use common::fault_backend::{start_proxy as start, FaultBackend};
use common::{new_key, Client, Msg};
use serde_json::{json, Value};

/// The next message that is not a `tabs` or `leader` push.
async fn next_change(client: &mut Client) -> Msg {
    client
        .wait_for(|m| m.event != "tabs" && m.event != "leader")
        .await
}

/// The next delta's seq and patch, then the `presence` effect after it.
async fn delta_and_effect(client: &mut Client) -> (u64, Value, Value) {
    let delta = next_change(client).await;
    assert_eq!(delta.event, "delta", "{delta:?}");
    let effect = next_change(client).await;
    assert_eq!(
        (effect.event.as_str(), &effect.payload["kind"]),
        ("effect", &json!("presence")),
        "{effect:?}"
    );
    (
        delta.payload["seq"].as_u64().unwrap(),
        delta.payload["patch"].clone(),
        effect.payload["data"].clone(),
    )
}

#[actix_rt::test]
async fn joins_visibility_changes_and_leaves_are_told_to_the_backend_and_answered_as_deltas() {
    let backend = FaultBackend::start();
    backend.behaviour.lock().unwrap().presence = true;
    let server = start(&backend, |c| c.presence = true);
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = Client::connect(&server, "a").await;
    let joined = a.join(&key, None).await;
    assert_eq!(joined["seq"], 0);
    let (seq, patch, effect) = delta_and_effect(&mut a).await;
    assert_eq!(seq, 1);
    assert_eq!(
        patch,
        json!([{"op": "add", "path": "/here", "value": ["a"]}])
    );
    assert_eq!(effect, json!({"change": "joined", "tab": "a"}));
    let call = &backend.calls_to("presence")[0].body;
    assert_eq!(
        call,
        &json!({"key": key, "change": "joined", "seq": 0, "state": {},
                "tab": {"tab_id": "a", "visible": true},
                "tabs": [{"tab_id": "a", "visible": true}]})
    );

    let mut b = Client::connect(&server, "b").await;
    b.join_with(&key, json!({"visibility": "hidden"})).await;
    let (seq, _, effect) = delta_and_effect(&mut a).await;
    assert_eq!((seq, effect["change"].as_str()), (2, Some("joined")));
    let call = backend.calls_to("presence")[1].body.clone();
    assert_eq!(
        call["state"],
        json!({"here": ["a"]}),
        "the state as of the change"
    );
    assert_eq!(
        call["tabs"],
        json!([{"tab_id": "a", "visible": true}, {"tab_id": "b", "visible": false}])
    );

    let r = b
        .push(&topic, "visibility", json!({"visibility": "visible"}))
        .await;
    b.reply(&r).await;
    // The same ids: the state is unchanged, so only the effect comes.
    let effect = next_change(&mut a).await;
    assert_eq!(effect.event, "effect", "no delta: {effect:?}");
    assert_eq!(
        effect.payload["data"],
        json!({"change": "visibility", "tab": "b"})
    );
    drop(b);
    let (seq, patch, effect) = delta_and_effect(&mut a).await;
    assert_eq!(effect, json!({"change": "left", "tab": "b"}));
    assert_eq!(seq, 3);
    // The backend's patch is the delta as it sent it.
    assert_eq!(
        patch,
        json!([{"op": "add", "path": "/here", "value": ["a"]}])
    );
    let left = backend.calls_to("presence").last().unwrap().body.clone();
    assert_eq!(left["tab"], json!({"tab_id": "b", "visible": false}));
    assert_eq!(left["tabs"], json!([{"tab_id": "a", "visible": true}]));
}

#[actix_rt::test]
async fn without_app_presence_no_call_is_made_and_a_join_makes_no_delta() {
    let backend = FaultBackend::start();
    backend.behaviour.lock().unwrap().presence = true;
    let server = start(&backend, |_| {});
    let (key, mut a, _b) = common::joined_pair(&server).await;
    let r = a.event(&key, "echo", json!({})).await;
    assert_eq!(r["response"]["seq"], 0, "{r}");
    assert!(backend.calls_to("presence").is_empty());
}

#[actix_rt::test]
async fn a_backend_without_the_route_changes_nothing() {
    let backend = FaultBackend::start();
    let server = start(&backend, |c| c.presence = true);
    let (key, mut a, _b) = common::joined_pair(&server).await;
    let r = a
        .event(
            &key,
            "answer",
            json!({"answer": {"patch": [{"op": "add", "path": "/n", "value": 1}]}}),
        )
        .await;
    assert_eq!(r["response"]["seq"], 1, "{r}");
    assert_eq!(
        backend.calls_to("presence").len(),
        2,
        "both joins were told"
    );
}
