//! Retention (`--session-ttl`) with the durable redb store: a stopped
//! session idle for longer than the TTL is deleted by the sweeper, and a
//! join after that starts from the app's initial state in a new epoch (a
//! `snapshot`); a live session is never expired, and a session stopped
//! unchanged counts as active at its stop; the sweep moves past live
//! sessions that sit at the head of the oldest-first index, and never
//! lists the same keys again and again.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::node::TempDir;
use common::{
    eventually, eventually_within, new_key, start_server, until_no_session, Client, Server, WAIT,
};
use serde_json::json;
use tabhub::demo::Demo;
use tabhub::{
    Config, MemoryStore, RedbOptions, RedbStore, SavedSession, SessionKey, Store, StoreError,
};
use tokio::time::{sleep, Instant};

struct Setup {
    server: Server<Demo>,
    store: Arc<RedbStore>,
    _dir: TempDir,
}

fn start(ttl: Duration) -> Setup {
    let dir = TempDir::new("tabhub-retention");
    let mut config = Config::default();
    config.grace = Duration::from_millis(20);
    config.session_ttl = Some(ttl);
    let store = Arc::new(
        RedbStore::open(RedbOptions {
            path: dir.0.join("sessions.redb"),
            recent_events: config.recent_events,
        })
        .unwrap(),
    );
    let server = start_server(Demo::default(), config, store.clone());
    Setup {
        server,
        store,
        _dir: dir,
    }
}

fn kept(store: &RedbStore, key: &str) -> bool {
    store
        .load(&SessionKey::parse(key).unwrap())
        .unwrap()
        .is_some()
}

#[actix_rt::test]
async fn a_session_idle_past_its_ttl_is_deleted_and_a_later_join_starts_over() {
    let s = start(Duration::from_millis(300));
    let key = new_key();
    let mut a = Client::connect(&s.server, "a").await;
    let (mut m, first) = a.join_mirror(&key, None).await;
    a.event(&key, "add_todo", json!({"text": "old"})).await;
    a.catch_up(&key, &mut m, 1).await;
    drop(a);
    until_no_session(&s.server.hub).await;
    assert!(kept(&s.store, &key), "saved when it stopped");

    eventually("the idle session to be deleted", async || {
        !kept(&s.store, &key)
    })
    .await;

    let mut b = Client::connect(&s.server, "b").await;
    let response = b.join(&key, Some(m.cursor())).await;
    assert_eq!(response["resume"], "snapshot");
    assert_eq!(response["seq"], 0);
    assert_eq!(response["state"]["todos"], json!([]));
    assert_ne!(response["epoch"], first["epoch"], "a new epoch");
}

#[actix_rt::test]
async fn a_live_session_is_never_expired_however_long_it_runs() {
    let ttl = Duration::from_millis(200);
    let s = start(ttl);
    let key = new_key();
    let mut a = Client::connect(&s.server, "a").await;
    let (mut m, _) = a.join_mirror(&key, None).await;
    a.event(&key, "add_todo", json!({"text": "mine"})).await;
    a.catch_up(&key, &mut m, 1).await;
    // Several TTLs and sweeper ticks pass with the tab joined.
    sleep(ttl * 5).await;
    assert_eq!(s.server.hub.stats().await.unwrap().sessions, 1);
    let reply = a
        .event(&key, "add_todo", json!({"text": "still here"}))
        .await;
    assert_eq!(reply["response"]["seq"], 2, "{reply}");
    a.catch_up(&key, &mut m, 2).await;
    assert_eq!(m.state["todos"].as_array().unwrap().len(), 2);
}

#[actix_rt::test]
async fn a_session_stopped_unchanged_is_kept_a_whole_ttl_from_that_stop() {
    let ttl = Duration::from_secs(3);
    let s = start(ttl);
    let key = new_key();
    let mut a = Client::connect(&s.server, "a").await;
    a.join(&key, None).await;
    a.event(&key, "add_todo", json!({"text": "read daily"}))
        .await;
    drop(a);
    until_no_session(&s.server.hub).await;
    let saved_at = Instant::now();

    // Halfway through its TTL someone opens it again, changes nothing, and
    // leaves: it is not written again, but its stop counts as activity.
    sleep(ttl / 2).await;
    let mut b = Client::connect(&s.server, "b").await;
    b.join(&key, None).await;
    drop(b);
    until_no_session(&s.server.hub).await;
    let touched_at = Instant::now();

    // Past the first save's TTL (and a few sweeper ticks), before the
    // touch's: still kept.
    let check_at = saved_at + ttl + Duration::from_millis(600);
    tokio::time::sleep_until(check_at).await;
    assert!(
        Instant::now() < touched_at + ttl,
        "the machine stalled too long for this check to mean anything"
    );
    assert!(kept(&s.store, &key), "expired although opened since");

    eventually(
        "the session to expire after its last activity",
        async || !kept(&s.store, &key),
    )
    .await;
}

/// The memory store, counting the sweeper's listings.
#[derive(Default)]
struct CountedListings {
    inner: MemoryStore,
    listings: AtomicUsize,
}

impl Store for CountedListings {
    fn load(&self, key: &SessionKey) -> Result<Option<SavedSession>, StoreError> {
        self.inner.load(key)
    }
    fn save(&self, key: &SessionKey, session: &SavedSession) -> Result<(), StoreError> {
        self.inner.save(key, session)
    }
    fn delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.inner.delete(key)
    }
    fn touch(&self, key: &SessionKey) -> Result<(), StoreError> {
        self.inner.touch(key)
    }
    fn idle_before(&self, cutoff: SystemTime, limit: usize) -> Result<Vec<SessionKey>, StoreError> {
        self.listings.fetch_add(1, Ordering::Relaxed);
        self.inner.idle_before(cutoff, limit)
    }
    fn delete_if_idle(&self, key: &SessionKey, cutoff: SystemTime) -> Result<bool, StoreError> {
        self.inner.delete_if_idle(key, cutoff)
    }
}

#[actix_rt::test]
async fn the_sweep_moves_past_more_live_old_sessions_than_one_batch_to_the_idle_key_behind_them() {
    // One batch is 256 keys: 300 sessions are saved, then live again (with
    // no new activity) when their TTL passes; the one idle key was saved
    // after all of them, so it sits behind them in the oldest-first index.
    let ttl = Duration::from_secs(2);
    let mut config = Config::default();
    config.grace = Duration::from_secs(120);
    config.session_ttl = Some(ttl);
    let store = Arc::new(CountedListings::default());
    let server = start_server(Demo::default(), config, store.clone());
    let keys: Vec<SessionKey> = (0..301)
        .map(|_| SessionKey::parse(&new_key()).unwrap())
        .collect();
    for key in &keys {
        let handle = server.hub.session(key);
        let added = handle
            .submit_named("e1", "add_todo", json!({"text": "kept"}))
            .await
            .unwrap();
        assert!(matches!(added, tabhub::Outcome::Ok { .. }), "{added:?}");
        assert!(handle.stop().await.unwrap(), "it was live");
    }
    let (live, idle) = keys.split_at(300);
    let idle = &idle[0];
    for key in live {
        // Loaded again, as server code reading it would: live, not active.
        server.hub.session(key).state().await.unwrap();
    }
    assert_eq!(server.hub.stats().await.unwrap().sessions, 300);

    eventually_within(
        ttl + WAIT,
        "the idle key behind the live ones to expire",
        async || store.load(idle).unwrap().is_none(),
    )
    .await;
    for key in live {
        assert!(
            store.load(key).unwrap().is_some(),
            "a live session's record was deleted"
        );
    }

    // With every old key live or gone, the sweeper lists once a tick (a
    // tenth of the TTL): a few listings a second, not a loop of them.
    let before = store.listings.load(Ordering::Relaxed);
    sleep(Duration::from_secs(1)).await;
    let listed = store.listings.load(Ordering::Relaxed) - before;
    assert!(
        listed <= 20,
        "{listed} listings in a second: the sweeper spins"
    );
    assert_eq!(server.hub.stats().await.unwrap().sessions, 300);
}
