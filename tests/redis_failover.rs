//! Failover of an owner killed in the middle of a stream (docs/scale-out.md,
//! "Liveness and failover"): three sessions, each with one tab on the node
//! that owns it and one on another node, push events from both tabs; the
//! owner is killed with SIGKILL at a random moment, 20 rounds over. After
//! each kill the other node's tabs are told to rejoin, one of them takes
//! the session over, and every tab resumes by replay from its cursor:
//! every acknowledged event is in the state, no event is in it twice, seqs
//! never go back, and both tabs of a session hold the same state. A new
//! node replaces the killed one each round, and the killed node's tabs
//! reconnect there, so the roles alternate. The time from each kill to the
//! first resumed join is printed.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::process::Guard;
use common::redis::{metric, start_node, tab_on, Redis};
use common::stream::{drive, Rejoin, Tab};
use common::{new_key, Client};
use futures_util::future::join_all;

const ROUNDS: usize = 20;
const SESSIONS: usize = 3;

/// Joins `tab` through `client` from its cursor and checks the resume
/// against what was acknowledged for its session.
async fn resume(
    client: &mut Client,
    tab: &mut Tab,
    acked: &HashMap<String, HashSet<String>>,
    last_seq: &mut HashMap<String, u64>,
    round: usize,
) {
    let cursor = tab.mirror.cursor();
    let r = Rejoin::WhileOwnedElsewhere
        .join(client, &tab.key, Some(cursor))
        .await;
    assert_ne!(r["resume"], "snapshot", "round {round}: {r}");
    tab.mirror.apply_join(&r);
    let seq = r["seq"].as_u64().unwrap();
    let before = last_seq.get(&tab.key).copied().unwrap_or(0);
    assert!(
        seq >= before,
        "round {round}: seq went back from {before} to {seq}"
    );
    last_seq.insert(tab.key.clone(), seq);
    let texts = tab.mirror.todo_texts();
    let distinct: HashSet<&str> = texts.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        texts.len(),
        "round {round}: an event applied twice"
    );
    for text in acked.get(&tab.key).into_iter().flatten() {
        assert!(
            distinct.contains(text.as_str()),
            "round {round}: acknowledged {text} was lost"
        );
    }
}

#[actix_rt::test]
async fn an_owner_killed_mid_stream_twenty_times_loses_nothing_acknowledged_and_every_tab_resumes()
{
    let redis = Redis::start();
    let (mut owner, mut owner_addr): (Guard, SocketAddr) = start_node(&redis);
    let (mut other, mut other_addr) = start_node(&redis);
    let mut tabs = Vec::new();
    let mut clients = Vec::new();
    // The names of the tabs on the node that owns their session.
    let mut on_owner = HashSet::new();
    for _ in 0..SESSIONS {
        let key = new_key();
        // The first join reaches the owner node, which takes the session.
        for (t, addr) in [(0, owner_addr), (1, other_addr)] {
            let name = format!("{}-t{t}", &key[..6]);
            let mut client = tab_on(addr, &name).await;
            let (mirror, _) = client.join_mirror(&key, None).await;
            if t == 0 {
                on_owner.insert(name.clone());
            }
            tabs.push(Tab {
                key: key.clone(),
                name,
                mirror,
                acked: HashSet::new(),
            });
            clients.push(client);
        }
    }
    let mut acked: HashMap<String, HashSet<String>> = HashMap::new();
    let mut last_seq: HashMap<String, u64> = HashMap::new();
    let mut failovers = Vec::new();

    for round in 0..ROUNDS {
        let kill_after = Duration::from_millis(150 + (uuid::Uuid::new_v4().as_u128() % 500) as u64);
        let drivers = join_all(
            clients
                .drain(..)
                .zip(tabs.drain(..))
                .map(|(c, t)| drive(c, t, round)),
        );
        let killer = async {
            tokio::time::sleep(kill_after).await;
            owner.kill_now();
            Instant::now()
        };
        let (ended, killed_at) = futures_util::future::join(drivers, killer).await;

        let mut acked_this_round = 0;
        let mut survivors = Vec::new();
        let mut orphans = Vec::new();
        for (mut tab, end) in ended {
            acked_this_round += tab.acked.len();
            acked
                .entry(tab.key.clone())
                .or_default()
                .extend(tab.acked.drain());
            match (on_owner.contains(&tab.name), end) {
                (true, None) => orphans.push(tab),
                (false, Some(client)) => survivors.push((tab, client)),
                (on_owner, None) => panic!(
                    "round {round}: {} (on the owner: {on_owner}) lost its connection",
                    tab.name
                ),
                (true, Some(_)) => {
                    panic!(
                        "round {round}: {} on the killed node was told to rejoin",
                        tab.name
                    )
                }
            }
        }
        assert!(
            acked_this_round > 0,
            "round {round}: nothing acknowledged before the kill"
        );

        // The other node's tabs rejoin there, which takes their sessions over.
        let mut failover = None;
        for (tab, client) in &mut survivors {
            resume(client, tab, &acked, &mut last_seq, round).await;
            failover.get_or_insert_with(|| killed_at.elapsed());
        }
        let failover = failover.unwrap();
        failovers.push(failover);

        // A new node replaces the killed one; the killed node's tabs
        // reconnect to it and are served from the new owner.
        let (fresh, fresh_addr) = start_node(&redis);
        for tab in &mut orphans {
            let mut client = tab_on(fresh_addr, &tab.name).await;
            resume(&mut client, tab, &acked, &mut last_seq, round).await;
            clients.push(client);
        }
        on_owner = survivors.iter().map(|(t, _)| t.name.clone()).collect();
        for (tab, client) in survivors {
            tabs.push(tab);
            clients.push(client);
        }
        tabs.splice(0..0, orphans);
        // Both tabs of a session joined at the same seq: one state.
        for tab in &tabs {
            let twin = tabs
                .iter()
                .find(|t| t.key == tab.key && t.name != tab.name)
                .unwrap();
            assert_eq!(tab.mirror.state, twin.mirror.state, "round {round}");
        }
        eprintln!(
            "round {round}: owner killed after {kill_after:?}, {acked_this_round} events \
             acknowledged this round, first resumed join {failover:?} after the kill"
        );
        owner = std::mem::replace(&mut other, fresh);
        owner_addr = std::mem::replace(&mut other_addr, fresh_addr);
    }
    // The owner now took its sessions over in the last round, one each.
    assert_eq!(
        metric(owner_addr, "tabhub_redis_takeovers_total").await,
        SESSIONS as f64
    );
    failovers.sort();
    eprintln!(
        "failover, kill to first resumed join, lease 600 ms, {ROUNDS} rounds: min {:?}, median {:?}, max {:?}",
        failovers[0],
        failovers[ROUNDS / 2],
        failovers[ROUNDS - 1]
    );
    drop(other);
}
