//! A client that stops reading while its session sends 100,000 deltas is
//! bounded in memory: its join's queued deltas are dropped for one
//! `phx_error` when its outbound buffer overflows, and once its socket has
//! taken no write for the slow-client timeout the connection is cut. The
//! other tab gets every delta, in order, and the process's resident memory
//! stays within a stated bound (read from /proc).
#![allow(clippy::unwrap_used)]

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use common::{eventually, new_key, start_server, Client, WAIT};
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};
use tabhub::{App, AppError, Config, Context, MemoryStore, Outcome, SessionKey};

/// Deltas the session sends.
const DELTAS: u64 = 100_000;
/// Events submitted at once.
const IN_FLIGHT: usize = 128;
/// How far the submitter may run ahead of what the fast tab has read.
const READER_WINDOW: u64 = 256;
/// The bound on resident memory growth while they are sent, in bytes.
const RSS_GROWTH_BOUND: u64 = 16 * 1024 * 1024;

struct Counter;

#[derive(Default, Serialize, Deserialize)]
struct State {
    n: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "name", content = "payload", rename_all = "snake_case")]
enum Event {
    Bump,
}

impl App for Counter {
    type State = State;
    type Event = Event;
    type Identity = ();

    async fn handle(
        &self,
        state: &mut State,
        _event: Event,
        _cx: &mut Context<'_, Self>,
    ) -> Result<(), AppError> {
        state.n += 1;
        Ok(())
    }
}

/// This process's resident set size, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[actix_rt::test]
async fn a_client_that_stops_reading_is_bounded_then_cut_and_the_other_tab_gets_every_delta() {
    let mut config = Config::default();
    config.outbound_max_messages = 512;
    config.outbound_max_bytes = 256 * 1024;
    config.slow_client_timeout = Duration::from_secs(2);
    let server = start_server(Counter, config, Arc::new(MemoryStore::new()));
    let key = new_key();
    let topic = format!("session:{key}");

    let mut slow = Client::connect(&server, "slow").await;
    slow.join(&key, None).await;
    let mut fast = Client::connect(&server, "fast").await;
    let (mut view, _) = fast.join_mirror(&key, None).await;

    // The fast tab reads everything as it comes, checking the order.
    let seen = Rc::new(Cell::new(0u64));
    let seen_by_reader = seen.clone();
    let reader_topic = topic.clone();
    let reader = actix_rt::spawn(async move {
        while view.seq < DELTAS {
            let d = fast.wait_event(&reader_topic, "delta").await;
            view.apply_delta(&d.payload); // panics on a gap
            seen_by_reader.set(view.seq);
        }
        (fast, view)
    });

    let before = rss();
    let mut peak = before;
    let handle = server.hub.session(&SessionKey::parse(&key).unwrap());
    let mut pending = FuturesUnordered::new();
    for i in 0..DELTAS {
        // The reader shares this thread: keep it within a window, so the
        // fast tab is a tab that reads (its own buffer never overflows).
        while i >= seen.get() + READER_WINDOW {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let handle = handle.clone();
        pending.push(async move { handle.submit(&format!("e{i}"), Event::Bump).await });
        if pending.len() >= IN_FLIGHT {
            let outcome = pending.next().await.unwrap().unwrap();
            assert!(matches!(outcome, Outcome::Ok { .. }), "{outcome:?}");
        }
        if i % 5_000 == 0 {
            peak = peak.max(rss());
        }
    }
    while let Some(outcome) = pending.next().await {
        assert!(matches!(outcome.unwrap(), Outcome::Ok { .. }));
    }
    peak = peak.max(rss());

    let (_fast, view) = tokio::time::timeout(WAIT * 6, reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((view.seq, view.state["n"].as_u64()), (DELTAS, Some(DELTAS)));
    assert_eq!(seen.get(), DELTAS);

    let growth = peak.saturating_sub(before);
    eprintln!(
        "rss before {} KiB, peak {} KiB, growth {} KiB (bound {} KiB)",
        before / 1024,
        peak / 1024,
        growth / 1024,
        RSS_GROWTH_BOUND / 1024
    );
    assert!(
        growth <= RSS_GROWTH_BOUND,
        "resident memory grew by {growth} bytes"
    );

    // The slow connection is cut once its socket took no write for 2 s.
    eventually("the slow client to be cut", async || {
        server.hub.stats().await.unwrap().connections <= 1
    })
    .await;
    // What the slow client can still read: deltas in order, then (if the
    // socket took it) the phx_error for its join; never more than fit in
    // its buffers.
    let mut got = 0u64;
    let mut last = 0u64;
    while let Some(m) = slow.try_next_msg().await {
        if m.event == "delta" {
            let seq = m.payload["seq"].as_u64().unwrap();
            assert!(seq > last, "in order");
            last = seq;
            got += 1;
        }
    }
    assert!(
        got < DELTAS,
        "the slow client did not get everything ({got})"
    );
}

#[actix_rt::test]
async fn a_client_that_floods_pings_and_reads_nothing_is_closed_and_memory_stays_flat() {
    let mut config = Config::default();
    config.outbound_max_messages = 256;
    config.outbound_max_bytes = 64 * 1024;
    let server = start_server(Counter, config, Arc::new(MemoryStore::new()));
    let mut flood = Client::connect(&server, "flood").await;
    let before = rss();
    let payload = vec![7u8; 125];
    let mut sent = 0;
    for _ in 0..200_000 {
        let ping = awc::ws::Message::Ping(payload.clone().into());
        match tokio::time::timeout(Duration::from_millis(500), flood.try_send(ping)).await {
            Ok(Ok(())) => sent += 1,
            // Closed by the server, or its side stopped reading ours.
            _ => break,
        }
    }
    let growth = rss().saturating_sub(before);
    eprintln!("{sent} pings sent, rss growth {} KiB", growth / 1024);
    eventually("the flooding client to be closed", async || {
        server.hub.stats().await.unwrap().connections == 0
    })
    .await;
    assert!(
        growth <= RSS_GROWTH_BOUND,
        "resident memory grew by {growth} bytes"
    );
}
