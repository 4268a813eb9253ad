//! Chained events go to exactly one tab and are handled at most once, so
//! `chain_demo {n: 3}` adds exactly 3 to `chain_count` whatever the tabs do.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{joined_pair, new_key, start_demo, Client};
use serde_json::json;
use tabhub::Config;

async fn chain_count(client: &mut Client, key: &str) -> u64 {
    let r = client.join(key, None).await;
    r["state"]["chain_count"].as_u64().unwrap()
}

#[actix_rt::test]
async fn a_chain_of_three_goes_to_its_originating_tab_and_adds_exactly_three() {
    let (server, _store) = start_demo(Config::default());
    let (key, mut a, mut b) = joined_pair(&server).await;
    let topic = format!("session:{key}");
    let r = b.event(&key, "chain_demo", json!({"n": 3})).await;
    assert_eq!(r["status"], "ok");
    for n in (1..=3).rev() {
        let chain = b.wait_event(&topic, "chain").await;
        assert_eq!(chain.payload["name"], "chain_step");
        assert_eq!(chain.payload["payload"], json!({"n": n}));
        assert_eq!(b.resubmit(&key, &chain).await["status"], "ok");
    }
    assert_eq!(chain_count(&mut a, &key).await, 3);
    let seen: Vec<String> = a.drain_buffer().into_iter().map(|m| m.event).collect();
    assert!(
        !seen.contains(&"chain".to_owned()),
        "only the originating tab gets the chain: {seen:?}"
    );
}

#[actix_rt::test]
async fn when_the_tab_holding_a_chain_disconnects_the_chain_goes_to_the_leader_and_still_adds_three(
) {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = Client::connect(&server, "a").await; // first: the leader
    let mut b = Client::connect(&server, "b").await;
    assert_eq!(a.join(&key, None).await["leader"], true);
    b.join(&key, None).await;
    b.event(&key, "chain_demo", json!({"n": 3})).await;
    let first = b.wait_event(&topic, "chain").await;
    assert_eq!(b.resubmit(&key, &first).await["status"], "ok");
    let held = b.wait_event(&topic, "chain").await; // step 2, never re-submitted
    drop(b); // the socket goes away mid-chain

    let resent = a.wait_event(&topic, "chain").await;
    assert_eq!(
        resent.payload["chain"], held.payload["chain"],
        "same chain id, re-sent"
    );
    assert_eq!(a.resubmit(&key, &resent).await["status"], "ok");
    let last = a.wait_event(&topic, "chain").await;
    assert_eq!(last.payload["payload"], json!({"n": 1}));
    assert_eq!(a.resubmit(&key, &last).await["status"], "ok");
    assert_eq!(chain_count(&mut a, &key).await, 3);
}

#[actix_rt::test]
async fn a_chain_submitted_by_both_tabs_is_handled_once_and_both_get_the_first_reply() {
    let (server, _store) = start_demo(Config::default());
    let (key, mut a, mut b) = joined_pair(&server).await;
    let topic = format!("session:{key}");
    a.event(&key, "chain_demo", json!({"n": 3})).await;
    for _ in 0..3 {
        // Whichever tab holds the chain, both re-submit it.
        let chain = a.wait_event(&topic, "chain").await;
        let ra = a.resubmit(&key, &chain).await;
        let rb = b.resubmit(&key, &chain).await;
        assert_eq!(ra["status"], "ok");
        assert_eq!(ra, rb, "the second submission gets the first reply");
    }
    assert_eq!(chain_count(&mut b, &key).await, 3);
}

#[actix_rt::test]
async fn a_chain_not_resubmitted_within_the_chain_timeout_is_resent_to_the_leader() {
    let mut config = Config::default();
    config.chain_timeout = Duration::from_millis(300);
    let (server, _store) = start_demo(config);
    let key = new_key();
    let topic = format!("session:{key}");
    let mut leader = Client::connect(&server, "leader").await;
    let mut idle = Client::connect(&server, "idle").await;
    assert_eq!(leader.join(&key, None).await["leader"], true);
    idle.join(&key, None).await;
    idle.event(&key, "chain_demo", json!({"n": 1})).await;
    let ignored = idle.wait_event(&topic, "chain").await;
    let resent = leader.wait_event(&topic, "chain").await;
    assert_eq!(resent.payload, ignored.payload);
    assert_eq!(leader.resubmit(&key, &resent).await["status"], "ok");
    // The idle tab's late re-submission is not handled again.
    let late = idle.resubmit(&key, &ignored).await;
    assert_eq!(late["status"], "ok");
    assert_eq!(chain_count(&mut leader, &key).await, 1);
}

#[actix_rt::test]
async fn with_no_tab_joined_a_chain_waits_for_the_first_tab_that_joins() {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = Client::connect(&server, "a").await;
    a.join(&key, None).await;
    a.event(&key, "chain_demo", json!({"n": 2})).await;
    let chain = a.wait_event(&topic, "chain").await;
    // The leave is registered before the reply is sent, so B's join below
    // reaches the supervisor after it.
    let leave = a.push(&topic, "phx_leave", json!({})).await;
    assert_eq!(a.reply(&leave).await["status"], "ok");
    let mut b = Client::connect(&server, "b").await;
    let joined = b.join(&key, None).await;
    assert_eq!(joined["tabs"], 1);
    let waiting = b.wait_event(&topic, "chain").await;
    assert_eq!(waiting.payload, chain.payload);
    assert_eq!(b.resubmit(&key, &waiting).await["status"], "ok");
    let next = b.wait_event(&topic, "chain").await;
    assert_eq!(b.resubmit(&key, &next).await["status"], "ok");
    assert_eq!(chain_count(&mut b, &key).await, 2);
}

#[actix_rt::test]
async fn a_reconnecting_tab_gets_the_chains_it_held_after_its_join_reply() {
    let (server, _store) = start_demo(Config::default());
    let key = new_key();
    let topic = format!("session:{key}");
    let mut a = Client::connect(&server, "page").await;
    let _other = {
        let mut o = Client::connect(&server, "other").await;
        o.join(&key, None).await;
        o
    };
    a.join(&key, None).await;
    a.event(&key, "chain_demo", json!({"n": 1})).await;
    let held = a.wait_event(&topic, "chain").await;
    let mut again = Client::connect(&server, "page").await;
    let r = again.join_with(&key, json!({"cursor": null})).await;
    assert_eq!(r["status"], "ok");
    let first_after_reply = again.next_msg().await;
    assert_eq!(first_after_reply.event, "chain");
    assert_eq!(first_after_reply.payload, held.payload);
}
