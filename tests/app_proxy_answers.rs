//! What a backend may not say, against the fault backend
//! (`common::fault_backend`): answers that are not JSON objects where
//! objects belong, refusals with tabhub's own reasons or invalid ones, and
//! error bodies (which go to the log, never to the tab); and the refusals
//! it may give, which reach the tab as they are.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::fault_backend::{answering, proxy_state, start_proxy as start, FaultBackend};
use common::{joined_pair, new_key, Client};
use serde_json::json;
use tabhub::SessionKey;

#[actix_rt::test]
async fn an_answer_with_an_array_where_an_object_belongs_is_invalid_and_changes_nothing() {
    let backend = FaultBackend::start();
    let server = start(&backend, |_| {});
    let (key, mut a, _b) = joined_pair(&server).await;
    // serde's derive would read each of these by position.
    let positional = [
        json!([{"stolen": true}]),
        json!({"error": ["out_of_stock", "sold out"]}),
        json!({"effects": [["toast", {"text": "hi"}, "all"]]}),
        json!({"effects": [{"kind": "toast", "to": ["b"]}]}),
        json!({"chains": [["echo", {}]]}),
        json!({"tasks": [["job-1"], []]}),
        json!({"patch": [["add", "/stolen", true]]}),
    ];
    for answer in positional {
        let r = a.event(&key, "answer", answering(answer.clone())).await;
        assert_eq!(
            r["response"]["reason"], "backend_invalid_answer",
            "{answer}: {r}"
        );
    }
    let ok = answering(json!({"patch": [{"op": "add", "path": "/n", "value": 1}]}));
    assert_eq!(a.event(&key, "answer", ok).await["response"]["seq"], 1);
    assert_eq!(
        proxy_state(&server, &key).await,
        json!({"n": 1}),
        "nothing else happened"
    );
    assert!(a
        .drain_buffer()
        .iter()
        .all(|m| m.event != "effect" && m.event != "chain" && m.event != "task"));

    // The answers to URL/join and URL/initial_state too.
    backend.behaviour.lock().unwrap().join_answer = Some(json!([true]));
    let mut c = Client::connect(&server, "c").await;
    let r = c.join_with(&key, json!({})).await;
    assert_eq!(r["status"], "error", "[true] does not allow a join: {r}");
    backend.behaviour.lock().unwrap().join_answer = None;
    backend.behaviour.lock().unwrap().initial_answer = Some(json!([{"stolen": true}]));
    let r = c.join_with(&new_key(), json!({})).await;
    assert_eq!(r["status"], "error", "not an initial state: {r}");
}

#[actix_rt::test]
async fn a_backend_cannot_refuse_with_tabhubs_own_reasons_and_an_invalid_reason_is_an_invalid_answer(
) {
    let backend = FaultBackend::start();
    let server = start(&backend, |_| {});
    let (key, mut a, _b) = joined_pair(&server).await;
    let refuse = |reason: &str| answering(json!({"error": {"reason": reason, "message": "no"}}));
    let tabhubs = [
        "backend_timeout",
        "backend_unavailable",
        "backend_error",
        "backend_invalid_answer",
        "queue_full",
    ];
    for reason in tabhubs {
        let r = a.event(&key, "answer", refuse(reason)).await;
        assert_eq!(r["response"]["reason"], "handler_error", "{reason}: {r}");
    }
    let too_long = "a".repeat(65);
    for reason in [
        "OutOfStock",
        "out-of-stock",
        "9_lives",
        "",
        too_long.as_str(),
    ] {
        let r = a.event(&key, "answer", refuse(reason)).await;
        assert_eq!(
            r["response"]["reason"], "backend_invalid_answer",
            "{reason:?}: {r}"
        );
    }
    let longest = "a".repeat(64);
    let r = a.event(&key, "answer", refuse(&longest)).await;
    assert_eq!(r["response"]["reason"], longest.as_str(), "{r}");
}

#[actix_rt::test]
async fn a_backends_error_body_goes_to_the_log_with_the_short_key_and_not_to_the_tab() {
    let backend = FaultBackend::start();
    let (server, addr) = common::process::start_tabhub(&["--app-url", &backend.url()]);
    let url = format!("http://{addr}/socket/websocket?vsn=2.0.0&tab_id=a");
    let mut a = Client::connect_url(&url, "a").await;
    let key = new_key();
    a.join(&key, None).await;
    let r = a.event(&key, "status_500", json!({})).await;
    assert_eq!(r["response"]["reason"], "backend_error", "{r}");
    assert!(!r.to_string().contains("database is down"), "{r}");
    let short = SessionKey::parse(&key).unwrap().to_string();
    let logged = |server: &common::process::Guard| {
        server
            .output()
            .lines()
            .any(|l| l.contains("WARN") && l.contains("database is down") && l.contains(&short))
    };
    for _ in 0..100 {
        if logged(&server) {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    let output = server.output();
    assert!(logged(&server), "a warning in the session's span: {output}");
    assert!(!output.contains(&key), "no full key in the log: {output}");
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
