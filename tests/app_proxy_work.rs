//! The app proxy's background tasks, chains, bound on calls in flight and
//! restarts, against the fault backend (`common::fault_backend`); the
//! calls and answers themselves are in `app_proxy.rs`.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::fault_backend::{
    answering, api_post, start_proxy as start, start_proxy_with_api, FaultBackend, API_TOKEN,
};
use common::stores::FailsFor;
use common::{joined_pair, new_key, start_server, Client};
use serde_json::{json, Value};
use tabhub::proxy::{Proxy, ProxyConfig};
use tabhub::{Config, MemoryStore, SessionKey, StateChange, TaskEnd};

/// The task `task` no longer takes updates: it ended.
async fn assert_task_gone(handle: &tabhub::SessionHandle<Proxy>, task: &str) {
    let gone = handle
        .update_task(task, StateChange::Replace(json!({})))
        .await;
    assert_eq!(gone, Err(tabhub::HandleError::TaskGone), "task {task}");
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
    assert_task_gone(&handle, "t2").await;
}

#[actix_rt::test]
async fn a_cancel_through_the_api_the_store_fails_answers_the_error_and_never_reaches_the_backend()
{
    let backend = FaultBackend::start();
    let dir = common::node::TempDir::new("tabhub-proxy-cancel");
    let store = Arc::new(FailsFor::open(&dir.0));
    let server = start_proxy_with_api(&backend, |_| {}, store.clone());
    let key = new_key();
    let sessions = server.srv.url("/api/sessions");
    let start = json!({"id": "s1", "name": "answer",
        "payload": {"answer": {"tasks": {"start": ["job"]}}}});
    let (status, answer) = api_post(&format!("{sessions}/{key}/events"), API_TOKEN, start).await;
    assert_eq!((status, &answer["status"]), (200, &json!("ok")), "{answer}");

    store.fail_key(Some(&key));
    let cancel = format!("{sessions}/{key}/tasks/job/cancel");
    let (status, answer) = api_post(&cancel, API_TOKEN, Value::Null).await;
    assert_eq!(status, 500, "{answer}");
    assert_eq!(answer["reason"], "store_error", "{answer}");

    // The store never had the cancel: reloaded, the task runs on, and the
    // backend was never told it was cancelled.
    store.fail_key(None);
    let handle = server.hub.session(&SessionKey::parse(&key).unwrap());
    let deadline = std::time::Instant::now() + common::WAIT;
    loop {
        match handle
            .update_task("job", StateChange::Replace(json!({"p": 1})))
            .await
        {
            Ok(_) => break,
            Err(e) => assert!(std::time::Instant::now() < deadline, "not running: {e}"),
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(backend.calls_to("cancel").is_empty());
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
async fn events_whose_answers_wait_on_the_api_for_other_sessions_all_finish_at_twice_the_bound() {
    let backend = FaultBackend::start();
    let bound = 2;
    let server = start_proxy_with_api(
        &backend,
        |c| {
            c.max_concurrency = bound;
            c.timeout = Duration::from_millis(3000);
        },
        Arc::new(MemoryStore::new()),
    );
    let api = server.srv.url("/api");
    let mut tabs = Vec::new();
    for i in 0..2 * bound {
        let key = new_key();
        let mut c = Client::connect(&server, &format!("t{i}")).await;
        c.join(&key, None).await;
        tabs.push((key, c));
    }
    // Each event's answer waits for an event the backend submits into
    // another session through the API, which needs a call of its own.
    let mut pending = Vec::new();
    for (key, c) in &mut tabs {
        let nested = json!({"api": api, "token": API_TOKEN, "into": new_key()});
        let event = json!({"id": "n", "name": "nested", "payload": nested});
        pending.push(c.push(&format!("session:{key}"), "event", event).await);
    }
    for ((_, c), r) in tabs.iter_mut().zip(pending) {
        let r = c.reply(&r).await;
        assert_eq!(r["status"], "ok", "{r}");
        let inner = &r["response"]["data"];
        assert_eq!(inner["status"], 200, "{r}");
        assert_eq!(inner["answer"]["status"], "ok", "the API's event: {r}");
    }
}

#[actix_rt::test]
async fn a_session_flooding_the_bound_with_slow_joins_does_not_make_another_sessions_event_time_out(
) {
    let backend = FaultBackend::start();
    let server = start(&backend, |c| {
        c.max_concurrency = 2;
        c.timeout = Duration::from_millis(2000);
    });
    let other = new_key();
    let mut tab = Client::connect(&server, "other").await;
    tab.join(&other, None).await;
    let flooding = new_key();
    let mut flood = Vec::new();
    for i in 0..8 {
        flood.push(Client::connect(&server, &format!("f{i}")).await);
    }
    // Many tabs of one session join against a URL/join that answers after
    // the deadline, just before the other session's event (300 ms of work).
    for c in &mut flood {
        c.send_join(&flooding, json!({"slow_ms": 5000})).await;
    }
    let r = tab.event(&other, "slow", json!({"ms": 300})).await;
    assert_eq!(r["status"], "ok", "{r}");
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
    assert_task_gone(&handle, "job").await;
}

#[actix_rt::test]
async fn a_backend_task_with_no_word_for_the_idle_limit_fails_and_pushes_keep_it_alive() {
    let backend = FaultBackend::start();
    let server = start(&backend, |c| {
        c.task_idle = Some(Duration::from_millis(1000))
    });
    let (key, mut a, _b) = joined_pair(&server).await;
    let start = answering(json!({"tasks": {"start": ["job"]}}));
    assert_eq!(a.event(&key, "answer", start).await["status"], "ok");
    let handle = server.hub.session(&SessionKey::parse(&key).unwrap());
    // Pushes more often than the limit, for longer than it: still running.
    for i in 0..7 {
        actix_rt::time::sleep(Duration::from_millis(200)).await;
        let progress = StateChange::Replace(json!({"progress": i}));
        handle
            .update_task("job", progress)
            .await
            .expect("alive while it pushes");
    }
    // Then silence: the task fails, and says why.
    let failed = a
        .wait_for(|m| m.event == "task" && m.payload["status"] == "failed")
        .await;
    assert_eq!(failed.payload["task"], "job");
    assert_eq!(
        failed.payload["error"],
        "no word from the backend for 1000 ms"
    );
    assert_task_gone(&handle, "job").await;
}
