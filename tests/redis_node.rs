//! The `tabhub` binary keeping its sessions in a real `redis-server`
//! (`--redis-url`): killed with SIGKILL mid-stream and started again as a
//! new node, nothing acknowledged is lost and tabs resume by replay once
//! the killed node's lease has run out; a session stopped on one node is
//! served by another; an owner paused past its lease loses the session,
//! never writes to it again, and serves its tab from the new owner; and
//! while Redis is down the node says so and acknowledges nothing, then
//! carries on by itself (docs/scale-out.md).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use common::process::start_tabhub;
use common::redis::{start_node, tab_on, two_nodes, Redis};
use common::stream::{killed_mid_stream, Rejoin};
use common::{eventually, new_key};
use serde_json::{json, Value};

/// `GET path` on the node at `addr`: its status and JSON body.
async fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    let mut got = awc::Client::default()
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap();
    let body = got.body().await.unwrap();
    let body =
        serde_json::from_slice(&body).unwrap_or_else(|_| json!(String::from_utf8_lossy(&body)));
    (got.status().as_u16(), body)
}

#[actix_rt::test]
async fn a_node_on_redis_killed_mid_stream_three_times_loses_nothing_acknowledged() {
    let redis = Redis::start();
    let url = redis.url();
    let args = [
        "--redis-url",
        &url,
        "--redis-lease-ms",
        "500",
        "--rate-events-per-sec",
        "0",
    ];
    killed_mid_stream(&args, 3, Rejoin::WhileOwnedElsewhere).await;
}

#[actix_rt::test]
async fn a_session_stopped_on_one_node_is_served_by_another_which_it_gave_the_lease_up_to() {
    let redis = Redis::start();
    let url = redis.url();
    let args = ["--redis-url", &url, "--grace-ms", "50"];
    let (first, a) = start_tabhub(&args);
    let (_second, b) = start_tabhub(&args);
    let key = new_key();

    let mut tab = tab_on(a, "t1").await;
    tab.join(&key, None).await;
    let r = tab.event(&key, "add_todo", json!({"text": "kept"})).await;
    assert_eq!(r["status"], "ok", "{r}");
    drop(tab);

    // Node A stops the session after its grace time and gives its lease
    // up. Were it kept, A would renew it for as long as A runs, and node B
    // would refuse the join with store_error until this test gave up.
    let mut other = tab_on(b, "t2").await;
    let joined = Rejoin::WhileOwnedElsewhere
        .join(&mut other, &key, None)
        .await;
    assert_eq!(joined["seq"], 1, "{joined}");
    assert_eq!(joined["state"]["todos"][0]["text"], "kept", "{joined}");
    drop(first);
}

#[actix_rt::test]
async fn while_redis_is_down_the_node_is_unhealthy_and_acknowledges_nothing_then_any_node_carries_on(
) {
    let mut redis = Redis::start();
    let ((_node, addr), (_other, b)) = two_nodes(&redis);
    let key = new_key();
    let topic = format!("session:{key}");
    let mut tab = tab_on(addr, "t1").await;
    let (mut mirror, _) = tab.join_mirror(&key, None).await;
    for text in ["a", "b", "c"] {
        let r = tab.event(&key, "add_todo", json!({ "text": text })).await;
        assert_eq!(r["status"], "ok", "{r}");
    }
    while mirror.seq < 3 {
        let m = tab.wait_event(&topic, "delta").await;
        mirror.apply_delta(&m.payload);
    }
    assert_eq!(get(addr, "/healthz").await, (200, json!({"status": "ok"})));

    redis.kill();
    eventually("/healthz to say Redis is unreachable", async || {
        get(addr, "/healthz").await == (503, json!({"status": "unhealthy", "reason": "redis"}))
    })
    .await;
    // An event now is not acknowledged: its step cannot be stored, the
    // session ends and the tab is told to rejoin.
    let r = tab
        .push(
            &topic,
            "event",
            json!({"id": "lost", "name": "add_todo", "payload": {"text": "lost"}}),
        )
        .await;
    let m = tab
        .wait_for(|m| m.event == "phx_error" || m.reference.as_deref() == Some(&r))
        .await;
    assert_eq!(m.event, "phx_error", "never an ok reply: {:?}", m.payload);
    let refused = tab
        .join_with(&key, json!({"cursor": mirror.cursor()}))
        .await;
    assert_eq!(refused["response"]["reason"], "store_error", "{refused}");

    redis.restart();
    eventually("/healthz to be ok again", async || {
        get(addr, "/healthz").await == (200, json!({"status": "ok"}))
    })
    .await;
    // The tab comes back through the other node: the failed session gave
    // its lease up (else the first node would renew it for as long as it
    // runs, and this join would be refused until the test gave up).
    let mut tab = tab_on(b, "t1").await;
    let r = Rejoin::WhileOwnedElsewhere
        .join(&mut tab, &key, Some(mirror.cursor()))
        .await;
    assert_ne!(
        r["resume"], "snapshot",
        "the epoch and journal are kept: {r}"
    );
    mirror.apply_join(&r);
    assert_eq!(
        mirror.todo_texts(),
        vec!["a", "b", "c"],
        "nothing acknowledged is lost"
    );
    let r = tab.event(&key, "add_todo", json!({"text": "d"})).await;
    assert_eq!(r["status"], "ok", "{r}");
    let (_, metrics) = get(addr, "/metrics").await;
    let metrics = metrics.as_str().unwrap_or_default().to_owned();
    assert!(metrics.contains("tabhub_redis_up 1"), "{metrics}");
    assert!(
        metrics.contains("tabhub_redis_leases_total{outcome=\"taken\"}"),
        "{metrics}"
    );
}

#[actix_rt::test]
async fn an_owner_paused_past_its_lease_loses_the_session_and_never_writes_to_it_again() {
    let redis = Redis::start();
    let ((a_node, a), (_b_node, b)) = two_nodes(&redis);
    let key = new_key();
    let topic = format!("session:{key}");
    let mut on_a = tab_on(a, "ta").await;
    on_a.join(&key, None).await;
    let r = on_a
        .event(&key, "add_todo", json!({"text": "before"}))
        .await;
    assert_eq!(r["status"], "ok", "{r}");

    // A stops renewing (SIGSTOP); B takes the session once A's lease ran
    // out, and writes nothing yet: A's next step would follow the stored
    // seq, so only the fencing token can keep it out.
    a_node.signal("STOP");
    let mut on_b = tab_on(b, "tb").await;
    let joined = Rejoin::WhileOwnedElsewhere
        .join(&mut on_b, &key, None)
        .await;
    assert_eq!(joined["state"]["todos"][0]["text"], "before", "{joined}");

    // A wakes up (SIGCONT) still holding the session in memory. Whatever
    // its tab sends is refused inside Redis (or A learned first, from its
    // renewal): never acknowledged; the tab is told to rejoin.
    a_node.signal("CONT");
    let r = on_a
        .push(
            &topic,
            "event",
            json!({"id": "split", "name": "add_todo", "payload": {"text": "split brain"}}),
        )
        .await;
    let m = on_a
        .wait_for(|m| m.event == "phx_error" || m.reference.as_deref() == Some(&r))
        .await;
    assert!(
        !(m.event == "phx_reply" && m.payload["status"] == "ok"),
        "the paused owner acknowledged a write: {:?}",
        m.payload
    );
    let r = on_b.event(&key, "add_todo", json!({"text": "by b"})).await;
    assert_eq!(r["status"], "ok", "{r}");
    // A gave the session up: a tab rejoining on A is now served by B's
    // session, through B, and sees B's writes only.
    eventually("A to serve the session B owns", async || {
        let reply = on_a.join_with(&key, json!({})).await;
        let texts: Vec<Value> = reply["response"]["state"]["todos"]
            .as_array()
            .map(|t| t.iter().map(|t| t["text"].clone()).collect())
            .unwrap_or_default();
        reply["status"] == "ok" && texts == [json!("before"), json!("by b")]
    })
    .await;

    // B's session never saw A's write.
    let r = on_b.event(&key, "add_todo", json!({"text": "after"})).await;
    assert_eq!(r["status"], "ok", "{r}");
    let mut check = tab_on(b, "tc").await;
    let state = check.join(&key, None).await["state"].clone();
    let texts: Vec<&str> = state["todos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, vec!["before", "by b", "after"]);
}

#[actix_rt::test]
async fn a_node_started_while_redis_is_down_starts_unhealthy_and_serves_once_redis_is_back() {
    let mut redis = Redis::start();
    redis.kill();
    let (_node, addr) = start_node(&redis);
    assert_eq!(
        get(addr, "/healthz").await,
        (503, json!({"status": "unhealthy", "reason": "redis"}))
    );
    let key = new_key();
    let mut tab = tab_on(addr, "t1").await;
    let refused = tab.join_with(&key, json!({})).await;
    assert_eq!(refused["response"]["reason"], "store_error", "{refused}");

    redis.restart();
    eventually("/healthz to be ok once Redis is back", async || {
        get(addr, "/healthz").await == (200, json!({"status": "ok"}))
    })
    .await;
    tab.join(&key, None).await;
    let r = tab.event(&key, "add_todo", json!({"text": "stored"})).await;
    assert_eq!(r["status"], "ok", "{r}");
    let lease = redis.cli(&["EXISTS", &format!("tabhub:{{{key}}}:lease")]);
    assert_eq!(lease.trim(), "1", "the node owns the session in Redis");
}
