//! Durability cost: the same workload against the in-memory store and the
//! redb store (strict: fsync before a delta or an ack is visible, with group
//! commit), in one run. Prints events/s and the p50/p99 ack latency.
//!
//! Run with `cargo bench --bench durable`. Workload: 50 sessions x 2 tabs,
//! each tab pushing 100 `add_todo` events with at most 4 in flight (a closed
//! loop), over real WebSockets to a server with TCP_NODELAY. Client and
//! server share the machine.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    missing_docs,
    unreachable_pub,
    dead_code
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::nodelay::NoDelayServer;
use common::{new_key, Client};
use futures_util::future::join_all;
use serde_json::json;
use tabhub::demo::Demo;
use tabhub::{Config, Hub, MemoryStore, RedbOptions, RedbStore, Store};

const SESSIONS: usize = 50;
const TABS: usize = 2;
const EVENTS: usize = 100;
const IN_FLIGHT: usize = 4;

struct Run {
    events_per_sec: f64,
    p50: Duration,
    p99: Duration,
}

/// One tab's closed loop: returns the ack latency of each of its events.
async fn tab_loop(mut client: Client, key: String, tab: usize) -> Vec<Duration> {
    let topic = format!("session:{key}");
    let mut sent: HashMap<String, Instant> = HashMap::new();
    let mut latencies = Vec::with_capacity(EVENTS);
    let mut next = 0;
    while latencies.len() < EVENTS {
        while next < EVENTS && sent.len() < IN_FLIGHT {
            let payload = json!({"id": format!("t{tab}-{next}"), "name": "add_todo", "payload": {"text": format!("event {next}")}});
            let r = client.push(&topic, "event", payload).await;
            sent.insert(r, Instant::now());
            next += 1;
        }
        let m = client.next_msg().await;
        if m.event == "phx_reply" {
            if let Some(at) = m.reference.as_deref().and_then(|r| sent.remove(r)) {
                assert_eq!(m.payload["status"], "ok", "{}", m.payload);
                latencies.push(at.elapsed());
            }
        }
    }
    latencies
}

async fn run(store: Arc<dyn Store>) -> Run {
    let mut config = Config::default();
    config.rate_events_per_sec = 0;
    let hub = Hub::start(Demo::default(), config, store);
    let server = NoDelayServer::start(hub.configure());
    let mut tabs = Vec::new();
    for _ in 0..SESSIONS {
        let key = new_key();
        for t in 0..TABS {
            let mut c = Client::connect_url(&server.socket_url(&format!("t{t}")), "t").await;
            c.join(&key, None).await;
            tabs.push((c, key.clone(), t));
        }
    }
    let started = Instant::now();
    let all = join_all(tabs.into_iter().map(|(c, key, t)| tab_loop(c, key, t))).await;
    let elapsed = started.elapsed();
    let mut latencies: Vec<Duration> = all.into_iter().flatten().collect();
    latencies.sort();
    let n = latencies.len();
    hub.shutdown().await;
    server.stop().await;
    Run {
        events_per_sec: n as f64 / elapsed.as_secs_f64(),
        p50: latencies[n / 2],
        p99: latencies[(n * 99) / 100],
    }
}

fn main() {
    let dir = std::env::temp_dir().join(format!("tabhub-bench-{}", std::process::id()));
    let system = actix_rt::System::new();
    let memory = system.block_on(run(Arc::new(MemoryStore::new())));
    let config = Config::default();
    let redb = RedbStore::open(RedbOptions {
        path: dir.join("bench.redb"),
        recent_events: config.recent_events,
    })
    .unwrap();
    let durable = system.block_on(run(Arc::new(redb)));
    let _ = std::fs::remove_dir_all(&dir);

    println!("workload: {SESSIONS} sessions x {TABS} tabs x {EVENTS} events, {IN_FLIGHT} in flight per tab");
    println!(
        "{:<22} {:>12} {:>12} {:>12}",
        "store", "events/s", "ack p50", "ack p99"
    );
    for (name, r) in [("memory", &memory), ("redb strict (group)", &durable)] {
        println!(
            "{:<22} {:>12.0} {:>12.2?} {:>12.2?}",
            name, r.events_per_sec, r.p50, r.p99
        );
    }
    println!(
        "durable / memory throughput: {:.2}",
        durable.events_per_sec / memory.events_per_sec
    );
}
