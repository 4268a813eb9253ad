//! The app proxy against a backend that answers what each test asks,
//! faults included (`common::fault_backend`): what tabhub sends each call,
//! what each part of an answer does, and how each kind of failed call
//! becomes a clear event error that changes nothing. What a backend may
//! not answer is in `app_proxy_answers.rs`; the end-to-end tests with the
//! example's Python backend are in `python_backend.rs`.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::fault_backend::{answering, proxy_state, start_proxy as start, FaultBackend};
use common::{joined_pair, new_key, start_server, Client};
use serde_json::json;
use tabhub::proxy::{Proxy, ProxyConfig};
use tabhub::{Config, MemoryStore};

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
    let members = sent.as_object().unwrap();
    assert!(
        !members.contains_key("headers") && !members.contains_key("peer"),
        "none forwarded: {sent}"
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
    assert_eq!(proxy_state(&server, &key).await, json!({"replaced": true}));
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
    let message = r["response"]["message"].as_str().unwrap();
    assert!(message.contains("500"), "{r}");
    assert!(
        !message.contains("database is down"),
        "the backend's error body stays out of the browser: {r}"
    );
    let r = a.event(&key, "slow", json!({"ms": 3000})).await;
    assert_eq!(r["response"]["reason"], "backend_timeout", "{r}");

    // Nothing of them happened: the next change is seq 1.
    let ok = answering(json!({"patch": [{"op": "add", "path": "/n", "value": 1}]}));
    assert_eq!(a.event(&key, "answer", ok).await["response"]["seq"], 1);
}

#[actix_rt::test]
async fn an_unreachable_backend_fails_events_with_backend_unavailable_and_joins_with_unavailable() {
    let free = common::process::free_port();
    let proxy = ProxyConfig::new(format!("http://127.0.0.1:{free}/nothing"));
    let server = start_server(
        Proxy::new(proxy),
        Config::default(),
        Arc::new(MemoryStore::new()),
    );
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    // The join is asked of the backend too: it could not decide, so the
    // refusal is the retryable one, not the final `unauthorized`.
    let r = a.join_with(&key, json!({})).await;
    assert_eq!(r["response"]["reason"], "unavailable", "{r}");
}

#[actix_rt::test]
async fn a_join_the_backend_could_not_decide_gets_unavailable_and_only_allow_false_is_unauthorized()
{
    let backend = FaultBackend::start();
    let server = start(&backend, |c| c.timeout = Duration::from_millis(1000));
    let key = new_key();
    let mut a = Client::connect(&server, "a").await;
    for status in [500, 503, 404] {
        backend.behaviour.lock().unwrap().join_status = status;
        let r = a.join_with(&key, json!({})).await;
        assert_eq!(r["response"]["reason"], "unavailable", "HTTP {status}: {r}");
    }
    backend.behaviour.lock().unwrap().join_status = 200;
    let r = a.join_with(&key, json!({"deny": true})).await;
    assert_eq!(r["response"]["reason"], "unauthorized", "{r}");
    // Back up: the same tab's next join is let in.
    a.join(&key, None).await;
    assert_eq!(backend.calls_to("join").len(), 5);
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
    // Each event says who sent it, as the join did.
    let r = a.event(&key, "echo", json!({})).await;
    let sent = &r["response"]["data"];
    assert_eq!(sent["headers"], json!({"x-user": "ada"}), "{r}");
    assert!(
        sent["peer"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{r}"
    );
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
async fn backend_calls_are_counted_by_call_and_outcome_on_the_metrics_page() {
    let backend = FaultBackend::start();
    let server = start(&backend, |_| {});
    let (key, mut a, _b) = joined_pair(&server).await;
    a.event(&key, "echo", json!({})).await;
    a.event(&key, "status_500", json!({})).await;
    let text = server.hub.metrics_text().await;
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let count = |call: &str, outcome: &str| {
        scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == "tabhub_backend_calls_total"
                    && s.labels.get("call") == Some(call)
                    && s.labels.get("outcome") == Some(outcome)
            })
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) => v,
                _ => panic!("not a counter: {s:?}"),
            })
    };
    assert_eq!(count("event", "ok"), Some(1.0));
    assert_eq!(count("event", "status"), Some(1.0));
    assert_eq!(count("join", "ok"), Some(2.0));
    assert_eq!(count("initial_state", "not_found"), Some(1.0));
    assert!(
        text.contains("tabhub_backend_call_seconds_bucket{call=\"event\""),
        "{text}"
    );
    assert!(text.contains("tabhub_backend_calls_in_flight 0"), "{text}");
    assert!(
        text.contains("tabhub_sessions_live"),
        "tabhub's own metrics are still there"
    );
}
