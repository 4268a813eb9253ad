//! tabhub as a service for a backend in another language: the real
//! `tabhub --app-url` process (redb store) and the example's FastAPI
//! backend (`examples/python/`) as a real process, checked over real
//! WebSockets for what the embedded demo's tests check: shared state, a
//! blip that keeps the session, a toast for its tab only, a background job
//! that runs with no tab open and is cancelled from any tab, a chain
//! handled once, and a slow or stopped backend that fails events clearly
//! without holding up other sessions.
//!
//! Needs `bash examples/python/venv.sh` (the README's test command runs
//! it); fails with that hint otherwise.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::python::{Pair, API_TOKEN};
use common::{new_key, Client, Mirror, Msg};
use serde_json::{json, Value};

/// A tab of `pair` with id `tab`.
async fn tab(pair: &Pair, tab: &str) -> Client {
    Client::connect_url(&pair.socket_url(tab, ""), tab).await
}

/// `GET /api/sessions/KEY` through the server API.
async fn read_session(pair: &Pair, key: &str) -> Value {
    let mut response = awc::Client::default()
        .get(format!("http://{}/api/sessions/{key}", pair.addr))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", pair.output());
    response.json().await.unwrap()
}

fn is_task(status: &'static str) -> impl Fn(&Msg) -> bool {
    move |m| m.event == "task" && m.payload["status"] == status
}

#[actix_rt::test]
async fn two_tabs_share_one_state_kept_by_tabhub_and_decided_by_the_backend() {
    let pair = Pair::start(&[], &[]);
    let key = new_key();
    let mut a = tab(&pair, "a").await;
    let mut b = tab(&pair, "b").await;
    let (mut ma, joined) = a.join_mirror(&key, None).await;
    assert_eq!(
        joined["state"],
        json!({"todos": [], "jobs": {}, "chain_count": 0})
    );
    let (mut mb, _) = b.join_mirror(&key, None).await;

    let r = a.event(&key, "add_todo", json!({"text": "milk"})).await;
    assert_eq!(r, json!({"status": "ok", "response": {"seq": 1}}));
    let r = b
        .event(
            &key,
            "add_todo_after",
            json!({"text": "eggs", "delay_ms": 20}),
        )
        .await;
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(r["response"]["seq"], 2);
    let id = r["response"]["data"]["id"].as_str().unwrap().to_owned();
    a.catch_up(&key, &mut ma, 2).await;
    b.catch_up(&key, &mut mb, 2).await;
    assert_eq!(ma.state, mb.state);
    assert_eq!(ma.state["todos"][1]["id"], id.as_str());

    // The backend's refusals reach the tab with its reasons.
    let r = a.event(&key, "add_todo", json!({"text": "  "})).await;
    assert_eq!(r["response"]["reason"], "invalid_payload", "{r}");
    let r = a
        .event(&key, "add_todo", json!({"text": "x".repeat(100_001)}))
        .await;
    assert_eq!(r["response"]["reason"], "too_long", "{r}");
    assert_eq!(r["response"]["data"], json!({"max": 100000}));
    let r = a.event(&key, "no_such_event", json!({})).await;
    assert_eq!(r["response"]["reason"], "unknown_event", "{r}");
    let seen = read_session(&pair, &key).await;
    assert_eq!(seen["seq"], 2, "refused events changed nothing");
    assert_eq!(seen["state"], ma.state);
}

#[actix_rt::test]
async fn a_network_blip_keeps_the_session_and_the_tab_resumes_by_replay() {
    let pair = Pair::start(&[], &[]);
    let key = new_key();
    let mut a = tab(&pair, "a").await;
    let mut b = tab(&pair, "b").await;
    let (mut ma, first) = a.join_mirror(&key, None).await;
    b.join(&key, None).await;
    a.event(&key, "add_todo", json!({"text": "before"})).await;
    a.catch_up(&key, &mut ma, 1).await;
    drop(a);

    for text in ["while away 1", "while away 2"] {
        let r = b.event(&key, "add_todo", json!({"text": text})).await;
        assert_eq!(r["status"], "ok", "{r}");
    }
    let mut a = tab(&pair, "a").await;
    let (ma, again) = a.join_mirror(&key, Some(&ma)).await;
    assert_eq!(again["resume"], "replay", "{again}");
    assert_eq!(again["epoch"], first["epoch"]);
    assert_eq!(ma.seq, 3);
    assert_eq!(ma.todo_texts(), ["before", "while away 1", "while away 2"]);
}

#[actix_rt::test]
async fn a_toast_reaches_only_the_tab_that_asked() {
    let pair = Pair::start(&[], &[]);
    let key = new_key();
    let mut a = tab(&pair, "a").await;
    let mut b = tab(&pair, "b").await;
    a.join(&key, None).await;
    b.join(&key, None).await;
    let r = a.event(&key, "toast", json!({"text": "hello"})).await;
    assert_eq!(r["status"], "ok", "{r}");
    let effect = a.wait_event(&format!("session:{key}"), "effect").await;
    assert_eq!(
        effect.payload,
        json!({"kind": "toast", "data": {"text": "hello"}})
    );
    b.assert_silent_for(300).await;
}

#[actix_rt::test]
async fn a_job_progresses_with_no_tab_open_and_is_cancelled_from_another_tab() {
    let pair = Pair::start(&[], &[]);
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = tab(&pair, "a").await;
    let (ma, _) = a.join_mirror(&key, None).await;
    let job = json!({"key": "report", "steps": 200, "step_ms": 50});
    let r = a.event(&key, "start_job", job).await;
    assert_eq!(r["status"], "ok", "{r}");
    a.wait_for(is_task("running")).await;
    drop(a);

    // No tab is joined: the backend pushes progress through the API.
    let deadline = Instant::now() + Duration::from_secs(10);
    let progress = loop {
        let seen = read_session(&pair, &key).await;
        let progress = seen["state"]["jobs"]["report"]["progress"]
            .as_u64()
            .unwrap();
        assert_eq!(seen["tabs"], json!([]), "no tab is joined");
        if progress >= 3 {
            break progress;
        }
        assert!(
            Instant::now() < deadline,
            "no progress without a tab: {seen}"
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    };

    // The tab comes back and resumes by replay; another tab cancels.
    let mut a = tab(&pair, "a").await;
    let (mut ma, again) = a.join_mirror(&key, Some(&ma)).await;
    assert_eq!(again["resume"], "replay", "{again}");
    assert!(ma.state["jobs"]["report"]["progress"].as_u64().unwrap() >= progress);
    let mut b = tab(&pair, "b").await;
    b.join(&key, None).await;
    let ref_ = b.push(&topic, "cancel", json!({"task": "report"})).await;
    assert_eq!(
        b.reply(&ref_).await,
        json!({"status": "ok", "response": {"cancelled": true}})
    );
    a.wait_for(is_task("cancelled")).await;
    // The backend's answer to URL/cancel marks the job cancelled.
    loop {
        let d = a.wait_event(&topic, "delta").await;
        ma.apply_delta(&d.payload);
        if ma.state["jobs"]["report"]["status"] == "cancelled" {
            break;
        }
    }
    let stopped_at = ma.state["jobs"]["report"]["progress"].clone();
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    let seen = read_session(&pair, &key).await;
    assert_eq!(
        seen["state"]["jobs"]["report"]["progress"], stopped_at,
        "the job stopped"
    );
    assert_eq!(seen["state"]["jobs"]["report"]["status"], "cancelled");
}

#[actix_rt::test]
async fn a_chain_reaches_the_backend_once_whichever_tabs_resubmit_it() {
    let pair = Pair::start(&[], &[]);
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = tab(&pair, "a").await;
    let mut b = tab(&pair, "b").await;
    a.join(&key, None).await;
    b.join(&key, None).await;
    let r = a.event(&key, "chain_demo", json!({"n": 3})).await;
    assert_eq!(r["status"], "ok", "{r}");
    for _ in 0..3 {
        let chain = a.wait_event(&topic, "chain").await.payload;
        let event = json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "name": chain["name"], "payload": chain["payload"], "chain": chain["chain"],
        });
        // Both tabs re-submit the same chain; the second gets the first reply.
        let ra = a.push(&topic, "event", event.clone()).await;
        let first = a.reply(&ra).await;
        let mut again = event.clone();
        again["id"] = json!(uuid::Uuid::new_v4().to_string());
        let rb = b.push(&topic, "event", again).await;
        assert_eq!(b.reply(&rb).await, first);
    }
    let seen = read_session(&pair, &key).await;
    assert_eq!(seen["state"]["chain_count"], 3, "{seen}");
}

#[actix_rt::test]
async fn a_slow_backend_times_out_one_event_and_other_sessions_go_on() {
    let pair = Pair::start(&["--app-timeout-ms", "1000"], &[]);
    let (slow_key, quick_key) = (new_key(), new_key());
    let mut slow = tab(&pair, "slow").await;
    let mut quick = tab(&pair, "quick").await;
    slow.join(&slow_key, None).await;
    quick.join(&quick_key, None).await;

    let topic = format!("session:{slow_key}");
    let id = uuid::Uuid::new_v4().to_string();
    let payload = json!({"id": id, "name": "sleep", "payload": {"ms": 3000}});
    let slow_ref = slow.push(&topic, "event", payload).await;
    let r = quick
        .event(&quick_key, "add_todo", json!({"text": "not held up"}))
        .await;
    assert_eq!(r, json!({"status": "ok", "response": {"seq": 1}}));
    // The other session answered while the slow event still waits.
    slow.assert_silent_for(50).await;

    let r = slow.reply(&slow_ref).await;
    assert_eq!(r["status"], "error", "{r}");
    assert_eq!(r["response"]["reason"], "backend_timeout", "{r}");
    let r = slow
        .event(&slow_key, "add_todo", json!({"text": "after"}))
        .await;
    assert_eq!(
        r,
        json!({"status": "ok", "response": {"seq": 1}}),
        "nothing of the slow event stayed"
    );
}

#[actix_rt::test]
async fn a_stopped_backend_fails_events_and_joins_retryably_and_its_return_resumes_the_session() {
    let mut pair = Pair::start(&[], &[]);
    let key = new_key();
    let mut a = tab(&pair, "a").await;
    let mut mirror: Mirror = a.join_mirror(&key, None).await.0;
    a.event(&key, "add_todo", json!({"text": "kept"})).await;
    a.catch_up(&key, &mut mirror, 1).await;

    pair.stop_backend();
    let r = a.event(&key, "add_todo", json!({"text": "lost"})).await;
    assert_eq!(r["response"]["reason"], "backend_unavailable", "{r}");
    let mut b = tab(&pair, "b").await;
    let refused = b.join_with(&key, json!({})).await;
    assert_eq!(
        refused["response"]["reason"], "unavailable",
        "no decision, not a refusal: the client retries {refused}"
    );

    pair.restart_backend(&[]);
    let r = a.event(&key, "add_todo", json!({"text": "back"})).await;
    assert_eq!(
        r,
        json!({"status": "ok", "response": {"seq": 2}}),
        "{}",
        pair.output()
    );
    b.join(&key, None).await;
}

#[actix_rt::test]
async fn the_backend_decides_joins_from_what_the_operator_forwards() {
    let pair = Pair::start(
        &["--app-forward-header", "Cookie"],
        &[("TABHUB_EXAMPLE_REQUIRE_COOKIE", "sid")],
    );
    let key = new_key();
    let mut anonymous = tab(&pair, "anon").await;
    let r = anonymous.join_with(&key, json!({})).await;
    assert_eq!(r["response"]["reason"], "unauthorized", "{r}");

    let url = pair.socket_url("known", "");
    let mut known = Client::try_connect_with(&url, "known", &[("cookie", "sid=abc")])
        .await
        .unwrap();
    known.join(&key, None).await;

    let blocked_url = pair.socket_url("blocked", "blocked=yes");
    let mut blocked = Client::try_connect_with(&blocked_url, "blocked", &[("cookie", "sid=abc")])
        .await
        .unwrap();
    let r = blocked.join_with(&key, json!({})).await;
    assert_eq!(r["response"]["reason"], "unauthorized", "{r}");
}

#[actix_rt::test]
async fn a_job_the_backend_ends_is_done_for_every_tab_and_in_the_summary() {
    let pair = Pair::start(&[], &[]);
    let key = new_key();
    let mut a = tab(&pair, "a").await;
    let (mut mirror, _) = a.join_mirror(&key, None).await;
    let job = json!({"key": "quick", "steps": 3, "step_ms": 20});
    assert_eq!(a.event(&key, "start_job", job).await["status"], "ok");
    let mut watcher = tab(&pair, "w").await;
    let joined = watcher.join_with(&key, json!({"mode": "summary"})).await;
    assert_eq!(joined["response"]["summary"]["jobs_running"], 1, "{joined}");

    a.wait_for(is_task("done")).await;
    let topic = format!("session:{key}");
    while mirror.state["jobs"]["quick"]["status"] != "done" {
        let d = a.wait_event(&topic, "delta").await;
        mirror.apply_delta(&d.payload);
    }
    assert_eq!(mirror.state["jobs"]["quick"]["progress"], 3);
    let summary = watcher
        .wait_for(|m| m.event == "summary" && m.payload["summary"]["jobs_running"] == 0)
        .await;
    assert_eq!(summary.payload["summary"]["todos"], 0);
}
