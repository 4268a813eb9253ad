//! What live sessions cost in memory, what one journaled delta costs
//! against its bytes on the wire, and what the journal budget
//! (`--journal-total-bytes`) bounds.
//!
//! One process: a `Hub` with the demo app and the memory store, no socket
//! (server code reaches every session by key, `SessionHandle::change_state`,
//! as a webhook would). A counting wrapper of the system allocator (`stats_alloc`) gives the
//! live heap (bytes requested and not yet freed, and the number of
//! allocations);
//! `/proc/self/status` gives the resident set.
//!
//! 1. `--sessions N` sessions start, each by a change that adds one todo
//!    (so each holds one journaled delta).
//! 2. `--deltas K` more deltas per session, each flipping that todo's
//!    `done` (the state keeps its size, so what grows is the journals).
//!
//! It prints the heap and RSS per session after 1, and per journaled delta
//! after 2 beside the bytes a tab gets for that delta (its `delta` frame),
//! and the journals' total (`tabhub_journal_bytes`) against the budget.
//!
//! ```text
//! cargo bench --bench session_memory -- --sessions 100000 --deltas 32
//! cargo bench --bench session_memory -- --sessions 100000 --deltas 32 --budget 67108864
//! ```
//! (`--budget 0`, the default here, is unbounded.)
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::alloc::System;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::json;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use tabhub::demo::Demo;
use tabhub::{Config, Hub, MemoryStore, SessionKey, StateChange};

/// The system allocator, counting bytes and allocations.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Sessions changed at once.
const BATCH: usize = 1_000;

struct Args {
    sessions: usize,
    deltas: usize,
    budget: usize,
    journal_len: usize,
}

/// `--sessions N --deltas K --budget BYTES --journal-len L`; anything else (cargo's
/// `--bench`) is ignored.
fn args() -> Args {
    let mut a = Args {
        sessions: 10_000,
        deltas: 32,
        budget: 0,
        journal_len: Config::default().journal_len,
    };
    let argv: Vec<String> = std::env::args().collect();
    for pair in argv.windows(2) {
        let value = || pair[1].parse().unwrap();
        match pair[0].as_str() {
            "--sessions" => a.sessions = value(),
            "--deltas" => a.deltas = value(),
            "--budget" => a.budget = value(),
            "--journal-len" => a.journal_len = value(),
            _ => {}
        }
    }
    a
}

/// Heap bytes live, allocations made (both since `start`) and resident
/// bytes now.
fn sample(start: &Region<'_, System>) -> (usize, usize, usize) {
    let change = start.change();
    let rss = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .unwrap()
        * 1024;
    (
        // A realloc's growth or shrink is already in these two.
        change
            .bytes_allocated
            .saturating_sub(change.bytes_deallocated),
        change.allocations + change.reallocations,
        rss,
    )
}

/// A gauge's or counter's value in the hub's metrics text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

fn patch(ops: serde_json::Value) -> StateChange {
    StateChange::Patch(serde_json::from_value(ops).unwrap())
}

/// Applies `change(i)` to every session, `BATCH` at a time.
async fn change_all(hub: &Hub<Demo>, keys: &[SessionKey], change: impl Fn(usize) -> StateChange) {
    for (b, batch) in keys.chunks(BATCH).enumerate() {
        let calls = batch.iter().enumerate().map(|(i, key)| {
            let handle = hub.session(key);
            let change = change(b * BATCH + i);
            async move { handle.change_state(change).await.unwrap() }
        });
        join_all(calls).await;
    }
}

fn mb(bytes: f64) -> String {
    format!("{:.1} MB", bytes / 1e6)
}

fn main() {
    let a = args();
    actix_rt::System::new().block_on(async move {
        let mut config = Config::default();
        config.grace = Duration::from_secs(24 * 3600);
        config.max_sessions = a.sessions + 1;
        config.journal_total_bytes = a.budget;
        config.journal_len = a.journal_len;
        let hub = Hub::start(Demo::default(), config, Arc::new(MemoryStore::new()));
        let keys: Vec<SessionKey> = (0..a.sessions)
            .map(|i| SessionKey::parse(&format!("memory-bench-session-{i:08}")).unwrap())
            .collect();
        let region = Region::new(GLOBAL);
        let (heap0, _, rss0) = sample(&region);

        let started = Instant::now();
        change_all(&hub, &keys, |i| {
            patch(json!([{"op": "add", "path": "/todos/-",
                "value": {"id": format!("todo-{i}"), "text": "water the plants", "done": false}}]))
        })
        .await;
        let (heap1, allocs1, rss1) = sample(&region);
        let journal1 = metric(&hub.metrics_text().await, "tabhub_journal_bytes");
        let n = a.sessions as f64;
        println!(
            "{} sessions started in {:.1} s: heap {} ({:.0} B per session), RSS {} ({:.0} B per session)",
            a.sessions,
            started.elapsed().as_secs_f64(),
            mb(heap1 as f64 - heap0 as f64),
            (heap1 as f64 - heap0 as f64) / n,
            mb(rss1 as f64 - rss0 as f64),
            (rss1 as f64 - rss0 as f64) / n,
        );

        let started = Instant::now();
        for k in 0..a.deltas {
            let done = k % 2 == 0;
            change_all(&hub, &keys, |_| {
                patch(json!([{"op": "replace", "path": "/todos/0/done", "value": done}]))
            })
            .await;
        }
        let (heap2, allocs2, rss2) = sample(&region);
        let text = hub.metrics_text().await;
        let journal2 = metric(&text, "tabhub_journal_bytes");
        let evicted = metric(&text, "tabhub_journal_evicted_total");
        let deltas = (a.sessions * a.deltas) as f64;
        // The payload of one such delta, from the journal's own count (its
        // payload plus 72 per entry), and the frame a tab gets for it.
        let entry_overhead = 72.0;
        let payload = (journal2 - journal1) / deltas - entry_overhead;
        let frame = r#"["1",null,"session:","delta",]"#.len() as f64
            + keys[0].as_str().len() as f64
            + payload;
        let heap_per_delta = (heap2 as f64 - heap1 as f64) / deltas;
        println!(
            "{} deltas ({} per session) in {:.1} s: heap +{}, RSS +{}, {:.1} allocations per delta",
            deltas,
            a.deltas,
            started.elapsed().as_secs_f64(),
            mb(heap2 as f64 - heap1 as f64),
            mb(rss2 as f64 - rss1 as f64),
            (allocs2 - allocs1) as f64 / deltas,
        );
        if a.budget == 0 {
            println!(
                "one journaled delta: {heap_per_delta:.0} B of heap ({:.0} B RSS) for a {payload:.0} B payload, \
                 {frame:.0} B on the wire: {:.2}x its wire bytes",
                (rss2 as f64 - rss1 as f64) / deltas,
                heap_per_delta / frame,
            );
        }
        println!(
            "journals: {} (budget {}), {evicted} deltas evicted; heap now {} ({:.0} B per session), RSS {}",
            mb(journal2),
            if a.budget == 0 { "none".to_owned() } else { mb(a.budget as f64) },
            mb(heap2 as f64 - heap0 as f64),
            (heap2 as f64 - heap0 as f64) / n,
            mb(rss2 as f64),
        );
        println!(
            "{{\"sessions\":{},\"deltas_per_session\":{},\"budget\":{},\"heap_per_session_started\":{:.0},\
             \"rss_per_session_started\":{:.0},\"heap_per_delta\":{heap_per_delta:.0},\"payload\":{payload:.0},\
             \"wire\":{frame:.0},\"journal_bytes\":{journal2},\"evicted\":{evicted},\"heap_end\":{},\"rss_end\":{rss2}}}",
            a.sessions,
            a.deltas,
            a.budget,
            (heap1 as f64 - heap0 as f64) / n,
            (rss1 as f64 - rss0 as f64) / n,
            heap2.saturating_sub(heap0),
        );
    });
}
