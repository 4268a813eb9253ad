//! Power loss: what SIGKILL cannot show (it keeps the page cache). The real
//! service runs in-process on a redb storage that keeps every write in a
//! volatile layer until it is synced (`common/power.rs`); tabs push events
//! over real WebSockets; the power is cut at a random write, resize or sync
//! call, losing what was not synced (all of it, or a random prefix with the
//! last write torn at a 4 KiB boundary); a new service opens the surviving
//! bytes. Every round checks that the database opens, every acknowledged
//! event is in the state exactly once (unanswered ones are re-sent with
//! their ids, as a client does), no seq went back, and every tab rejoining
//! with its cursor resumes by replay while the journal covers it (a
//! snapshot only when it does not) and ends with the server's state.
//!
//! `POWER_ROUNDS` sets the number of rounds (default 100) and
//! `TABHUB_POWER_SEED` repeats a run's choices (the seed is printed at the
//! start); `docs/durability.md` has the long run.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "power_loss/tab.rs"]
mod tab;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use common::power::{CutMode, PowerDisk};
use common::{start_server, Client, Mirror, Server};
use futures_util::future::join_all;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tab::{drive, event_id, Tab};
use tabhub::demo::Demo;
use tabhub::{Config, RedbOptions, RedbStore};

/// Sessions on each disk.
const SESSIONS: usize = 2;
/// Tabs per session.
const TABS: usize = 3;
/// The journal bound, in deltas: small, so tabs away for a round fall out
/// of it and must get a snapshot.
const JOURNAL: usize = 16;
/// Rounds on one disk before the next starts empty (keeps each round's
/// database small).
const ROUNDS_PER_DISK: usize = 40;
/// The cut comes after 1..=this many write, resize or sync calls.
const MOST_CALLS_BEFORE_CUT: u64 = 120;
/// When the power goes at the latest, should the calls not come.
const LATEST_CUT: std::time::Duration = std::time::Duration::from_secs(3);

/// What the tabs were told about one session, across cuts.
struct Book {
    key: String,
    /// The epoch every tab saw; a cut must not change it.
    epoch: Option<String>,
    /// Ids of the events acknowledged (each todo's text starts with its
    /// event's id).
    acked: HashSet<String>,
    /// The highest seq any tab saw acknowledged or applied.
    top_seq: u64,
}

/// One disk's sessions and tabs, and its surviving bytes.
struct World {
    bytes: Vec<u8>,
    books: Vec<Book>,
    tabs: Vec<Tab>,
}

impl World {
    fn new(disk_no: usize) -> Self {
        let books = (0..SESSIONS)
            .map(|_| Book {
                key: common::new_key(),
                epoch: None,
                acked: HashSet::new(),
                top_seq: 0,
            })
            .collect();
        let tabs = (0..SESSIONS)
            .flat_map(|b| (0..TABS).map(move |t| (b, t)))
            .map(|(book, t)| Tab {
                book,
                name: format!("d{disk_no}s{book}t{t}"),
                mirror: None,
                unanswered: Vec::new(),
                next_event: 0,
            })
            .collect();
        Self {
            bytes: Vec::new(),
            books,
            tabs,
        }
    }
}

/// Counts for the closing line (and docs/durability.md).
#[derive(Default, Debug)]
struct Totals {
    acked: usize,
    retried_acked: usize,
    dropped_unsynced: usize,
    torn_prefix: usize,
    torn_writes: usize,
    lost_calls: usize,
    resumes: HashMap<String, usize>,
}

fn config() -> Config {
    let mut config = Config::default();
    config.journal_len = JOURNAL;
    config.rate_events_per_sec = 0;
    config.session_threads = 1;
    config
}

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|e| panic!("{name}={value}: {e}")),
    )
}

#[actix_rt::test]
async fn after_any_power_cut_every_acknowledged_event_survives_once_and_tabs_resume_by_replay() {
    let seed = env_number("TABHUB_POWER_SEED").unwrap_or_else(|| rand::rng().random());
    let rounds = env_number("POWER_ROUNDS").unwrap_or(100);
    eprintln!("power loss: {rounds} rounds, seed {seed} (TABHUB_POWER_SEED={seed} repeats it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut totals = Totals::default();
    let mut world = World::new(0);
    for round in 0..usize::try_from(rounds).unwrap() {
        if round > 0 && round % ROUNDS_PER_DISK == 0 {
            world = World::new(round / ROUNDS_PER_DISK);
        }
        power_round(&mut world, round, &mut rng, &mut totals).await;
        if (round + 1) % 50 == 0 {
            eprintln!("after {} rounds: {totals:?}", round + 1);
        }
    }
    eprintln!("power loss: seed {seed}, {rounds} rounds: {totals:?}");
    assert!(totals.acked > 0, "events were acknowledged");
}

#[actix_rt::test]
async fn a_new_sessions_epoch_survives_a_power_cut_right_after_its_first_join() {
    let disk = PowerDisk::new(Vec::new(), CutMode::DropUnsynced, StdRng::seed_from_u64(0));
    let options = RedbOptions {
        path: "power-loss-first-join".into(),
        recent_events: config().recent_events,
    };
    let server = start_server(
        Demo::default(),
        config(),
        Arc::new(RedbStore::open_with_backend(disk.clone(), options.clone()).unwrap()),
    );
    let key = common::new_key();
    let mut tab = Client::connect(&server, "t").await;
    let (mirror, _) = tab.join_mirror(&key, None).await;
    disk.cut_now();
    server.hub.shutdown().await;
    drop(server);

    let survivors = disk.survivors().unwrap();
    let disk = PowerDisk::new(survivors, CutMode::DropUnsynced, StdRng::seed_from_u64(0));
    let server = start_server(
        Demo::default(),
        config(),
        Arc::new(RedbStore::open_with_backend(disk, options).unwrap()),
    );
    let mut tab = Client::connect(&server, "t").await;
    let r = tab.join(&key, Some(mirror.cursor())).await;
    assert_eq!(
        (r["epoch"].as_str(), r["resume"].as_str()),
        (Some(mirror.epoch.as_str()), Some("current")),
        "the epoch the join reply gave was on disk: {r}"
    );
}

/// Opens the surviving bytes, checks what the tabs were told, drives the
/// tabs until the power is cut, and keeps what survived.
async fn power_round(world: &mut World, round: usize, rng: &mut StdRng, totals: &mut Totals) {
    let mode = if rng.random_bool(0.5) {
        totals.dropped_unsynced += 1;
        CutMode::DropUnsynced
    } else {
        totals.torn_prefix += 1;
        CutMode::TornPrefix
    };
    let disk = PowerDisk::new(
        std::mem::take(&mut world.bytes),
        mode,
        StdRng::seed_from_u64(rng.random()),
    );
    let options = RedbOptions {
        path: format!("power-loss-round-{round}").into(),
        recent_events: config().recent_events,
    };
    let store = RedbStore::open_with_backend(disk.clone(), options)
        .unwrap_or_else(|e| panic!("round {round}: the database does not open: {e}"));
    let server = start_server(Demo::default(), config(), Arc::new(store));

    let states = check_sessions(&server, world, round).await;
    let mut clients = Vec::new();
    let mut away = Vec::new();
    for mut tab in std::mem::take(&mut world.tabs) {
        // A tab with unanswered events comes back at once; others may stay
        // away for a round (and fall out of the journal).
        let here = tab.mirror.is_none() || !tab.unanswered.is_empty() || rng.random_bool(0.7);
        if !here {
            away.push(tab);
            continue;
        }
        let client = rejoin(&server, &mut tab, &states, world, round, totals).await;
        clients.push((client, tab));
    }

    disk.arm(rng.random_range(1..=MOST_CALLS_BEFORE_CUT));
    let cut = disk.watch_cut();
    // Should the service stop writing (a store that never syncs, say),
    // the power goes anyway.
    let late_cut = actix_rt::spawn({
        let disk = disk.clone();
        async move {
            tokio::time::sleep(LATEST_CUT).await;
            disk.cut_now();
        }
    });
    let driven = join_all(clients.into_iter().map(|(client, tab)| {
        let key = world.books[tab.book].key.clone();
        drive(client, tab, key, cut.clone(), round)
    }))
    .await;
    late_cut.abort();
    let stats = disk.stats();
    let survivors = disk
        .survivors()
        .unwrap_or_else(|| panic!("round {round}: the tabs stopped before the power cut"));
    for (tab, acks) in driven {
        let book = &mut world.books[tab.book];
        for (text, seq, retried) in acks {
            book.top_seq = book.top_seq.max(seq);
            assert!(book.acked.insert(text.clone()), "{text} acknowledged twice");
            totals.acked += 1;
            totals.retried_acked += usize::from(retried);
        }
        if let Some(m) = &tab.mirror {
            book.top_seq = book.top_seq.max(m.seq);
        }
        world.tabs.push(tab);
    }
    world.tabs.extend(away);
    world.tabs.sort_by(|a, b| a.name.cmp(&b.name));
    totals.torn_writes += usize::from(stats.torn);
    totals.lost_calls += stats.lost_ops;
    // The old service can no longer write: every call after the cut fails.
    server.hub.shutdown().await;
    drop(server);
    world.bytes = survivors;
}

/// Each session's state as a fresh tab sees it, after checking it against
/// what the tabs were told before the cut.
async fn check_sessions(server: &Server<Demo>, world: &mut World, round: usize) -> Vec<Value> {
    let mut states = Vec::new();
    for book in &mut world.books {
        let mut fresh = Client::connect(server, "checker").await;
        let r = fresh.join(&book.key, None).await;
        assert_eq!(r["resume"], "snapshot", "{r}");
        let seq = r["seq"].as_u64().unwrap();
        assert!(
            seq >= book.top_seq,
            "round {round}: seq went back from {} to {seq}",
            book.top_seq
        );
        let epoch = r["epoch"].as_str().unwrap().to_owned();
        if let Some(seen) = &book.epoch {
            assert_eq!(seen, &epoch, "round {round}: the epoch changed");
        }
        book.epoch = Some(epoch);
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for todo in r["state"]["todos"].as_array().unwrap() {
            let text = todo["text"].as_str().unwrap();
            *counts.entry(event_id(text)).or_default() += 1;
        }
        for (text, n) in &counts {
            assert_eq!(*n, 1, "round {round}: event {text} applied {n} times");
        }
        for text in &book.acked {
            assert!(
                counts.contains_key(text.as_str()),
                "round {round}: acknowledged event {text} was lost (seq {seq}, {} todos)",
                counts.len()
            );
        }
        states.push(r["state"].clone());
    }
    states
}

/// Connects `tab` and joins with its cursor: a replay (or current) while
/// the journal covers it, else a snapshot; it then holds the session's
/// state.
async fn rejoin(
    server: &Server<Demo>,
    tab: &mut Tab,
    states: &[Value],
    world: &World,
    round: usize,
    totals: &mut Totals,
) -> Client {
    let book = &world.books[tab.book];
    let mut client = Client::connect(server, &tab.name).await;
    let mut mirror = tab.mirror.clone().unwrap_or_default();
    let r = client
        .join(&book.key, tab.mirror.as_ref().map(Mirror::cursor))
        .await;
    let seq = r["seq"].as_u64().unwrap();
    let expected = match &tab.mirror {
        None => "snapshot",
        Some(m) if m.seq == seq => "current",
        Some(m) if seq - m.seq <= JOURNAL as u64 => "replay",
        Some(_) => "snapshot",
    };
    let resume = r["resume"].as_str().unwrap().to_owned();
    assert_eq!(
        resume,
        expected,
        "round {round}: {} rejoined at seq {:?} of {seq}: {r}",
        tab.name,
        tab.mirror.as_ref().map(|m| m.seq)
    );
    mirror.apply_join(&r);
    assert_eq!(
        mirror.state, states[tab.book],
        "round {round}: {} does not hold the server's state",
        tab.name
    );
    *totals.resumes.entry(resume).or_default() += 1;
    tab.mirror = Some(mirror);
    client
}
