//! The server API (`docs/app-proxy.md`, "The server API"): a backend with
//! the bearer token submits events (idempotent by id, answered with the
//! reply a tab gets), pushes state changes and effects, updates, ends and
//! cancels tasks, and reads, stops and deletes sessions by key, whether or
//! not a tab is joined. Joined tabs see it all over their sockets. The
//! refusals of bad calls are in `tests/server_api_refusals.rs`.
#![allow(clippy::unwrap_used)]

mod api_client;
mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::http::Method;
use api_client::{call, get, post, session, start_with_api};
use common::{new_key, Client, Mirror, Server};
use serde_json::{json, Value};
use tabhub::demo::Demo;
use tabhub::Config;

fn start() -> Server<Demo> {
    start_with_api(Config::default())
}

/// A tab `tab_id` joined to `key`, with its mirror of the state.
async fn joined(server: &Server<Demo>, key: &str, tab_id: &str) -> (Client, Mirror) {
    let mut tab = Client::connect(server, tab_id).await;
    let (mirror, _) = tab.join_mirror(key, None).await;
    (tab, mirror)
}

/// Starts demo job `job` (one step a minute, so only the API moves it)
/// through the events route.
async fn start_job(server: &Server<Demo>, key: &str, job: &str) {
    let event = json!({"id": format!("start-{job}"), "name": "start_job",
        "payload": {"key": job, "steps": 10, "step_ms": 60_000}});
    let answer = post(server, &session(key, "/events"), event).await;
    assert_eq!(answer.body["status"], "ok", "{answer:?}");
}

fn add_todo_patch(text: &str) -> Value {
    json!([{"op": "add", "path": "/todos/-", "value": {"id": "p1", "text": text, "done": false}}])
}

#[actix_rt::test]
async fn an_event_gets_the_reply_a_tab_gets_and_its_delta_reaches_the_tabs_once() {
    let server = start();
    let key = new_key();
    let (mut tab, mut mirror) = joined(&server, &key, "a").await;
    let event = json!({"id": "e-1", "name": "add_todo", "payload": {"text": "milk"}});
    let first = post(&server, &session(&key, "/events"), event.clone()).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body, json!({"status": "ok", "response": {"seq": 1}}));
    let delta = tab.wait_event(&format!("session:{key}"), "delta").await;
    assert_eq!(delta.payload["event_id"], "e-1");
    mirror.apply_delta(&delta.payload);
    assert_eq!(mirror.state["todos"][0]["text"], "milk");

    let again = post(&server, &session(&key, "/events"), event).await;
    assert_eq!(again.body, first.body, "a repeated id gets the first reply");
    tab.assert_silent_for(200).await;
}

#[actix_rt::test]
async fn an_events_reply_data_is_in_the_answer() {
    let server = start();
    let event = json!({"id": "e-1", "name": "add_todo_after",
        "payload": {"text": "x", "delay_ms": 0}});
    let answer = post(&server, &session(&new_key(), "/events"), event).await;
    assert_eq!(answer.body["status"], "ok");
    assert!(
        answer.body["response"]["data"]["id"].is_string(),
        "{answer:?}"
    );
}

#[actix_rt::test]
async fn an_unknown_event_name_is_an_error_reply_not_an_http_error() {
    let server = start();
    let event = json!({"id": "e-1", "name": "no_such_event"});
    let answer = post(&server, &session(&new_key(), "/events"), event).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["status"], "error");
    assert_eq!(answer.body["response"]["reason"], "unknown_event");
}

#[actix_rt::test]
async fn a_state_patch_is_one_delta_to_every_tab_without_an_event_id() {
    let server = start();
    let key = new_key();
    let (mut a, mut mirror_a) = joined(&server, &key, "a").await;
    let (mut b, mut mirror_b) = joined(&server, &key, "b").await;
    let patch = json!({"patch": add_todo_patch("pushed")});
    let answer = post(&server, &session(&key, "/state"), patch).await;
    assert_eq!(
        (answer.status, answer.body.clone()),
        (200, json!({"seq": 1}))
    );
    let topic = format!("session:{key}");
    for (tab, mirror) in [(&mut a, &mut mirror_a), (&mut b, &mut mirror_b)] {
        let delta = tab.wait_event(&topic, "delta").await;
        assert_eq!(delta.payload["event_id"], Value::Null);
        mirror.apply_delta(&delta.payload);
        assert_eq!(mirror.state["todos"][0]["text"], "pushed");
    }
    let read = get(&server, &session(&key, "")).await;
    assert_eq!(read.body["seq"], 1);
    assert_eq!(read.body["state"], mirror_a.state);
}

#[actix_rt::test]
async fn a_pushed_summary_reaches_summary_joins_with_or_without_a_change() {
    let server = start();
    let key = new_key();
    let mut watcher = Client::connect(&server, "w").await;
    let joined = watcher.join_with(&key, json!({"mode": "summary"})).await;
    assert_eq!(joined["status"], "ok", "{joined}");
    let topic = format!("session:{key}");

    let alone = post(
        &server,
        &session(&key, "/state"),
        json!({"summary": {"n": 1}}),
    )
    .await;
    assert_eq!((alone.status, alone.body.clone()), (200, json!({"seq": 0})));
    let got = watcher.wait_event(&topic, "summary").await;
    assert_eq!(got.payload, json!({"summary": {"n": 1}}));

    let both = json!({"patch": add_todo_patch("x"), "summary": {"n": 2}});
    let answer = post(&server, &session(&key, "/state"), both).await;
    assert_eq!(answer.body, json!({"seq": 1}));
    let got = watcher.wait_event(&topic, "summary").await;
    assert_eq!(got.payload, json!({"summary": {"n": 2}}));
}

#[actix_rt::test]
async fn a_patch_that_does_not_apply_is_refused_and_changes_nothing() {
    let server = start();
    let key = new_key();
    let bad = json!({"patch": [{"op": "replace", "path": "/nothing/here", "value": 1}]});
    let answer = post(&server, &session(&key, "/state"), bad).await;
    answer.assert_refused(422, "invalid_change");
    let read = get(&server, &session(&key, "")).await;
    assert_eq!(read.body["seq"], 0);
}

#[actix_rt::test]
async fn a_whole_state_replaces_the_state() {
    let server = start();
    let key = new_key();
    let (mut tab, mut mirror) = joined(&server, &key, "a").await;
    let state = json!({"todos": [{"id": "1", "text": "whole", "done": true}],
        "jobs": {}, "chain_count": 4});
    let answer = post(&server, &session(&key, "/state"), json!({"state": state})).await;
    assert_eq!(answer.body, json!({"seq": 1}));
    tab.catch_up(&key, &mut mirror, 1).await;
    assert_eq!(mirror.state, state);
    assert_eq!(get(&server, &session(&key, "")).await.body["state"], state);
}

#[actix_rt::test]
async fn a_state_the_app_cannot_read_is_refused() {
    let server = start();
    let key = new_key();
    let answer = post(
        &server,
        &session(&key, "/state"),
        json!({"state": {"todos": 5}}),
    )
    .await;
    answer.assert_refused(422, "invalid_change");
    assert_eq!(get(&server, &session(&key, "")).await.body["seq"], 0);
}

#[actix_rt::test]
async fn an_effect_goes_to_every_tab_or_to_one() {
    let server = start();
    let key = new_key();
    let topic = format!("session:{key}");
    let (mut a, _) = joined(&server, &key, "a").await;
    let (mut b, _) = joined(&server, &key, "b").await;
    let to_all = json!({"kind": "toast", "data": {"text": "all"}});
    let answer = post(&server, &session(&key, "/effects"), to_all.clone()).await;
    assert_eq!((answer.status, answer.body), (200, json!({})));
    for tab in [&mut a, &mut b] {
        assert_eq!(tab.wait_event(&topic, "effect").await.payload, to_all);
    }

    let to_a = json!({"kind": "toast", "data": {"text": "only a"}, "tab": "a"});
    assert_eq!(
        post(&server, &session(&key, "/effects"), to_a).await.status,
        200
    );
    let effect = a.wait_event(&topic, "effect").await;
    assert_eq!(
        effect.payload,
        json!({"kind": "toast", "data": {"text": "only a"}})
    );
    b.assert_silent_for(200).await;
}

#[actix_rt::test]
async fn a_task_update_is_refused_once_the_task_was_cancelled() {
    let server = start();
    let key = new_key();
    let topic = format!("session:{key}");
    let (mut tab, _) = joined(&server, &key, "a").await;
    start_job(&server, &key, "j").await;
    assert_eq!(
        tab.wait_event(&topic, "task").await.payload["status"],
        "running"
    );
    let update =
        json!({"task": "j", "patch": [{"op": "replace", "path": "/jobs/j/progress", "value": 5}]});
    let answer = post(&server, &session(&key, "/state"), update.clone()).await;
    assert_eq!((answer.status, answer.body), (200, json!({"seq": 2})));

    let cancel = post(&server, &session(&key, "/tasks/j/cancel"), Value::Null).await;
    assert_eq!(cancel.body, json!({"cancelled": true}));
    let task = tab.wait_event(&topic, "task").await;
    assert_eq!(task.payload, json!({"task": "j", "status": "cancelled"}));
    post(&server, &session(&key, "/state"), update)
        .await
        .assert_refused(410, "task_gone");
    let again = post(&server, &session(&key, "/tasks/j/cancel"), Value::Null).await;
    assert_eq!(again.body, json!({"cancelled": false}));
}

#[actix_rt::test]
async fn ending_a_task_applies_its_change_and_tells_the_tabs_in_one_step() {
    let server = start();
    let key = new_key();
    let topic = format!("session:{key}");
    let (mut tab, mut mirror) = joined(&server, &key, "a").await;
    start_job(&server, &key, "j").await;
    let running = tab.wait_event(&topic, "task").await;
    assert_eq!(running.payload["status"], "running");
    let end = json!({"status": "done",
        "patch": [{"op": "replace", "path": "/jobs/j/progress", "value": 10}]});
    let answer = post(&server, &session(&key, "/tasks/j/end"), end.clone()).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let seq = answer.body["seq"].as_u64().unwrap();
    // The change, then what the app's `task_ended` made of the end.
    tab.catch_up(&key, &mut mirror, seq).await;
    assert_eq!(
        mirror.state["jobs"]["j"],
        json!({"progress": 10, "steps": 10, "status": "done"})
    );
    let task = tab.wait_event(&topic, "task").await;
    assert_eq!(task.payload, json!({"task": "j", "status": "done"}));
    assert_eq!(get(&server, &session(&key, "")).await.body["seq"], seq);
    let again = post(&server, &session(&key, "/tasks/j/end"), end).await;
    again.assert_refused(410, "task_gone");
}

#[actix_rt::test]
async fn a_failed_end_carries_its_error_to_the_tabs() {
    let server = start();
    let key = new_key();
    let topic = format!("session:{key}");
    let (mut tab, _) = joined(&server, &key, "a").await;
    start_job(&server, &key, "j").await;
    let running = tab.wait_event(&topic, "task").await;
    assert_eq!(running.payload["status"], "running");
    let end = json!({"status": "failed", "error": "the printer is on fire"});
    assert_eq!(
        post(&server, &session(&key, "/tasks/j/end"), end)
            .await
            .status,
        200
    );
    let task = tab.wait_event(&topic, "task").await;
    assert_eq!(
        task.payload,
        json!({"task": "j", "status": "failed", "error": "the printer is on fire"})
    );
}

#[actix_rt::test]
async fn reading_a_key_never_seen_gives_the_initial_state_and_no_tabs() {
    let server = start();
    let read = get(&server, &session(&new_key(), "")).await;
    assert_eq!(read.status, 200);
    assert_eq!(
        read.body["state"],
        json!({"todos": [], "jobs": {}, "chain_count": 0})
    );
    assert_eq!(read.body["seq"], 0);
    assert!(read.body["epoch"].is_string());
    assert_eq!(read.body["tabs"], json!([]));
}

#[actix_rt::test]
async fn reading_a_session_lists_its_tabs() {
    let server = start();
    let key = new_key();
    let before = unix_ms();
    let (_a, _) = joined(&server, &key, "a").await;
    let read = get(&server, &session(&key, "")).await;
    let tabs = read.body["tabs"].as_array().unwrap();
    assert_eq!(tabs.len(), 1);
    assert_eq!(tabs[0]["tab_id"], "a");
    assert_eq!(tabs[0]["visibility"], "visible");
    assert_eq!(tabs[0]["leader"], true);
    let joined_ms = tabs[0]["joined_ms"].as_u64().unwrap();
    assert!((before..=unix_ms()).contains(&joined_ms), "{joined_ms}");
}

#[actix_rt::test]
async fn stop_saves_the_session_and_a_later_call_loads_it_again() {
    let server = start();
    let key = new_key();
    let event = json!({"id": "e-1", "name": "add_todo", "payload": {"text": "kept"}});
    post(&server, &session(&key, "/events"), event).await;
    let stop = post(&server, &session(&key, "/stop"), Value::Null).await;
    assert_eq!((stop.status, stop.body), (200, json!({"was_live": true})));
    assert_eq!(server.hub.stats().await.unwrap().sessions, 0);
    let read = get(&server, &session(&key, "")).await;
    assert_eq!(read.body["seq"], 1);
    assert_eq!(read.body["state"]["todos"][0]["text"], "kept");
    let other = post(&server, &session(&new_key(), "/stop"), Value::Null).await;
    assert_eq!(other.body, json!({"was_live": false}));
}

#[actix_rt::test]
async fn delete_forgets_the_session_and_a_later_read_starts_a_new_epoch() {
    let server = start();
    let key = new_key();
    let event = json!({"id": "e-1", "name": "add_todo", "payload": {"text": "gone"}});
    post(&server, &session(&key, "/events"), event).await;
    let before = get(&server, &session(&key, "")).await;
    // Saved first, so that the store keeps something to delete.
    post(&server, &session(&key, "/stop"), Value::Null).await;
    let deleted = call(&server, Method::DELETE, &session(&key, ""), None).await;
    assert_eq!(
        (deleted.status, deleted.body),
        (200, json!({"deleted": true}))
    );
    let after = get(&server, &session(&key, "")).await;
    assert_eq!(after.body["seq"], 0);
    assert_eq!(after.body["state"]["todos"], json!([]));
    assert_ne!(after.body["epoch"], before.body["epoch"]);
    let never = call(&server, Method::DELETE, &session(&new_key(), ""), None).await;
    assert_eq!(never.body, json!({"deleted": false}));
}

#[actix_rt::test]
async fn stats_count_this_nodes_sessions_sockets_tabs_and_summary_joins() {
    let server = start();
    let empty = get(&server, "/api/stats").await;
    assert_eq!(empty.status, 200);
    assert_eq!(
        empty.body,
        json!({"sessions": 0, "connections": 0, "tabs": 0, "summary_joins": 0})
    );
    let key = new_key();
    let (_tab, _mirror) = joined(&server, &key, "a").await;
    let mut watcher = Client::connect(&server, "w").await;
    let summary = watcher
        .join_with(&new_key(), json!({"mode": "summary"}))
        .await;
    assert_eq!(summary["status"], "ok", "{summary}");
    let counted = get(&server, "/api/stats").await;
    assert_eq!(
        counted.body,
        json!({"sessions": 1, "connections": 2, "tabs": 1, "summary_joins": 1})
    );
    let unauthorized =
        api_client::call_raw(&server, Method::GET, "/api/stats", None, Vec::new()).await;
    assert_eq!(unauthorized.status, 401);
    let metrics = server.hub.metrics_text().await;
    assert!(
        metrics.contains(r#"tabhub_api_requests_total{route="GET /stats",status="200"} 2"#),
        "{metrics}"
    );
}

fn unix_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(since.as_millis()).unwrap()
}
