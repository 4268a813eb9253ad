//! Server code across nodes (docs/scale-out.md, "Server code across
//! nodes"): two `tabhub` processes on one real `redis-server`, with the
//! server API on. A session whose first tab joined on node A is owned by
//! A; the server API called on node B reaches it there (events with their
//! replies and idempotency, state changes, effects, reads with every tab
//! of both nodes, task cancels, stop and delete), and a summary join on B
//! gets A's summary and its changes. The session never runs on B. With
//! the app proxy, the backend hears each event once, from the owner.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use common::fault_backend::FaultBackend;
use common::process::Guard;
use common::redis::{metric, start_node_with, tab_on, Redis};
use common::{new_key, Client};
use serde_json::{json, Value};

const TOKEN: &str = "a-test-token-of-the-server-api";

/// Two nodes on `redis` with the server API on and a 600 ms lease.
fn two_nodes_with_api(redis: &Redis) -> ((Guard, SocketAddr), (Guard, SocketAddr)) {
    let api = ["--api-token", TOKEN];
    (start_node_with(redis, &api), start_node_with(redis, &api))
}

/// One server API call to the node at `addr`: its status and JSON body.
async fn api(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("http://{addr}/api/sessions/{path}");
    let request = awc::Client::default()
        .request(method.parse().unwrap(), url)
        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
        .insert_header(("Content-Type", "application/json"));
    let mut answer = match body {
        Some(body) => request.send_body(body.to_string()).await.unwrap(),
        None => request.send().await.unwrap(),
    };
    let bytes = answer.body().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (answer.status().as_u16(), body)
}

/// The next delta `tab` gets on `key`: its seq and event id.
async fn next_delta(tab: &mut Client, key: &str) -> (u64, Value) {
    let d = tab.wait_event(&format!("session:{key}"), "delta").await;
    (
        d.payload["seq"].as_u64().unwrap(),
        d.payload["event_id"].clone(),
    )
}

#[actix_rt::test]
async fn the_server_api_on_a_node_that_does_not_own_the_session_reaches_its_owner() {
    let redis = Redis::start();
    let ((_a_node, a_addr), (_b_node, b_addr)) = two_nodes_with_api(&redis);
    let key = new_key();
    let mut a = tab_on(a_addr, "a").await;
    a.join(&key, None).await;
    let mut b = tab_on(b_addr, "b").await;
    b.join(&key, None).await;

    // An event through B: the owner handles it, every tab sees it once,
    // and a repeat of its id gets the first reply.
    let event = json!({"id": "e-1", "name": "add_todo", "payload": {"text": "milk"}});
    let first = api(
        b_addr,
        "POST",
        &format!("{key}/events"),
        Some(event.clone()),
    )
    .await;
    assert_eq!(
        first,
        (200, json!({"status": "ok", "response": {"seq": 1}}))
    );
    assert_eq!(next_delta(&mut a, &key).await, (1, json!("e-1")));
    assert_eq!(next_delta(&mut b, &key).await, (1, json!("e-1")));
    let again = api(b_addr, "POST", &format!("{key}/events"), Some(event)).await;
    assert_eq!(again, first, "a repeated id gets the first reply");
    let bad = json!({"id": "e-2", "name": "no_such_event", "payload": {}});
    let (status, refused) = api(b_addr, "POST", &format!("{key}/events"), Some(bad)).await;
    assert_eq!(status, 200, "{refused}");
    assert_eq!(refused["response"]["reason"], "unknown_event", "{refused}");

    // A state change and an effect to the tab on B, through B.
    let patch = json!({"patch": [{"op": "add", "path": "/todos/-",
        "value": {"id": "p1", "text": "pushed", "done": false}}]});
    let changed = api(b_addr, "POST", &format!("{key}/state"), Some(patch)).await;
    assert_eq!(changed, (200, json!({"seq": 2})));
    assert_eq!(next_delta(&mut a, &key).await, (2, Value::Null));
    let effect = json!({"kind": "toast", "data": {"text": "hi"}, "tab": "b"});
    let sent = api(b_addr, "POST", &format!("{key}/effects"), Some(effect)).await;
    assert_eq!(sent.0, 200, "{sent:?}");
    let got = b.wait_event(&format!("session:{key}"), "effect").await;
    assert_eq!(got.payload["kind"], "toast", "{:?}", got.payload);

    // A read through B shows the owner's state and the tabs of both nodes.
    let (status, read) = api(b_addr, "GET", &key, None).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["seq"], 2, "{read}");
    let texts: Vec<&str> = read["state"]["todos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["milk", "pushed"], "{read}");
    let mut tabs: Vec<&str> = read["tabs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tab_id"].as_str().unwrap())
        .collect();
    tabs.sort_unstable();
    assert_eq!(tabs, ["a", "b"], "{read}");
    let leaders = read["tabs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["leader"] == true)
        .count();
    assert_eq!(leaders, 1, "{read}");

    // A task started on the owner is cancelled through B.
    let job = json!({"id": "j-1", "name": "start_job",
        "payload": {"key": "j", "steps": 10000, "step_ms": 20}});
    let started = api(b_addr, "POST", &format!("{key}/events"), Some(job)).await;
    assert_eq!(started.1["status"], "ok", "{started:?}");
    let cancelled = api(b_addr, "POST", &format!("{key}/tasks/j/cancel"), None).await;
    assert_eq!(cancelled, (200, json!({"cancelled": true})));

    // The session ran on A only.
    assert_eq!(metric(a_addr, "tabhub_sessions_live").await, 1.0);
    assert_eq!(metric(b_addr, "tabhub_sessions_live").await, 0.0);

    // Stop through B: the owner stops it and every tab is told to rejoin.
    let stopped = api(b_addr, "POST", &format!("{key}/stop"), None).await;
    assert_eq!(stopped, (200, json!({"was_live": true})));
    for tab in [&mut a, &mut b] {
        tab.wait_event(&format!("session:{key}"), "phx_error").await;
    }
}

#[actix_rt::test]
async fn a_delete_through_another_node_forgets_the_session_its_owner_kept() {
    let redis = Redis::start();
    let ((_a_node, a_addr), (_b_node, b_addr)) = two_nodes_with_api(&redis);
    let key = new_key();
    let mut a = tab_on(a_addr, "a").await;
    a.join(&key, None).await;
    let r = a.event(&key, "add_todo", json!({"text": "kept"})).await;
    assert_eq!(r["status"], "ok", "{r}");

    let deleted = api(b_addr, "DELETE", &key, None).await;
    assert_eq!(deleted, (200, json!({"deleted": true})));
    a.wait_event(&format!("session:{key}"), "phx_error").await;
    let rejoined = a.join(&key, None).await;
    assert_eq!(rejoined["state"]["todos"], json!([]), "{rejoined}");
}

#[actix_rt::test]
async fn a_summary_join_on_a_node_that_does_not_own_the_session_gets_the_owners_summary_and_its_changes(
) {
    let redis = Redis::start();
    let ((_a_node, a_addr), (_b_node, b_addr)) = two_nodes_with_api(&redis);
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = tab_on(a_addr, "a").await;
    a.join(&key, None).await;
    let r = a.event(&key, "add_todo", json!({"text": "one"})).await;
    assert_eq!(r["status"], "ok", "{r}");

    let mut watcher = tab_on(b_addr, "w").await;
    let joined = watcher.join_with(&key, json!({"mode": "summary"})).await;
    assert_eq!(joined["status"], "ok", "{joined}");
    assert_eq!(
        joined["response"]["summary"],
        json!({"todos": 1, "open": 1, "jobs_running": 0}),
        "{joined}"
    );

    let r = a.event(&key, "add_todo", json!({"text": "two"})).await;
    assert_eq!(r["status"], "ok", "{r}");
    let pushed = watcher.wait_event(&topic, "summary").await;
    assert_eq!(
        pushed.payload["summary"],
        json!({"todos": 2, "open": 2, "jobs_running": 0})
    );
    // A summary join is not a tab: the owner lists only `a`.
    let (_, read) = api(b_addr, "GET", &key, None).await;
    assert_eq!(read["tabs"].as_array().unwrap().len(), 1, "{read}");
}

#[actix_rt::test]
async fn with_the_app_proxy_only_the_owner_calls_the_backend_for_a_sessions_events() {
    let redis = Redis::start();
    let backend = FaultBackend::start();
    let app = backend.url();
    let proxy = ["--app-url", app.as_str()];
    let (_a_node, a_addr) = start_node_with(&redis, &proxy);
    let (_b_node, b_addr) = start_node_with(&redis, &proxy);
    let key = new_key();
    let mut a = tab_on(a_addr, "a").await;
    a.join(&key, None).await;
    let mut b = tab_on(b_addr, "b").await;
    b.join(&key, None).await;

    for i in 0..3 {
        let r = b.event(&key, "echo", json!({ "i": i })).await;
        assert_eq!(r["status"], "ok", "{r}");
        assert_eq!(r["response"]["data"]["tab_id"], "b", "{r}");
    }
    let r = a.event(&key, "echo", json!({"i": 3})).await;
    assert_eq!(r["status"], "ok", "{r}");

    // Each event reached the backend once, from the owner A; B forwarded.
    assert_eq!(backend.calls_to("event").len(), 4);
    let events = "tabhub_backend_calls_total{call=\"event\",outcome=\"ok\"}";
    assert_eq!(metric(a_addr, events).await, 4.0);
    assert_eq!(metric(b_addr, events).await, 0.0);
}
