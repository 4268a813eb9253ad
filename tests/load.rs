//! Correctness under load on the actix test harness: 100 sessions x 5 tabs,
//! every tab pushing 20 events at once. Every tab of a session ends with the
//! same state and a gapless seq sequence, and every event gets exactly one
//! reply. It asserts correctness, not time; it prints the throughput seen.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::time::Instant;

use common::{new_key, start_demo, Client, Mirror};
use futures_util::future::join_all;
use serde_json::json;
use tabhub::Config;

const SESSIONS: usize = 100;
const TABS: usize = 5;
const EVENTS: usize = 20;
const FINAL_SEQ: u64 = (TABS * EVENTS) as u64;

/// One tab: pushes its events without waiting, then reads until it has a
/// reply to each and has applied every delta of the session.
async fn run_tab(
    mut client: Client,
    key: String,
    mut mirror: Mirror,
    tab: usize,
) -> (Mirror, usize) {
    let topic = format!("session:{key}");
    let mut refs = HashMap::new();
    for i in 0..EVENTS {
        let r = client
            .push(&topic, "event", json!({"id": format!("t{tab}-e{i}"), "name": "add_todo", "payload": {"text": format!("t{tab}-e{i}")}}))
            .await;
        refs.insert(r, 0usize);
    }
    let mut replies = 0;
    while replies < EVENTS || mirror.seq < FINAL_SEQ {
        let m = client.next_msg().await;
        match m.event.as_str() {
            "delta" => mirror.apply_delta(&m.payload),
            "phx_reply" => {
                let count = refs
                    .get_mut(m.reference.as_deref().unwrap())
                    .expect("a reply to a push of ours");
                *count += 1;
                assert_eq!(*count, 1, "exactly one reply per event");
                assert_eq!(m.payload["status"], "ok", "{}", m.payload);
                replies += 1;
            }
            _ => {}
        }
    }
    assert!(refs.values().all(|&n| n == 1));
    (mirror, replies)
}

#[actix_rt::test]
async fn a_hundred_sessions_of_five_tabs_pushing_twenty_events_each_stay_consistent() {
    // All 500 sockets come from 127.0.0.1: no per-address limit.
    let mut config = Config::default();
    config.max_conns_per_ip = 0;
    let (server, _store) = start_demo(config);
    let keys: Vec<String> = (0..SESSIONS).map(|_| new_key()).collect();

    // Connect and join all 500 tabs first.
    let joins = keys
        .iter()
        .flat_map(|key| (0..TABS).map(move |t| (key.clone(), t)))
        .map(|(key, t)| {
            let server = &server;
            async move {
                let mut c = Client::connect(server, &format!("tab{t}")).await;
                let (m, _) = c.join_mirror(&key, None).await;
                (c, key, m, t)
            }
        });
    let tabs = join_all(joins).await;

    let started = Instant::now();
    let results = join_all(
        tabs.into_iter()
            .map(|(c, key, m, t)| async move { (key.clone(), run_tab(c, key, m, t).await) }),
    )
    .await;
    let elapsed = started.elapsed();

    let mut by_session: HashMap<String, Vec<Mirror>> = HashMap::new();
    let mut total_replies = 0;
    for (key, (mirror, replies)) in results {
        total_replies += replies;
        by_session.entry(key).or_default().push(mirror);
    }
    assert_eq!(by_session.len(), SESSIONS);
    for mirrors in by_session.values() {
        assert_eq!(mirrors.len(), TABS);
        for m in mirrors {
            assert_eq!(
                m.seqs,
                (1..=FINAL_SEQ).collect::<Vec<_>>(),
                "gapless, in order"
            );
            assert_eq!(
                m.state, mirrors[0].state,
                "every tab of a session holds the same state"
            );
        }
        assert_eq!(
            mirrors[0].state["todos"].as_array().unwrap().len(),
            TABS * EVENTS
        );
    }
    assert_eq!(total_replies, SESSIONS * TABS * EVENTS);
    let events = (SESSIONS * TABS * EVENTS) as f64;
    let deltas_out = events * TABS as f64;
    eprintln!(
        "load: {SESSIONS} sessions x {TABS} tabs x {EVENTS} events = {events} events in {:.2?}: {:.0} events/s in, {:.0} deltas/s out (client and server share this process)",
        elapsed,
        events / elapsed.as_secs_f64(),
        deltas_out / elapsed.as_secs_f64()
    );
}
