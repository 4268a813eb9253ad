//! The app proxy against a backend that answers what each test asks,
//! faults included (`common::fault_backend`): what tabhub sends each call,
//! what each part of an answer does, and how each kind of failed call
//! becomes a clear event error that changes nothing. The end-to-end tests
//! with the example's Python backend are in `python_backend.rs`.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::fault_backend::FaultBackend;
use common::{joined_pair, new_key, start_server, Client, Server};
use serde_json::{json, Value};
use tabhub::proxy::{Proxy, ProxyConfig};
use tabhub::{Config, MemoryStore, SessionKey, StateChange, TaskEnd};

fn start(backend: &FaultBackend, adjust: impl FnOnce(&mut ProxyConfig)) -> Server<Proxy> {
    let mut proxy = ProxyConfig::new(backend.url());
    adjust(&mut proxy);
    start_server(
        Proxy::new(proxy),
        Config::default(),
        Arc::new(MemoryStore::new()),
    )
}

/// An event that makes the backend answer `answer`.
fn answering(answer: Value) -> Value {
    json!({ "answer": answer })
}

#[actix_rt::test]
async fn each_event_reaches_the_backend_with_its_session_tab_id_seq_state_and_the_token() {
    let backend = FaultBackend::start();
    let server = start(&backend, |c| c.token = Some("app-secret".into()));
    let (key, mut a, _b) = joined_pair(&server).await;
    let r = a.event_with_id(&key, "ev-1", "echo", json!({"x": 1})).await;
    let sent = &r["response"]["data"];
    assert_eq!(sent["key"], key.as_str());
    assert_eq!(sent["tab_id"], "a");
    assert_eq!(sent["seq"], 0);
    assert_eq!(
        sent["state"],
        json!({}),
        "a new key starts from {{}} when the backend has no initial state"
    );
    assert_eq!(
        sent["event"],
        json!({"id": "ev-1", "name": "echo", "payload": {"x": 1}, "chain": null})
    );
    let call = &backend.calls_to("event")[0];
    assert_eq!(call.authorization.as_deref(), Some("Bearer app-secret"));
}

#[actix_rt::test]
async fn with_no_state_the_call_leaves_the_state_out() {
    let backend = FaultBackend::start();
    let server = start(&backend, |c| c.send_state = false);
    let (key, mut a, _b) = joined_pair(&server).await;
    let r = a.event(&key, "echo", json!({})).await;
    let sent = r["response"]["data"].as_object().unwrap();
    assert!(!sent.contains_key("state"), "{r}");
    assert_eq!(sent["seq"], 0);
}

#[actix_rt::test]
async fn an_answer_changes_the_state_sends_its_effects_replies_and_sets_the_summary() {
    let backend = FaultBackend::start();
    let server = start(&backend, |_| {});
    let (key, mut a, mut b) = joined_pair(&server).await;
    let topic = format!("session:{key}");
    let answer = json!({
        "patch": [{"op": "add", "path": "/n", "value": 1}],
        "effects": [
            {"kind": "mine", "data": 1},
            {"kind": "everyone", "data": 2, "to": "all"},
            {"kind": "for_b", "data": 3, "to": {"tab": "b"}},
        ],
        "reply": {"ok": true},
        "summary": {"n": 1},
    });
    let r = a.event(&key, "answer", answering(answer)).await;
    assert_eq!(
        r,
        json!({"status": "ok", "response": {"seq": 1, "data": {"ok": true}}})
    );
    // The reply comes after the step's delta and effects.
    let kinds = |c: &mut Client| -> Vec<String> {
        c.drain_buffer()
            .into_iter()
            .filter(|m| m.event == "delta" || m.event == "effect")
            .map(|m| m.payload["kind"].as_str().unwrap_or("delta").to_owned())
            .collect()
    };
    assert_eq!(kinds(&mut a), ["delta", "mine", "everyone"]);
    b.wait_for(|m| m.event == "effect" && m.payload["kind"] == "for_b")
        .await;
    assert_eq!(kinds(&mut b), ["delta", "everyone"]);
    let _ = &topic;

    let mut watcher = Client::connect(&server, "w").await;
    let joined = watcher.join_with(&key, json!({"mode": "summary"})).await;
    assert_eq!(joined["response"]["summary"], json!({"n": 1}), "{joined}");

    let whole = answering(json!({"state": {"replaced": true}}));
    let r = a.event(&key, "answer", whole).await;
    assert_eq!(r["response"]["seq"], 2);
    let view = server
        .hub
        .session(&SessionKey::parse(&key).unwrap())
        .state()
        .await
        .unwrap();
    assert_eq!(view.state.0, json!({"replaced": true}));
}

#[actix_rt::test]
async fn every_kind_of_failed_call_fails_its_event_with_a_clear_reason_and_changes_nothing() {
    let backend = FaultBackend::start();
    let server = start(&backend, |c| {
        c.timeout = Duration::from_millis(1000);
        c.max_answer_bytes = 64 * 1024;
    });
    let (key, mut a, _b) = joined_pair(&server).await;
    let bad_answers = [
        json!({"state": {}, "patch": []}),
        json!({"patch": [{"op": "remove", "path": "/missing"}]}),
        json!({"patch": "not a patch"}),
        json!({"effects": [{"kind": "x", "to": "nobody"}]}),
        json!({"effects": [{"kind": "x", "to": {"tab": ""}}]}),
    ];
    for answer in bad_answers {
        let r = a.event(&key, "answer", answering(answer.clone())).await;
        assert_eq!(
            r["response"]["reason"], "backend_invalid_answer",
            "{answer}: {r}"
        );
    }
    let r = a.event(&key, "not_json", json!({})).await;
    assert_eq!(r["response"]["reason"], "backend_invalid_answer", "{r}");
    let r = a.event(&key, "huge", json!({})).await;
    assert_eq!(r["response"]["reason"], "backend_invalid_answer", "{r}");
    let r = a.event(&key, "status_500", json!({})).await;
    assert_eq!(r["response"]["reason"], "backend_error", "{r}");
    assert_eq!(r["response"]["data"], json!({"status": 500}));
    assert!(
        r["response"]["message"]
            .as_str()
            .unwrap()
            .contains("database is down"),
        "{r}"
    );
    let r = a.event(&key, "slow", json!({"ms": 3000})).await;
    assert_eq!(r["response"]["reason"], "backend_timeout", "{r}");

    // Nothing of them happened: the next change is seq 1.
    let ok = answering(json!({"patch": [{"op": "add", "path": "/n", "value": 1}]}));
    assert_eq!(a.event(&key, "answer", ok).await["response"]["seq"], 1);
}

#[actix_rt::test]
async fn an_unreachable_backend_fails_events_with_backend_unavailable() {
    let free = common::process::free_port();
    let proxy = ProxyConfig::new(format!("http://127.0.0.1:{free}/nothing"));
    let server = start_server(
        Proxy::new(proxy),
        Config::default(),
        Arc::new(MemoryStore::new()),
    );
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    // The join is asked of the backend too: refused while it is down.
    let r = a.join_with(&key, json!({})).await;
    assert_eq!(r["response"]["reason"], "unauthorized", "{r}");
}

#[actix_rt::test]
async fn the_backends_refusal_reaches_the_tab_with_its_reason_message_and_data() {
    let backend = FaultBackend::start();
    let server = start(&backend, |_| {});
    let (key, mut a, _b) = joined_pair(&server).await;
    let refusal =
        json!({"error": {"reason": "out_of_stock", "message": "sold out", "data": {"in_days": 3}}});
    let r = a.event(&key, "answer", answering(refusal)).await;
    assert_eq!(
        r,
        json!({"status": "error", "response": {"reason": "out_of_stock", "message": "sold out", "data": {"in_days": 3}}})
    );
    let r = a.event(&key, "nothing_like_it", json!({})).await;
    assert_eq!(r["response"]["reason"], "unknown_event");
    let protocol = json!({"error": {"reason": "capacity", "message": "no"}});
    let r = a.event(&key, "answer", answering(protocol)).await;
    assert_eq!(
        r["response"]["reason"], "handler_error",
        "a protocol reason is not the app's: {r}"
    );
}

#[actix_rt::test]
async fn every_join_is_asked_of_the_backend_with_what_the_operator_forwards() {
    let backend = FaultBackend::start();
    let server = start(&backend, |c| {
        c.forward_headers = vec!["x-user".into()];
        c.forward_peer = true;
    });
    let key = new_key();
    let url = server
        .srv
        .url("/socket/websocket?vsn=2.0.0&tab_id=a&room=7");
    let mut a = Client::try_connect_with(&url, "a", &[("x-user", "ada"), ("x-other", "no")])
        .await
        .unwrap();
    a.join_with(&key, json!({"role": "editor"})).await;
    let r = a.join_with(&key, json!({"deny": true})).await;
    assert_eq!(
        r["response"]["reason"], "unauthorized",
        "a rejoin is asked again: {r}"
    );
    let joins = backend.calls_to("join");
    assert_eq!(joins.len(), 2);
    let first = &joins[0].body;
    assert_eq!(first["key"], key.as_str());
    assert_eq!(first["tab_id"], "a");
    assert_eq!(first["params"], json!({"role": "editor"}));
    assert_eq!(first["connect_params"], json!({"room": "7"}));
    assert_eq!(first["headers"], json!({"x-user": "ada"}));
    assert!(
        first["peer"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{first}"
    );
}

#[actix_rt::test]
async fn a_new_keys_state_comes_from_the_backend_and_a_failure_refuses_its_joins_until_it_answers()
{
    let backend = FaultBackend::start();
    let server = start(&backend, |_| {});
    backend.behaviour.lock().unwrap().initial_status = 500;
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    let r = a.join_with(&key, json!({})).await;
    assert_eq!(r["response"]["reason"], "store_error", "{r}");
    backend.behaviour.lock().unwrap().initial_status = 200;
    let joined = a.join(&key, None).await;
    assert_eq!(joined["state"], json!({"fresh": true}));
    assert_eq!(backend.calls_to("initial_state").len(), 2);
}

#[actix_rt::test]
async fn a_task_an_answer_starts_runs_until_server_code_ends_it_and_a_cancel_tells_the_backend() {
    let backend = FaultBackend::start();
    let server = start(&backend, |_| {});
    let (key, mut a, mut b) = joined_pair(&server).await;
    let topic = format!("session:{key}");
    let start = answering(json!({"tasks": {"start": ["t1", "t2"]}}));
    assert_eq!(a.event(&key, "answer", start).await["status"], "ok");
    let handle = server.hub.session(&SessionKey::parse(&key).unwrap());
    let progress = StateChange::Patch(
        serde_json::from_value(json!([{"op": "add", "path": "/p", "value": 5}])).unwrap(),
    );
    handle.update_task("t1", progress).await.unwrap();
    handle
        .end_task("t1", TaskEnd::Done, tabhub::Push::default())
        .await
        .unwrap();
    b.wait_for(|m| m.event == "task" && m.payload == json!({"task": "t1", "status": "done"}))
        .await;

    let r = b.push(&topic, "cancel", json!({"task": "t2"})).await;
    assert_eq!(b.reply(&r).await["response"], json!({"cancelled": true}));
    a.wait_for(|m| {
        m.event == "task" && m.payload["task"] == "t2" && m.payload["status"] == "cancelled"
    })
    .await;
    // The backend's answer to URL/cancel is applied as one more delta.
    let d = a
        .wait_for(|m| m.event == "delta" && m.payload["patch"][0]["path"] == "/cancelled")
        .await;
    assert_eq!(d.payload["event_id"], Value::Null);
    assert_eq!(backend.calls_to("cancel")[0].body["task"], "t2");
    let gone = handle
        .update_task("t2", StateChange::Replace(json!({})))
        .await;
    assert_eq!(gone, Err(tabhub::HandleError::TaskGone));
}

#[actix_rt::test]
async fn a_chain_from_an_answer_reaches_the_backend_once_with_its_chain_id() {
    let backend = FaultBackend::start();
    let server = start(&backend, |_| {});
    let (key, mut a, mut b) = joined_pair(&server).await;
    let topic = format!("session:{key}");
    let chained = answering(json!({"chains": [{"name": "echo", "payload": {"step": 1}}]}));
    assert_eq!(a.event(&key, "answer", chained).await["status"], "ok");
    let chain = a.wait_event(&topic, "chain").await.payload;
    let resubmit = |id: &str| json!({"id": id, "name": "echo", "payload": {"step": 1, "client": "x"}, "chain": chain["chain"]});
    let first = a.push(&topic, "event", resubmit("r1")).await;
    let first = a.reply(&first).await;
    let again = b.push(&topic, "event", resubmit("r2")).await;
    assert_eq!(b.reply(&again).await, first);
    let echoed: Vec<_> = backend
        .calls_to("event")
        .into_iter()
        .filter(|c| c.body["event"]["chain"].is_string())
        .collect();
    assert_eq!(echoed.len(), 1, "the chain reached the backend once");
    assert_eq!(echoed[0].body["event"]["chain"], chain["chain"]);
    assert_eq!(
        echoed[0].body["event"]["payload"],
        json!({"step": 1, "client": "x"})
    );
}

#[actix_rt::test]
async fn calls_in_flight_stay_within_the_bound_over_every_session() {
    let backend = FaultBackend::start();
    let server = start(&backend, |c| c.max_concurrency = 2);
    let mut tabs = Vec::new();
    for i in 0..5 {
        let key = new_key();
        let mut c = Client::connect(&server, &format!("t{i}")).await;
        c.join(&key, None).await;
        tabs.push((key, c));
    }
    let mut pending = Vec::new();
    for (key, c) in &mut tabs {
        let r = c
            .push(
                &format!("session:{key}"),
                "event",
                json!({"id": "s", "name": "slow", "payload": {"ms": 200}}),
            )
            .await;
        pending.push(r);
    }
    for ((_, c), r) in tabs.iter_mut().zip(pending) {
        assert_eq!(c.reply(&r).await["status"], "ok");
    }
    assert_eq!(
        backend.in_flight.1.load(Ordering::SeqCst),
        2,
        "at most 2 at once, and the bound was reached"
    );
}

#[actix_rt::test]
async fn a_task_the_backend_runs_is_running_again_after_tabhub_restarts() {
    let backend = FaultBackend::start();
    let dir = common::node::TempDir::new("tabhub-proxy-restart");
    // The first hub's threads let go of the database as they stop.
    let open = || async {
        let deadline = std::time::Instant::now() + common::WAIT;
        loop {
            let options = tabhub::RedbOptions {
                path: dir.0.join("db.redb"),
                recent_events: 64,
            };
            match tabhub::RedbStore::open(options) {
                Ok(store) => return Arc::new(store) as Arc<dyn tabhub::Store>,
                Err(e) if std::time::Instant::now() > deadline => panic!("{e}"),
                Err(_) => actix_rt::time::sleep(Duration::from_millis(20)).await,
            }
        }
    };
    let key = SessionKey::parse(&new_key()).unwrap();
    let first = start_server(
        Proxy::new(ProxyConfig::new(backend.url())),
        Config::default(),
        open().await,
    );
    let start =
        json!({"id": "s1", "name": "answer", "payload": {"answer": {"tasks": {"start": ["job"]}}}});
    let handle = first.hub.session(&key);
    let r = handle
        .submit_named("s1", "answer", start["payload"].clone())
        .await
        .unwrap();
    assert!(matches!(r, tabhub::Outcome::Ok { .. }), "{r:?}");
    first.hub.shutdown().await;
    drop(first);

    let second = start_server(
        Proxy::new(ProxyConfig::new(backend.url())),
        Config::default(),
        open().await,
    );
    let handle = second.hub.session(&key);
    let progress = StateChange::Replace(json!({"progress": 1}));
    handle
        .update_task("job", progress)
        .await
        .expect("the task is running again");
    handle
        .end_task("job", TaskEnd::Done, tabhub::Push::default())
        .await
        .unwrap();
    let gone = handle
        .update_task("job", StateChange::Replace(json!({})))
        .await;
    assert_eq!(gone, Err(tabhub::HandleError::TaskGone));
}
